package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"ombud/server/storage"
	"ombud/shared/audit"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

// writeStmts are prepared once on the writer connection: Push and Append run
// them for every batch, and parsing their SQL each time would cost more than
// running them.
type writeStmts struct {
	pushDevice, maxHeld, slotsStored, slotsAliased, slotsRejected, seqsAfter, setAcked, insertRejection *sql.Stmt
	// Append only.
	insertServerEvent, eventByID, filedBranch *sql.Stmt
}

func (st *writeStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&st.pushDevice, `SELECT branch_id, role, teams, prefix, enrolled_at, revoked_at, acked_seq FROM devices WHERE id = ?`},
		// Slots above the highest held are empty, so the common case (new
		// events) skips the slot lookups.
		{&st.maxHeld, `SELECT MAX(s) FROM (
			SELECT MAX(device_seq) AS s FROM events WHERE device_id = ?1
			UNION ALL SELECT MAX(device_seq) FROM event_aliases WHERE device_id = ?1
			UNION ALL SELECT MAX(device_seq) FROM event_rejections WHERE device_id = ?1)`},
		// What a push's slots hold, one range read per table. Aliases are
		// only in databases that an earlier importer wrote; they still hold
		// their slots.
		{&st.slotsStored, `SELECT device_seq, id, complaint_id, branch, type, actor_kind, actor_id, at, data FROM events WHERE device_id = ? AND device_seq BETWEEN ? AND ?`},
		{&st.slotsAliased, `SELECT device_seq, event_id FROM event_aliases WHERE device_id = ? AND device_seq BETWEEN ? AND ?`},
		{&st.slotsRejected, `SELECT device_seq, event_id, code, reason FROM event_rejections WHERE device_id = ? AND device_seq BETWEEN ? AND ?`},
		{&st.seqsAfter, `SELECT device_seq FROM events WHERE device_id = ?1 AND device_seq > ?2
			UNION ALL SELECT device_seq FROM event_aliases WHERE device_id = ?1 AND device_seq > ?2
			UNION ALL SELECT device_seq FROM event_rejections WHERE device_id = ?1 AND device_seq > ?2
			ORDER BY 1`},
		{&st.setAcked, `UPDATE devices SET acked_seq = ? WHERE id = ?`},
		{&st.insertRejection, `INSERT INTO event_rejections (device_id, device_seq, event_id, code, reason, rejected_at) VALUES (?, ?, ?, ?, ?, ?)`},
		// Server events: no device, no device seq (migration 0003). DO
		// NOTHING on the id, so a repeat is found by eventByID instead.
		// The sequence is given (the chain's next), so its link can be
		// computed first.
		{&st.insertServerEvent, `INSERT INTO events (seq, id, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at, hash, payload_hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING seq`},
		{&st.eventByID, `SELECT ` + eventColumns + ` FROM events WHERE id = ?`},
		{&st.filedBranch, `SELECT branch FROM complaints WHERE id = ?`},
	} {
		s, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.dst = s
	}
	return nil
}

func (st *writeStmts) close() error {
	return closeStmts(st.pushDevice, st.maxHeld, st.slotsStored, st.slotsAliased, st.slotsRejected, st.seqsAfter,
		st.setAcked, st.insertRejection, st.insertServerEvent, st.eventByID, st.filedBranch)
}

// readStmts are prepared on the read pool; database/sql prepares each again
// on whichever pooled connection runs it, once.
type readStmts struct {
	device, eventsAfterBranch, eventsAfterTeam, eventsAfterAll, complaintByCode, complaintEvents, complaintHead *sql.Stmt
}

// scopeChainColumns follow eventColumns in the scope reads: the event's link in
// the audit chain, sent to devices (wire.Chain). The previous link is the
// row at seq-1's hash (NULL for the first event: audit.Genesis).
const scopeChainColumns = `e.seq, COALESCE(e.device_id, ''), COALESCE(e.device_seq, 0), e.hash, e.payload_hash,
	e.redacted_at IS NOT NULL, (SELECT p.hash FROM events p WHERE p.seq = e.seq - 1)`

const eventColumns = `seq, id, complaint_id, branch, type, actor_kind, actor_id, at, data`

