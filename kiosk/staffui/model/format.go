package model

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"ombud/kiosk/store/cases"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
	"ombud/shared/textsafe"
	"ombud/shared/trackcode"
)

// Markers in the queue's flag column. They are characters, not only
// colours, so they read on a monochrome terminal and to a colour-blind
// person; the legend under the table explains them.
const (
	MarkOverdue   = "!"
	MarkEscalated = "E"
	MarkUnsynced  = "↑"
	MarkRefused   = "✗"
)

// Legend explains the flag column.
const Legend = MarkOverdue + " overdue  " + MarkEscalated + " escalated  " +
	MarkUnsynced + " not sent yet  " + MarkRefused + " an action was not applied"

// NoDate is shown where nothing is due.
const NoDate = "—"

// RowView is one queue row as text, each field one line of plain text
// (customer text cleaned with textsafe.Line).
type RowView struct {
	Due      string // "12 May 23:59", "waiting" (on the customer), or NoDate
	Overdue  bool
	Flags    string // fixed width: overdue, escalated, unsynced, refused
	Code     string // grouped for reading aloud: "K7QM-4XRT-9B2C"
	State    string
	Priority string // "P1".."P4", "" before assessment
	Category string
	Queue    string
	Summary  string
}

// DueLayout is how dates are shown in the queue: day, month and time,
// twelve columns, in the branch's zone.
const DueLayout = "02 Jan 15:04"

// ViewRow formats a queue row at now; dates in loc.
func ViewRow(r cases.Row, now time.Time, loc *time.Location) RowView {
	v := RowView{
		Due:      NoDate,
		Overdue:  r.Overdue(now),
		Code:     displayCode(r.Code),
		State:    string(r.State),
		Category: textsafe.Line(r.Category),
		Queue:    textsafe.Line(r.Queue),
		Summary:  textsafe.Line(r.Summary),
	}
	switch {
	case !r.DueAt.IsZero():
		v.Due = r.DueAt.In(loc).Format(DueLayout)
	case r.Waiting:
		v.Due = "waiting"
	}
	if r.Priority > 0 {
		v.Priority = "P" + strconv.Itoa(r.Priority)
	}
	flag := func(on bool, mark string) string {
		if on {
			return mark
		}
		return " "
	}
	v.Flags = flag(v.Overdue, MarkOverdue) + flag(r.Escalated, MarkEscalated) +
		flag(r.Unsynced > 0, MarkUnsynced) + flag(r.Refused > 0, MarkRefused)
	return v
}

// displayCode groups a tracking code for reading aloud; anything that is
// not a valid code is shown cleaned, as it is.
func displayCode(code string) string {
	c, err := trackcode.Parse(code)
	if err != nil {
		return textsafe.Line(code)
	}
	return c.String()
}

// DisplayCode is displayCode for the screens.
func DisplayCode(code string) string { return displayCode(code) }

// CountsLine is the per-state counts, shortened to fit width columns:
// "received 3  acknowledged 1 ..." or "rcv 3  ack 1 ...".
func CountsLine(counts map[lifecycle.State]int, width int) string {
	short := map[lifecycle.State]string{
		lifecycle.Received: "rcv", lifecycle.Acknowledged: "ack", lifecycle.Assessed: "asd",
		lifecycle.Investigating: "inv", lifecycle.Responded: "rsp", lifecycle.Closed: "cls",
	}
	build := func(long bool) string {
		parts := make([]string, 0, len(lifecycle.States()))
		for _, s := range lifecycle.States() {
			name := string(s)
			if !long {
				name = short[s]
			}
			parts = append(parts, fmt.Sprintf("%s %d", name, counts[s]))
		}
		return strings.Join(parts, "  ")
	}
	if l := build(true); len([]rune(l)) <= width {
		return l
	}
	return build(false)
}

// StepName is what a deadline is for.
func StepName(s sla.Step) string {
	switch s {
	case sla.StepAcknowledge:
		return "acknowledge"
	case sla.StepRespond:
		return "respond (decision)"
	}
	return string(s)
}

