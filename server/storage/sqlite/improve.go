package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"ombud/server/kpi"
	"ombud/server/storage"
	"ombud/shared/uid"
)

var _ storage.Improve = (*Store)(nil)

// AppendActionEvent implements storage.Improve.
func (s *Store) AppendActionEvent(ctx context.Context, e storage.ActionEvent, after int64) (storage.ActionEvent, error) {
	if e.ID == "" || e.ActionID == "" || e.Type == "" || e.ActorID == "" || e.At.IsZero() || len(e.Data) == 0 {
		return e, storage.Errorf(storage.Invalid, "an action event needs an id, an action, a type, an actor, a time and data")
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return e, fmt.Errorf("append action event: begin: %w", err)
	}
	defer tx.Rollback()
	var last int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM action_events WHERE action_id = ?`, e.ActionID).Scan(&last); err != nil {
		return e, fmt.Errorf("append action event: %w", err)
	}
	if last != after {
		return e, storage.Errorf(storage.Conflict, "the action changed since it was read")
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO action_events (id, action_id, type, actor_id, at, data)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING seq`, e.ID, e.ActionID, e.Type, e.ActorID, e.At.UnixNano(), []byte(e.Data)).Scan(&e.Seq)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return e, storage.Errorf(storage.Conflict, "action event %s is stored already", e.ID)
		}
		return e, fmt.Errorf("append action event: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return e, fmt.Errorf("append action event: commit: %w", err)
	}
	return e, nil
}

const actionEventColumns = `seq, id, action_id, type, actor_id, at, data`

// ActionEvents implements storage.Improve.
func (s *Store) ActionEvents(ctx context.Context, actionID string) ([]storage.ActionEvent, error) {
	return s.actionEvents(ctx, `SELECT `+actionEventColumns+` FROM action_events WHERE action_id = ? ORDER BY seq`, actionID)
}

// ActionEventsAfter implements storage.Improve.
func (s *Store) ActionEventsAfter(ctx context.Context, after int64, limit int) ([]storage.ActionEvent, error) {
	if limit < 1 {
		return nil, storage.Errorf(storage.Invalid, "limit must be at least 1")
	}
	limit = min(limit, storage.MaxPage)
	return s.actionEvents(ctx, `SELECT `+actionEventColumns+` FROM action_events WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
}

func (s *Store) actionEvents(ctx context.Context, q string, args ...any) ([]storage.ActionEvent, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read action events: %w", err)
	}
	defer rows.Close()
	var out []storage.ActionEvent
	for rows.Next() {
		var e storage.ActionEvent
		var at int64
		var data []byte
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
	if where == "" {
		where = " WHERE 1"
	}
	if cause == "other" {
		where += " AND root_cause LIKE 'other:%'"
	} else {
		where += " AND root_cause = ?"
		args = append(args, cause)
	}
	where += " AND filed_at >= ? AND filed_at < ?"
	args = append(args, from.UnixNano(), to.UnixNano())
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM kpi_facts`+where, args...).Scan(&n)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("count complaints of cause %s: %w", cause, err)
	}
	return n, nil
}

// AddRecurringDecision implements storage.Improve. Decisions are kept
// as events of their own stream in action_events (storage.RecurringStream),
// append-only with their actor and time like the actions' events.
func (s *Store) AddRecurringDecision(ctx context.Context, d storage.RecurringDecision) error {
	switch {
	case d.Kind != "dismiss" && d.Kind != "merge" && d.Kind != "split":
		return storage.Errorf(storage.Invalid, "unknown decision %q", d.Kind)
	case d.Complaint == "" || d.ActorID == "" || d.At.IsZero() || (d.Kind == "merge") != (d.Into != ""):
		return storage.Errorf(storage.Invalid, "a decision needs a complaint, an actor and a time, and a merge its target")
	}
	data, err := json.Marshal(decisionData{Complaint: d.Complaint, Into: d.Into})
	if err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO action_events (id, action_id, type, actor_id, at, data) VALUES (?, ?, ?, ?, ?, ?)`,
		uid.NewAt(d.At), storage.RecurringStream, d.Kind, d.ActorID, d.At.UnixNano(), data); err != nil {
		return fmt.Errorf("add recurring decision: %w", err)
	}
	return nil
}

type decisionData struct {
	Complaint string `json:"complaint"`
	Into      string `json:"into,omitempty"`
}

// RecurringDecisions implements storage.Improve.
func (s *Store) RecurringDecisions(ctx context.Context) ([]storage.RecurringDecision, error) {
	evs, err := s.ActionEvents(ctx, storage.RecurringStream)
	if err != nil {
		return nil, err
	}
	out := make([]storage.RecurringDecision, 0, len(evs))
	for _, e := range evs {
		var d decisionData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return nil, fmt.Errorf("read recurring decision %d: %w", e.Seq, err)
		}
		out = append(out, storage.RecurringDecision{Seq: e.Seq, Kind: e.Type, Complaint: d.Complaint, Into: d.Into, ActorID: e.ActorID, At: e.At})
	}
	return out, nil
}
