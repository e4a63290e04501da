// Package device owns what every side agrees a device is allowed to be: the
// roles a branch device is enrolled with. The role is fixed by the
// enrolment code the operator issues (the server's admin command), carried
// in the enrolment answer so the device knows what it is, and enforced by
// the server on every request: what a device may receive and what it may
// record is a function of its role, never of what it asks for.
package device

import (
	"fmt"
	"slices"
	"strings"
)

// Role is a device's role.
type Role string

const (
	// Kiosk is a customer kiosk in a branch's public area: it files
	// complaints and receives nothing (no other customer's complaint, no
	// staff directory). Whoever takes one takes no one else's data.
	Kiosk Role = "kiosk"
	// Staff is a branch's staff terminal: it receives its branch's cases
	// and staff directory, and its signed-in staff act on those cases and
	// file for walk-in customers.
	Staff Role = "staff"
	// Team is a team terminal: it receives the cases routed to its teams'
	// queues, from any branch, and the teams' staff directory, and its
	// signed-in staff act on those cases. It files nothing.
	Team Role = "team"
)

// Console is the server's own web console acting on one branch's cases
// (one such device per branch, made by the server, never enrolled: it is
// not in Roles, so no enrolment code can name it). Its events are judged
// by the same admission rules as a terminal's, with the signed-in
// person's console scope in place of the device's.
const Console Role = "console"

// Roles lists every role, least privileged first.
var Roles = []Role{Kiosk, Staff, Team}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Describe is the role as an operator reads it.
func (r Role) Describe() string {
	switch r {
	case Kiosk:
		return "customer kiosk"
	case Staff:
		return "staff terminal"
	case Team:
		return "team terminal"
	case Console:
		return "web console"
	}
	return string(r)
}

// MaxTeams bounds the teams one team terminal serves (each is a scope of
// its sync connection).
const MaxTeams = 16

// CheckTeams checks the teams a device of role r is enrolled for: a team
// terminal serves 1 to MaxTeams teams (ids as in the dispatch config's
// "team:<id>" queues, without the prefix), other roles none.
func CheckTeams(r Role, teams []string) error {
	if r != Team {
		if len(teams) > 0 {
			return fmt.Errorf("a %s serves no team", r.Describe())
		}
		return nil
	}
	if len(teams) == 0 || len(teams) > MaxTeams {
		return fmt.Errorf("a team terminal serves 1 to %d teams", MaxTeams)
	}
	for i, t := range teams {
		if !ValidTeam(t) {
			return fmt.Errorf("team %q: want 1-64 lower-case letters, digits, '-' or '_'", t)
		}
		if slices.Contains(teams[:i], t) {
			return fmt.Errorf("team %q named twice", t)
		}
	}
	return nil
}

// ValidTeam reports whether id is a team id (the "<id>" of a "team:<id>"
// queue): 1-64 lower-case ASCII letters, digits, '-' or '_'. The dispatch
// config declares teams by the same rule.
func ValidTeam(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	return strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) < 0
}
