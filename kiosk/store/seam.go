package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"ombud/shared/event"
)

// What packages that share the database file use: a Projection, called
// inside the store's own write transactions; Record, for events this device
// makes that a rule must admit first; View and Update, for their own
// tables; and Changes, the commit feed.

// Tx is a transaction as the store lends it: statements run in it, and the
// store commits or rolls it back when the call that lent it returns. A
// *sql.Tx is one; the borrower is given the interface so that ending the
// transaction stays the store's.
type Tx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
	// StmtContext binds a statement prepared through Preparer to this
	// transaction, reusing it as prepared (the writer is one connection).
	StmtContext(ctx context.Context, stmt *sql.Stmt) *sql.Stmt
}

var _ Tx = (*sql.Tx)(nil)

// Preparer prepares statements on the writer connection, once, for a
// projection to run in every write transaction: parsing them in each
// transaction costs as much as running them. The store closes them when it
// closes.
type Preparer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// Projection keeps tables derived from the log (the staff queue's cases)
// in step with it. The store calls it inside every write transaction that
// changes the log or the outbox, before the commit, so that what it
// derives is committed with the events it derives from, or not at all; an
// error from it rolls the whole write back. It runs on the one writer, so
// its calls never overlap.
//
// The store does not know what a projection derives: it says which
// complaints' logs changed and which outbox entries are leaving.
type Projection interface {
	// Prepare is called once by Open, when the schema is current and
	// before any write, with the writer to prepare statements on.
	Prepare(ctx context.Context, w Preparer) error
	// Migrated is called inside the transaction of each migration Open
	// applies, after its SQL: a table the migration made is filled there,
	// so its rows exist exactly when it does. Prepare has not run yet.
	Migrated(ctx context.Context, tx Tx, version int) error
	// Logged is called after the logs of the complaints ids changed:
	// events were added (File, Record, ApplyRemote), a Filed event's
	// customer text was redacted (AckOutbox, RedactSent), or every event
	// was deleted (Forget). Each id once, in no order.
	Logged(ctx context.Context, tx Tx, ids []string) error
	// Unqueuing is called before the outbox entries with first <= seq <=
	// last leave the outbox (acknowledged upstream, or quarantined), while
	// they can still be counted.
	Unqueuing(ctx context.Context, tx Tx, first, last int64) error
}

// writerStmts is the Preparer Open gives the projection.
type writerStmts struct{ s *Store }

func (p writerStmts) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	st, err := p.s.w.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	p.s.stmts = append(p.s.stmts, st)
	return st, nil
}

func (s *Store) closeStmts() error {
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	s.stmts = nil
	return errors.Join(errs...)
}

// Record appends e, an event this device makes (a staff action), to the
// log and queues it in the outbox, in one transaction committed durably,
// if admit allows it. admit runs first, inside the transaction, and reads
// the log as it stands: no other write can come between its check and the
// append (one writer). An error from admit is returned as it is, with
// nothing written. Then the projection sees the event (Logged), and
// Changes subscribers are told after the commit.
//
// Storage faults wrap ErrUnavailable; an event whose id the log already
// holds is refused with a plain error.
func (s *Store) Record(ctx context.Context, e event.Event, admit func(tx Tx) error) error {
	at, err := hlcInt(e.At)
	if err != nil {
		return fmt.Errorf("record event %s: %w", e.ID, err)
	}
	unavailable := func(what string, err error) error {
		return fmt.Errorf("record event %s: %s: %w: %w", e.ID, what, ErrUnavailable, err)
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see _txlock)
	if err != nil {
		return unavailable("begin", err)
	}
	defer tx.Rollback() // after Commit, a no-op
	if err := admit(tx); err != nil {
		return err
	}
	if err := insertEvent(ctx, tx, e, at); err != nil {
		if constraint(err) {
			return fmt.Errorf("record event %s: an event with this id is already stored: %w", e.ID, err)
		}
		return unavailable("store event", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (event_id, created_at) VALUES (?, ?)`,
		e.ID, time.Now().UnixMilli()); err != nil {
		return unavailable("queue event", err)
	}
	if err := s.proj.Logged(ctx, tx, []string{e.ComplaintID}); err != nil {
		return unavailable("refresh", err)
	}
	if err := tx.Commit(); err != nil {
		return unavailable("commit", err)
	}
	s.Changed()
	return nil
}

// View runs fn in a read transaction on the read pool: fn reads one moment
// of the database, and cannot write (the pool is query-only). Readers do
// not wait for the writer (WAL).
func (s *Store) View(ctx context.Context, fn func(tx Tx) error) error {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// Update runs fn in a write transaction on the one writer and commits it
// durably if fn returns nil; an error from fn rolls it back and is returned
// as it is. It is for the tables of packages that keep their own data in
// this file (the staff directory, sign-in failures) and for rewriting what
// the projection derives; the log and the outbox are written only by File,
// Record, ApplyRemote, AckOutbox and Quarantine, which keep the projection
// in step. Update does not signal Changes: the caller knows whether its
// commit changes what readers show (Changed).
func (s *Store) Update(ctx context.Context, fn func(tx Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// subscription is one Changes channel.
type subscription struct{ ch chan struct{} }

// Changes returns a channel that receives (coalesced, never blocking the
// writer) after every commit that may change what the staff queue or a
// case shows: File, Record, ApplyRemote, AckOutbox, Quarantine, and
// whoever calls Changed (a saved staff directory, rebuilt case rows).
// cancel stops the subscription.
//
// The channel holds one signal: a reader that was busy finds one waiting,
// however many commits happened meanwhile, and reads the store afresh.
// cancel does not close the channel.
func (s *Store) Changes() (ch <-chan struct{}, cancel func()) {
	sub := &subscription{ch: make(chan struct{}, 1)}
	s.subsMu.Lock()
	if s.subs == nil {
		s.subs = make(map[*subscription]struct{})
	}
	s.subs[sub] = struct{}{}
	s.subsMu.Unlock()
	var once sync.Once
	return sub.ch, func() {
		once.Do(func() {
			s.subsMu.Lock()
			delete(s.subs, sub)
			s.subsMu.Unlock()
		})
	}
}

// Changed signals every Changes subscriber. Call it after a commit (Update)
// that changes what readers show.
func (s *Store) Changed() {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	for sub := range s.subs {
		select {
		case sub.ch <- struct{}{}:
		default: // a signal is already waiting
		}
	}
}
