package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"ombud/server/kpi"
	"ombud/server/storage"
)

var _ storage.Improve = (*Store)(nil)

// AppendActionEvent implements storage.Improve. The compare-and-set holds
// across replicas: the transaction takes the action's advisory lock
// before it reads the action's latest sequence, so of two changes to one
// action made at once the second sees the first's event and fails.
func (s *Store) AppendActionEvent(ctx context.Context, e storage.ActionEvent, after int64) (storage.ActionEvent, error) {
	if e.ID == "" || e.ActionID == "" || e.Type == "" || e.ActorID == "" || e.At.IsZero() || len(e.Data) == 0 {
		return e, storage.Errorf(storage.Invalid, "an action event needs an id, an action, a type, an actor, a time and data")
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return e, fmt.Errorf("append action event: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var last int64
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock(`+lockKey(1)+`)`, "ombud/action/"+e.ActionID)
	b.Queue(`SELECT COALESCE(MAX(seq), 0) FROM action_events WHERE action_id = $1`, e.ActionID).QueryRow(func(r pgx.Row) error { return r.Scan(&last) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return e, fmt.Errorf("append action event: %w", err)
	}
	if last != after {
		return e, storage.Errorf(storage.Conflict, "the action changed since it was read")
	}
	err = tx.QueryRow(ctx, `INSERT INTO action_events (id, action_id, type, actor_id, at, data)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq`, e.ID, e.ActionID, e.Type, e.ActorID, e.At.UnixNano(), []byte(e.Data)).Scan(&e.Seq)
	switch {
	case isUniqueViolation(err):
		return e, storage.Errorf(storage.Conflict, "action event %s is stored already", e.ID)
	case err != nil:
		return e, fmt.Errorf("append action event: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return e, fmt.Errorf("append action event: commit: %w", err)
	}
	return e, nil
}

const actionEventColumns = `seq, id, action_id, type, actor_id, at, data`

// ActionEvents implements storage.Improve.
func (s *Store) ActionEvents(ctx context.Context, actionID string) ([]storage.ActionEvent, error) {
	return s.actionEvents(ctx, `SELECT `+actionEventColumns+` FROM action_events WHERE action_id = $1 ORDER BY seq`, actionID)
}

// ActionEventsAfter implements storage.Improve. An identity column may
// give sequences out of commit order across transactions; actions are
// folded per action (each under its lock), so a page read while another
// action is being changed at most misses that change until the next read.
func (s *Store) ActionEventsAfter(ctx context.Context, after int64, limit int) ([]storage.ActionEvent, error) {
	if limit < 1 {
		return nil, storage.Errorf(storage.Invalid, "limit must be at least 1")
	}
	limit = min(limit, storage.MaxPage)
	return s.actionEvents(ctx, `SELECT `+actionEventColumns+` FROM action_events WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
}

func (s *Store) actionEvents(ctx context.Context, q string, args ...any) ([]storage.ActionEvent, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read action events: %w", err)
	}
	defer rows.Close()
	var out []storage.ActionEvent
	for rows.Next() {
		var (
			e    storage.ActionEvent
			at   int64
			data []byte
		)
		if err := rows.Scan(&e.Seq, &e.ID, &e.ActionID, &e.Type, &e.ActorID, &at, &data); err != nil {
			return nil, fmt.Errorf("read action events: %w", err)
		}
		e.At, e.Data = time.Unix(0, at).UTC(), data
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read action events: %w", err)
	}
	return out, nil
}

// CauseCounts implements storage.Improve.
func (s *Store) CauseCounts(ctx context.Context, sc storage.Scope, cause string, from, to time.Time) (int64, error) {
	where, args := kpiWhere(kpi.Query{All: sc.All, Branches: sc.Branches}, false)
	n := len(args)
	if cause == "other" {
		where += " AND root_cause LIKE 'other:%'"
	} else {
		args = append(args, cause)
		n++
		where += fmt.Sprintf(" AND root_cause = $%d", n)
	}
	where += fmt.Sprintf(" AND filed_at >= $%d AND filed_at < $%d", n+1, n+2)
	args = append(args, from.UnixNano(), to.UnixNano())
	var count int64
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM kpi_facts`+where, args...).Scan(&count); err != nil {
		return 0, fmt.Errorf("count complaints of cause %s: %w", cause, err)
	}
	return count, nil
}
