package lifecycle

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/redact"
	"ombud/shared/rootcause"
)

// Case is a complaint as it stands now: the fold of its events. It is the
// staff view and holds internal fields; the tracking page must show only what
// Public events and the state allow.
//
// Times are the hybrid logical clock of the event that set them, so they order
// the same way on every node; zero means "not yet".
type Case struct {
	ID       string // the complaint id
	Code     string // tracking code
	Branch   string
	Category string // as filed, or as corrected at assessment
	State    State

	Severity event.Severity // from the latest assessment
	Priority int            // from the latest assessment; 0 until assessed
	Queue    string         // from the latest assignment

	Escalated       bool
	EscalationLevel int // highest level reached; escalation is never undone

	// WaitingOnCustomer pauses the SLA clock: staff asked the customer for
	// information (InfoRequested) and the customer has not answered
	// (InfoProvided), nor has a response been recorded since.
	WaitingOnCustomer bool
	WaitingSince      hlc.Timestamp // the first unanswered request

	ReopenCount int
	// ReopenedAt is the latest reopen: a reopened case owes the customer a
	// new answer, and the SLA clock times it from here.
	ReopenedAt hlc.Timestamp

	FiledAt        hlc.Timestamp
	AcknowledgedAt hlc.Timestamp
	// RespondedAt is the first response: "time to respond" (9.4) counts to
	// it, and a reopened case that is answered again does not reset it.
	RespondedAt hlc.Timestamp
	// AnsweredAt is the latest response: after a reopen, the new answer.
	AnsweredAt hlc.Timestamp
	// AnswerBy is, while the case is Responded, until when the customer
	// may accept the decision or say they are not satisfied (8.9): the
	// decision's event.Decision.AnswerBy, else AnsweredAt plus
	// DefaultAcceptWithin. Staff may not close the case before it unless
	// the customer accepted; the server's case engine closes it then.
	AnswerBy time.Time
	// ClosedAt is the latest closure; zero while the case is open, including
	// after a reopen, so a reopened case never looks closed.
	ClosedAt hlc.Timestamp
	// CustomerAccepted is the latest closure's recorded answer (8.9); nil
	// while open or when the customer did not say.
	CustomerAccepted *bool

	Rating    *event.Rating // the latest satisfaction rating; nil until rated
	RootCause string        // the latest root cause (9.2)
	// Redaction is why the complaint's personal data was removed (the
	// first Redacted event); nil while it is held.
	Redaction *event.Redaction

	// LastEventAt and LastEventID identify the last event applied; Apply
	// accepts only events that sort after it.
	LastEventAt hlc.Timestamp
	LastEventID string

	Complaint complaint.Complaint // as filed, decoded from the Filed event

	// Rejected lists events that are in the log but were not applied, in log
	// order, so a person whose concurrent action lost can be told why.
	Rejected []Rejection
}

// Rejection is an event that was not applied, and why.
type Rejection struct {
	EventID string
	Type    event.Type
	Actor   event.Actor
	At      hlc.Timestamp
	Code    Code
	Reason  string // plain words, from Error.Message
}

// DefaultAcceptWithin is the customer's time to answer a decision that
// names none (event.Decision.AnswerBy): 14 days, sla.DefaultAcceptWithin.
const DefaultAcceptWithin = 14 * 24 * time.Hour

// ErrNotFiled is returned by Fold when no event in the log files a complaint.
var ErrNotFiled = errors.New("lifecycle: no valid filed event in the log")

// Fold computes a case from its events, in any order and with duplicates.
// It sorts a copy by clock then id (event.Less), applies each event id once,
// and lists events that do not fit in Case.Rejected instead of failing: the
// log is the record, and a late event must never stop a case from loading.
// Any permutation of the same events gives an identical Case.
func Fold(events []event.Event) (Case, error) {
	sorted := slices.Clone(events)
	slices.SortFunc(sorted, compare)
	var c Case
	seen := make(map[string]int, len(sorted)) // id → index of its first event
	for i := range sorted {
		e := &sorted[i]
		if first, ok := seen[e.ID]; ok {
			// The same event received twice is normal (resends); two different
			// events with one id is corruption or forgery, and staff should see it.
			if compare(sorted[first], *e) != 0 {
				c.Rejected = append(c.Rejected, rejection(e, &Error{
					Code: DuplicateID, State: c.State, Type: e.Type, EventID: e.ID,
					Message: "another, different event already has this id",
				}))
			}
			continue
		}
		seen[e.ID] = i
		if err := Apply(&c, *e); err != nil {
			c.Rejected = append(c.Rejected, rejection(e, err))
		}
	}
	if c.State == None {
		return Case{}, ErrNotFiled
	}
	return c, nil
}

