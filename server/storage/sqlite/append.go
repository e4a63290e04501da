package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"ombud/server/storage"
	"ombud/shared/audit"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/sync/wire"
)

// Append implements storage.Events. See there for the contract.
//
// Server events share the events table with device events, with NULL in
// device_id and device_seq (migration 0003), so EventsAfter, the sync hub
// and every reader of the log see one stream in one global order.
func (s *Store) Append(ctx context.Context, events []event.Event) ([]storage.StoredEvent, error) {
	switch {
	case len(events) == 0:
		return nil, storage.Errorf(storage.Invalid, "nothing to append")
	case len(events) > storage.MaxBatch:
		return nil, storage.Errorf(storage.Invalid, "append of %d events is over the limit of %d", len(events), storage.MaxBatch)
	}
	// The stateless checks need no lock: do them before taking the writer.
	for i := range events {
		if err := checkAppended(&events[i]); err != nil {
			return nil, err
		}
	}

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("append: begin: %w", err)
	}
	defer tx.Rollback()
	before, err := ends(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	out, scopes, err := s.appendTx(ctx, tx, events)
	if err != nil {
		return nil, err
	}
	after, err := ends(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	if err := s.local.commit(tx, before, after); err != nil {
		return nil, fmt.Errorf("append: commit: %w", err)
	}
	s.feed.Publish(scopes)
	return out, nil
}

// appendTx stores server events in tx (Append, and Redact's marker) and
// returns them as stored and the scopes to publish once tx commits.
func (s *Store) appendTx(ctx context.Context, tx *sql.Tx, events []event.Event) ([]storage.StoredEvent, []string, error) {
	var (
		insert   = tx.StmtContext(ctx, s.write.insertServerEvent)
		byID     = tx.StmtContext(ctx, s.write.eventByID)
		branchOf = tx.StmtContext(ctx, s.write.filedBranch)
		branches = make(map[string]string) // complaint id -> filed branch
		storedAt = nanos(time.Now())
		out      = make([]storage.StoredEvent, len(events))
		inserted []stored // new ones only, for the team streams
	)
	chain, err := readChain(ctx, tx)
	if err != nil {
		return nil, nil, fmt.Errorf("append: %w", err)
	}
	for i := range events {
		e := &events[i]
		b, ok := branches[e.ComplaintID]
		if !ok {
			err := branchOf.QueryRowContext(ctx, e.ComplaintID).Scan(&b)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return nil, nil, &storage.Error{Code: storage.NotFound, Err: complaint.ErrNotFound,
					Message: fmt.Sprintf("event %s: complaint %s is not filed", e.ID, e.ComplaintID)}
			case err != nil:
				return nil, nil, fmt.Errorf("append: look up complaint %s: %w", e.ComplaintID, err)
			}
			branches[e.ComplaintID] = b
		}
		// The branch decides which devices receive the event: a wrong one
		// would send it to another branch's terminals.
		if e.Branch != b {
			return nil, nil, storage.Errorf(storage.Invalid, "event %s: branch %q is not the complaint's", e.ID, e.Branch)
		}
		// The link is computed for the next sequence; a repeat (DO
		// NOTHING) takes neither, so the chain is only moved on success.
		rec := audit.Record{Seq: chain.next, ID: e.ID, ComplaintID: e.ComplaintID, Branch: e.Branch, Type: string(e.Type),
			ActorKind: string(e.Actor.Kind), ActorID: e.Actor.ID, At: int64(e.At), PayloadHash: audit.PayloadHash(e.Data)}
		hash := audit.Link(chain.chain.Prev(), &rec)
		var seq int64
		err := insert.QueryRowContext(ctx, rec.Seq, e.ID, e.ComplaintID, e.Branch, string(e.Type),
			string(e.Actor.Kind), e.Actor.ID, int64(e.At), []byte(e.Data), storedAt, hash[:], rec.PayloadHash[:]).Scan(&seq)
		if err == nil {
			chain.link(&rec)
		}
		switch {
		case err == nil:
			out[i] = storage.StoredEvent{Seq: seq, Event: *e}
			inserted = append(inserted, stored{seq: seq, e: e})
		case errors.Is(err, sql.ErrNoRows):
			// DO NOTHING: the id is stored already. Idempotent: hand back
			// what is stored, which is what every reader sees.
			if out[i], err = scanEvent(byID.QueryRowContext(ctx, e.ID)); err != nil {
				return nil, nil, fmt.Errorf("append: read stored event %s: %w", e.ID, err)
			}
		default:
			return nil, nil, fmt.Errorf("append: insert event %s: %w", e.ID, err)
		}
	}
	teams, err := routeTeams(ctx, tx, inserted)
	if err != nil {
		return nil, nil, fmt.Errorf("append: %w", err)
	}
	return out, append(scopesOf(branches), teams...), nil
}

// checkAppended applies the rules that need no database.
func checkAppended(e *event.Event) error {
	switch {
	case e.ID == "" || e.ComplaintID == "" || e.Type == "" || e.Branch == "":
		return storage.Errorf(storage.Invalid, "event %q: id, complaint id, type and branch are required", e.ID)
	case e.Actor.Kind != event.ActorCustomer && e.Actor.Kind != event.ActorSystem:
		// Staff and devices act through their devices, which number their
		// events; only the customer (tracking page) and the server itself
		// act here.
		return storage.Errorf(storage.Invalid, "event %s: actor %q cannot append; devices push", e.ID, e.Actor.Kind)
	case e.Type == event.Filed:
		return storage.Errorf(storage.Invalid, "event %s: complaints are filed on devices, not appended", e.ID)
	case uint64(e.At) > 1<<63-1:
		return storage.Errorf(storage.Invalid, "event %s: clock reading out of range", e.ID)
	}
	return nil
}

// scopesOf is the scope of each branch events were appended to.
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
