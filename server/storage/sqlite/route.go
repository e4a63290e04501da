package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"ombud/server/storage"
	"ombud/shared/event"
	"ombud/shared/hlc"
)

// stored is an event just inserted, with its global sequence.
type stored struct {
	seq int64
	e   *event.Event
}

// execer is what routing needs of a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// routeTeams files the events just stored (in sequence order) into the
// team streams their complaints' queues say (storage.Route), inside the
// storing transaction, and returns the team scopes that received events,
// for the commit feed.
func routeTeams(ctx context.Context, tx execer, events []stored) ([]string, error) {
	if len(events) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(events))
	seen := make(map[string]bool, len(events))
	for _, s := range events {
		if !seen[s.e.ComplaintID] {
			seen[s.e.ComplaintID] = true
			ids = append(ids, s.e.ComplaintID)
		}
	}
	arg, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	marks := make(map[string]storage.QueueMark)
	rows, err := tx.QueryContext(ctx, `SELECT complaint_id, queue, at, event_id FROM complaint_queues
		WHERE complaint_id IN (SELECT value FROM json_each(?))`, string(arg))
	if err != nil {
		return nil, fmt.Errorf("route: read queues: %w", err)
	}
	for rows.Next() {
		var (
			id string
			m  storage.QueueMark
			at int64
		)
		if err := rows.Scan(&id, &m.Queue, &at, &m.EventID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("route: read queues: %w", err)
		}
		m.At = hlc.Timestamp(at)
		marks[id] = m
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("route: read queues: %w", err)
	}

	var touched []string
	changed := make(map[string]bool)
	for _, s := range events {
		cid := s.e.ComplaintID
		after, scopes, joined := storage.Route(marks[cid], s.e)
		if joined != "" {
			// The complaint's history first, in log order, so the team's
			// terminals fold it whole.
			if _, err := tx.ExecContext(ctx, `INSERT INTO scope_log (scope, event_seq)
				SELECT ?, seq FROM events WHERE complaint_id = ? AND seq < ? ORDER BY seq`, joined, cid, s.seq); err != nil {
				return nil, fmt.Errorf("route: copy history of %s: %w", cid, err)
			}
		}
		for _, scope := range scopes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO scope_log (scope, event_seq) VALUES (?, ?)`, scope, s.seq); err != nil {
				return nil, fmt.Errorf("route: %w", err)
			}
			touched = appendNew(touched, scope)
		}
		if after != marks[cid] {
			marks[cid], changed[cid] = after, true
		}
	}
	for cid := range changed {
		m := marks[cid]
		if _, err := tx.ExecContext(ctx, `INSERT INTO complaint_queues (complaint_id, queue, at, event_id) VALUES (?, ?, ?, ?)
			ON CONFLICT (complaint_id) DO UPDATE SET queue = excluded.queue, at = excluded.at, event_id = excluded.event_id`,
			cid, m.Queue, int64(m.At), m.EventID); err != nil {
			return nil, fmt.Errorf("route: save queue of %s: %w", cid, err)
		}
	}
	return touched, nil
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
