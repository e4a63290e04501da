package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/lifecycle"
	"ombud/shared/rootcause"
	"ombud/shared/staff"
	"ombud/shared/textsafe"
	"ombud/shared/uid"
)

// Field is one input of an action's form.
type Field int

const (
	FieldText      Field = iota // the note, message, reason, decision...
	FieldSeverity               // assessment
	FieldPriority               // assessment, 1-4
	FieldCategory               // assessment: corrects the customer's choice
	FieldQueue                  // reassignment
	FieldAccepted               // closure: did the customer accept
	FieldRootCause              // closure: the root cause (package rootcause)
)

// CaseAction is something staff can record on a case: one event type, its
// hotkey on the case screen and the inputs its form asks for.
type CaseAction struct {
	Type  event.Type
	Key   rune
	Name  string // short, in lists: "note"
	Desc  string // in help and as the form's title: "Add an internal note"
	Input []Field
	// TextLabel names the text field; TextRequired refuses an empty one
	// (the fold itself refuses an empty root cause).
	TextLabel    string
	TextRequired bool
	// Public says the customer sees it on the tracking page: the form
	// warns so, since an internal note written as a message cannot be
	// taken back.
	Public bool
}

// caseActions is every action staff may record, in the order the case
// screen lists them. Filed, InfoProvided and SatisfactionRated are the
// customer's and are not here.
var caseActions = []CaseAction{
	{Type: event.Acknowledged, Key: 'a', Name: "acknowledge", Desc: "Acknowledge receipt to the customer"},
	{Type: event.Assessed, Key: 's', Name: "assess", Desc: "Assess: severity, priority, category",
		Input: []Field{FieldSeverity, FieldPriority, FieldCategory}},
	{Type: event.InvestigationBegan, Key: 'b', Name: "begin investigation", Desc: "Begin the investigation"},
	{Type: event.NoteAdded, Key: 'n', Name: "note", Desc: "Add an internal note (staff only)",
		Input: []Field{FieldText}, TextLabel: "Note", TextRequired: true},
	{Type: event.MessageSent, Key: 'm', Name: "message", Desc: "Send a message to the customer",
		Input: []Field{FieldText}, TextLabel: "Message", TextRequired: true},
	{Type: event.InfoRequested, Key: 'i', Name: "request info", Desc: "Ask the customer for information (pauses the deadline)",
		Input: []Field{FieldText}, TextLabel: "Question", TextRequired: true},
	{Type: event.Assigned, Key: 't', Name: "reassign", Desc: "Transfer to another queue",
		Input: []Field{FieldQueue}},
	{Type: event.Escalated, Key: 'e', Name: "escalate", Desc: "Escalate the case",
		Input: []Field{FieldText}, TextLabel: "Reason", TextRequired: true},
	{Type: event.Responded, Key: 'd', Name: "decision", Desc: "Record the decision and remedy",
		Input: []Field{FieldText}, TextLabel: "Decision", TextRequired: true},
	{Type: event.Closed, Key: 'c', Name: "close", Desc: "Close the case",
		Input: []Field{FieldAccepted, FieldText, FieldRootCause}, TextLabel: "Closing note"},
	{Type: event.Reopened, Key: 'o', Name: "reopen", Desc: "Reopen the closed case",
		Input: []Field{FieldText}, TextLabel: "Reason", TextRequired: true},
	{Type: event.RootCauseSet, Key: 'r', Name: "root cause", Desc: "Record the root cause",
		Input: []Field{FieldText}, TextLabel: "Root cause", TextRequired: true},
}

func init() {
	for i := range caseActions {
		caseActions[i].Public = lifecycle.Public(caseActions[i].Type)
	}
}

// CaseActions lists every staff action, offered or not.
func CaseActions() []CaseAction { return slices.Clone(caseActions) }

// ActionFor returns the staff action that records events of type t.
func ActionFor(t event.Type) (CaseAction, bool) {
	i := slices.IndexFunc(caseActions, func(a CaseAction) bool { return a.Type == t })
	if i < 0 {
		return CaseAction{}, false
	}
	return caseActions[i], true
}

// Offered lists the actions a person of role may take on a case in state
// s: those the lifecycle allows in s and the role may do.
func Offered(s lifecycle.State, role staff.Role) []CaseAction {
	var out []CaseAction
	allowed := lifecycle.Actions(s)
	for _, a := range caseActions {
		if slices.Contains(allowed, a.Type) && staff.Can(role, a.Type) {
			out = append(out, a)
		}
	}
	return out
}

// Refusal says in plain words why a person of role may not take action t
// on a case in state s, or "" when they may. The case's state is given
// first: when neither allows it, "the case is closed" is the more useful
// answer than "only a supervisor may".
//
// The lifecycle's and the roles' reasons are English sentences of their
// packages: tr gives a catalog's translation of them where it has one.
func Refusal(tr Tr, s lifecycle.State, role staff.Role, t event.Type) string {
	if _, ok := ActionFor(t); !ok {
		return tr("{type} is recorded by the customer, not by staff", "type", strconv.Quote(string(t)))
	}
	if err := lifecycle.Allowed(s, t); err != nil {
		if le, ok := errors.AsType[*lifecycle.Error](err); ok {
			return tr(le.Message)
		}
		return err.Error()
	}
	if why := staff.Why(role, t); why != "" {
		return tr(why)
	}
	return ""
}

// Acceptance is the closure's record of the customer's answer (8.9).
type Acceptance int

const (
	NotAsked Acceptance = iota // could not be reached, or did not say
	Accepted
	Declined // refused the outcome; recourse was offered
)

// Acceptances lists the choices in the order the form offers them.
func Acceptances() []Acceptance { return []Acceptance{NotAsked, Accepted, Declined} }

