package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/trackcode"
)

// ingestStmts are prepared once on the writer connection: Ingest runs them
// per event, and parsing SQL 500 times a batch would cost more than the
// inserts.
type ingestStmts struct {
	device, hasAliases, aliasAt, insertEvent, eventAt, insertAlias, insertComplaint, seqsAfter, setAcked *sql.Stmt
	// Push only.
	pushDevice, maxHeld, rejectionAt, idHeld, complaintBranch, complaintTaken, insertRejection *sql.Stmt
	// Append only.
	insertServerEvent, eventByID, filedBranch *sql.Stmt
}

func (st *ingestStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&st.device, `SELECT revoked_at, acked_seq FROM devices WHERE id = ?`},
		// Aliases and rejections both hold slots the events table's unique
		// key cannot see; both are rare, so one probe per batch decides
		// whether each event must be looked up in them.
		{&st.hasAliases, `SELECT EXISTS (SELECT 1 FROM event_aliases WHERE device_id = ?1)
			OR EXISTS (SELECT 1 FROM event_rejections WHERE device_id = ?1)`},
		{&st.aliasAt, `SELECT event_id FROM event_aliases WHERE device_id = ? AND device_seq = ?`},
		// DO NOTHING on either unique key (id, or device and seq): the common
		// case, a new event, costs one statement; a duplicate is examined
		// only when it happens.
		{&st.insertEvent, `INSERT INTO events (id, device_id, device_seq, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`},
		{&st.eventAt, `SELECT id FROM events WHERE device_id = ? AND device_seq = ?`},
		{&st.insertAlias, `INSERT INTO event_aliases (device_id, device_seq, event_id) VALUES (?, ?, ?)`},
		{&st.insertComplaint, `INSERT INTO complaints (id, code, branch, category, filed_at, filed_event_id) VALUES (?, ?, ?, ?, ?, ?)`},
		{&st.seqsAfter, `SELECT device_seq FROM events WHERE device_id = ?1 AND device_seq > ?2
			UNION ALL SELECT device_seq FROM event_aliases WHERE device_id = ?1 AND device_seq > ?2
			UNION ALL SELECT device_seq FROM event_rejections WHERE device_id = ?1 AND device_seq > ?2
			ORDER BY 1`},
		{&st.setAcked, `UPDATE devices SET acked_seq = ? WHERE id = ?`},
		{&st.pushDevice, `SELECT branch_id, revoked_at, acked_seq FROM devices WHERE id = ?`},
		{&st.maxHeld, `SELECT MAX(s) FROM (
			SELECT MAX(device_seq) AS s FROM events WHERE device_id = ?1
			UNION ALL SELECT MAX(device_seq) FROM event_aliases WHERE device_id = ?1
			UNION ALL SELECT MAX(device_seq) FROM event_rejections WHERE device_id = ?1)`},
		{&st.rejectionAt, `SELECT event_id, code, reason FROM event_rejections WHERE device_id = ? AND device_seq = ?`},
		{&st.idHeld, `SELECT EXISTS (SELECT 1 FROM events WHERE id = ?)`},
		{&st.complaintBranch, `SELECT branch FROM complaints WHERE id = ?1
			UNION ALL SELECT branch FROM events WHERE complaint_id = ?1 LIMIT 1`},
		{&st.complaintTaken, `SELECT EXISTS (SELECT 1 FROM complaints WHERE id = ?1), EXISTS (SELECT 1 FROM complaints WHERE code = ?2)`},
		{&st.insertRejection, `INSERT INTO event_rejections (device_id, device_seq, event_id, code, reason, rejected_at) VALUES (?, ?, ?, ?, ?, ?)`},
		// Server events: no device, no device seq (migration 0003). DO
		// NOTHING on the id, so a repeat is found by eventByID instead.
		{&st.insertServerEvent, `INSERT INTO events (id, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING seq`},
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

func (st *ingestStmts) close() error {
	return closeStmts(st.device, st.hasAliases, st.aliasAt, st.insertEvent, st.eventAt, st.insertAlias, st.insertComplaint, st.seqsAfter, st.setAcked,
		st.pushDevice, st.maxHeld, st.rejectionAt, st.idHeld, st.complaintBranch, st.complaintTaken, st.insertRejection,
		st.insertServerEvent, st.eventByID, st.filedBranch)
}

