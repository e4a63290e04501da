package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"ombud/shared/event"
	"ombud/sync/client"
)

// The sync client's side of the store (docs/SYNC.md), as sync/client
// declares it (client.Outbox, client.Replica, client.StatusSaver):
// acknowledging and quarantining outbox entries upstream, applying scoped
// batches downstream with their cursor, and the status staff see.

// The store is the kiosk's client.Store: it asserts so here, and
// sync/synctest's suites run against it in conformance_test.go.
var _ client.Store = (*Store)(nil)

// HighestSeq is the highest device sequence ever assigned, 0 if none: the
// client_hello's device_seq. It comes from SQLite's AUTOINCREMENT counter,
// not from the outbox rows, because acknowledged rows are deleted and the
// number must never go backwards (the server would take a smaller one for a
// restored backup, CloseDiverged).
func (s *Store) HighestSeq(ctx context.Context) (int64, error) {
	var seq int64
	err := s.r.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = 'outbox'`).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("highest seq: %w", err)
	}
	return seq, nil
}

// AckOutbox forgets the outbox entries with a sequence up to and including
// upTo: the server holds them durably. Their events stay in events (the
// audit trail); AUTOINCREMENT keeps their numbers from being reused.
// Acknowledging again, or past the last entry, is harmless. The projection
// sees the entries leave in the same transaction (the Unsynced counts of
// the cases concerned drop).
//
// Under Options.RedactAcknowledged the complaints whose Filed events are
// among the entries lose the customer's words in the same transaction,
// and the WAL is then checkpointed and truncated (see forget.go). An
// entry quarantined before its acknowledgement (the server refused it)
// has left the outbox already and keeps its text: the server does not
// hold it.
func (s *Store) AckOutbox(ctx context.Context, upTo int64) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ack outbox up to %d: begin: %w", upTo, err)
	}
	defer tx.Rollback()
	var filed []filing
	if s.redactOnAck {
		if filed, err = acknowledgedFilings(ctx, tx, upTo); err != nil {
			return fmt.Errorf("ack outbox up to %d: %w", upTo, err)
		}
	}
	// Sequences start at 1 (AUTOINCREMENT).
	if err := s.proj.Unqueuing(ctx, tx, 1, upTo); err != nil {
		return fmt.Errorf("ack outbox up to %d: %w", upTo, err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE seq <= ?`, upTo)
	if err != nil {
		return fmt.Errorf("ack outbox up to %d: %w", upTo, err)
	}
	if len(filed) > 0 {
		if _, err := s.redact(ctx, tx, filed); err != nil {
			return fmt.Errorf("ack outbox up to %d: %w", upTo, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ack outbox up to %d: commit: %w", upTo, err)
	}
	if len(filed) > 0 || s.unswept.Load() {
		s.sweep(ctx)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.Changed()
	}
	return nil
}

// Quarantine moves the outbox entry seq (event eventID) to the quarantine,
// with the server's reject code and reason, in one transaction. Quarantining
// it again is harmless (a resent push gets the same rejection).
//
// If the entry has already left the outbox, an acknowledgement overtook the
// rejection (a middlebox that reorders or replays frames): the event itself
// is still in the log, which is never deleted, so the rejection is recorded
// against it and staff still see it. A sequence whose event is unknown here
// is ErrNotInOutbox.
func (s *Store) Quarantine(ctx context.Context, seq int64, eventID string, code int, reason string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("quarantine %d: begin: %w", seq, err)
	}
	defer tx.Rollback()
	now := time.Now().UnixMilli()
	res, err := tx.ExecContext(ctx, `INSERT INTO quarantine (seq, event_id, code, reason, quarantined_at)
		SELECT seq, event_id, ?, ?, ? FROM outbox WHERE seq = ?
		ON CONFLICT DO NOTHING`,
		code, reason, now, seq)
	if err != nil {
		return fmt.Errorf("quarantine %d: %w", seq, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var held bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM quarantine WHERE seq = ? OR event_id = ?)`, seq, eventID).Scan(&held); err != nil {
			return fmt.Errorf("quarantine %d: %w", seq, err)
		}
		if held {
			return nil
		}
		res, err = tx.ExecContext(ctx, `INSERT INTO quarantine (seq, event_id, code, reason, quarantined_at)
			SELECT ?, id, ?, ?, ? FROM events WHERE id = ?
			ON CONFLICT DO NOTHING`, seq, code, reason, now, eventID)
		if err != nil {
			return fmt.Errorf("quarantine %d: %w", seq, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("quarantine %d: %w", seq, client.ErrNotInOutbox)
		}
	}
	// A no-op for the projection when an ack already took the entry out.
	if err := s.proj.Unqueuing(ctx, tx, seq, seq); err != nil {
		return fmt.Errorf("quarantine %d: %w", seq, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE seq = ?`, seq); err != nil {
		return fmt.Errorf("quarantine %d: remove from outbox: %w", seq, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("quarantine %d: commit: %w", seq, err)
	}
	s.Changed()
	return nil
}

// Quarantined lists the quarantined events in sequence order, for staff.
func (s *Store) Quarantined(ctx context.Context) ([]client.QuarantinedEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT q.seq, q.code, q.reason, q.quarantined_at, `+EventColumns+`
		FROM quarantine q JOIN events e ON e.id = q.event_id ORDER BY q.seq`)
	if err != nil {
		return nil, fmt.Errorf("quarantined: %w", err)
	}
	defer rows.Close()
	var out []client.QuarantinedEntry
	for rows.Next() {
		var q client.QuarantinedEntry
		var at int64
		if q.Event, err = ScanEvent(rows, &q.Seq, &q.Code, &q.Reason, &at); err != nil {
			return nil, fmt.Errorf("quarantined: %w", err)
		}
		q.At = time.UnixMilli(at).UTC()
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("quarantined: %w", err)
	}
	return out, nil
}

// Cursors returns the stored downstream cursor of every scope.
func (s *Store) Cursors(ctx context.Context) (map[string]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT scope, cursor FROM cursors`)
	if err != nil {
		return nil, fmt.Errorf("cursors: %w", err)
	}
	defer rows.Close()
	out := make(map[string]int64)
	for rows.Next() {
		var scope string
		var cur int64
		if err := rows.Scan(&scope, &cur); err != nil {
			return nil, fmt.Errorf("cursors: %w", err)
		}
		out[scope] = cur
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cursors: %w", err)
	}
	return out, nil
}

