package storage

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// Desk is what the console's saved views and its configuration
// administration keep (package server/console): each person's named
// filter sets on the queue page, and the versions of the configurations an
// administrator edits at the console (the SLA calendars, the dispatch
// rules), with who made each and when.
type Desk interface {
	// SaveView stores a new saved view. Conflict if its owner already has
	// a view of that name or the id exists; NotFound for an unknown owner;
	// Invalid for an empty name or an over-long one or query.
	SaveView(ctx context.Context, v SavedView) error
	// Views returns the views staffID owns and those shared with any of
	// teams, by name.
	Views(ctx context.Context, staffID string, teams []string) ([]SavedView, error)
	// View returns one view by id. NotFound if none.
	View(ctx context.Context, id string) (SavedView, error)
	// DeleteView removes the view id if staffID owns it. NotFound
	// otherwise (another's view is not told apart from none).
	DeleteView(ctx context.Context, id, staffID string) error

	// AddConfigVersion records a new version of a configuration (its
	// Version is the last one's plus one, returned); the caller has
	// validated Body with the same checks as the file.
	AddConfigVersion(ctx context.Context, v ConfigVersion) (ConfigVersion, error)
	// ConfigVersions returns the newest versions of kind first, at most
	// limit.
	ConfigVersions(ctx context.Context, kind string, limit int) ([]ConfigVersion, error)
	// ConfigVersion returns one version. NotFound if none.
	ConfigVersion(ctx context.Context, kind string, version int64) (ConfigVersion, error)
}

// Limits of a saved view.
const (
	MaxViewName  = 60
	MaxViewQuery = 1000
)

// SavedView is a named set of the queue page's filters.
type SavedView struct {
	ID      string
	StaffID string // the owner
	Name    string
	Query   string // the queue page's query string (state=open&queue=team:fraud)
	// Team, when set, shares the view with the members of team:Team (a
	// supervisor's choice); "" keeps it private.
	Team      string
	CreatedAt time.Time
}

// Configuration kinds kept by AddConfigVersion.
const (
	ConfigSLA      = "sla"
	ConfigDispatch = "dispatch"
)

// Sources of a configuration version.
const (
	SourceConsole  = "console"  // applied by an administrator at the console
	SourceFile     = "file"     // read from the server's --sla-config or --dispatch-config file
	SourceRollback = "rollback" // an earlier version applied again at the console
)

// ConfigVersion is one version of a configuration.
type ConfigVersion struct {
	Kind    string
	Version int64
	Body    []byte // the file's bytes, as validated
	Digest  string // the parser's digest of Body
	Source  string
	StaffID string // who applied it ("" for the file)
	Note    string
	At      time.Time
}

// CheckView is SaveView's Invalid cases, the same on every backend.
func CheckView(v SavedView) error {
	switch {
	case v.ID == "" || v.StaffID == "":
		return Errorf(Invalid, "a view needs an id and an owner")
	case strings.TrimSpace(v.Name) == "" || utf8.RuneCountInString(v.Name) > MaxViewName:
		return Errorf(Invalid, "a view needs a name of 1 to %d characters", MaxViewName)
	case len(v.Query) > MaxViewQuery:
		return Errorf(Invalid, "the view's filters are longer than %d characters", MaxViewQuery)
	}
	return nil
}
