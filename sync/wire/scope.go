package wire

import "strings"

// Scope names (docs/SYNC.md section 4): a device subscribes to scopes by
// name in its hello's cursors, and the server streams the ones it grants.
// A name is "<kind>:<id>"; the kinds are below.
const (
	// ScopeBranch is a branch's queue: every event of the complaints filed
	// at the branch.
	ScopeBranch = "branch"
	// ScopeTeam is a team's queue: every event of the complaints routed to
	// the team while they are there, each complaint's history included
	// from the moment it arrives.
	ScopeTeam = "team"
)

// BranchScope is the scope name of branch's queue, "branch:<id>".
func BranchScope(branch string) string { return ScopeBranch + ":" + branch }

// TeamScope is the scope name of a team's queue, "team:<id>".
func TeamScope(team string) string { return ScopeTeam + ":" + team }

// ParseScope splits a scope name into its kind and id. ok is false when the
// name has no kind or no id; the kind is not checked against the known
// ones (a newer peer may name kinds this build does not know).
func ParseScope(name string) (kind, id string, ok bool) {
	kind, id, ok = strings.Cut(name, ":")
	return kind, id, ok && kind != "" && id != ""
}