// ApplyRemote stores one downstream batch of scope, the events with a global
// sequence in (from, next], and moves the scope's cursor to next, all in one
// transaction: after a crash both are there or neither is, and the server
// resends from the stored cursor.
//
// The stored cursor (0 for a scope never seen) must equal from, else nothing
// is written and the error is a *client.CursorError (client.ErrCursorMismatch).
//
// Events are stored idempotently by id: this device's own events come back
// through its branch scope, and a batch replayed after a crash is harmless.
// A Filed event also adds its complaint to the complaints table when the
// complaint id is new, so staff screens here can find the branch's cases
// filed at other devices. A complaint that cannot be projected (undecodable,
// invalid, or a tracking code held by another complaint) keeps its event and
// is logged: refusing the batch would stop this scope for good, since the
// server would resend the same batch forever.
//
// The projection is told of every complaint with events new here, once per
// batch however many of its events the batch holds, in the same
// transaction (its case row is refreshed: folded once, from all its events).
func (s *Store) ApplyRemote(ctx context.Context, scope string, from, next int64, events []event.Event) error {
	if next < from {
		return fmt.Errorf("apply %q: next %d is before from %d", scope, next, from)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("apply %q: begin: %w", scope, err)
	}
	defer tx.Rollback()

	var stored int64
	err = tx.QueryRowContext(ctx, `SELECT cursor FROM cursors WHERE scope = ?`, scope).Scan(&stored)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("apply %q: read cursor: %w", scope, err)
	}
	if stored != from {
		return &client.CursorError{Scope: scope, Stored: stored, From: from}
	}

	var touched, redacted []string
	if len(events) > 0 {
		if touched, redacted, err = applyEvents(ctx, tx, events, s.log); err != nil {
			return fmt.Errorf("apply %q: %w", scope, err)
		}
		if err := redactReceived(ctx, tx, redacted); err != nil {
			return fmt.Errorf("apply %q: %w", scope, err)
		}
		if len(touched) > 0 {
			if err := s.proj.Logged(ctx, tx, touched); err != nil {
				return fmt.Errorf("apply %q: %w", scope, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO cursors (scope, cursor, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (scope) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`,
		scope, next, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("apply %q: write cursor: %w", scope, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("apply %q: commit: %w", scope, err)
	}
	if len(redacted) > 0 {
		// The replaced text leaves the WAL and the free pages now, not at
		// the next deletion.
		s.unswept.Store(true)
		s.sweep(ctx)
	}
	if len(touched) > 0 {
		s.Changed()
	}
	return nil
}

// Attribute keys of ApplyRemote's log records: ids only, never complaint text.
const (
	logKeyEvent     = "event"
	logKeyComplaint = "complaint"
	logKeyErr       = "err"
)

// applyEvents stores the events new here and returns the ids of the
// complaints they belong to, each once, whose cases must be refreshed, and
// of those a Redacted event new here names.
func applyEvents(ctx context.Context, tx *sql.Tx, events []event.Event, log *slog.Logger) (touched, redacted []string, err error) {
	// Prepared once per batch: a catch-up batch holds up to 1,000 events.
	insEvent, err := tx.PrepareContext(ctx, `INSERT INTO events (id, complaint_id, type, actor_kind,
		actor_id, at, branch, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return nil, nil, fmt.Errorf("prepare: %w", err)
	}
	defer insEvent.Close()
	seen := make(map[string]bool)
	for i := range events {
		e := &events[i]
		at, err := hlcInt(e.At)
		if err != nil {
			return nil, nil, fmt.Errorf("event %s: %w", e.ID, err)
		}
		var data sql.NullString
		if len(e.Data) > 0 {
			data = sql.NullString{String: string(e.Data), Valid: true}
		}
		res, err := insEvent.ExecContext(ctx, e.ID, e.ComplaintID, string(e.Type), string(e.Actor.Kind),
			e.Actor.ID, at, e.Branch, data)
		if err != nil {
			return nil, nil, fmt.Errorf("insert event %s: %w", e.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // held already: our own, or a replay
		}
		if !seen[e.ComplaintID] {
			seen[e.ComplaintID] = true
			touched = append(touched, e.ComplaintID)
		}
		if e.Type == event.Redacted {
			redacted = append(redacted, e.ComplaintID)
		}
		if e.Type != event.Filed {
			continue
		}
		if err := projectFiled(ctx, tx, e); err != nil {
			if !constraint(err) && !errors.Is(err, errNotProjectable) {
				return nil, nil, err // storage failed: the whole batch is retried
			}
			log.Warn("filed event kept without its complaint row",
				logKeyEvent, e.ID, logKeyComplaint, e.ComplaintID, logKeyErr, err)
		}
	}
	return touched, redacted, nil
}

var errNotProjectable = errors.New("complaint not projectable")

// projectFiled adds the complaint a Filed event carries, unless its id is
// held already (filed here, or replicated before).
func projectFiled(ctx context.Context, tx *sql.Tx, e *event.Event) error {
	c, err := e.Complaint()
	if err != nil {
		return fmt.Errorf("%w: %w", errNotProjectable, err)
	}
	if c.ID != e.ComplaintID {
		return fmt.Errorf("%w: carries complaint %s", errNotProjectable, c.ID)
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errNotProjectable, err)
	}
	var name, email, phone, notice sql.NullString
	var consent sql.NullInt64
	if ct := c.Contact; ct != nil {
		name, email, phone = nullString(ct.Name), nullString(ct.Email), nullString(ct.Phone)
		consent = sql.NullInt64{Int64: ct.ConsentAt.UnixMilli(), Valid: true}
		notice = sql.NullString{String: ct.NoticeVersion, Valid: true}
	}
	// ON CONFLICT (id) only: a different complaint with the same tracking
	// code must fail (and be logged), not be silently dropped as a duplicate.
	_, err = tx.ExecContext(ctx, `INSERT INTO complaints (`+ComplaintColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		c.ID, c.Code, c.Branch, c.Device, string(c.Channel), c.Category, c.Description,
		c.DesiredOutcome, name, email, phone, consent, notice, c.Language, c.FiledAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("project complaint %s: %w", c.ID, err)
	}
	return nil
}

// Keys of the sync_status table.
const (
	statusState       = "state"
	statusLastSuccess = "last_success" // unix ms
	statusLastError   = "last_error"
	statusCloseCode   = "close_code"
	statusUpdatedAt   = "updated_at" // unix ms
)

// SaveSyncStatus replaces the saved sync status. UpdatedAt is set to now
// when zero.
func (s *Store) SaveSyncStatus(ctx context.Context, st client.SavedStatus) error {
	if st.UpdatedAt.IsZero() {
		st.UpdatedAt = time.Now()
	}
	var success string
	if !st.LastSuccess.IsZero() {
		success = strconv.FormatInt(st.LastSuccess.UnixMilli(), 10)
	}
	kv := [][2]string{
		{statusState, st.State},
		{statusLastSuccess, success},
		{statusLastError, st.LastError},
		{statusCloseCode, strconv.Itoa(st.CloseCode)},
		{statusUpdatedAt, strconv.FormatInt(st.UpdatedAt.UnixMilli(), 10)},
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save sync status: begin: %w", err)
	}
	defer tx.Rollback()
	for _, p := range kv {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sync_status (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, p[0], p[1]); err != nil {
			return fmt.Errorf("save sync status: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save sync status: commit: %w", err)
	}
	return nil
}

// LoadSyncStatus reads the saved sync status; the zero SavedStatus when none
// was saved yet (the client never ran).
func (s *Store) LoadSyncStatus(ctx context.Context) (client.SavedStatus, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT key, value FROM sync_status`)
	if err != nil {
		return client.SavedStatus{}, fmt.Errorf("load sync status: %w", err)
	}
	defer rows.Close()
	var st client.SavedStatus
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return client.SavedStatus{}, fmt.Errorf("load sync status: %w", err)
		}
		switch k {
		case statusState:
			st.State = v
		case statusLastError:
			st.LastError = v
		case statusCloseCode:
			st.CloseCode, _ = strconv.Atoi(v)
		case statusLastSuccess:
			st.LastSuccess = unixMilli(v)
		case statusUpdatedAt:
			st.UpdatedAt = unixMilli(v)
		}
	}
	if err := rows.Err(); err != nil {
		return client.SavedStatus{}, fmt.Errorf("load sync status: %w", err)
	}
	return st, nil
}

// unixMilli parses a saved time; empty or unreadable is the zero time, which
// staff screens show as "never".
func unixMilli(v string) time.Time {
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || v == "" {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
