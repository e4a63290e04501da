package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"ombud/server/delivery"
	"ombud/server/storage"
)

var _ delivery.Store = (*Store)(nil)

// The outbound queue (migration 0011). Its statements run once per page,
// claim or attempt, so they are not prepared ahead.

// DeliveryCursor implements delivery.Store.
func (s *Store) DeliveryCursor(ctx context.Context, name string) (int64, error) {
	var seq int64
	err := s.r.QueryRowContext(ctx, `SELECT seq FROM delivery_cursors WHERE name = ?`, name).Scan(&seq)
	if err == nil {
		return seq, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read delivery cursor %s: %w", name, err)
	}
	// New: at the log's end, unless another process got there first.
	if _, err := s.w.ExecContext(ctx, `INSERT INTO delivery_cursors (name, seq)
		VALUES (?, (SELECT COALESCE(MAX(seq), 0) FROM events)) ON CONFLICT (name) DO NOTHING`, name); err != nil {
		return 0, fmt.Errorf("create delivery cursor %s: %w", name, err)
	}
	if err := s.w.QueryRowContext(ctx, `SELECT seq FROM delivery_cursors WHERE name = ?`, name).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read delivery cursor %s: %w", name, err)
	}
	return seq, nil
}

// Enqueue implements delivery.Store.
func (s *Store) Enqueue(ctx context.Context, name string, from, to int64, jobs []delivery.Job) (int, error) {
	if to < from {
		return 0, storage.Errorf(storage.Invalid, "delivery cursor cannot move back from %d to %d", from, to)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("enqueue: begin: %w", err)
	}
	defer tx.Rollback()
	r, err := tx.ExecContext(ctx, `UPDATE delivery_cursors SET seq = ? WHERE name = ? AND seq = ?`, to, name, from)
	if err != nil {
		return 0, fmt.Errorf("enqueue: move cursor: %w", err)
	}
	if n, err := r.RowsAffected(); err != nil {
		return 0, fmt.Errorf("enqueue: move cursor: %w", err)
	} else if n != 1 {
		return 0, storage.Errorf(storage.Conflict, "delivery cursor %s is no longer at %d", name, from)
	}
	added := 0
	if len(jobs) > 0 {
		st, err := tx.PrepareContext(ctx, `INSERT INTO delivery_jobs
			(queue, key, channel, subject, complaint_id, event_id, seq, payload, state, attempts, created_at, next_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
			ON CONFLICT (queue, key) DO NOTHING`)
		if err != nil {
			return 0, fmt.Errorf("enqueue: prepare: %w", err)
		}
		defer st.Close()
		for i := range jobs {
			j := &jobs[i]
			if j.Queue == "" || j.Key == "" {
				return 0, storage.Errorf(storage.Invalid, "a delivery job needs a queue and a key")
			}
			next := j.NextAt
			if next.IsZero() {
				next = j.CreatedAt
			}
			payload := j.Payload
			if payload == nil {
				payload = []byte{}
			}
			r, err := st.ExecContext(ctx, j.Queue, j.Key, j.Channel, j.Subject, j.ComplaintID, j.EventID, j.Seq,
				payload, nanos(j.CreatedAt), nanos(next))
			if err != nil {
				return 0, fmt.Errorf("enqueue %s: %w", j.Key, err)
			}
			if n, _ := r.RowsAffected(); n == 1 {
				added++
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("enqueue: commit: %w", err)
	}
	return added, nil
}

const jobColumns = `queue, key, channel, subject, complaint_id, event_id, seq, payload, state, attempts, created_at, next_at, lease_until`

// Claim implements delivery.Store.
func (s *Store) Claim(ctx context.Context, queue string, now time.Time, lease time.Duration, limit int) ([]delivery.Job, error) {
	if limit < 1 {
		return nil, storage.Errorf(storage.Invalid, "claim limit must be at least 1")
	}
	limit = min(limit, storage.MaxPage)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("claim: begin: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+jobColumns+` FROM delivery_jobs
		WHERE queue = ? AND state = 'pending' AND next_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
		ORDER BY next_at, seq, key LIMIT ?`, queue, nanos(now), nanos(now), limit)
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	var (
		jobs        []delivery.Job
		interrupted []bool
	)
	for rows.Next() {
		var (
			j            delivery.Job
			state        string
			created, nxt int64
			leased       sql.NullInt64
		)
		if err := rows.Scan(&j.Queue, &j.Key, &j.Channel, &j.Subject, &j.ComplaintID, &j.EventID, &j.Seq, &j.Payload,
			&state, &j.Attempts, &created, &nxt, &leased); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim: %w", err)
		}
		j.State = delivery.State(state)
		j.CreatedAt, j.NextAt = time.Unix(0, created).UTC(), time.Unix(0, nxt).UTC()
		jobs = append(jobs, j)
		interrupted = append(interrupted, leased.Valid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	until := nanos(now.Add(lease))
	for i := range jobs {
		j := &jobs[i]
		if interrupted[i] {
			// The last claim's worker stopped without recording: the
			// audit trail says so, and the attempt counts.
			j.Attempts++
			if err := insertAttempt(ctx, tx, delivery.Attempt{
				Queue: j.Queue, Key: j.Key, N: j.Attempts, At: now, Outcome: delivery.Interrupted,
				Detail: "the server stopped during this attempt; it may have been delivered, and is sent again with the same key",
			}); err != nil {
				return nil, fmt.Errorf("claim: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE delivery_jobs SET lease_until = ?, attempts = ? WHERE queue = ? AND key = ?`,
			until, j.Attempts, j.Queue, j.Key); err != nil {
			return nil, fmt.Errorf("claim %s: %w", j.Key, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("claim: commit: %w", err)
	}
	return jobs, nil
}

// insertAttempt writes an audit row, copying the job's fields.
func insertAttempt(ctx context.Context, tx *sql.Tx, a delivery.Attempt) error {
	r, err := tx.ExecContext(ctx, `INSERT INTO delivery_attempts
		(queue, key, channel, subject, complaint_id, event_id, attempt, at, outcome, code, detail, took_ms)
		SELECT queue, key, channel, subject, complaint_id, event_id, ?, ?, ?, ?, ?, ?
		FROM delivery_jobs WHERE queue = ? AND key = ?`,
		a.N, nanos(a.At), string(a.Outcome), a.Code, a.Detail, a.Took.Milliseconds(), a.Queue, a.Key)
	if err != nil {
		return fmt.Errorf("audit %s: %w", a.Key, err)
	}
	if n, err := r.RowsAffected(); err != nil {
		return fmt.Errorf("audit %s: %w", a.Key, err)
	} else if n != 1 {
		return storage.Errorf(storage.NotFound, "no delivery job %s in queue %s", a.Key, a.Queue)
	}
	return nil
}

// Record implements delivery.Store.
func (s *Store) Record(ctx context.Context, a delivery.Attempt, u delivery.Update) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record: begin: %w", err)
	}
	defer tx.Rollback()
	if err := insertAttempt(ctx, tx, a); err != nil {
		return err
	}
	next := u.NextAt
	if next.IsZero() {
		next = a.At
	}
	if _, err := tx.ExecContext(ctx, `UPDATE delivery_jobs SET state = ?, attempts = ?, next_at = ?, lease_until = NULL, done_at = ?
		WHERE queue = ? AND key = ?`, string(u.State), u.Attempts, nanos(next), nullNanos(u.DoneAt), a.Queue, a.Key); err != nil {
		return fmt.Errorf("record %s: %w", a.Key, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record: commit: %w", err)
	}
	return nil
}

// Attempts implements delivery.Store.
func (s *Store) Attempts(ctx context.Context, f delivery.Filter) ([]delivery.Attempt, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, storage.MaxPage)
	rows, err := s.r.QueryContext(ctx, `SELECT id, queue, key, channel, subject, complaint_id, event_id, attempt, at, outcome, code, detail, took_ms
		FROM delivery_attempts
		WHERE (?1 = '' OR queue = ?1) AND (?2 = '' OR subject = ?2) AND (?3 = '' OR complaint_id = ?3)
		ORDER BY id DESC LIMIT ?4`, f.Queue, f.Subject, f.ComplaintID, limit)
	if err != nil {
		return nil, fmt.Errorf("read attempts: %w", err)
	}
	defer rows.Close()
	var out []delivery.Attempt
	for rows.Next() {
		var (
			a       delivery.Attempt
			at, ms  int64
			outcome string
		)
		if err := rows.Scan(&a.ID, &a.Queue, &a.Key, &a.Channel, &a.Subject, &a.ComplaintID, &a.EventID, &a.N, &at,
			&outcome, &a.Code, &a.Detail, &ms); err != nil {
			return nil, fmt.Errorf("read attempts: %w", err)
		}
		a.At, a.Outcome, a.Took = time.Unix(0, at).UTC(), delivery.Outcome(outcome), time.Duration(ms)*time.Millisecond
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read attempts: %w", err)
	}
	return out, nil
}

// CountAttempts implements delivery.Store.
func (s *Store) CountAttempts(ctx context.Context, queue, subject string, outcome delivery.Outcome, since time.Time) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM delivery_attempts
		WHERE queue = ? AND subject = ? AND outcome = ? AND at >= ?`, queue, subject, string(outcome), nanos(since)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count attempts: %w", err)
	}
	return n, nil
}

// SkipPending implements delivery.Store.
func (s *Store) SkipPending(ctx context.Context, queue, subject, detail string, at time.Time) (int, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("skip pending: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO delivery_attempts
		(queue, key, channel, subject, complaint_id, event_id, attempt, at, outcome, code, detail, took_ms)
		SELECT queue, key, channel, subject, complaint_id, event_id, attempts, ?, ?, 0, ?, 0
		FROM delivery_jobs WHERE queue = ? AND subject = ? AND state = 'pending'`,
		nanos(at), string(delivery.Skipped), detail, queue, subject); err != nil {
		return 0, fmt.Errorf("skip pending: %w", err)
	}
	r, err := tx.ExecContext(ctx, `UPDATE delivery_jobs SET state = 'skipped', lease_until = NULL, done_at = ?
		WHERE queue = ? AND subject = ? AND state = 'pending'`, nanos(at), queue, subject)
	if err != nil {
		return 0, fmt.Errorf("skip pending: %w", err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("skip pending: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("skip pending: commit: %w", err)
	}
	return int(n), nil
}
