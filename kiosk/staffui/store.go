package staffui

import (
	"context"
	"time"

	"ombud/kiosk/session"
	"ombud/kiosk/store/cases"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/staff"
)

// Store is what the terminal reads and writes in the kiosk database: the
// branch's cases and its staff accounts. The program gives it
// kiosk/store/cases' Queue and kiosk/store/signin's Accounts on one
// database.
type Store interface {
	Queue
	Accounts
}

// Queue is the branch's cases: the queue, a case, the actions on it.
type Queue interface {
	// Cases returns the queue's rows f selects, what is due next first.
	Cases(ctx context.Context, f cases.Filter) ([]cases.Row, error)
	// CaseCounts counts all cases per state.
	CaseCounts(ctx context.Context) (map[lifecycle.State]int, error)
	// CaseDetail loads one case with its timeline; cases.ErrNoCase if
	// unknown.
	CaseDetail(ctx context.Context, complaintID string) (cases.Detail, error)
	// RefusedActions lists the actions of actorID that the fold refused.
	RefusedActions(ctx context.Context, actorID string) ([]cases.RefusedAction, error)
	// Act records a staff action durably, or refuses it with a
	// *lifecycle.Error; it returns the case as it then stands.
	Act(ctx context.Context, e event.Event) (lifecycle.Case, error)
	// Changes signals after every commit that may change what the queue,
	// a case or the staff directory shows.
	Changes() (ch <-chan struct{}, cancel func())
}

// Accounts are the branch's staff accounts, for sign-in offline, and the
// terminal's lock-out, which online sign-in keeps in step.
type Accounts interface {
	// SignIn checks an id and PIN at now under the lock-out l, against
	// the stored directory: offline sign-in, bounded by the terminal's
	// last contact with the server (signin.ErrNeverReached,
	// *signin.OutOfReachError).
	SignIn(ctx context.Context, id, pin string, now time.Time, l staff.Lockout) (staff.Account, error)
	// Directory returns the stored staff directory.
	Directory(ctx context.Context) (staff.Directory, error)
	// Locked returns a *staff.LockedError when id is locked here at now.
	Locked(ctx context.Context, id string, now time.Time, l staff.Lockout) error
	// Refused counts a wrong PIN the server refused; a *staff.LockedError
	// when it locks id.
	Refused(ctx context.Context, id string, now time.Time, l staff.Lockout) error
	// Confirmed clears id's wrong PINs: the server confirmed a sign-in.
	Confirmed(ctx context.Context, id string) error
}

// Sessions confirms sign-ins with the central server and ends them;
// *session.Client (kiosk/session) is the real one.
type Sessions interface {
	// SignIn asks the server to check id and PIN. Errors:
	// staff.ErrWrongCredentials, *staff.LockedError, session.ErrUnreachable
	// (wrapped: sign in offline), *session.Error (refused otherwise).
	SignIn(ctx context.Context, staffID, pin string) (session.Session, error)
	// SignOut ends a session on the server.
	SignOut(ctx context.Context, sessionID string) error
}