// Deadline is the case screen's deadline line, e.g.
// "Next: acknowledge by Tue 12 May 23:59 — OVERDUE".
func Deadline(step sla.Step, due time.Time, waiting bool, now time.Time, loc *time.Location) (text string, overdue bool) {
	switch {
	case waiting && due.IsZero():
		return "Next: nothing due: waiting on the customer (the deadline is paused)", false
	case step == sla.StepNone || due.IsZero():
		return "Next: nothing due", false
	case step == sla.StepClose:
		// Not a deadline of ours: the customer's time to answer. Closing
		// before it takes their acceptance (the lifecycle refuses else).
		return "Next: the customer may accept or say not satisfied until " + due.In(loc).Format("Mon 02 Jan 2006 15:04") +
			"; then the case closes by itself", false
	}
	text = "Next: " + StepName(step) + " by " + due.In(loc).Format("Mon 02 Jan 2006 15:04")
	if now.After(due) {
		return text + " — OVERDUE", true
	}
	return text, false
}

// Entry is one line of the case timeline.
type Entry struct {
	EventID string
	At      time.Time
	Type    event.Type
	What    string // "Assessed: severity high, priority 2"
	Public  bool   // the customer sees it on the tracking page
	Actor   string // "staff ann", "customer", "device 0196…", "system"
	Text    string // the event's text (cleaned, may hold new lines)
	// Unsynced: this device recorded it and the server has not
	// acknowledged it. Quarantined: the server refused it, and why.
	// NotApplied: the fold did not apply it, and why.
	Unsynced    bool
	Quarantined string
	NotApplied  string
}

// Visibility is "public" or "internal".
func (e Entry) Visibility() string {
	if e.Public {
		return "public"
	}
	return "internal"
}

// Timeline lists a case's events oldest first, as the case screen shows
// them. Every text is cleaned: events arrive from other devices and the
// server, and a staff terminal must not be steered by what they carry.
func Timeline(d cases.Detail) []Entry {
	notApplied := make(map[string]string, len(d.Case.Rejected))
	for _, r := range d.Case.Rejected {
		notApplied[r.EventID] = textsafe.Line(r.Reason)
	}
	out := make([]Entry, 0, len(d.Events))
	for _, e := range d.Events {
		what, text := describe(e)
		out = append(out, Entry{
			EventID:     e.ID,
			At:          e.At.Time(),
			Type:        e.Type,
			What:        what,
			Public:      lifecycle.Public(e.Type),
			Actor:       ActorName(e.Actor),
			Text:        text,
			Unsynced:    d.Unsynced[e.ID],
			Quarantined: textsafe.Line(d.Quarantined[e.ID]),
			NotApplied:  notApplied[e.ID],
		})
	}
	return out
}

// ActorName says who acted, in a few words.
func ActorName(a event.Actor) string {
	id := textsafe.Line(a.ID)
	switch a.Kind {
	case event.ActorCustomer:
		return "customer"
	case event.ActorSystem:
		if id != "" {
			return "system " + id
		}
		return "system"
	case "":
		return "unknown"
	}
	if id == "" {
		return textsafe.Line(string(a.Kind))
	}
	if a.Kind == event.ActorDevice && len([]rune(id)) > 13 {
		id = string([]rune(id)[:8]) + "…" // a device's UUID: the start tells devices apart
	}
	return textsafe.Line(string(a.Kind)) + " " + id
}

// TypeName is an event type in words.
func TypeName(t event.Type) string {
	switch t {
	case event.Filed:
		return "Filed"
	case event.Acknowledged:
		return "Acknowledged"
	case event.Assessed:
		return "Assessed"
	case event.Assigned:
		return "Assigned"
	case event.InvestigationBegan:
		return "Investigation began"
	case event.NoteAdded:
		return "Note"
	case event.MessageSent:
		return "Message to the customer"
	case event.InfoRequested:
		return "Information requested"
	case event.InfoProvided:
		return "Information from the customer"
	case event.Escalated:
		return "Escalated"
	case event.Responded:
		return "Decision and remedy"
	case event.Closed:
		return "Closed"
	case event.Reopened:
		return "Reopened"
	case event.SatisfactionRated:
		return "Satisfaction rated"
	case event.RootCauseSet:
		return "Root cause"
	}
	return textsafe.Line(string(t))
}