func rejection(e *event.Event, err error) Rejection {
	r := Rejection{EventID: e.ID, Type: e.Type, Actor: e.Actor, At: e.At, Reason: err.Error()}
	if le, ok := errors.AsType[*Error](err); ok {
		r.Code, r.Reason = le.Code, le.Message
	}
	return r
}

// compare is a total order on events: event.Less first, then every other
// field, so that even two different events sharing a clock and an id sort the
// same way on every node and Fold stays deterministic.
func compare(a, b event.Event) int {
	return cmp.Or(
		cmp.Compare(a.At, b.At),
		strings.Compare(a.ID, b.ID),
		strings.Compare(string(a.Type), string(b.Type)),
		strings.Compare(a.ComplaintID, b.ComplaintID),
		strings.Compare(a.Branch, b.Branch),
		strings.Compare(string(a.Actor.Kind), string(b.Actor.Kind)),
		strings.Compare(a.Actor.ID, b.Actor.ID),
		bytes.Compare(a.Data, b.Data),
	)
}

// Apply applies one event to c, for a node that is acting now or receiving
// events in order. On error c is unchanged and the error is an *Error: the
// event is not allowed in c's state, its data is invalid, it belongs to
// another complaint, or it does not sort after the last event applied (a late
// arrival: Fold the whole log instead, since later events may depend on it).
func Apply(c *Case, e event.Event) error {
	fail := func(code Code, msg string) error {
		return &Error{Code: code, State: c.State, Type: e.Type, EventID: e.ID, Message: msg}
	}
	if e.ID == "" {
		return fail(InvalidData, "the event has no id")
	}
	if c.LastEventID != "" && !event.Less(&event.Event{At: c.LastEventAt, ID: c.LastEventID}, &e) {
		return fail(OutOfOrder, "the event is not newer than the last one applied; the whole log must be folded again")
	}
	if c.State != None && e.ComplaintID != c.ID {
		return fail(OtherComplaint, "the event belongs to another complaint")
	}
	to, ok := next(c.State, e.Type)
	if !ok {
		return &Error{Code: NotAllowed, State: c.State, Type: e.Type, EventID: e.ID, Message: refusal(c.State, e.Type)}
	}

	n := *c // changes go to a copy, so a bad payload leaves c as it was
	switch e.Type {
	case event.Filed:
		cp, err := e.Complaint()
		if err != nil {
			return fail(InvalidData, "the filed complaint could not be read")
		}
		// The complaint is not re-validated: it was validated when filed, and
		// limits that change later must not make old complaints disappear.
		if cp.ID == "" || cp.ID != e.ComplaintID {
			return fail(InvalidData, "the filed complaint's id does not match the event")
		}
		n.ID, n.Code, n.Branch, n.Category = cp.ID, cp.Code, cp.Branch, cp.Category
		n.Complaint = cp
		n.FiledAt = e.At
	case event.Acknowledged:
		n.AcknowledgedAt = e.At
	case event.Assessed:
		var a event.Assessment
		if err := decode(e.Data, &a, false); err != nil {
			return fail(InvalidData, "the assessment could not be read")
		}
		if err := a.Validate(); err != nil {
			return fail(InvalidData, err.Error())
		}
		n.Severity, n.Priority = a.Severity, a.Priority
		if a.Category != "" {
			n.Category = a.Category
		}
	case event.Assigned:
		var a event.Assignment
		if err := decode(e.Data, &a, false); err != nil {
			return fail(InvalidData, "the assignment could not be read")
		}
		if err := a.Validate(); err != nil {
			return fail(InvalidData, err.Error())
		}
		n.Queue = a.Queue
	case event.InfoRequested:
		if !n.WaitingOnCustomer {
			n.WaitingOnCustomer, n.WaitingSince = true, e.At
		}
	case event.InfoProvided:
		n.WaitingOnCustomer, n.WaitingSince = false, 0
	case event.Escalated:
		var esc event.Escalation
		if err := decode(e.Data, &esc, true); err != nil {
			return fail(InvalidData, "the escalation could not be read")
		}
		if err := esc.Validate(); err != nil {
			return fail(InvalidData, err.Error())
		}
		level := esc.Level
		if level == 0 {
			level = n.EscalationLevel + 1
		}
		n.Escalated = true
		n.EscalationLevel = max(n.EscalationLevel, level)
	case event.Responded:
		var d event.Decision
		if err := decode(e.Data, &d, true); err != nil {
			return fail(InvalidData, "the decision could not be read")
		}
		if n.RespondedAt == 0 {
			n.RespondedAt = e.At
		}
		n.AnsweredAt = e.At
		n.AnswerBy = e.At.Time().Add(DefaultAcceptWithin)
		if !d.AnswerBy.IsZero() {
			n.AnswerBy = d.AnswerBy.UTC()
		}
		// A decision answers any open question to the customer.
		n.WaitingOnCustomer, n.WaitingSince = false, 0
	case event.Closed:
		var cl event.Closure
		if err := decode(e.Data, &cl, true); err != nil {
			return fail(InvalidData, "the closure could not be read")
		}
		if c.State == Responded && e.At.Time().Before(c.AnswerBy) && e.Actor.Kind != event.ActorCustomer &&
			(cl.CustomerAccepted == nil || !*cl.CustomerAccepted) {
			// The customer's recourse stays open until AnswerBy: only
			// their own answer, or their acceptance recorded by staff,
			// closes the case before.
			return fail(NotAllowed, "the customer has until "+c.AnswerBy.UTC().Format("2 Jan 2006 15:04 MST")+
				" to accept the decision or say they are not satisfied; close it before only with their acceptance")
		}
		if cl.RootCause != "" {
			if err := rootcause.Validate(cl.RootCause); err != nil {
				return fail(InvalidData, err.Error())
			}
			n.RootCause = cl.RootCause
		}
		n.ClosedAt, n.AnswerBy = e.At, time.Time{}
		n.CustomerAccepted = nil
		if cl.CustomerAccepted != nil {
			accepted := *cl.CustomerAccepted
			n.CustomerAccepted = &accepted
		}
		n.WaitingOnCustomer, n.WaitingSince = false, 0
	case event.Reopened:
		n.ReopenCount++
		n.ReopenedAt = e.At
		n.ClosedAt, n.CustomerAccepted = 0, nil
	case event.SatisfactionRated:
		var r event.Rating
		if err := decode(e.Data, &r, false); err != nil {
			return fail(InvalidData, "the rating could not be read")
		}
		if err := r.Validate(); err != nil {
			return fail(InvalidData, err.Error())
		}
		n.Rating = &r
	case event.RootCauseSet:
		var t event.Text
		if err := decode(e.Data, &t, false); err != nil {
			return fail(InvalidData, "the root cause could not be read")
		}
		if strings.TrimSpace(t.Text) == "" {
			return fail(InvalidData, "a root cause needs a description")
		}
		n.RootCause = t.Text
	case event.Redacted:
		var r event.Redaction
		if err := decode(e.Data, &r, false); err != nil {
			return fail(InvalidData, "the redaction could not be read")
		}
		if n.Redaction == nil {
			n.Redaction = &r
		}
		// The copy the fold holds goes too: the case's folded complaint
		// is what staff screens and the tracking page read.
		n.Complaint = redact.Complaint(n.Complaint)
	}
	n.State = to
	n.LastEventAt, n.LastEventID = e.At, e.ID
	*c = n
	return nil
}

// decode reads an event payload. Optional payloads may be absent: events
// written before a payload gained fields, or by a caller with nothing to say.
func decode(data json.RawMessage, v any, optional bool) error {
	if len(data) == 0 && optional {
		return nil
	}
	return json.Unmarshal(data, v)
}
