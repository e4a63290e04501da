// Package lifecycle owns the life of a complaint (ISO 10002 clause 8): its
// states, the table of which event may happen in which state and what state
// follows, which events the customer may see, and the Case: the current state
// of a complaint computed as a deterministic fold of its events.
//
// The same table is used twice: when a person acts (Allowed, Actions: the
// action is refused before an event is written) and when replicated events are
// merged (Fold: an event that is no longer applicable, because a concurrent
// action won, is kept in the log but listed in Case.Rejected).
package lifecycle

import (
	"fmt"
	"slices"

	"ombud/shared/event"
)

// State is the stage a case has reached.
//
// Escalation is not a state. A case can be escalated at any open stage and
// keeps moving through the stages afterwards (an escalated case is still
// assessed, investigated, answered); an "escalated" state would forget the
// stage it left and need an un-escalate event to go back. So escalation is a
// flag and a level on the Case. Likewise "reopened" is not a state: a reopened
// case is investigated again, and Case.ReopenCount remembers that it was.
type State string

const (
	// None is the state before the Filed event: no complaint yet.
	None          State = ""
	Received      State = "received"      // filed, not yet acknowledged by staff (8.2)
	Acknowledged  State = "acknowledged"  // staff confirmed receipt (8.4)
	Assessed      State = "assessed"      // severity, priority, category set (8.5)
	Investigating State = "investigating" // 8.6
	Responded     State = "responded"     // decision and remedy recorded, awaiting closure (8.7, 8.8)
	Closed        State = "closed"        // 8.9
)

// States lists every state a filed case can be in, in lifecycle order.
func States() []State {
	return []State{Received, Acknowledged, Assessed, Investigating, Responded, Closed}
}

// Open reports whether a case in s is still being handled.
func (s State) Open() bool { return s != None && s != Closed }

// keep as a target means the event changes no state.
const keep State = "(keep)"

// rule is one row of the table: an event type, the states it may happen in,
// and what state follows. An event type may have several rules when the
// resulting state depends on where it happens (re-assessing an investigation
// keeps it under investigation).
type rule struct {
	typ  event.Type
	from []State
	to   State // keep: no state change
}

var (
	open        = []State{Received, Acknowledged, Assessed, Investigating, Responded}
	filed       = []State{Received, Acknowledged, Assessed, Investigating, Responded, Closed}
	preResponse = []State{Acknowledged, Assessed, Investigating}
)

// table is the lifecycle. Read it as "event typ may happen when the case is in
// one of from, and the case then is in to". Anything not listed is refused.
var table = []rule{
	{event.Filed, []State{None}, Received},
	{event.Acknowledged, []State{Received}, Acknowledged},
	// Severity can change as facts emerge, so assessment may be redone until a
	// decision is recorded; re-assessing does not stop an investigation.
	{event.Assessed, []State{Acknowledged, Assessed}, Assessed},
	{event.Assessed, []State{Investigating}, keep},
	// Dispatch may route on receipt, and reassignment (conflict of interest,
	// workload) may happen at any open stage.
	{event.Assigned, open, keep},
	{event.InvestigationBegan, []State{Assessed}, Investigating},
	// Notes and messages are allowed even after closure: follow-ups happen,
	// and refusing them would lose what a person wrote.
	{event.NoteAdded, filed, keep},
	{event.MessageSent, filed, keep},
	// Asking the customer for more only makes sense before the decision.
	{event.InfoRequested, preResponse, keep},
	// The customer may add information unasked at any open stage.
	{event.InfoProvided, open, keep},
	{event.Escalated, open, keep},
	{event.Responded, []State{Assessed, Investigating}, Responded},
	{event.Closed, []State{Responded}, Closed},
	// A reopened case goes back to investigation: the decision is being
	// revisited, so the assessment stands and a new response is needed.
	{event.Reopened, []State{Closed}, Investigating},
	{event.SatisfactionRated, []State{Responded, Closed}, keep},
	// Root cause analysis (9.2) often finishes after the case is closed.
	{event.RootCauseSet, []State{Assessed, Investigating, Responded, Closed}, keep},
	// The server removes personal data at any stage (an erasure request)
	// or after closure (retention); the case's course is unchanged.
	{event.Redacted, filed, keep},
}

