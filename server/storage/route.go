package storage

import (
	"encoding/json"
	"strings"

	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/sync/wire"
)

// Team streams (wire.ScopeTeam) follow where each complaint is queued. A
// storage keeps, per complaint, the mark of its latest assignment and, per
// team, a stream of the events its terminals receive; Route says, for each
// event it stores, what changes. The rule is here, pure, so every backend
// streams the same events to the same teams.

// QueueMark is where a complaint is queued: the queue of its latest
// assignment, in the order the fold applies events (clock, then id). The
// zero mark is a complaint never assigned.
type QueueMark struct {
	Queue   string
	At      hlc.Timestamp
	EventID string
}

// later reports whether e comes after the assignment m names, in the
// fold's order.
func (m QueueMark) later(e *event.Event) bool {
	return m.EventID == "" || e.At > m.At || e.At == m.At && e.ID > m.EventID
}

// Team is the team scope of the mark's queue, "" when it is not a team's.
func (m QueueMark) Team() string { return TeamScopeOf(m.Queue) }

// TeamScopeOf is the scope name of a "team:<id>" queue, "" for any other.
func TeamScopeOf(queue string) string {
	if id, ok := strings.CutPrefix(queue, "team:"); ok && id != "" {
		return wire.TeamScope(id)
	}
	return ""
}

// Route is what storing e does to team streams, given the mark of its
// complaint before it: the mark after it, the team scopes e itself joins,
// and a team the complaint newly joined, whose stream must first take the
// complaint's earlier events (its history), so a team terminal sees a case
// whole from the moment it arrives.
//
// An event joins the team its complaint is queued to; an assignment that
// moves the complaint joins its old team too (the old team's terminals see
// it leave) and its new one.
func Route(before QueueMark, e *event.Event) (after QueueMark, scopes []string, joined string) {
	after = before
	if t := before.Team(); t != "" {
		scopes = append(scopes, t)
	}
	if e.Type != event.Assigned || !before.later(e) {
		return after, scopes, ""
	}
	var a event.Assignment
	if json.Unmarshal(e.Data, &a) != nil || a.Validate() != nil {
		return after, scopes, ""
	}
	after = QueueMark{Queue: a.Queue, At: e.At, EventID: e.ID}
	if t := after.Team(); t != "" && t != before.Team() {
		scopes = append(scopes, t)
		joined = t
	}
	return after, scopes, joined
}
