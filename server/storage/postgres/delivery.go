package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"ombud/server/delivery"
	"ombud/server/storage"
)

// DeliveryCursor implements delivery.Store.
func (s *Store) DeliveryCursor(ctx context.Context, name string) (int64, error) {
	var seq int64
	err := s.pool.QueryRow(ctx, `SELECT seq FROM delivery_cursors WHERE name = $1`, name).Scan(&seq)
	if err == nil {
		return seq, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("read delivery cursor %s: %w", name, err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO delivery_cursors (name, seq)
		VALUES ($1, (SELECT COALESCE(MAX(seq), 0) FROM events)) ON CONFLICT (name) DO NOTHING`, name); err != nil {
		return 0, fmt.Errorf("create delivery cursor %s: %w", name, err)
	}
	if err := s.pool.QueryRow(ctx, `SELECT seq FROM delivery_cursors WHERE name = $1`, name).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read delivery cursor %s: %w", name, err)
	}
	return seq, nil
}

// Enqueue implements delivery.Store.
func (s *Store) Enqueue(ctx context.Context, name string, from, to int64, jobs []delivery.Job) (int, error) {
	if to < from {
		return 0, storage.Errorf(storage.Invalid, "delivery cursor cannot move back from %d to %d", from, to)
	}
	for i := range jobs {
		if jobs[i].Queue == "" || jobs[i].Key == "" {
			return 0, storage.Errorf(storage.Invalid, "a delivery job needs a queue and a key")
		}
	}
	added := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE delivery_cursors SET seq = $1 WHERE name = $2 AND seq = $3`, to, name, from)
		if err != nil {
			return fmt.Errorf("enqueue: move cursor: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return storage.Errorf(storage.Conflict, "delivery cursor %s is no longer at %d", name, from)
		}
		if len(jobs) == 0 {
			return nil
		}
		b := &pgx.Batch{}
		for i := range jobs {
			j := &jobs[i]
			next := j.NextAt
			if next.IsZero() {
				next = j.CreatedAt
			}
			payload := j.Payload
			if payload == nil {
				payload = []byte{}
			}
			b.Queue(`INSERT INTO delivery_jobs
				(queue, key, channel, subject, complaint_id, event_id, seq, payload, state, attempts, created_at, next_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $10)
				ON CONFLICT (queue, key) DO NOTHING`,
				j.Queue, j.Key, j.Channel, j.Subject, j.ComplaintID, j.EventID, j.Seq, payload, nanos(j.CreatedAt), nanos(next))
		}
		br := tx.SendBatch(ctx, b)
		for i := range jobs {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return fmt.Errorf("enqueue %s: %w", jobs[i].Key, err)
			}
			added += int(tag.RowsAffected())
		}
		return br.Close()
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}

const jobColumns = `queue, key, channel, subject, complaint_id, event_id, seq, payload, state, attempts, created_at, next_at, lease_until`

// Claim implements delivery.Store. FOR UPDATE SKIP LOCKED lets workers on
// several replicas claim at once: each takes rows no other transaction is
// claiming, instead of queueing behind it.
func (s *Store) Claim(ctx context.Context, queue string, now time.Time, lease time.Duration, limit int) ([]delivery.Job, error) {
	if limit < 1 {
		return nil, storage.Errorf(storage.Invalid, "claim limit must be at least 1")
	}
	limit = min(limit, storage.MaxPage)
	var jobs []delivery.Job
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+jobColumns+` FROM delivery_jobs
			WHERE queue = $1 AND state = 'pending' AND next_at <= $2 AND (lease_until IS NULL OR lease_until <= $2)
			ORDER BY next_at, seq, key LIMIT $3 FOR UPDATE SKIP LOCKED`, queue, nanos(now), limit)
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		var interrupted []bool
		for rows.Next() {
			var (
				j            delivery.Job
				state        string
				created, nxt int64
				leased       *int64
				attempts     int32
			)
			if err := rows.Scan(&j.Queue, &j.Key, &j.Channel, &j.Subject, &j.ComplaintID, &j.EventID, &j.Seq, &j.Payload,
				&state, &attempts, &created, &nxt, &leased); err != nil {
				rows.Close()
				return fmt.Errorf("claim: %w", err)
			}
			j.State, j.Attempts = delivery.State(state), int(attempts)
			j.CreatedAt, j.NextAt = time.Unix(0, created).UTC(), time.Unix(0, nxt).UTC()
			jobs = append(jobs, j)
			interrupted = append(interrupted, leased != nil)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		until := nanos(now.Add(lease))
		for i := range jobs {
			j := &jobs[i]
			if interrupted[i] {
				j.Attempts++
				if err := insertAttempt(ctx, tx, delivery.Attempt{
					Queue: j.Queue, Key: j.Key, N: j.Attempts, At: now, Outcome: delivery.Interrupted,
					Detail: "the server stopped during this attempt; it may have been delivered, and is sent again with the same key",
				}); err != nil {
					return fmt.Errorf("claim: %w", err)
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE delivery_jobs SET lease_until = $1, attempts = $2 WHERE queue = $3 AND key = $4`,
				until, j.Attempts, j.Queue, j.Key); err != nil {
				return fmt.Errorf("claim %s: %w", j.Key, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return jobs, nil
}

func insertAttempt(ctx context.Context, tx pgx.Tx, a delivery.Attempt) error {
	tag, err := tx.Exec(ctx, `INSERT INTO delivery_attempts
		(queue, key, channel, subject, complaint_id, event_id, attempt, at, outcome, code, detail, took_ms)
		SELECT queue, key, channel, subject, complaint_id, event_id, $1, $2, $3, $4, $5, $6
		FROM delivery_jobs WHERE queue = $7 AND key = $8`,
		a.N, nanos(a.At), string(a.Outcome), a.Code, a.Detail, a.Took.Milliseconds(), a.Queue, a.Key)
	if err != nil {
		return fmt.Errorf("audit %s: %w", a.Key, err)
	}
	if tag.RowsAffected() != 1 {
		return storage.Errorf(storage.NotFound, "no delivery job %s in queue %s", a.Key, a.Queue)
	}
	return nil
}

// Record implements delivery.Store.
func (s *Store) Record(ctx context.Context, a delivery.Attempt, u delivery.Update) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := insertAttempt(ctx, tx, a); err != nil {
			return err
		}
		next := u.NextAt
		if next.IsZero() {
			next = a.At
		}
		if _, err := tx.Exec(ctx, `UPDATE delivery_jobs SET state = $1, attempts = $2, next_at = $3, lease_until = NULL, done_at = $4
			WHERE queue = $5 AND key = $6`, string(u.State), u.Attempts, nanos(next), nullNanos(u.DoneAt), a.Queue, a.Key); err != nil {
			return fmt.Errorf("record %s: %w", a.Key, err)
		}
		return nil
	})
}

// Attempts implements delivery.Store.
func (s *Store) Attempts(ctx context.Context, f delivery.Filter) ([]delivery.Attempt, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, storage.MaxPage)
	rows, err := s.pool.Query(ctx, `SELECT id, queue, key, channel, subject, complaint_id, event_id, attempt, at, outcome, code, detail, took_ms
		FROM delivery_attempts
		WHERE ($1 = '' OR queue = $1) AND ($2 = '' OR subject = $2) AND ($3 = '' OR complaint_id = $3)
		ORDER BY id DESC LIMIT $4`, f.Queue, f.Subject, f.ComplaintID, limit)
	if err != nil {
		return nil, fmt.Errorf("read attempts: %w", err)
	}
	defer rows.Close()
	var out []delivery.Attempt
	for rows.Next() {
		var (
			a       delivery.Attempt
			at, ms  int64
			n, code int32
			outcome string
		)
		if err := rows.Scan(&a.ID, &a.Queue, &a.Key, &a.Channel, &a.Subject, &a.ComplaintID, &a.EventID, &n, &at,
			&outcome, &code, &a.Detail, &ms); err != nil {
			return nil, fmt.Errorf("read attempts: %w", err)
		}
		a.N, a.Code = int(n), int(code)
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
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM delivery_attempts
		WHERE queue = $1 AND subject = $2 AND outcome = $3 AND at >= $4`, queue, subject, string(outcome), nanos(since)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count attempts: %w", err)
	}
	return n, nil
}

// SkipPending implements delivery.Store.
func (s *Store) SkipPending(ctx context.Context, queue, subject, detail string, at time.Time) (int, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO delivery_attempts
			(queue, key, channel, subject, complaint_id, event_id, attempt, at, outcome, code, detail, took_ms)
			SELECT queue, key, channel, subject, complaint_id, event_id, attempts, $1, $2, 0, $3, 0
			FROM delivery_jobs WHERE queue = $4 AND subject = $5 AND state = 'pending'`,
			nanos(at), string(delivery.Skipped), detail, queue, subject); err != nil {
			return fmt.Errorf("skip pending: %w", err)
		}
		tag, err := tx.Exec(ctx, `UPDATE delivery_jobs SET state = 'skipped', lease_until = NULL, done_at = $1
			WHERE queue = $2 AND subject = $3 AND state = 'pending'`, nanos(at), queue, subject)
		if err != nil {
			return fmt.Errorf("skip pending: %w", err)
		}
		n = tag.RowsAffected()
		return nil
	})
	return int(n), err
}
