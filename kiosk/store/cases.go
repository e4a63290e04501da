package store

// Staff terminal support: the case projection the queue reads, actions
// staff record locally, the staff directory and sign-in.
//
// CONTRACT STUB: the signatures below are the agreed API; the bodies are
// being implemented. Do not change a signature without telling the lead.

import (
	"context"
	"errors"
	"time"

	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
	"ombud/shared/staff"
)

// DeadlineFunc computes a case's next step and when it is due, from the
// fold and the events it was folded from. Options.Deadline; nil is
// sla.Promise{AckDays: 2, RespondDays: 15, Location: time.Local}.Next.
type DeadlineFunc func(c *lifecycle.Case, events []event.Event) (sla.Step, time.Time)

// CaseRow is one line of the staff queue: the projection of a case,
// refreshed in the same transaction as every event that changes it.
type CaseRow struct {
	ComplaintID string
	Code        string // canonical tracking code
	State       lifecycle.State
	Queue       string // latest assignment; "" before dispatch
	Category    string
	Severity    event.Severity // "" until assessed
	Priority    int            // 0 until assessed
	Escalated   bool
	Waiting     bool // waiting on the customer (SLA clock paused)
	FiledAt     time.Time
	NextStep    sla.Step  // StepNone when nothing is due
	DueAt       time.Time // zero when nothing is due
	Summary     string    // the start of the description, textsafe.Line-cleaned, at most 120 runes
	Unsynced    int       // this device's events of the case not yet acknowledged by the server
	Refused     int       // events of the case the fold did not apply (lifecycle.Case.Rejected)
	UpdatedAt   time.Time // time of the latest event
}

// Overdue reports whether something is due and the time has passed.
func (r CaseRow) Overdue(now time.Time) bool { return !r.DueAt.IsZero() && now.After(r.DueAt) }

// CaseFilter selects queue rows. Zero fields select everything.
type CaseFilter struct {
	States   []lifecycle.State // any of these; empty: all states
	Category string
	Priority int    // 1-4; 0: any
	Queue    string // exact queue; "": any
	// Search matches a tracking code (any spelling trackcode.Parse accepts,
	// or a prefix of at least 4 symbols) or, otherwise, words that all
	// appear (case-insensitively) in the description or the category.
	Search string
	Limit  int // 0: no limit
}

// Cases returns the rows f selects, sorted by DueAt (zero last), then
// FiledAt, then ComplaintID: what is due next comes first.
func (s *Store) Cases(ctx context.Context, f CaseFilter) ([]CaseRow, error) {
	return nil, errors.New("store: Cases not implemented yet")
}

// CaseCounts counts cases per state (all cases, no filter).
func (s *Store) CaseCounts(ctx context.Context) (map[lifecycle.State]int, error) {
	return nil, errors.New("store: CaseCounts not implemented yet")
}

// CaseDetail is everything the case screen shows.
type CaseDetail struct {
	Case      lifecycle.Case
	Complaint complaint.Complaint // as filed; Contact only when the customer consented
	Events    []event.Event       // the whole log in event.Less order, rejected ones included
	Unsynced  map[string]bool     // ids of this device's events not yet acknowledged
	// Quarantined maps ids of this device's events the server refused
	// (push_reject) to the server's reason.
	Quarantined map[string]string
	NextStep    sla.Step
	DueAt       time.Time
}

// ErrNoCase is returned (wrapped) for a complaint this store has no
// Filed event of.
var ErrNoCase = errors.New("no such case here")

// CaseDetail loads one case. ErrNoCase if unknown.
func (s *Store) CaseDetail(ctx context.Context, complaintID string) (CaseDetail, error) {
	return CaseDetail{}, errors.New("store: CaseDetail not implemented yet")
}

// Act records a staff action: in one transaction it folds the case's
// events, refuses the event with the *lifecycle.Error that
// lifecycle.Allowed or lifecycle.Apply gives (state or payload), and
// otherwise stores the event, queues it in the outbox and refreshes the
// case's row. It returns the case as it now stands. ErrNoCase if the
// complaint is unknown here; errors wrapping ErrUnavailable for storage
// faults (nothing written). The caller builds e (id, clock, actor, branch).
func (s *Store) Act(ctx context.Context, e event.Event) (lifecycle.Case, error) {
	return lifecycle.Case{}, errors.New("store: Act not implemented yet")
}

// Changes returns a channel that receives (coalesced, never blocking the
// writer) after every commit that may change what the queue or a case
// shows: File, Act, ApplyRemote, AckOutbox, Quarantine, SaveDirectory.
// cancel stops the subscription.
func (s *Store) Changes() (ch <-chan struct{}, cancel func()) {
	c := make(chan struct{})
	return c, func() {}
}

// SaveDirectory replaces the staff directory with d, atomically, unless the
// stored one has a higher Version (then it is a no-op and returns false).
// d must be valid (staff.Directory.Validate).
func (s *Store) SaveDirectory(ctx context.Context, d staff.Directory) (replaced bool, err error) {
	return false, errors.New("store: SaveDirectory not implemented yet")
}

// Directory returns the stored staff directory; Version 0 and no accounts
// when none has been received.
func (s *Store) Directory(ctx context.Context) (staff.Directory, error) {
	return staff.Directory{}, errors.New("store: Directory not implemented yet")
}

// SignIn checks a staff id and PIN against the stored directory at now,
// applying l. Errors: staff.ErrWrongCredentials (unknown id or wrong PIN;
// the same message and about the same time either way), *staff.LockedError
// (too many failures: the PIN is not checked), staff.ErrRevoked (right PIN,
// revoked account). Failures are counted in the database, so a restart does
// not reset a lock-out; a success clears them.
func (s *Store) SignIn(ctx context.Context, id, pin string, now time.Time, l staff.Lockout) (staff.Account, error) {
	return staff.Account{}, errors.New("store: SignIn not implemented yet")
}

// RefusedAction is an event someone recorded that the fold did not apply,
// usually because a concurrent action on another terminal won.
type RefusedAction struct {
	ComplaintID string
	Code        string
	Rejection   lifecycle.Rejection
}

// RefusedActions lists the refused events whose actor id is actorID, across
// all cases, oldest first: what the staff terminal tells that person.
func (s *Store) RefusedActions(ctx context.Context, actorID string) ([]RefusedAction, error) {
	return nil, errors.New("store: RefusedActions not implemented yet")
}
