package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"ombud/server/storage"
	"ombud/shared/event"
	"ombud/shared/redact"
)

var _ storage.Privacy = (*Store)(nil)

// Redact implements storage.Privacy. It takes the log's lock: the marker
// is appended (and chained) in the same transaction as the payloads are
// replaced, and no push interleaves.
func (s *Store) Redact(ctx context.Context, complaintID string, marker event.Event, at time.Time) (bool, error) {
	if marker.Type != event.Redacted || marker.ComplaintID != complaintID {
		return false, storage.Errorf(storage.Invalid, "redact %s: the marker must be a redacted event of the complaint", complaintID)
	}
	if err := checkAppended(&marker); err != nil {
		return false, err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("redact: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	mark, err := lockLog(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("redact %s: %w", complaintID, err)
	}
	var (
		filed, already bool
		reason         *string
	)
	err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM complaints WHERE id = $1),
		EXISTS (SELECT 1 FROM events WHERE complaint_id = $1 AND type = 'redacted'),
		(SELECT reason FROM legal_holds WHERE complaint_id = $1)`, complaintID).Scan(&filed, &already, &reason)
	switch {
	case err != nil:
		return false, fmt.Errorf("redact %s: %w", complaintID, err)
	case !filed:
		return false, storage.Errorf(storage.NotFound, "complaint %s is not filed", complaintID)
	case reason != nil:
		return false, storage.Errorf(storage.Conflict, "complaint %s is under a legal hold: %s", complaintID, *reason)
	}
	var (
		seqs  []int64
		datas [][]byte
	)
	rows, err := tx.Query(ctx, `SELECT seq, type, data FROM events WHERE complaint_id = $1 AND redacted_at IS NULL ORDER BY seq`, complaintID)
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
			seqs, datas = append(seqs, seq), append(datas, nilIfEmpty(nd))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("redact %s: %w", complaintID, err)
	}
	b := &pgx.Batch{}
	// payload_hash is left as it was: the chain still verifies, and
	// redacted_at tells the verifier why the payload no longer matches.
	if len(seqs) > 0 {
		b.Queue(`UPDATE events e SET data = t.d, redacted_at = $3
			FROM unnest($1::bigint[], $2::bytea[]) AS t(s, d) WHERE e.seq = t.s`, seqs, datas, nanos(at))
	}
	// The search index holds the words too.
	b.Queue(`DELETE FROM case_text WHERE complaint_id = $1`, complaintID)
	// Outbound jobs may carry text (a webhook added with --include-text):
	// their history stays, their payloads go, and what was still to send
	// is not sent.
	b.Queue(`UPDATE delivery_jobs SET payload = '\x7b7d'::bytea,
		state = CASE WHEN state = 'pending' THEN 'skipped' ELSE state END,
		done_at = COALESCE(done_at, $1), lease_until = NULL WHERE complaint_id = $2`, nanos(at), complaintID)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return false, fmt.Errorf("redact %s: %w", complaintID, err)
	}
	var scopes []string
	if !already {
		if _, scopes, err = appendTx(ctx, tx, mark, []event.Event{marker}); err != nil {
			return false, fmt.Errorf("redact %s: %w", complaintID, err)
		}
	}
	if err := s.commitLog(ctx, tx, mark, scopes); err != nil {
		return false, fmt.Errorf("redact %s: %w", complaintID, err)
	}
	s.feed.Publish(scopes)
	return !already, nil
}

// Sweep implements storage.Privacy: nothing to do for a server database
// (its VACUUM reclaims the old row versions in its own time; backups and
// the WAL archive are the operator's, see docs/SECURITY.md).
func (s *Store) Sweep(ctx context.Context) (bool, error) { return true, nil }

// ClosedCases implements storage.Privacy.
func (s *Store) ClosedCases(ctx context.Context, before time.Time, after string, limit int) ([]storage.ClosedCase, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.complaint_id, c.code, c.category, c.closed_at FROM cases c
		WHERE c.state = 'closed' AND c.closed_at < $1 AND c.complaint_id > $2
		AND NOT EXISTS (SELECT 1 FROM events e WHERE e.complaint_id = c.complaint_id AND e.type = 'redacted')
		AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.complaint_id = c.complaint_id)
		ORDER BY c.complaint_id LIMIT $3`, nanos(before), after, max(1, min(limit, storage.MaxPage)))
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

