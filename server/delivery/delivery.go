// Package delivery owns the server's outbound queue: messages derived from
// the event log (customer notifications, package notify; integration
// webhooks, package webhook) are queued in the database, sent at least once
// by a Worker with retries and exponential backoff, and every attempt and
// its outcome is written to an audit trail.
//
// # Derived, then queued
//
// A Follower reads the global event log from its own cursor (the way the
// case engine does, woken by the store's commit feed and polling as a
// fallback), asks its Plan which jobs a page of events calls for, and
// commits the jobs with the new cursor in one transaction (Store.Enqueue, a
// compare-and-set on the cursor). A crash before that commit replays the
// page; after it, resumes after it. Each job has an idempotency key that
// the queue stores once (notify: event id + channel), so a replay, a
// Rebuild or two followers on one database never queue a message twice.
//
// A new follower starts at the end of the log, not at its beginning:
// turning notifications on for a server with years of cases must not mail
// every customer about every old step.
//
// # Sent at least once
//
// A Worker claims due jobs under a lease, sends them, and records the
// outcome with the job's next state in one transaction (Store.Record). A
// server stopped mid-send records nothing: the lease runs out, the next
// claim writes an "interrupted" row to the audit trail and sends again,
// with the same idempotency key, which receivers use to drop the
// duplicate (docs/API.md). Nothing completed is ever sent again.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"ombud/server/storage"
)

// Log is what followers read: the global event log, one complaint's
// events, and the commit feed that wakes them. storage.Events has it.
type Log interface {
	AllEventsAfter(ctx context.Context, after int64, limit int) ([]storage.StoredEvent, error)
	ComplaintEvents(ctx context.Context, complaintID string) ([]storage.StoredEvent, error)
	OnCommit(f func(scopes []string)) (cancel func())
}

// Store is the queue and its audit trail. Implementations:
// server/storage/sqlite (migration 0011_delivery.sql).
type Store interface {
	// DeliveryCursor returns follower name's position in the global log.
	// A follower never seen before is created at the log's current end
	// (the highest global sequence stored), so it starts with what
	// happens next.
	DeliveryCursor(ctx context.Context, name string) (int64, error)

	// Enqueue adds jobs to the queue and moves follower name's cursor
	// from from to to, in one transaction. It is a compare-and-set on the
	// cursor: when it is not at from, nothing is written and the error is
	// a storage Conflict. A job whose (Queue, Key) is already queued, in
	// any state, is left as it is: added counts the new ones. Jobs are
	// stored pending, due at their NextAt (CreatedAt when zero). Invalid
	// if to < from or a job lacks Queue or Key.
	Enqueue(ctx context.Context, name string, from, to int64, jobs []Job) (added int, err error)

	// Claim leases up to limit pending jobs of queue due at now (NextAt
	// not after now, and no lease held past now), earliest first, until
	// now+lease: no other Claim returns them meanwhile. Order: by NextAt,
	// then Seq (the order the events were stored), then Key. A job whose
	// previous lease ran out with no Record (its worker stopped
	// mid-attempt) gets an Interrupted row in the audit trail and one
	// more attempt counted before it is returned. limit below 1 is
	// Invalid.
	Claim(ctx context.Context, queue string, now time.Time, lease time.Duration, limit int) ([]Job, error)

	// Record writes attempt a to the audit trail (with the job's
	// channel, subject, complaint and event) and sets the job's state,
	// attempt count and next due time as u says, releasing its lease, in
	// one transaction. NotFound if the job is unknown.
	Record(ctx context.Context, a Attempt, u Update) error

	// Attempts reads the audit trail, newest first, filtered by f.
	Attempts(ctx context.Context, f Filter) ([]Attempt, error)

	// CountAttempts counts the audit rows of queue and subject with
	// outcome at or after since (a rate limit's window).
	CountAttempts(ctx context.Context, queue, subject string, outcome Outcome, since time.Time) (int, error)

	// SkipPending marks every pending job of queue and subject skipped,
	// each with an audit row saying detail (a webhook removed), and
	// returns how many.
	SkipPending(ctx context.Context, queue, subject, detail string, at time.Time) (int, error)
}