// readStmts are prepared on the read pool; database/sql prepares each again
// on whichever pooled connection runs it, once.
type readStmts struct {
	device, eventsAfterBranch, eventsAfterAll, complaintByCode, complaintEvents *sql.Stmt
}

const eventColumns = `seq, id, complaint_id, branch, type, actor_kind, actor_id, at, data`

func (st *readStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&st.device, `SELECT id, branch_id, credential_hash, prefix, enrolled_at, revoked_at, acked_seq FROM devices WHERE id = ?`},
		{&st.eventsAfterBranch, `SELECT ` + eventColumns + ` FROM events WHERE branch = ? AND seq > ? ORDER BY seq LIMIT ?`},
		{&st.eventsAfterAll, `SELECT ` + eventColumns + ` FROM events WHERE seq > ? ORDER BY seq LIMIT ?`},
		{&st.complaintByCode, `SELECT id, code, branch, category, filed_at, filed_event_id FROM complaints WHERE code = ?`},
		{&st.complaintEvents, `SELECT ` + eventColumns + ` FROM events WHERE complaint_id = ? ORDER BY seq`},
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
	return closeStmts(st.device, st.eventsAfterBranch, st.eventsAfterAll, st.complaintByCode, st.complaintEvents)
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

// Ingest implements storage.Events. See there for the contract; the notes
// here are about how.
func (s *Store) Ingest(ctx context.Context, deviceID string, batch []storage.DeviceEvent) (storage.IngestResult, error) {
	if len(batch) > storage.MaxBatch {
		return storage.IngestResult{}, storage.Errorf(storage.Invalid, "batch of %d events is over the limit of %d", len(batch), storage.MaxBatch)
	}
	if len(batch) == 0 {
		// Only asking where to resume: no need for the write lock.
		d, err := s.Device(ctx, deviceID)
		if err != nil {
			return storage.IngestResult{}, err
		}
		if d.Revoked() {
			return storage.IngestResult{}, storage.Errorf(storage.Revoked, "device %s is revoked", deviceID)
		}
		return storage.IngestResult{AckedSeq: d.AckedSeq}, nil
	}
	// In device order, so the ack can advance over the batch in one pass and
	// a repeated seq within the batch meets its twin.
	sorted := slices.Clone(batch)
	slices.SortStableFunc(sorted, func(a, b storage.DeviceEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	// Validate before taking the write lock: a malformed batch should cost
	// the other devices nothing. Filed complaints are decoded once, here.
	filed := make([]*complaint.Complaint, len(sorted))
	for i := range sorted {
		c, err := validate(&sorted[i])
		if err != nil {
			return storage.IngestResult{}, err
		}
		filed[i] = c
	}

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return storage.IngestResult{}, fmt.Errorf("ingest from %s: begin: %w", deviceID, err)
	}
	defer tx.Rollback()
	in := ingestTx{ctx: ctx, tx: tx, st: &s.ingest, device: deviceID, storedAt: nanos(time.Now())}
	res, err := in.run(sorted, filed)
	if err != nil {
		return storage.IngestResult{}, err
	}
	if err := tx.Commit(); err != nil {
		return storage.IngestResult{}, fmt.Errorf("ingest from %s: commit: %w", deviceID, err)
	}
	return res, nil
}

// validate checks one event and, for a Filed event, returns its complaint.
func validate(de *storage.DeviceEvent) (*complaint.Complaint, error) {
	e := &de.Event
	switch {
	case de.Seq < 1:
		return nil, storage.Errorf(storage.Invalid, "event %s: device seq %d is below 1", e.ID, de.Seq)
	case e.ID == "" || e.ComplaintID == "" || e.Type == "" || e.Branch == "" || e.Actor.Kind == "":
		return nil, storage.Errorf(storage.Invalid, "event at seq %d: id, complaint id, type, branch and actor are required", de.Seq)
	case uint64(e.At) > 1<<63-1:
		// SQLite integers are signed 64-bit; a clock this far ahead is broken.
		return nil, storage.Errorf(storage.Invalid, "event %s: clock reading out of range", e.ID)
	}
	if e.Type != event.Filed {
		return nil, nil
	}
	c, err := filedComplaint(e)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// filedComplaint decodes and checks the complaint a Filed event carries: the
// projection's lookups by code only work for canonical codes.
func filedComplaint(e *event.Event) (complaint.Complaint, error) {
	c, err := e.Complaint()
	if err != nil {
		return c, storage.Errorf(storage.Invalid, "event %s: filed event without a readable complaint", e.ID)
	}
	if c.ID != e.ComplaintID {
		return c, storage.Errorf(storage.Invalid, "event %s: complaint id %q does not match the event's %q", e.ID, c.ID, e.ComplaintID)
	}
	if code, err := trackcode.Parse(c.Code); err != nil || string(code) != c.Code {
		return c, storage.Errorf(storage.Invalid, "event %s: tracking code %q is not canonical", e.ID, c.Code)
	}
	return c, nil
}

// ingestTx is one Ingest call's transaction.
type ingestTx struct {
	ctx      context.Context
	tx       *sql.Tx
	st       *ingestStmts
	device   string
	storedAt int64
}

// stmt binds a writer statement to the transaction. database/sql finds the
// statement already prepared on the writer's only connection and reuses it.
func (in *ingestTx) stmt(s *sql.Stmt) *sql.Stmt { return in.tx.StmtContext(in.ctx, s) }

// run stores batch (sorted by seq); filed[i] is batch[i]'s complaint when
// it is a Filed event.
func (in *ingestTx) run(batch []storage.DeviceEvent, filed []*complaint.Complaint) (storage.IngestResult, error) {
	var (
		res     storage.IngestResult
		revoked sql.NullInt64
	)
	err := in.stmt(in.st.device).QueryRowContext(in.ctx, in.device).Scan(&revoked, &res.AckedSeq)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return res, storage.Errorf(storage.NotFound, "device %s not found", in.device)
	case err != nil:
		return res, fmt.Errorf("ingest from %s: read device: %w", in.device, err)
	case revoked.Valid:
		return res, storage.Errorf(storage.Revoked, "device %s is revoked", in.device)
	}
	acked := res.AckedSeq

	var hasAliases bool
	if err := in.stmt(in.st.hasAliases).QueryRowContext(in.ctx, in.device).Scan(&hasAliases); err != nil {
		return res, fmt.Errorf("ingest from %s: read aliases: %w", in.device, err)
	}
	insertEvent, insertComplaint := in.stmt(in.st.insertEvent), in.stmt(in.st.insertComplaint)

	for i := range batch {
		de := &batch[i]
		e := &de.Event
		if hasAliases {
			// A slot taken by an alias or a rejection is invisible to the
			// events table's unique key, so it must be checked before
			// inserting. A rejected slot cannot be stored over: this strict
			// path refuses the batch, as for any other conflict.
			var id string
			err := in.stmt(in.st.rejectionAt).QueryRowContext(in.ctx, in.device, de.Seq).Scan(&id, new(int64), new(string))
			switch {
			case err == nil:
				return res, storage.Errorf(storage.Conflict, "device %s seq %d was rejected", in.device, de.Seq)
			case !errors.Is(err, sql.ErrNoRows):
				return res, fmt.Errorf("ingest from %s: look up rejection %d: %w", in.device, de.Seq, err)
			}
			dup, err := in.slotHolds(in.st.aliasAt, de)
			if err != nil {
				return res, err
			}
			if dup {
				res.Duplicates++
				continue
			}
		}
		r, err := insertEvent.ExecContext(in.ctx, e.ID, in.device, de.Seq, e.ComplaintID, e.Branch, string(e.Type),
			string(e.Actor.Kind), e.Actor.ID, int64(e.At), []byte(e.Data), in.storedAt)
		if err != nil {
			return res, fmt.Errorf("ingest from %s: insert event %s: %w", in.device, e.ID, err)
		}
		if n, err := r.RowsAffected(); err != nil {
			return res, fmt.Errorf("ingest from %s: insert event %s: %w", in.device, e.ID, err)
		} else if n == 1 {
			res.Stored++
			if c := filed[i]; c != nil {
				if err := in.project(insertComplaint, e, c); err != nil {
					return res, err
				}
			}
			continue
		}
		// Not inserted: the slot or the id is taken. Which one, and by what?
		dup, err := in.slotHolds(in.st.eventAt, de)
		if err != nil {
			return res, err
		}
		if !dup {
			// The slot is free, so the id is stored under another slot.
			// Record the slot as received so the ack can pass it.
			if _, err := in.stmt(in.st.insertAlias).ExecContext(in.ctx, in.device, de.Seq, e.ID); err != nil {
				return res, fmt.Errorf("ingest from %s: alias event %s: %w", in.device, e.ID, err)
			}
			hasAliases = true
		}
		res.Duplicates++
	}

	// Advance the contiguous ack: first over this batch (sorted, all now
	// stored), then over slots stored by earlier batches beyond a gap that
	// this batch may have filled.
	for i := range batch {
		if batch[i].Seq == res.AckedSeq+1 {
			res.AckedSeq++
		}
	}
	if err := in.advanceOverStored(&res.AckedSeq); err != nil {
		return res, err
	}
	if res.AckedSeq != acked {
		if _, err := in.stmt(in.st.setAcked).ExecContext(in.ctx, res.AckedSeq, in.device); err != nil {
			return res, fmt.Errorf("ingest from %s: record ack: %w", in.device, err)
		}
	}
	return res, nil
}

// slotHolds looks the (device, seq) slot up with lookup (events or aliases)
// and reports whether it holds this very event (a duplicate). A slot holding
// another event is a Conflict; an empty slot is neither.
func (in *ingestTx) slotHolds(lookup *sql.Stmt, de *storage.DeviceEvent) (bool, error) {
	var id string
	err := in.stmt(lookup).QueryRowContext(in.ctx, in.device, de.Seq).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("ingest from %s: look up seq %d: %w", in.device, de.Seq, err)
	case id != de.Event.ID:
		return false, storage.Errorf(storage.Conflict, "device %s seq %d is event %s, not %s", in.device, de.Seq, id, de.Event.ID)
	}
	return true, nil
}