// ScanFiled implements storage.Privacy. It pages by sequence, so fn may
// take its time without holding a connection.
func (s *Store) ScanFiled(ctx context.Context, fn func(storage.StoredEvent) error) error {
	var after int64
	for {
		rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE type = 'filed' AND redacted_at IS NULL AND seq > $1 ORDER BY seq LIMIT 500`, after)
		if err != nil {
			return fmt.Errorf("scan filed: %w", err)
		}
		page, err := scanEvents(rows, 500)
		if err != nil {
			return fmt.Errorf("scan filed: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		for _, se := range page {
			if err := fn(se); err != nil {
				return err
			}
		}
		after = page[len(page)-1].Seq
	}
}

// SetHold implements storage.Privacy.
func (s *Store) SetHold(ctx context.Context, h storage.Hold) error {
	if h.ComplaintID == "" || h.Reason == "" || h.SetBy == "" {
		return storage.Errorf(storage.Invalid, "a hold needs a complaint, a reason and who set it")
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO legal_holds (complaint_id, reason, set_by, set_at)
		SELECT id, $1, $2, $3 FROM complaints WHERE id = $4
		ON CONFLICT (complaint_id) DO UPDATE SET reason = excluded.reason, set_by = excluded.set_by, set_at = excluded.set_at`,
		h.Reason, h.SetBy, nanos(h.SetAt), h.ComplaintID)
	if err != nil {
		return fmt.Errorf("set hold: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return storage.Errorf(storage.NotFound, "complaint %s is not filed", h.ComplaintID)
	}
	return nil
}

// ClearHold implements storage.Privacy.
func (s *Store) ClearHold(ctx context.Context, complaintID string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM legal_holds WHERE complaint_id = $1`, complaintID)
	if err != nil {
		return fmt.Errorf("clear hold: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return storage.Errorf(storage.NotFound, "complaint %s has no legal hold", complaintID)
	}
	return nil
}

// Holds implements storage.Privacy.
func (s *Store) Holds(ctx context.Context) ([]storage.Hold, error) {
	rows, err := s.pool.Query(ctx, `SELECT complaint_id, reason, set_by, set_at FROM legal_holds ORDER BY complaint_id`)
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
	_, err = s.pool.Exec(ctx, `INSERT INTO erasure_requests (id, subject, complaints, reason, requested_by, requested_at, state)
		VALUES ($1, $2, $3, $4, $5, $6, 'pending')`, r.ID, r.Subject, string(ids), r.Reason, r.RequestedBy, nanos(r.RequestedAt))
	switch {
	case isUniqueViolation(err):
		return storage.Errorf(storage.Conflict, "erasure request %s exists", r.ID)
	case err != nil:
		return fmt.Errorf("create erasure request: %w", err)
	}
	return nil
}

const erasureColumns = `id, subject, complaints, reason, requested_by, requested_at, state, approved_by, approved_at, outcome`

func scanErasure(row pgx.Row) (storage.ErasureRequest, error) {
	var (
		r         storage.ErasureRequest
		ids       string
		requested int64
		by        *string
		approved  *int64
	)
	if err := row.Scan(&r.ID, &r.Subject, &ids, &r.Reason, &r.RequestedBy, &requested, &r.State, &by, &approved, &r.Outcome); err != nil {
		return r, err
	}
	r.RequestedAt, r.ApprovedAt = time.Unix(0, requested).UTC(), fromNanos(approved)
	if by != nil {
		r.ApprovedBy = *by
	}
	return r, json.Unmarshal([]byte(ids), &r.Complaints)
}

// Erasure implements storage.Privacy.
func (s *Store) Erasure(ctx context.Context, id string) (storage.ErasureRequest, error) {
	r, err := scanErasure(s.pool.QueryRow(ctx, `SELECT `+erasureColumns+` FROM erasure_requests WHERE id = $1`, id))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return r, storage.Errorf(storage.NotFound, "no erasure request %s", id)
	case err != nil:
		return r, fmt.Errorf("read erasure request: %w", err)
	}
	return r, nil
}

// Erasures implements storage.Privacy.
func (s *Store) Erasures(ctx context.Context) ([]storage.ErasureRequest, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+erasureColumns+` FROM erasure_requests ORDER BY requested_at DESC, id`)
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

// CloseErasure implements storage.Privacy. The state check is in the
// UPDATE's WHERE: of two approvals racing on two replicas, one changes the
// row and the other finds it closed.
func (s *Store) CloseErasure(ctx context.Context, id, state, by string, at time.Time, outcome string) error {
	if state != storage.ErasureDone && state != storage.ErasureCancelled {
		return storage.Errorf(storage.Invalid, "an erasure request closes as done or cancelled, not %q", state)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE erasure_requests SET state = $1, approved_by = $2, approved_at = $3, outcome = $4
		WHERE id = $5 AND state = 'pending'`, state, by, nanos(at), outcome, id)
	if err != nil {
		return fmt.Errorf("close erasure request: %w", err)
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.Erasure(ctx, id); err != nil {
			return err
		}
		return storage.Errorf(storage.Conflict, "erasure request %s is not pending", id)
	}
	return nil
}

// LogPrivacy implements storage.Privacy.
func (s *Store) LogPrivacy(ctx context.Context, e storage.PrivacyEntry) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO privacy_log (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)`,
		nanos(e.At), e.Actor, e.Action, e.Subject, e.Detail)
	if err != nil {
		return fmt.Errorf("privacy log: %w", err)
	}
	return nil
}

// PrivacyLog implements storage.Privacy.
func (s *Store) PrivacyLog(ctx context.Context, limit int) ([]storage.PrivacyEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT at, actor, action, subject, detail FROM privacy_log ORDER BY id DESC LIMIT $1`, max(1, limit))
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