// State is where a job is.
type State string

const (
	Pending State = "pending" // waiting for its first or next attempt
	Done    State = "sent"    // delivered
	Dead    State = "failed"  // given up: a permanent refusal, or out of attempts
	Dropped State = "skipped" // not sent on purpose (no consent, unsubscribed, removed)
)

// Outcome is what one attempt came to, as the audit trail records it.
type Outcome string

const (
	Sent        Outcome = "sent"        // the receiver accepted it
	Retry       Outcome = "retry"       // failed; tried again later
	Failed      Outcome = "failed"      // failed for good
	Skipped     Outcome = "skipped"     // not sent on purpose
	Deferred    Outcome = "deferred"    // held back (a rate limit), not a failure
	Interrupted Outcome = "interrupted" // the server stopped during the attempt: it may have arrived
)

// Job is one message to send.
type Job struct {
	Queue string // "notify", "webhook"
	// Key is the idempotency key, unique in its queue, and what the
	// receiver sees on every attempt (Idempotency-Key, Ombud-Webhook-Id).
	Key         string
	Channel     string // "email", "sms", or a webhook id
	Subject     string // who receives it (a contact key, a webhook id); rate limits and views go by it
	ComplaintID string
	EventID     string
	Seq         int64  // the event's global sequence
	Payload     []byte // what the sender needs; never contact details
	CreatedAt   time.Time
	NextAt      time.Time
	Attempts    int // attempts made so far (on Claim: before this one)
	State       State
}

// Attempt is one row of the audit trail.
type Attempt struct {
	ID          int64 // the row's number, from the store
	Queue, Key  string
	Channel     string // filled in from the job by the store
	Subject     string
	ComplaintID string
	EventID     string
	N           int // attempt number, from 1
	At          time.Time
	Outcome     Outcome
	Code        int    // HTTP status or SMTP reply code; 0 when none
	Detail      string // safe words: no address, no number, no complaint text
	Took        time.Duration
}

// Update is a job's next state, written with its attempt.
type Update struct {
	State    State
	Attempts int
	NextAt   time.Time // when a pending job is due again
	DoneAt   time.Time // when it left the queue (not pending)
}

// Filter selects audit rows; empty fields match everything.
type Filter struct {
	Queue, Subject, ComplaintID string
	Limit                       int // at most storage.MaxPage; 0 means 100
}

// Error is a sender's verdict on an attempt that did not deliver: how the
// worker should treat it. Any other error is a failure to retry.
type Error struct {
	Outcome Outcome // Retry, Failed, Skipped or Deferred
	Code    int
	Detail  string
	// Until is when to try again: for Deferred, required; for Retry, a
	// receiver's Retry-After (the backoff applies when zero).
	Until time.Time
}

func (e *Error) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("%s (%d): %s", e.Outcome, e.Code, e.Detail)
	}
	return fmt.Sprintf("%s: %s", e.Outcome, e.Detail)
}

// Permanent is a refusal no retry will change (an invalid address, 410 Gone).
func Permanent(code int, detail string) error {
	return &Error{Outcome: Failed, Code: code, Detail: detail}
}

// Temporary is a failure worth retrying; until, when not zero, is when the
// receiver asked to be tried again.
func Temporary(code int, detail string, until time.Time) error {
	return &Error{Outcome: Retry, Code: code, Detail: detail, Until: until}
}

// Skip says the job must not be sent, and why.
func Skip(detail string) error { return &Error{Outcome: Skipped, Detail: detail} }

// Defer holds the job back until then without counting an attempt.
func Defer(until time.Time, detail string) error {
	return &Error{Outcome: Deferred, Detail: detail, Until: until}
}

// verdict turns a Send error into an *Error; a plain error is a Retry whose
// detail is its message (senders keep their messages free of personal data).
func verdict(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Outcome: Retry, Detail: err.Error()}
}
