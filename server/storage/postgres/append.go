package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"ombud/server/storage"
	"ombud/shared/audit"
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
		storedAt = nanos(time.Now())
		out      = make([]storage.StoredEvent, len(events))
		inserted []stored
		next     = mark.seq + 1
		chain    = audit.From(mark.prev)
	)
	// Three round trips for the whole batch, not two per event (the case
	// engine appends a page of routing decisions at once): the complaints'
	// branches and the ids already stored, read under the log's lock so
	// nobody stores one meanwhile, then every insert pipelined.
	branches, already, err := appendLookups(ctx, tx, events)
	if err != nil {
		return nil, nil, err
	}
	b := &pgx.Batch{}
	for i := range events {
		e := &events[i]
		br, ok := branches[e.ComplaintID]
		if !ok {
			return nil, nil, &storage.Error{Code: storage.NotFound, Err: complaint.ErrNotFound,
				Message: fmt.Sprintf("event %s: complaint %s is not filed", e.ID, e.ComplaintID)}
		}
		if e.Branch != br {
			return nil, nil, storage.Errorf(storage.Invalid, "event %s: branch %q is not the complaint's", e.ID, e.Branch)
		}
		if already[e.ID] {
			// Stored already (by anyone, or earlier in this batch):
			// idempotent, hand back what is stored, read below.
			continue
		}
		already[e.ID] = true
		// Numbered here, under the log's lock, so the link can be
		// computed first; a repeat takes neither the number nor the link.
		rec := record(next, "", 0, e.ID, e.ComplaintID, e.Branch, string(e.Type), string(e.Actor.Kind), e.Actor.ID, int64(e.At), e.Data)
		hash := audit.Link(chain.Prev(), &rec)
		b.Queue(`INSERT INTO events (seq, id, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at, hash, payload_hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			next, e.ID, e.ComplaintID, e.Branch, string(e.Type), string(e.Actor.Kind), e.Actor.ID, int64(e.At), nilIfEmpty(e.Data), storedAt,
			hash[:], rec.PayloadHash[:])
		chain.Next(&rec)
		out[i] = storage.StoredEvent{Seq: next, Event: *e}
		inserted = append(inserted, stored{seq: next, e: e})
		next++
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return nil, nil, fmt.Errorf("append: insert events: %w", err)
		}
	}
	for i := range events {
		if out[i].Seq != 0 {
			continue
		}
		if out[i], err = scanEvent(tx.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1`, events[i].ID)); err != nil {
			return nil, nil, fmt.Errorf("append: read stored event %s: %w", events[i].ID, err)
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

// appendLookups reads, for an Append, the filed branch of each complaint
// the events name and which of the events' ids are stored already.
func appendLookups(ctx context.Context, tx pgx.Tx, events []event.Event) (map[string]string, map[string]bool, error) {
	var complaints, ids []string
	seen := make(map[string]bool, len(events))
	for i := range events {
		if c := events[i].ComplaintID; !seen[c] {
			seen[c] = true
			complaints = append(complaints, c)
		}
		ids = append(ids, events[i].ID)
	}
	branches := make(map[string]string, len(complaints))
	already := make(map[string]bool)
	b := &pgx.Batch{}
	b.Queue(`SELECT id, branch FROM complaints WHERE id = ANY($1)`, complaints).Query(func(rows pgx.Rows) error {
		var id, branch string
		_, err := pgx.ForEachRow(rows, []any{&id, &branch}, func() error {
			branches[id] = branch
			return nil
		})
		return err
	})
	b.Queue(`SELECT id FROM events WHERE id = ANY($1)`, ids).Query(func(rows pgx.Rows) error {
		var id string
		_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
			already[id] = true
			return nil
		})
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, fmt.Errorf("append: look up complaints and events: %w", err)
	}
	return branches, already, nil
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