// project adds a newly stored Filed event's complaint to the projection.
func (in *ingestTx) project(insert *sql.Stmt, e *event.Event, c *complaint.Complaint) error {
	_, err := insert.ExecContext(in.ctx, c.ID, c.Code, c.Branch, c.Category, nanos(c.FiledAt), e.ID)
	switch {
	case isUniqueViolation(err):
		return storage.Errorf(storage.Conflict, "event %s: complaint %s or tracking code %s is already filed", e.ID, c.ID, c.Code)
	case err != nil:
		return fmt.Errorf("ingest from %s: project complaint %s: %w", in.device, c.ID, err)
	}
	return nil
}

// advanceOverStored moves *acked over slots already stored past it.
func (in *ingestTx) advanceOverStored(acked *int64) error {
	rows, err := in.stmt(in.st.seqsAfter).QueryContext(in.ctx, in.device, *acked)
	if err != nil {
		return fmt.Errorf("ingest from %s: read stored seqs: %w", in.device, err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return fmt.Errorf("ingest from %s: read stored seqs: %w", in.device, err)
		}
		if seq != *acked+1 {
			break
		}
		*acked = seq
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ingest from %s: read stored seqs: %w", in.device, err)
	}
	return rows.Close()
}

// EventsAfter implements storage.Events.
func (s *Store) EventsAfter(ctx context.Context, scope storage.Scope, after int64, limit int) ([]storage.StoredEvent, error) {
	if limit < 1 {
		return nil, storage.Errorf(storage.Invalid, "limit %d is below 1", limit)
	}
	limit = min(limit, storage.MaxPage)
	var (
		rows *sql.Rows
		err  error
	)
	switch {
	case scope.All:
		rows, err = s.read.eventsAfterAll.QueryContext(ctx, after, limit)
	case scope.Branch != "":
		rows, err = s.read.eventsAfterBranch.QueryContext(ctx, scope.Branch, after, limit)
	default:
		return nil, storage.Errorf(storage.Invalid, "empty scope")
	}
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	out, err := scanEvents(rows, min(limit, 256))
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
	if err := row.Scan(&se.GlobalSeq, &e.ID, &e.ComplaintID, &e.Branch, &typ, &kind, &e.Actor.ID, &at, &data); err != nil {
		return se, err
	}
	e.Type, e.Actor.Kind, e.At = event.Type(typ), event.ActorKind(kind), hlc.Timestamp(at)
	if len(data) > 0 {
		e.Data = data
	}
	return se, nil
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