func (st *readStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&st.device, `SELECT ` + deviceColumns + ` FROM devices WHERE id = ?`},
		{&st.eventsAfterBranch, `SELECT e.seq, e.id, e.complaint_id, e.branch, e.type, e.actor_kind, e.actor_id, e.at, e.data, ` + scopeChainColumns + `
			FROM events e WHERE e.branch = ? AND e.seq > ? ORDER BY e.seq LIMIT ?`},
		{&st.eventsAfterAll, `SELECT ` + eventColumns + ` FROM events WHERE seq > ? ORDER BY seq LIMIT ?`},
		// A team's stream: its positions, not the events' sequences.
		{&st.eventsAfterTeam, `SELECT l.pos, e.id, e.complaint_id, e.branch, e.type, e.actor_kind, e.actor_id, e.at, e.data, ` + scopeChainColumns + `
			FROM scope_log l JOIN events e ON e.seq = l.event_seq WHERE l.scope = ? AND l.pos > ? ORDER BY l.pos LIMIT ?`},
		{&st.complaintByCode, `SELECT id, code, branch, category, filed_at, filed_event_id FROM complaints WHERE code = ?`},
		{&st.complaintEvents, `SELECT ` + eventColumns + ` FROM events WHERE complaint_id = ? ORDER BY seq`},
		// The tracking page runs it on every request (tracking_read.go).
		{&st.complaintHead, complaintHead},
	} {
		s, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.dst = s
	}
	return nil
}

func (st *readStmts) close() error {
	return closeStmts(st.device, st.eventsAfterBranch, st.eventsAfterTeam, st.eventsAfterAll, st.complaintByCode, st.complaintEvents, st.complaintHead)
}

