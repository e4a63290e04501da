package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"ombud/server/storage"
	"ombud/shared/hlc"
)

// routeTeams files the events just stored (in sequence order) into the team
// streams their complaints' queues say (storage.Route), inside the storing
// transaction (which holds the log's lock, so positions follow commit
// order), and returns the team scopes that received events.
func routeTeams(ctx context.Context, tx pgx.Tx, events []stored) ([]string, error) {
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
	marks := make(map[string]storage.QueueMark)
	rows, err := tx.Query(ctx, `SELECT complaint_id, queue, at, event_id FROM complaint_queues WHERE complaint_id = ANY($1)`, ids)
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
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("route: read queues: %w", err)
	}

	var touched []string
	changed := make(map[string]bool)
	for _, s := range events {
		cid := s.e.ComplaintID
		after, scopes, joined := storage.Route(marks[cid], s.e)
		if joined != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO scope_log (scope, event_seq)
				SELECT $1, seq FROM events WHERE complaint_id = $2 AND seq < $3 ORDER BY seq`, joined, cid, s.seq); err != nil {
				return nil, fmt.Errorf("route: copy history of %s: %w", cid, err)
			}
		}
		for _, scope := range scopes {
			if _, err := tx.Exec(ctx, `INSERT INTO scope_log (scope, event_seq) VALUES ($1, $2)`, scope, s.seq); err != nil {
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
		if _, err := tx.Exec(ctx, `INSERT INTO complaint_queues (complaint_id, queue, at, event_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT (complaint_id) DO UPDATE SET queue = excluded.queue, at = excluded.at, event_id = excluded.event_id`,
			cid, m.Queue, int64(m.At), m.EventID); err != nil {
			return nil, fmt.Errorf("route: save queue of %s: %w", cid, err)
		}
	}
	return touched, nil
}
