package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"ombud/server/storage"
	"ombud/shared/hlc"
)

// readMarks reads where the complaints are queued.
func readMarks(ctx context.Context, tx pgx.Tx, ids []string) (map[string]storage.QueueMark, error) {
	marks := make(map[string]storage.QueueMark)
	rows, err := tx.Query(ctx, `SELECT complaint_id, queue, at, event_id FROM complaint_queues WHERE complaint_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("route: read queues: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id string
			m  storage.QueueMark
			at int64
		)
		if err := rows.Scan(&id, &m.Queue, &at, &m.EventID); err != nil {
			return nil, fmt.Errorf("route: read queues: %w", err)
		}
		m.At = hlc.Timestamp(at)
		marks[id] = m
	}
	return marks, rows.Err()
}

// routeTeams files the events just stored (in sequence order) into the team
// streams their complaints' queues say (storage.Route), inside the storing
// transaction, and returns the team scopes that received events.
func routeTeams(ctx context.Context, tx pgx.Tx, events []stored) ([]string, error) {
	if len(events) == 0 {
		return nil, nil
	}
	var ids []string
	seen := make(map[string]bool, len(events))
	for _, s := range events {
		if !seen[s.e.ComplaintID] {
			seen[s.e.ComplaintID] = true
			ids = append(ids, s.e.ComplaintID)
		}
	}
	marks, err := readMarks(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	touched := planRoutes(b, marks, events)
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return nil, fmt.Errorf("route: %w", err)
		}
	}
	return touched, nil
}

// planRoutes queues on b what storing events (in sequence order, after
// them in b) does to the team streams, given where their complaints were
// queued before (marks, updated in place), and returns the team scopes that
// receive events. The log's lock is held, so positions follow commit order.
func planRoutes(b *pgx.Batch, marks map[string]storage.QueueMark, events []stored) []string {
	var touched []string
	changed := make(map[string]bool)
	var order []string
	for _, s := range events {
		cid := s.e.ComplaintID
		after, scopes, joined := storage.Route(marks[cid], s.e)
		if joined != "" {
			// The complaint's history first, in log order, so the team's
			// terminals fold it whole.
			b.Queue(`INSERT INTO scope_log (scope, event_seq)
				SELECT $1, seq FROM events WHERE complaint_id = $2 AND seq < $3 ORDER BY seq`, joined, cid, s.seq)
		}
		for _, scope := range scopes {
			b.Queue(`INSERT INTO scope_log (scope, event_seq) VALUES ($1, $2)`, scope, s.seq)
			touched = appendNew(touched, scope)
		}
		if after != marks[cid] {
			marks[cid] = after
			if !changed[cid] {
				changed[cid] = true
				order = append(order, cid)
			}
		}
	}
	for _, cid := range order {
		m := marks[cid]
		b.Queue(`INSERT INTO complaint_queues (complaint_id, queue, at, event_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT (complaint_id) DO UPDATE SET queue = excluded.queue, at = excluded.at, event_id = excluded.event_id`,
			cid, m.Queue, int64(m.At), m.EventID)
	}
	return touched
}