// describe is an event's one-line summary and its text, from its payload.
// A payload that does not decode is said to be unreadable, not hidden.
func describe(e event.Event) (what, text string) {
	what = TypeName(e.Type)
	bad := func() (string, string) { return what + " (the details could not be read)", "" }
	switch e.Type {
	case event.Filed:
		c, err := e.Complaint()
		if err != nil {
			return bad()
		}
		return what + " via " + textsafe.Line(string(c.Channel)), ""
	case event.Acknowledged, event.InvestigationBegan:
		return what, ""
	case event.Assessed:
		var a event.Assessment
		if json.Unmarshal(e.Data, &a) != nil {
			return bad()
		}
		what = fmt.Sprintf("%s: severity %s, priority %d", what, textsafe.Line(string(a.Severity)), a.Priority)
		if a.Category != "" {
			what += ", category " + textsafe.Line(a.Category)
		}
		return what, ""
	case event.Assigned:
		var a event.Assignment
		if json.Unmarshal(e.Data, &a) != nil {
			return bad()
		}
		what += " to queue " + textsafe.Line(a.Queue)
		if a.Rule != "" {
			what += " (rule " + textsafe.Line(a.Rule) + ")"
		}
		return what, ""
	case event.Escalated:
		var x event.Escalation
		if len(e.Data) > 0 && json.Unmarshal(e.Data, &x) != nil {
			return bad()
		}
		if x.Level > 0 {
			what += fmt.Sprintf(" to level %d", x.Level)
		}
		return what, clean(x.Text)
	case event.Closed:
		var c event.Closure
		if len(e.Data) > 0 && json.Unmarshal(e.Data, &c) != nil {
			return bad()
		}
		switch {
		case c.CustomerAccepted == nil:
			what += ": customer's acceptance not recorded"
		case *c.CustomerAccepted:
			what += ": the customer accepted"
		default:
			what += ": the customer did not accept"
		}
		return what, clean(c.Text)
	case event.SatisfactionRated:
		var r event.Rating
		if json.Unmarshal(e.Data, &r) != nil {
			return bad()
		}
		return fmt.Sprintf("%s: %d of %d stars", what, r.Stars, event.MaxStars), clean(r.Comment)
	}
	if len(e.Data) == 0 {
		return what, ""
	}
	var t event.Text
	if json.Unmarshal(e.Data, &t) != nil {
		return bad()
	}
	return what, clean(t.Text)
}

func clean(s string) string { return strings.TrimSpace(textsafe.Clean(s)) }

// Notices remembers which refused actions each person has been told of, so
// each is shown once per run of the program (a restart shows them again,
// which errs on the side of telling).
type Notices struct {
	seen map[string]map[string]bool // staff id -> rejected event id
}

// Unseen returns the refusals in rs that actor has not been shown, and
// marks them shown.
func (n *Notices) Unseen(actor string, rs []cases.RefusedAction) []cases.RefusedAction {
	if n.seen == nil {
		n.seen = map[string]map[string]bool{}
	}
	seen := n.seen[actor]
	if seen == nil {
		seen = map[string]bool{}
		n.seen[actor] = seen
	}
	var out []cases.RefusedAction
	for _, r := range rs {
		if !seen[r.Rejection.EventID] {
			seen[r.Rejection.EventID] = true
			out = append(out, r)
		}
	}
	return out
}

// NoticeText tells a person that their action was not applied.
func NoticeText(r cases.RefusedAction) string {
	name := string(r.Rejection.Type)
	if a, ok := ActionFor(r.Rejection.Type); ok {
		name = a.Name
	}
	return fmt.Sprintf("Your action %q on case %s was not applied: %s", textsafe.Line(name),
		displayCode(r.Code), textsafe.Line(r.Rejection.Reason))
}