func closeStmts(stmts ...*sql.Stmt) error {
	var errs []error
	for _, s := range stmts {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// Resume implements hub.Log. It only reads: the hello is kept in memory
// and written with others every few seconds (hellos.go), because a fleet
// reconnecting after a restart would otherwise cost one fsync per device.
func (s *Store) Resume(ctx context.Context, deviceID string, h hub.Hello) (int64, error) {
	d, err := s.Device(ctx, deviceID)
	switch {
	case storage.ErrorCode(err) == storage.NotFound:
		return 0, &storage.Error{Code: storage.NotFound, Message: "device not found", Err: hub.ErrDeviceRevoked}
	case err != nil:
		return 0, err
	case d.Revoked():
		return 0, &storage.Error{Code: storage.Revoked, Message: "device revoked", Err: hub.ErrDeviceRevoked}
	}
	s.hellos.note(deviceID, h)
	return d.AckedSeq, nil
}

// OnCommit implements hub.Log: Push and Append publish what they stored.
func (s *Store) OnCommit(f func(scopes []string)) (cancel func()) { return s.feed.OnCommit(f) }

// EventsAfter implements hub.Log. A branch's queue (wire.BranchScope) is
// the events of its complaints, by global sequence; a team's queue
// (wire.TeamScope) is its stream (storage.Route), by position in it.
func (s *Store) EventsAfter(ctx context.Context, scope string, after int64, limit int) ([]storage.StoredEvent, error) {
	kind, id, ok := wire.ParseScope(scope)
	switch {
	case ok && kind == wire.ScopeBranch:
		return s.eventsAfter(ctx, s.read.eventsAfterBranch, true, after, limit, id)
	case ok && kind == wire.ScopeTeam:
		return s.eventsAfter(ctx, s.read.eventsAfterTeam, true, after, limit, scope)
	}
	return nil, storage.Errorf(storage.Invalid, "unknown scope %q", scope)
}

// AllEventsAfter implements storage.Events.
func (s *Store) AllEventsAfter(ctx context.Context, after int64, limit int) ([]storage.StoredEvent, error) {
	return s.eventsAfter(ctx, s.read.eventsAfterAll, false, after, limit)
}

// eventsAfter runs one of the paging statements: its leading arguments,
// then the cursor and the limit. chain: stmt selects scopeChainColumns too.
func (s *Store) eventsAfter(ctx context.Context, stmt *sql.Stmt, chain bool, after int64, limit int, leading ...any) ([]storage.StoredEvent, error) {
	if limit < 1 {
		return nil, storage.Errorf(storage.Invalid, "limit %d is below 1", limit)
	}
	limit = min(limit, storage.MaxPage)
	rows, err := stmt.QueryContext(ctx, append(leading, after, limit)...)
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	var out []storage.StoredEvent
	if chain {
		out, err = scanChainEvents(rows, min(limit, 256))
	} else {
		out, err = scanEvents(rows, min(limit, 256))
	}
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	return out, nil
}

// eventScanner is *sql.Row or *sql.Rows.
type eventScanner interface{ Scan(dest ...any) error }

// scanEvent reads one row of eventColumns.
func scanEvent(row eventScanner) (storage.StoredEvent, error) {
	var (
		se        storage.StoredEvent
		e         = &se.Event
		typ, kind string
		at        int64
		data      []byte
	)
	if err := row.Scan(&se.Seq, &e.ID, &e.ComplaintID, &e.Branch, &typ, &kind, &e.Actor.ID, &at, &data); err != nil {
		return se, err
	}
	e.Type, e.Actor.Kind, e.At = event.Type(typ), event.ActorKind(kind), hlc.Timestamp(at)
	if len(data) > 0 {
		e.Data = data
	}
	return se, nil
}

// scanChainEvents reads every row of eventColumns then scopeChainColumns and
// closes rows. A row without a stored link (not yet chained) goes without.
func scanChainEvents(rows *sql.Rows, capacity int) ([]storage.StoredEvent, error) {
	defer rows.Close()
	out := make([]storage.StoredEvent, 0, capacity)
	for rows.Next() {
		var (
			se             storage.StoredEvent
			e              = &se.Event
			typ, kind      string
			at             int64
			data           []byte
			c              wire.Chain
			hash, ph, prev []byte
			redacted       bool
		)
		if err := rows.Scan(&se.Seq, &e.ID, &e.ComplaintID, &e.Branch, &typ, &kind, &e.Actor.ID, &at, &data,
			&c.Seq, &c.DeviceID, &c.DeviceSeq, &hash, &ph, &redacted, &prev); err != nil {
			return nil, err
		}
		e.Type, e.Actor.Kind, e.At = event.Type(typ), event.ActorKind(kind), hlc.Timestamp(at)
		if len(data) > 0 {
			e.Data = data
		}
		h, okH := audit.HashOf(hash)
		p, okP := audit.HashOf(ph)
		pv, okV := audit.HashOf(prev)
		if prev == nil && c.Seq == 1 {
			pv, okV = audit.Genesis, true
		}
		if okH && okP && okV {
			c.Hash, c.PayloadHash, c.Prev, c.Redacted = h.String(), p.String(), pv.String(), redacted
			se.Chain = &c
		}
		out = append(out, se)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// scanEvents reads every row of eventColumns and closes rows.
func scanEvents(rows *sql.Rows, capacity int) ([]storage.StoredEvent, error) {
	defer rows.Close()
	out := make([]storage.StoredEvent, 0, capacity)
	for rows.Next() {
		se, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, se)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ComplaintEvents implements storage.Events.
func (s *Store) ComplaintEvents(ctx context.Context, complaintID string) ([]storage.StoredEvent, error) {
	rows, err := s.read.complaintEvents.QueryContext(ctx, complaintID)
	if err != nil {
		return nil, fmt.Errorf("read events of complaint %s: %w", complaintID, err)
	}
	out, err := scanEvents(rows, 16)
	if err != nil {
		return nil, fmt.Errorf("read events of complaint %s: %w", complaintID, err)
	}
	return out, nil
}

// ComplaintByCode implements storage.Events.
func (s *Store) ComplaintByCode(ctx context.Context, code string) (storage.Complaint, error) {
	var (
		c     storage.Complaint
		filed sql.NullInt64
	)
	err := s.read.complaintByCode.QueryRowContext(ctx, code).Scan(&c.ID, &c.Code, &c.Branch, &c.Category, &filed, &c.FiledEventID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return c, &storage.Error{Code: storage.NotFound, Message: "complaint not found", Err: complaint.ErrNotFound}
	case err != nil:
		return c, fmt.Errorf("read complaint by code: %w", err)
	}
	c.FiledAt = fromNanos(filed)
	return c, nil
}

// Stats implements storage.Store. It reads in one transaction so the counts
// agree with each other. COUNT(*) scans; fine for tests and the simulator,
// not for a hot /metrics path on a large log.
func (s *Store) Stats(ctx context.Context) (storage.Stats, error) {
	var st storage.Stats
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	defer tx.Rollback()
	err = tx.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM branches),
		(SELECT COUNT(*) FROM devices),
		(SELECT COUNT(*) FROM events),
		(SELECT COUNT(*) FROM complaints),
		(SELECT COALESCE(MAX(seq), 0) FROM events)`).
		Scan(&st.Branches, &st.Devices, &st.Events, &st.Complaints, &st.LastGlobalSeq)
	if err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	return st, nil
}
