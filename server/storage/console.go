package storage

import (
	"context"
	"time"

	"ombud/shared/lifecycle"
	"ombud/shared/staff"
)

// Console is what the web console (package server/console) keeps: the
// console side of staff accounts (password, second factor, scope), its
// sessions, lock-out and audit trail, the per-branch devices its actions are
// pushed through, and the reads of its pages (queues, search). Secrets reach
// it only as hashes, except the TOTP secret, which the server needs to
// compute the codes.
type Console interface {
	// ConsoleAccount returns a staff account with its console settings
	// (zero settings when none were ever made). NotFound if the staff
	// account does not exist.
	ConsoleAccount(ctx context.Context, staffID string) (ConsoleAccount, error)
	// SetConsolePassword stores a password hash (staff.HashPIN's format).
	// NotFound for an unknown account; Invalid for a revoked one.
	SetConsolePassword(ctx context.Context, staffID, hash string, at time.Time) error
	// SetConsoleTOTP stores a TOTP secret, on (proved) or not yet, and
	// replaces every recovery code with recoveryHashes (SHA-256 of each).
	// An empty secret removes the second factor (the next sign-in enrols
	// again). NotFound for an unknown account.
	SetConsoleTOTP(ctx context.Context, staffID, secret string, on bool, recoveryHashes [][]byte, at time.Time) error
	// SetStaffRole changes an account's role and teams (an
	// administrator's decision at the console), as a change the terminals'
	// directories pick up. NotFound for an unknown account; Invalid for a
	// revoked one or a role or teams the account may not have.
	SetStaffRole(ctx context.Context, staffID string, role staff.Role, teams []string, at time.Time) error
	// SetConsoleBranches sets the branches the account sees beyond its
	// home branch ("*": all). NotFound for an unknown account or branch.
	SetConsoleBranches(ctx context.Context, staffID string, branches []string, at time.Time) error
	// UseTOTPStep records that a code of time step step was accepted:
	// true if no code of this step or a later one was accepted before
	// (a code is good once).
	UseTOTPStep(ctx context.Context, staffID string, step int64) (bool, error)
	// UseRecoveryCode spends the unused recovery code with this hash:
	// true if it was there and unused (and is now used).
	UseRecoveryCode(ctx context.Context, staffID string, hash []byte, at time.Time) (bool, error)

	// CreateConsoleSession records a new session. Conflict if the id or
	// token exists; NotFound for an unknown account.
	CreateConsoleSession(ctx context.Context, s ConsoleSession) error
	// ConsoleSessionByToken returns the session whose token has this
	// hash, ended or not. NotFound if none.
	ConsoleSessionByToken(ctx context.Context, tokenHash []byte) (ConsoleSession, error)
	// TouchConsoleSession records activity (seen) and the stage reached.
	TouchConsoleSession(ctx context.Context, tokenHash []byte, stage string, seen time.Time) error
	// EndConsoleSessions ends the session with tokenHash, or, with
	// tokenHash nil, every open session of staffID (sign-out everywhere),
	// at at; it returns the ids of the sessions it ended.
	EndConsoleSessions(ctx context.Context, staffID string, tokenHash []byte, at time.Time) ([]string, error)

	// ConsoleFailures returns the wrong passwords or codes in a row for
	// an account and the time of the last.
	ConsoleFailures(ctx context.Context, staffID string) (int, time.Time, error)
	// RecordConsoleFailure counts one more and returns the count.
	RecordConsoleFailure(ctx context.Context, staffID string, at time.Time) (int, error)
	// ClearConsoleFailures forgets the count after a full sign-in.
	ClearConsoleFailures(ctx context.Context, staffID string) error

	// AuditConsole appends to the console's audit trail.
	AuditConsole(ctx context.Context, e AuditEntry) error
	// ConsoleAudit returns the newest entries first, at most limit.
	ConsoleAudit(ctx context.Context, limit int) ([]AuditEntry, error)

	// ConsoleDevice returns the id of the device the console pushes a
	// branch's events through (role device.Console, never enrolled, no
	// usable credential), making it on first use. NotFound for an unknown
	// branch.
	ConsoleDevice(ctx context.Context, branch string) (Device, error)

	// QueueCases returns the cases f selects, soonest deadline first
	// (cases with no deadline last, then by filing time), at most f.Limit,
	// with the total count.
	QueueCases(ctx context.Context, f CaseFilter) ([]CaseRow, int, error)
	// QueueCounts counts the open cases of each queue within scope, with
	// those overdue at now and due before soon.
	QueueCounts(ctx context.Context, scope Scope, now, soon time.Time) ([]QueueCount, error)
	// SearchCases finds cases within scope whose texts match every word
	// of query (accents and case ignored; a word matches as a prefix), or
	// whose tracking code is query exactly. At most limit, newest first.
	SearchCases(ctx context.Context, scope Scope, query string, limit int) ([]CaseRow, error)
	// EventOrigins says where each stored event of a complaint came
	// from: by event id, the device that pushed it ("" for events the
	// server made) and how it was attributed (admit.Decision.Attest).
	EventOrigins(ctx context.Context, complaintID string) (map[string]Origin, error)
	// ListBranches returns every branch by id.
	ListBranches(ctx context.Context) ([]Branch, error)
}

// ConsoleAccount is a staff account with its console settings.
type ConsoleAccount struct {
	staff.Account
	PasswordHash string // "" until set
	TOTPSecret   string // "" until enrolment starts
	TOTPOn       bool   // the person proved they hold the secret
	Branches     []string
	Recovery     int // unused recovery codes left
}

// Console session stages.
const (
	StagePassword = "password" // the password was right; the second factor is awaited
	StageFull     = "full"
)

// ConsoleSession is one browser's sign-in at the console.
type ConsoleSession struct {
	ID        string
	TokenHash []byte
	StaffID   string
	Stage     string
	StartedAt time.Time
	SeenAt    time.Time
	ExpiresAt time.Time // absolute expiry
	EndedAt   time.Time // zero until signed out
}

// AuditEntry is one line of the console's audit trail.
type AuditEntry struct {
	Seq     int64
	At      time.Time
	StaffID string
	Action  string // e.g. signin, signin_failed, signout, locked, password_set
	Detail  string
	Client  string // the client's address as the server saw it
}

// Scope is what a person may see at the console: cases of Branches (All:
// every branch) and cases queued to Teams ("fraud" for team:fraud).
type Scope struct {
	All      bool
	Branches []string
	Teams    []string
}

// CaseFilter selects cases for the queue page. Empty fields select
// everything within Scope.
type CaseFilter struct {
	Scope    Scope
	States   []lifecycle.State
	Branch   string
	Category string
	Queue    string
	Priority int // 0: any
	// FiledFrom and FiledTo bound the filing time (zero: unbounded).
	FiledFrom, FiledTo time.Time
	// Open selects only open cases (not closed).
	Open  bool
	Limit int
}

// QueueCount is one queue's open cases.
type QueueCount struct {
	Queue   string
	Open    int
	Overdue int
	AtRisk  int
}

// Origin is where a stored event came from.
type Origin struct {
	DeviceID string
	Attest   string
}