func (a Acceptance) String() string {
	switch a {
	case Accepted:
		return "yes, accepted"
	case Declined:
		return "no, declined (recourse offered)"
	}
	return "not asked / no answer"
}

// Severities lists the assessment's severities, least first.
func Severities() []event.Severity {
	return []event.Severity{event.SeverityLow, event.SeverityMedium, event.SeverityHigh, event.SeverityCritical}
}

// MaxText bounds what staff type into one action, in characters: a long
// decision fits; a pasted log file does not belong in a case.
const MaxText = 4000

// MaxQueue bounds a queue name.
const MaxQueue = 64

// Input is what an action's form holds.
type Input struct {
	Text     string
	Severity event.Severity
	Priority int
	Category string
	Queue    string
	Accepted Acceptance
	// RootCause is a code of the taxonomy; "" when not recorded.
	RootCause string
}

// InputError says which input is wrong, in words for the form.
type InputError struct {
	Field   Field
	Message string // in English
	// Key and Args are the message for a Tr, so the form says it in the
	// staff member's language.
	Key  string
	Args []any
}

func inputError(f Field, key string, args ...any) *InputError {
	return &InputError{Field: f, Message: Fill(key, args...), Key: key, Args: args}
}

// Text is the error in tr's language.
func (e *InputError) Text(tr Tr) string {
	if e.Key == "" {
		return e.Message
	}
	args := slices.Clone(e.Args)
	for i := 1; i < len(args); i += 2 {
		if s, ok := args[i].(string); ok && args[i-1] == "label" {
			args[i] = tr(s) // a field's label, a message of its own
		}
	}
	return tr(e.Key, args...)
}

func (e *InputError) Error() string { return e.Message }

// Payload checks in and encodes the event data of action a. Text is cleaned
// of control characters and escape sequences (staff text is shown on other
// terminals and, when public, on the tracking page) and trimmed.
func (a CaseAction) Payload(in Input) (json.RawMessage, error) {
	text := strings.TrimSpace(textsafe.Clean(in.Text))
	if slices.Contains(a.Input, FieldText) {
		if a.TextRequired && text == "" {
			return nil, inputError(FieldText, "{label}: please write something", "label", a.TextLabel)
		}
		if n := utf8.RuneCountInString(text); n > MaxText {
			return nil, inputError(FieldText, "{label}: at most {max} characters (now {count})", "label", a.TextLabel, "max", MaxText, "count", n)
		}
	}
	var v any
	switch a.Type {
	case event.Acknowledged, event.InvestigationBegan:
		return nil, nil
	case event.Assessed:
		as := event.Assessment{Severity: in.Severity, Priority: in.Priority,
			Category: strings.TrimSpace(textsafe.Line(in.Category))}
		if !slices.Contains(Severities(), as.Severity) {
			return nil, inputError(FieldSeverity, "Severity: choose low, medium, high or critical")
		}
		if as.Priority < event.PriorityHighest || as.Priority > event.PriorityLowest {
			return nil, inputError(FieldPriority, "Priority: choose {first} (most urgent) to {last}", "first", event.PriorityHighest, "last", event.PriorityLowest)
		}
		v = as
	case event.Assigned:
		q := strings.TrimSpace(textsafe.Line(in.Queue))
		switch {
		case q == "":
			return nil, inputError(FieldQueue, "Queue: name the queue to transfer the case to")
		case utf8.RuneCountInString(q) > MaxQueue:
			return nil, inputError(FieldQueue, "Queue: at most {max} characters", "max", MaxQueue)
		}
		v = event.Assignment{Queue: q}
	case event.Escalated:
		v = event.Escalation{Text: text}
	case event.Closed:
		cl := event.Closure{Text: text, RootCause: in.RootCause}
		if cl.RootCause != "" && rootcause.Validate(cl.RootCause) != nil {
			return nil, inputError(FieldRootCause, "Root cause: choose one from the list")
		}
		switch in.Accepted {
		case Accepted:
			cl.CustomerAccepted = new(true)
		case Declined:
			cl.CustomerAccepted = new(false)
		}
		v = cl
	default:
		v = event.Text{Text: text}
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", a.Type, err)
	}
	return data, nil
}

// Meta is who records an action, on which case, and when.
type Meta struct {
	ComplaintID string
	Branch      string // the complaint's branch
	Actor       string // the signed-in staff id
	At          hlc.Timestamp
	// AcceptWithin is the customer's time to answer a decision (the SLA
	// rules' sla.Config.AcceptWithin): a decision records AnswerBy =
	// At + AcceptWithin, until which only the customer's answer (or their
	// acceptance recorded here) closes the case. Zero: the lifecycle's
	// default.
	AcceptWithin time.Duration
}

// NewEvent builds the event that records action a with input in. Errors
// are *InputError for the form, or an encoding failure.
func NewEvent(a CaseAction, in Input, m Meta) (event.Event, error) {
	data, err := a.Payload(in)
	if err != nil {
		return event.Event{}, err
	}
	if a.Type == event.Responded && m.AcceptWithin > 0 {
		var t event.Text
		if err := json.Unmarshal(data, &t); err != nil {
			return event.Event{}, err
		}
		if data, err = json.Marshal(event.Decision{Text: t.Text, AnswerBy: m.At.Time().Add(m.AcceptWithin).UTC()}); err != nil {
			return event.Event{}, err
		}
	}
	return event.Event{
		ID:          uid.NewAt(m.At.Time()),
		ComplaintID: m.ComplaintID,
		Type:        a.Type,
		Actor:       event.Actor{Kind: event.ActorStaff, ID: m.Actor},
		At:          m.At,
		Branch:      m.Branch,
		Data:        data,
	}, nil
}
