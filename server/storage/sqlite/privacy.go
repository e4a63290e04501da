package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"ombud/server/storage"
	"ombud/shared/event"
	"ombud/shared/redact"
)

var _ storage.Privacy = (*Store)(nil)

// Redact implements storage.Privacy.
func (s *Store) Redact(ctx context.Context, complaintID string, marker event.Event, at time.Time) (bool, error) {
	if marker.Type != event.Redacted || marker.ComplaintID != complaintID {
		return false, storage.Errorf(storage.Invalid, "redact %s: the marker must be a redacted event of the complaint", complaintID)
	}
	if err := checkAppended(&marker); err != nil {
		return false, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("redact: begin: %w", err)
	}
	defer tx.Rollback()
	before, err := ends(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("redact: %w", err)
	}
	var (
		filed, already bool
		reason         sql.NullString
	)
	err = tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM complaints WHERE id = ?1),
		EXISTS (SELECT 1 FROM events WHERE complaint_id = ?1 AND type = 'redacted'),
		(SELECT reason FROM legal_holds WHERE complaint_id = ?1)`, complaintID).Scan(&filed, &already, &reason)
	switch {
	case err != nil:
		return false, fmt.Errorf("redact %s: %w", complaintID, err)
	case !filed:
		return false, storage.Errorf(storage.NotFound, "complaint %s is not filed", complaintID)
	case reason.Valid:
		return false, storage.Errorf(storage.Conflict, "complaint %s is under a legal hold: %s", complaintID, reason.String)
	}
	type change struct {
		seq  int64
		data []byte
	}
	var changes []change
	rows, err := tx.QueryContext(ctx, `SELECT seq, type, data FROM events WHERE complaint_id = ? AND redacted_at IS NULL ORDER BY seq`, complaintID)
	if err != nil {
		return false, fmt.Errorf("redact %s: %w", complaintID, err)
	}
	for rows.Next() {
		var (
			seq  int64
			typ  string
			data []byte
		)
		if err := rows.Scan(&seq, &typ, &data); err != nil {
			rows.Close()
			return false, fmt.Errorf("redact %s: %w", complaintID, err)
		}
		if nd, changed := redact.Payload(event.Type(typ), data); changed {
			changes = append(changes, change{seq, nd})
		}
	}
	if err := rows.Close(); err != nil {
		return false, fmt.Errorf("redact %s: %w", complaintID, err)
	}
	// payload_hash is left as it was: the chain still verifies, and
	// redacted_at tells the verifier why the payload no longer matches.
	for _, c := range changes {
		if _, err := tx.ExecContext(ctx, `UPDATE events SET data = ?, redacted_at = ? WHERE seq = ?`, c.data, nanos(at), c.seq); err != nil {
			return false, fmt.Errorf("redact %s: event %d: %w", complaintID, c.seq, err)
		}
	}
	// The console's full-text index (migration 0012) holds the words too;
	// Sweep merges its segments so no old one keeps their tokens.
	if _, err := tx.ExecContext(ctx, `DELETE FROM case_text WHERE complaint_id = ?`, complaintID); err != nil {
		return false, fmt.Errorf("redact %s: text index: %w", complaintID, err)
	}
	// Outbound jobs may carry text (a webhook added with --include-text):
	// their history stays, their payloads go, and what was still to send
	// is not sent.
	if _, err := tx.ExecContext(ctx, `UPDATE delivery_jobs SET payload = CAST('{}' AS BLOB),
		state = CASE WHEN state = 'pending' THEN 'skipped' ELSE state END,
		done_at = COALESCE(done_at, ?), lease_until = NULL WHERE complaint_id = ?`, nanos(at), complaintID); err != nil {
		return false, fmt.Errorf("redact %s: outbound jobs: %w", complaintID, err)
	}
	var scopes []string
	if !already {
		if _, scopes, err = s.appendTx(ctx, tx, []event.Event{marker}); err != nil {
			return false, fmt.Errorf("redact %s: %w", complaintID, err)
		}
	}
	after, err := ends(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("redact %s: %w", complaintID, err)
	}
	if err := s.local.commit(tx, before, after); err != nil {
		return false, fmt.Errorf("redact %s: commit: %w", complaintID, err)
	}
	s.feed.Publish(scopes)
	return !already, nil
}

// ClosedCases implements storage.Privacy.
func (s *Store) ClosedCases(ctx context.Context, before time.Time, after string, limit int) ([]storage.ClosedCase, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT c.complaint_id, c.code, c.category, c.closed_at FROM cases c
		WHERE c.state = 'closed' AND c.closed_at < ? AND c.complaint_id > ?
		AND NOT EXISTS (SELECT 1 FROM events e WHERE e.complaint_id = c.complaint_id AND e.type = 'redacted')
		AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.complaint_id = c.complaint_id)
		ORDER BY c.complaint_id LIMIT ?`, nanos(before), after, max(1, min(limit, storage.MaxPage)))
	if err != nil {
		return nil, fmt.Errorf("closed cases: %w", err)
	}
	defer rows.Close()
	var out []storage.ClosedCase
	for rows.Next() {
		var (
			c      storage.ClosedCase
			closed int64
		)
		if err := rows.Scan(&c.ComplaintID, &c.Code, &c.Category, &closed); err != nil {
			return nil, fmt.Errorf("closed cases: %w", err)
		}
		c.ClosedAt = time.Unix(0, closed).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// ScanFiled implements storage.Privacy.
func (s *Store) ScanFiled(ctx context.Context, fn func(storage.StoredEvent) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE type = 'filed' AND redacted_at IS NULL ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("scan filed: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		se, err := scanEvent(rows)
		if err != nil {
			return fmt.Errorf("scan filed: %w", err)
		}
		if err := fn(se); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SetHold implements storage.Privacy.
func (s *Store) SetHold(ctx context.Context, h storage.Hold) error {
	if h.ComplaintID == "" || h.Reason == "" || h.SetBy == "" {
		return storage.Errorf(storage.Invalid, "a hold needs a complaint, a reason and who set it")
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO legal_holds (complaint_id, reason, set_by, set_at)
		SELECT id, ?, ?, ? FROM complaints WHERE id = ?
		ON CONFLICT (complaint_id) DO UPDATE SET reason = excluded.reason, set_by = excluded.set_by, set_at = excluded.set_at`,
		h.Reason, h.SetBy, nanos(h.SetAt), h.ComplaintID)
	if err != nil {
		return fmt.Errorf("set hold: %w", err)
	}
	var ok bool
	if err := s.w.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM legal_holds WHERE complaint_id = ?)`, h.ComplaintID).Scan(&ok); err != nil {
		return fmt.Errorf("set hold: %w", err)
	}
	if !ok {
		return storage.Errorf(storage.NotFound, "complaint %s is not filed", h.ComplaintID)
	}
	return nil
}

// ClearHold implements storage.Privacy.
func (s *Store) ClearHold(ctx context.Context, complaintID string) error {
	r, err := s.w.ExecContext(ctx, `DELETE FROM legal_holds WHERE complaint_id = ?`, complaintID)
	if err != nil {
		return fmt.Errorf("clear hold: %w", err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return storage.Errorf(storage.NotFound, "complaint %s has no legal hold", complaintID)
	}
	return nil
}

// Holds implements storage.Privacy.
func (s *Store) Holds(ctx context.Context) ([]storage.Hold, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT complaint_id, reason, set_by, set_at FROM legal_holds ORDER BY complaint_id`)
	if err != nil {
		return nil, fmt.Errorf("holds: %w", err)
	}
	defer rows.Close()
	var out []storage.Hold
	for rows.Next() {
		var (
			h  storage.Hold
			at int64
		)
		if err := rows.Scan(&h.ComplaintID, &h.Reason, &h.SetBy, &at); err != nil {
			return nil, fmt.Errorf("holds: %w", err)
		}
		h.SetAt = time.Unix(0, at).UTC()
		out = append(out, h)
	}
	return out, rows.Err()
}

// CreateErasure implements storage.Privacy.
func (s *Store) CreateErasure(ctx context.Context, r storage.ErasureRequest) error {
	ids, err := json.Marshal(r.Complaints)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO erasure_requests (id, subject, complaints, reason, requested_by, requested_at, state)
		VALUES (?, ?, ?, ?, ?, ?, 'pending')`, r.ID, r.Subject, string(ids), r.Reason, r.RequestedBy, nanos(r.RequestedAt))
	switch {
	case isUniqueViolation(err):
		return storage.Errorf(storage.Conflict, "erasure request %s exists", r.ID)
	case err != nil:
		return fmt.Errorf("create erasure request: %w", err)
	}
	return nil
}

const erasureColumns = `id, subject, complaints, reason, requested_by, requested_at, state, approved_by, approved_at, outcome`

func scanErasure(row eventScanner) (storage.ErasureRequest, error) {
	var (
		r         storage.ErasureRequest
		ids       string
		requested int64
		by        sql.NullString
		approved  sql.NullInt64
	)
	if err := row.Scan(&r.ID, &r.Subject, &ids, &r.Reason, &r.RequestedBy, &requested, &r.State, &by, &approved, &r.Outcome); err != nil {
		return r, err
	}
	r.RequestedAt, r.ApprovedBy, r.ApprovedAt = time.Unix(0, requested).UTC(), by.String, fromNanos(approved)
	return r, json.Unmarshal([]byte(ids), &r.Complaints)
}

// Erasure implements storage.Privacy.
func (s *Store) Erasure(ctx context.Context, id string) (storage.ErasureRequest, error) {
	r, err := scanErasure(s.r.QueryRowContext(ctx, `SELECT `+erasureColumns+` FROM erasure_requests WHERE id = ?`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return r, storage.Errorf(storage.NotFound, "no erasure request %s", id)
	case err != nil:
		return r, fmt.Errorf("read erasure request: %w", err)
	}
	return r, nil
}

// Erasures implements storage.Privacy.
func (s *Store) Erasures(ctx context.Context) ([]storage.ErasureRequest, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+erasureColumns+` FROM erasure_requests ORDER BY requested_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("erasure requests: %w", err)
	}
	defer rows.Close()
	var out []storage.ErasureRequest
	for rows.Next() {
		r, err := scanErasure(rows)
		if err != nil {
			return nil, fmt.Errorf("erasure requests: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// CloseErasure implements storage.Privacy.
func (s *Store) CloseErasure(ctx context.Context, id, state, by string, at time.Time, outcome string) error {
	if state != storage.ErasureDone && state != storage.ErasureCancelled {
		return storage.Errorf(storage.Invalid, "an erasure request closes as done or cancelled, not %q", state)
	}
	r, err := s.w.ExecContext(ctx, `UPDATE erasure_requests SET state = ?, approved_by = ?, approved_at = ?, outcome = ?
		WHERE id = ? AND state = 'pending'`, state, by, nanos(at), outcome, id)
	if err != nil {
		return fmt.Errorf("close erasure request: %w", err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		if _, err := s.Erasure(ctx, id); err != nil {
			return err
		}
		return storage.Errorf(storage.Conflict, "erasure request %s is not pending", id)
	}
	return nil
}

// LogPrivacy implements storage.Privacy.
func (s *Store) LogPrivacy(ctx context.Context, e storage.PrivacyEntry) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO privacy_log (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)`,
		nanos(e.At), e.Actor, e.Action, e.Subject, e.Detail)
	if err != nil {
		return fmt.Errorf("privacy log: %w", err)
	}
	return nil
}

// PrivacyLog implements storage.Privacy.
func (s *Store) PrivacyLog(ctx context.Context, limit int) ([]storage.PrivacyEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT at, actor, action, subject, detail FROM privacy_log ORDER BY id DESC LIMIT ?`, max(1, limit))
	if err != nil {
		return nil, fmt.Errorf("privacy log: %w", err)
	}
	defer rows.Close()
	var out []storage.PrivacyEntry
	for rows.Next() {
		var (
			e  storage.PrivacyEntry
			at int64
		)
		if err := rows.Scan(&at, &e.Actor, &e.Action, &e.Subject, &e.Detail); err != nil {
			return nil, fmt.Errorf("privacy log: %w", err)
		}
		e.At = time.Unix(0, at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// Sweep implements storage.Privacy: a TRUNCATE checkpoint copies the WAL
// into the database file and empties it, so the page images a redaction
// replaced leave the WAL. A reader mid-read makes it partial (done false):
// try again later.
func (s *Store) Sweep(ctx context.Context) (bool, error) {
	// An FTS5 delete only adds a tombstone segment: 'optimize' merges
	// them all, dropping the deleted rows' tokens from the index.
	if _, err := s.w.ExecContext(ctx, `INSERT INTO case_text (case_text) VALUES ('optimize')`); err != nil {
		return false, fmt.Errorf("sweep: text index: %w", err)
	}
	var busy, frames, moved int
	if err := s.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &moved); err != nil {
		return false, fmt.Errorf("sweep: %w", err)
	}
	return busy == 0, nil
}
