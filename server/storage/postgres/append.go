package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"ombud/server/audit"
	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/sync/wire"
)

// Append implements storage.Events. See there for the contract.
func (s *Store) Append(ctx context.Context, events []event.Event) ([]storage.StoredEvent, error) {
	switch {
	case len(events) == 0:
		return nil, storage.Errorf(storage.Invalid, "nothing to append")
	case len(events) > storage.MaxBatch:
		return nil, storage.Errorf(storage.Invalid, "append of %d events is over the limit of %d", len(events), storage.MaxBatch)
	}
	for i := range events {
		if err := checkAppended(&events[i]); err != nil {
			return nil, err
		}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("append: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	mark, err := lockLog(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	out, scopes, err := appendTx(ctx, tx, mark, events)
	if err != nil {
		return nil, err
	}
	if err := s.commitLog(ctx, tx, mark, scopes); err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	s.feed.Publish(scopes)
	return out, nil
}

// appendTx stores events (checked by checkAppended) in tx, which holds the
// log's lock taken at mark and stores nothing else after them. scopes is
// nil when every event was stored already (nobody to wake).
func appendTx(ctx context.Context, tx pgx.Tx, mark logMark, events []event.Event) ([]storage.StoredEvent, []string, error) {
	var (
		branches = make(map[string]string)
		storedAt = nanos(time.Now())
		out      = make([]storage.StoredEvent, len(events))
		inserted []stored
		next     = mark.seq + 1
		chain    = audit.From(mark.prev)
	)
	for i := range events {
		e := &events[i]
		b, ok := branches[e.ComplaintID]
		if !ok {
			err := tx.QueryRow(ctx, `SELECT branch FROM complaints WHERE id = $1`, e.ComplaintID).Scan(&b)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				return nil, nil, &storage.Error{Code: storage.NotFound, Err: complaint.ErrNotFound,
					Message: fmt.Sprintf("event %s: complaint %s is not filed", e.ID, e.ComplaintID)}
			case err != nil:
				return nil, nil, fmt.Errorf("append: look up complaint %s: %w", e.ComplaintID, err)
			}
			branches[e.ComplaintID] = b
		}
		if e.Branch != b {
			return nil, nil, storage.Errorf(storage.Invalid, "event %s: branch %q is not the complaint's", e.ID, e.Branch)
		}
		// Numbered here, under the log's lock, so the link can be
		// computed first; a repeat (DO NOTHING) takes neither the number
		// nor the link.
		rec := record(next, "", 0, e.ID, e.ComplaintID, e.Branch, string(e.Type), string(e.Actor.Kind), e.Actor.ID, int64(e.At), e.Data)
		hash := audit.Link(chain.Prev(), &rec)
		var seq int64
		err := tx.QueryRow(ctx, `INSERT INTO events (seq, id, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at, hash, payload_hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING RETURNING seq`,
			next, e.ID, e.ComplaintID, e.Branch, string(e.Type), string(e.Actor.Kind), e.Actor.ID, int64(e.At), nilIfEmpty(e.Data), storedAt,
			hash[:], rec.PayloadHash[:]).Scan(&seq)
		switch {
		case err == nil:
			chain.Next(&rec)
			next++
			out[i] = storage.StoredEvent{Seq: seq, Event: *e}
			inserted = append(inserted, stored{seq: seq, e: e})
		case errors.Is(err, pgx.ErrNoRows):
			if out[i], err = scanEvent(tx.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1`, e.ID)); err != nil {
				return nil, nil, fmt.Errorf("append: read stored event %s: %w", e.ID, err)
			}
		default:
			return nil, nil, fmt.Errorf("append: insert event %s: %w", e.ID, err)
		}
	}
	if len(inserted) == 0 {
		return out, nil, nil
	}
	if _, err := tx.Exec(ctx, `SELECT setval('events_seq', $1)`, next-1); err != nil {
		return nil, nil, fmt.Errorf("append: %w", err)
	}
	if err := indexText(ctx, tx, inserted); err != nil {
		return nil, nil, fmt.Errorf("append: %w", err)
	}
	teams, err := routeTeams(ctx, tx, inserted)
	if err != nil {
		return nil, nil, fmt.Errorf("append: %w", err)
	}
	return out, append(scopesOf(branches), teams...), nil
}

func checkAppended(e *event.Event) error {
	switch {
	case e.ID == "" || e.ComplaintID == "" || e.Type == "" || e.Branch == "":
		return storage.Errorf(storage.Invalid, "event %q: id, complaint id, type and branch are required", e.ID)
	case e.Actor.Kind != event.ActorCustomer && e.Actor.Kind != event.ActorSystem:
		return storage.Errorf(storage.Invalid, "event %s: actor %q cannot append; devices push", e.ID, e.Actor.Kind)
	case e.Type == event.Filed:
		return storage.Errorf(storage.Invalid, "event %s: complaints are filed on devices, not appended", e.ID)
	case uint64(e.At) > 1<<63-1:
		return storage.Errorf(storage.Invalid, "event %s: clock reading out of range", e.ID)
	}
	return nil
}

func scopesOf(branches map[string]string) []string {
	seen := make(map[string]bool, len(branches))
	var out []string
	for _, b := range branches {
		if !seen[b] {
			seen[b] = true
			out = append(out, wire.BranchScope(b))
		}
	}
	return out
}