// refusals say in plain words, for staff, why an event type was refused in a
// state its rules do not list. Refusals that depend only on the state (not
// filed yet, already closed) are in refusal.
var refusals = map[event.Type]string{
	event.Filed:              "the complaint has already been filed",
	event.Acknowledged:       "a complaint can only be acknowledged once, when it has just been received",
	event.Assessed:           "a complaint can only be assessed after it has been acknowledged and before a response is recorded",
	event.Assigned:           "a case can only be assigned while it is open",
	event.InvestigationBegan: "an investigation can only begin once, after the complaint has been assessed",
	event.NoteAdded:          "a note can only be added to a filed complaint",
	event.MessageSent:        "a message can only be sent about a filed complaint",
	event.InfoRequested:      "information can only be requested after acknowledgement and before a response is recorded",
	event.InfoProvided:       "information can only be added while the case is open",
	event.Escalated:          "only an open case can be escalated",
	event.Responded:          "a response can only be recorded after assessment, and only once until the case is reopened",
	event.Closed:             "a case can only be closed after a response has been recorded",
	event.Reopened:           "only a closed case can be reopened",
	event.SatisfactionRated:  "satisfaction can only be rated after a response has been recorded",
	event.RootCauseSet:       "a root cause can only be set after the complaint has been assessed",
	event.Redacted:           "only a filed complaint can be redacted",
}

// public lists the event types the customer may see on the tracking page.
// Anything not listed is internal, so a new event type stays hidden until
// someone decides otherwise. Assessment (severity, priority), assignment,
// escalation reasons, notes and root causes are staff's working material.
var public = map[event.Type]bool{
	event.Filed:              true,
	event.Acknowledged:       true,
	event.InvestigationBegan: true,
	event.MessageSent:        true,
	event.InfoRequested:      true,
	event.InfoProvided:       true,
	event.Responded:          true,
	event.Closed:             true,
	event.Reopened:           true,
	event.SatisfactionRated:  true,
}

// Public reports whether the customer may see events of type t.
func Public(t event.Type) bool { return public[t] }

// Transition is one allowed move: an event of Type in state From leaves the
// case in state To (To == From when the event changes no state).
type Transition struct {
	Type event.Type
	From State
	To   State
}

// Transitions lists the whole table, one row per (type, from state), in table
// order. For documentation, tests and UIs; the table itself cannot be changed.
func Transitions() []Transition {
	var out []Transition
	for _, r := range table {
		for _, from := range r.from {
			to := r.to
			if to == keep {
				to = from
			}
			out = append(out, Transition{Type: r.typ, From: from, To: to})
		}
	}
	return out
}

// next is the state after an event of type t in state s, and whether t is
// allowed in s at all.
func next(s State, t event.Type) (State, bool) {
	for _, r := range table {
		if r.typ == t && slices.Contains(r.from, s) {
			if r.to == keep {
				return s, true
			}
			return r.to, true
		}
	}
	return s, false
}

// Allowed returns nil if an event of type t may happen to a case in state s,
// or an *Error with Code NotAllowed saying in plain words why not.
func Allowed(s State, t event.Type) error {
	if _, ok := next(s, t); ok {
		return nil
	}
	return &Error{Code: NotAllowed, State: s, Type: t, Message: refusal(s, t)}
}

func refusal(s State, t event.Type) string {
	why, known := refusals[t]
	switch {
	case !known:
		return fmt.Sprintf("%q is not a known action", t)
	case s == None && t != event.Filed:
		return "the complaint has not been filed yet"
	case s == Closed && t != event.Reopened:
		if t == event.Closed {
			return "the case is already closed"
		}
		return "the case is closed; it must be reopened first"
	}
	return why
}

// Actions lists the event types allowed in state s, in table order. Staff
// screens offer only these; which of them a given person may do (a customer
// rates, staff respond) is decided by the caller. Redacted is the
// server's own and never offered.
func Actions(s State) []event.Type {
	var out []event.Type
	for _, r := range table {
		if r.typ != event.Redacted && slices.Contains(r.from, s) && !slices.Contains(out, r.typ) {
			out = append(out, r.typ)
		}
	}
	return out
}

// Code classifies an Error so callers can map it (to an HTTP status, to a
// screen) without reading the message.
type Code string

const (
	NotAllowed     Code = "not_allowed"     // the event does not fit the case's state
	InvalidData    Code = "invalid_data"    // the event's payload is unreadable or out of range
	OtherComplaint Code = "other_complaint" // the event belongs to a different complaint
	OutOfOrder     Code = "out_of_order"    // Apply was given an event that sorts before one already applied
	DuplicateID    Code = "duplicate_id"    // another, different event already has this id
)

// Error says why an event was not applied. Message is plain words, safe to
// show to staff; it never contains the complaint's text.
type Error struct {
	Code    Code
	State   State      // the case's state when the event was refused
	Type    event.Type // the refused event's type
	EventID string     // empty from Allowed, which has no event
	Message string
}

func (e *Error) Error() string {
	if e.EventID == "" {
		return fmt.Sprintf("lifecycle: %s in state %q: %s", e.Type, e.State, e.Message)
	}
	return fmt.Sprintf("lifecycle: event %s (%s) in state %q: %s", e.EventID, e.Type, e.State, e.Message)
}
