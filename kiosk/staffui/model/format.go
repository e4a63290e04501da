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
func Legend(tr Tr) string {
	return MarkOverdue + " " + tr("overdue") + "  " + MarkEscalated + " " + tr("escalated") + "  " +
		MarkUnsynced + " " + tr("not sent yet") + "  " + MarkRefused + " " + tr("an action was not applied")
}

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
func ViewRow(tr Tr, r cases.Row, now time.Time, loc *time.Location) RowView {
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
		v.Due = Date(tr, r.DueAt.In(loc), DueLayout)
	case r.Waiting:
		v.Due = tr("waiting")
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
func CountsLine(tr Tr, counts map[lifecycle.State]int, width int) string {
	short := map[lifecycle.State]string{
		lifecycle.Received: tr("rcv"), lifecycle.Acknowledged: tr("ack"), lifecycle.Assessed: tr("asd"),
		lifecycle.Investigating: tr("inv"), lifecycle.Responded: tr("rsp"), lifecycle.Closed: tr("cls"),
	}
	build := func(long bool) string {
		parts := make([]string, 0, len(lifecycle.States()))
		for _, s := range lifecycle.States() {
			name := tr(string(s))
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
func StepName(tr Tr, s sla.Step) string {
	switch s {
	case sla.StepAcknowledge:
		return tr("acknowledge")
	case sla.StepRespond:
		return tr("respond (decision)")
	}
	return string(s)
}

// Deadline is the case screen's deadline line, e.g.
// "Next: acknowledge by Tue 12 May 23:59 — OVERDUE".
func Deadline(tr Tr, step sla.Step, due time.Time, waiting bool, now time.Time, loc *time.Location) (text string, overdue bool) {
	switch {
	case waiting && due.IsZero():
		return tr("Next: nothing due: waiting on the customer (the deadline is paused)"), false
	case step == sla.StepNone || due.IsZero():
		return tr("Next: nothing due"), false
	case step == sla.StepClose:
		// Not a deadline of ours: the customer's time to answer. Closing
		// before it takes their acceptance (the lifecycle refuses else).
		return tr("Next: the customer may accept or say not satisfied until {date}; then the case closes by itself",
			"date", Date(tr, due.In(loc), "Mon 02 Jan 2006 15:04")), false
	}
	text = tr("Next: {step} by {date}", "step", StepName(tr, step), "date", Date(tr, due.In(loc), "Mon 02 Jan 2006 15:04"))
	if now.After(due) {
		return text + " — " + tr("OVERDUE"), true
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
func Timeline(tr Tr, d cases.Detail) []Entry {
	notApplied := make(map[string]string, len(d.Case.Rejected))
	for _, r := range d.Case.Rejected {
		notApplied[r.EventID] = textsafe.Line(r.Reason)
	}
	out := make([]Entry, 0, len(d.Events))
	for _, e := range d.Events {
		what, text := describe(tr, e)
		out = append(out, Entry{
			EventID:     e.ID,
			At:          e.At.Time(),
			Type:        e.Type,
			What:        what,
			Public:      lifecycle.Public(e.Type),
			Actor:       ActorName(tr, e.Actor),
			Text:        text,
			Unsynced:    d.Unsynced[e.ID],
			Quarantined: textsafe.Line(d.Quarantined[e.ID]),
			NotApplied:  notApplied[e.ID],
		})
	}
	return out
}

// ActorName says who acted, in a few words.
func ActorName(tr Tr, a event.Actor) string {
	id := textsafe.Line(a.ID)
	switch a.Kind {
	case event.ActorCustomer:
		return tr("customer")
	case event.ActorSystem:
		if id != "" {
			return tr("system") + " " + id
		}
		return tr("system")
	case "":
		return tr("unknown")
	}
	if id == "" {
		return tr(textsafe.Line(string(a.Kind)))
	}
	if a.Kind == event.ActorDevice && len([]rune(id)) > 13 {
		id = string([]rune(id)[:8]) + "…" // a device's UUID: the start tells devices apart
	}
	return tr(textsafe.Line(string(a.Kind))) + " " + id
}

// TypeName is an event type in words.
func TypeName(tr Tr, t event.Type) string {
	switch t {
	case event.Filed:
		return tr("Filed")
	case event.Acknowledged:
		return tr("Acknowledged")
	case event.Assessed:
		return tr("Assessed")
	case event.Assigned:
		return tr("Assigned")
	case event.InvestigationBegan:
		return tr("Investigation began")
	case event.NoteAdded:
		return tr("Note")
	case event.MessageSent:
		return tr("Message to the customer")
	case event.InfoRequested:
		return tr("Information requested")
	case event.InfoProvided:
		return tr("Information from the customer")
	case event.Escalated:
		return tr("Escalated")
	case event.Responded:
		return tr("Decision and remedy")
	case event.Closed:
		return tr("Closed")
	case event.Reopened:
		return tr("Reopened")
	case event.SatisfactionRated:
		return tr("Satisfaction rated")
	case event.RootCauseSet:
		return tr("Root cause")
	}
	return textsafe.Line(string(t))
}

// describe is an event's one-line summary and its text, from its payload.
// A payload that does not decode is said to be unreadable, not hidden.
func describe(tr Tr, e event.Event) (what, text string) {
	what = TypeName(tr, e.Type)
	bad := func() (string, string) { return what + " " + tr("(the details could not be read)"), "" }
	switch e.Type {
	case event.Filed:
		c, err := e.Complaint()
		if err != nil {
			return bad()
		}
		return tr("{what} via {channel}", "what", what, "channel", tr(textsafe.Line(string(c.Channel)))), ""
	case event.Acknowledged, event.InvestigationBegan:
		return what, ""
	case event.Assessed:
		var a event.Assessment
		if json.Unmarshal(e.Data, &a) != nil {
			return bad()
		}
		what = tr("{what}: severity {severity}, priority {priority}", "what", what,
			"severity", tr(textsafe.Line(string(a.Severity))), "priority", a.Priority)
		if a.Category != "" {
			what += ", " + tr("category {category}", "category", textsafe.Line(a.Category))
		}
		return what, ""
	case event.Assigned:
		var a event.Assignment
		if json.Unmarshal(e.Data, &a) != nil {
			return bad()
		}
		what += " " + tr("to queue {queue}", "queue", textsafe.Line(a.Queue))
		if a.Rule != "" {
			what += " " + tr("(rule {rule})", "rule", textsafe.Line(a.Rule))
		}
		return what, ""
	case event.Escalated:
		var x event.Escalation
		if len(e.Data) > 0 && json.Unmarshal(e.Data, &x) != nil {
			return bad()
		}
		if x.Level > 0 {
			what += " " + tr("to level {level}", "level", x.Level)
		}
		return what, clean(x.Text)
	case event.Closed:
		var c event.Closure
		if len(e.Data) > 0 && json.Unmarshal(e.Data, &c) != nil {
			return bad()
		}
		switch {
		case c.CustomerAccepted == nil:
			what += ": " + tr("customer's acceptance not recorded")
		case *c.CustomerAccepted:
			what += ": " + tr("the customer accepted")
		default:
			what += ": " + tr("the customer did not accept")
		}
		return what, clean(c.Text)
	case event.SatisfactionRated:
		var r event.Rating
		if json.Unmarshal(e.Data, &r) != nil {
			return bad()
		}
		return tr("{what}: {stars} of {max} stars", "what", what, "stars", r.Stars, "max", event.MaxStars), clean(r.Comment)
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
func NoticeText(tr Tr, r cases.RefusedAction) string {
	name := string(r.Rejection.Type)
	if a, ok := ActionFor(r.Rejection.Type); ok {
		name = tr(a.Name)
	}
	return tr("Your action \"{action}\" on case {code} was not applied: {reason}", "action", textsafe.Line(name),
		"code", displayCode(r.Code), "reason", textsafe.Line(r.Rejection.Reason))
}
