package storage

import (
	"context"
	"time"

	"ombud/shared/staff"
)

// Staff is the staff accounts (package shared/staff): created, given new
// PINs and revoked by the operator's commands, and read as a branch's
// directory by the staff terminals, which sign people in offline with it.
//
// Accounts are never deleted: an id names the actor of every event its
// holder recorded, so it is never given to anyone else, and a revoked
// account stays in its branch's directory so a terminal learns of the
// revocation. PINs reach the store only as hashes (staff.HashPIN).
type Staff interface {
	// CreateStaff adds an account. Invalid if a.Validate fails or a is
	// revoked, or the branch already holds staff.MaxDirectoryAccounts
	// accounts; NotFound if its branch does not exist; Conflict if the id
	// is taken, by a revoked account too. A zero UpdatedAt is the time of
	// the call.
	CreateStaff(ctx context.Context, a staff.Account) error

	// SetStaffPIN replaces an account's PIN hash, at time at. NotFound if
	// unknown; Invalid for a malformed hash or a revoked account: a PIN
	// reset does not bring a revoked account back (create one with a new
	// id instead).
	SetStaffPIN(ctx context.Context, id, pinHash string, at time.Time) error

	// RevokeStaff stops the account from signing in from at onwards.
	// Revoking again changes nothing and keeps the first time. NotFound if
	// unknown.
	RevokeStaff(ctx context.Context, id string, at time.Time) error

	// StaffAccount returns one account, revoked or not. NotFound if unknown.
	StaffAccount(ctx context.Context, id string) (staff.Account, error)

	// StaffDirectory returns every account of branch, revoked ones
	// included, sorted by id, as of one read. Its Version grows strictly
	// whenever any account of the branch is created or changed (and is 0
	// while the branch has none), so a terminal can tell a newer directory
	// from the one it holds; IssuedAt is the time of the call. NotFound if
	// the branch does not exist.
	StaffDirectory(ctx context.Context, branch string) (staff.Directory, error)

	// TeamDirectory returns every account that works one of teams,
	// revoked ones included, sorted by id, with a version as
	// StaffDirectory's: a team terminal's directory. Invalid without teams.
	TeamDirectory(ctx context.Context, teams []string) (staff.Directory, error)

	// ListStaff returns the accounts of branch, or of every branch when
	// branch is "", sorted by branch then id. NotFound if a named branch
	// does not exist.
	ListStaff(ctx context.Context, branch string) ([]staff.Account, error)
}

// Sessions are staff sign-ins the server confirmed (package staffapi): a
// PIN checked against the server's own hash, on one terminal, for a while.
// Push attributes a staff action to the session it falls in (admit), and
// the server's lock-out counts wrong PINs per account.
type Sessions interface {
	// StartSession records a confirmed sign-in. Conflict if the id exists;
	// NotFound if the device or the account does not.
	StartSession(ctx context.Context, s Session) error

	// EndSession ends a session of deviceID at at (sign-out); ending one
	// already ended keeps the first time. NotFound if deviceID has no
	// session id.
	EndSession(ctx context.Context, deviceID, id string, at time.Time) error

	// SignInFailures returns the wrong PINs in a row for an account at
	// online sign-in and the time of the last (0 and the zero time if
	// none).
	SignInFailures(ctx context.Context, staffID string) (int, time.Time, error)

	// RecordSignInFailure counts one more and returns the new count.
	RecordSignInFailure(ctx context.Context, staffID string, at time.Time) (int, error)

	// ClearSignInFailures forgets the count after a right PIN.
	ClearSignInFailures(ctx context.Context, staffID string) error
}

// Session is a staff sign-in the server confirmed on one terminal.
type Session struct {
	ID        string
	DeviceID  string
	StaffID   string
	StartedAt time.Time
	ExpiresAt time.Time
	EndedAt   time.Time // zero until signed out
}

// End is when the session stopped covering actions: its sign-out, else its
// expiry.
func (s Session) End() time.Time {
	if s.SignedOut() {
		return s.EndedAt
	}
	return s.ExpiresAt
}

// SignedOut reports whether the session was ended by a sign-out before it
// expired.
func (s Session) SignedOut() bool {
	return !s.EndedAt.IsZero() && s.EndedAt.Before(s.ExpiresAt)
}
