// Package staff owns who may work on cases: staff accounts, their roles and
// what each role may do, the slow hashes their PINs are kept as, the
// lock-out rule after wrong PINs, and the directory of a branch's accounts
// that the server sends its staff terminals so sign-in works offline.
//
// The server creates and revokes accounts (server staff ...); terminals only
// ever hold the directory, hashes included, never a PIN.
package staff

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/textsafe"
)

// Role is what a staff member may do.
type Role string

const (
	// Agent works the queue: every step of a case from acknowledgement to
	// closure.
	Agent Role = "agent"
	// Supervisor does what an agent does and may also reopen a closed case:
	// revisiting a decision the customer was given is a management call.
	Supervisor Role = "supervisor"
	// Manager does what a supervisor does; at the web console a manager
	// is usually given several branches (a region) to oversee.
	Manager Role = "manager"
	// Administrator does what a manager does and, at the web console,
	// also manages staff accounts, devices, branches and teams.
	Administrator Role = "administrator"
)

// Roles lists the roles in order of increasing power.
func Roles() []Role { return []Role{Agent, Supervisor, Manager, Administrator} }

// AtLeast reports whether r is at least as powerful as o (both known).
func (r Role) AtLeast(o Role) bool {
	return r.Valid() && o.Valid() && slices.Index(Roles(), r) >= slices.Index(Roles(), o)
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles(), r) }

// supervisorOnly are the actions an agent may not take.
var supervisorOnly = map[event.Type]bool{
	event.Reopened: true,
}

// Can reports whether role r may record an event of type t. Unknown roles
// may do nothing. It does not consult the lifecycle: the caller checks both.
func Can(r Role, t event.Type) bool {
	switch r {
	case Supervisor, Manager, Administrator:
		return true
	case Agent:
		return !supervisorOnly[t]
	}
	return false
}

// Why says in plain words why role r may not record t; "" when it may.
func Why(r Role, t event.Type) string {
	if Can(r, t) {
		return ""
	}
	if supervisorOnly[t] {
		return "only a supervisor may do this"
	}
	return fmt.Sprintf("the role %q may not do this", r)
}

// Account is one staff member. ID is what they type at sign-in and what
// every event they record names as its actor, so it is never reused.
type Account struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Role   Role   `json:"role"`
	Branch string `json:"branch"`
	// Teams are the team queues the person works ("fraud" for team:fraud),
	// from any branch's team terminal; none for branch staff.
	Teams   []string `json:"teams,omitempty"`
	PINHash string   `json:"pin_hash"` // see HashPIN; never the PIN
	// RevokedAt is when the account was revoked; zero while it may sign in.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at"`
}

// InTeam reports whether the account works one of teams.
func (a Account) InTeam(teams []string) bool {
	for _, t := range a.Teams {
		if slices.Contains(teams, t) {
			return true
		}
	}
	return false
}

// Revoked reports whether the account may no longer sign in.
func (a Account) Revoked() bool { return !a.RevokedAt.IsZero() }

// Limits on account fields.
const (
	MaxIDLen   = 32
	MaxNameLen = 80
)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,31}$`)

// NormalizeID is how an id typed at sign-in is compared: trimmed, lower case.
func NormalizeID(id string) string { return strings.ToLower(strings.TrimSpace(id)) }

// ValidateID checks an account id: 2 to 32 of a-z, 0-9, dot, dash and
// underscore, starting with a letter or digit.
func ValidateID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("a staff id is 2 to %d characters of a-z, 0-9, '.', '-' and '_', starting with a letter or digit; %q is not", MaxIDLen, id)
	}
	return nil
}

// Validate checks an account as stored and as received in a directory.
func (a Account) Validate() error {
	if err := ValidateID(a.ID); err != nil {
		return err
	}
	name := strings.TrimSpace(a.Name)
	switch {
	case name == "":
		return fmt.Errorf("account %s: a name is needed", a.ID)
	case !utf8.ValidString(a.Name) || utf8.RuneCountInString(a.Name) > MaxNameLen:
		return fmt.Errorf("account %s: the name must be valid text of at most %d characters", a.ID, MaxNameLen)
	case !textsafe.IsName(a.Name):
		return fmt.Errorf("account %s: the name holds control or invisible format characters", a.ID)
	case !a.Role.Valid():
		return fmt.Errorf("account %s: role %q is not agent, supervisor, manager or administrator", a.ID, a.Role)
	case a.Branch == "":
		return fmt.Errorf("account %s: a branch is needed", a.ID)
	case len(a.Teams) > device.MaxTeams:
		return fmt.Errorf("account %s: at most %d teams", a.ID, device.MaxTeams)
	}
	for i, t := range a.Teams {
		if !device.ValidTeam(t) || slices.Contains(a.Teams[:i], t) {
			return fmt.Errorf("account %s: team %q is not a team id, or named twice", a.ID, t)
		}
	}
	if _, err := parseHash(a.PINHash); err != nil {
		return fmt.Errorf("account %s: %w", a.ID, err)
	}
	return nil
}

// Errors of sign-in. Messages are safe to show at the terminal: none says
// whether the id exists, so guessing ids teaches nothing.
var (
	ErrWrongCredentials = errors.New("the staff id or PIN is wrong")
	ErrRevoked          = errors.New("this staff account has been revoked; ask a supervisor")
	ErrOtherBranch      = errors.New("this staff account belongs to another branch")
)

// LockedError says a sign-in was refused because of too many wrong PINs.
type LockedError struct{ Until time.Time }

func (e *LockedError) Error() string {
	return fmt.Sprintf("too many wrong PINs: try again after %s", e.Until.Local().Format("15:04:05"))
}

// Lockout is the rule after wrong PINs: after MaxFailures in a row the
// account is locked on that terminal for Duration after the last failure;
// while locked the PIN is not checked at all, so guessing goes no faster.
type Lockout struct {
	MaxFailures int
	Duration    time.Duration
}

// DefaultLockout: five wrong PINs lock the account for five minutes, which
// holds a thief to about 1,400 guesses a day against a 6-digit PIN's million.
var DefaultLockout = Lockout{MaxFailures: 5, Duration: 5 * time.Minute}

// Locked says whether failures failures in a row, the last at last, lock the
// account at now, and until when.
func (l Lockout) Locked(failures int, last, now time.Time) (bool, time.Time) {
	if failures < l.MaxFailures {
		return false, time.Time{}
	}
	until := last.Add(l.Duration)
	return now.Before(until), until
}
