package staffui_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
)

// TestEveryActionThroughTheKeys works one case from receipt to closure
// and back with the keys alone, as a supervisor, and checks each event the
// store holds afterwards: type, actor, branch and payload.
func TestEveryActionThroughTheKeys(t *testing.T) {
	e := newEnv(t)
	f := e.file("billing", "Charged twice for one coffee.", time.Now().Add(-2*time.Hour))
	acted := 0
	cfg := e.config()
	cfg.OnAct = func() { acted++ } // read after the UI has drawn the result
	k := start(t, cfg, 80, 24)
	k.signIn("sam", samPIN)
	k.openCase(string(f.Code))

	steps := []struct {
		key   rune
		name  string
		keys  func()
		typ   event.Type
		data  any // decoded into a value of the same type and compared; nil: no data
		state lifecycle.State
	}{
		{'a', "acknowledge", nil, event.Acknowledged, nil, lifecycle.Acknowledged},
		{'s', "assess", func() {
			k.press(tcell.KeyEnter, tcell.KeyDown, tcell.KeyDown, tcell.KeyEnter) // severity: high
			k.press(tcell.KeyTab, tcell.KeyEnter, tcell.KeyDown, tcell.KeyEnter)  // priority: 2
			k.press(tcell.KeyTab, tcell.KeyEnter, tcell.KeyDown, tcell.KeyEnter)  // category: the next one
		}, event.Assessed, event.Assessment{Severity: event.SeverityHigh, Priority: 2, Category: "products"}, lifecycle.Assessed},
		{'b', "begin investigation", nil, event.InvestigationBegan, nil, lifecycle.Investigating},
		{'n', "note", func() { k.typeText("Rang the customer.\nNo answer.") }, event.NoteAdded,
			event.Text{Text: "Rang the customer.\nNo answer."}, lifecycle.Investigating},
		{'m', "message", func() { k.typeText("We are on it.") }, event.MessageSent, event.Text{Text: "We are on it."}, lifecycle.Investigating},
		{'i', "request info", func() { k.typeText("Which card did you use?") }, event.InfoRequested,
			event.Text{Text: "Which card did you use?"}, lifecycle.Investigating},
		{'t', "reassign", func() { k.typeText("card-team") }, event.Assigned, event.Assignment{Queue: "card-team"}, lifecycle.Investigating},
		{'e', "escalate", func() { k.typeText("Third complaint this month.") }, event.Escalated,
			event.Escalation{Text: "Third complaint this month."}, lifecycle.Investigating},
		{'d', "decision", func() { k.typeText("Refund of 3.50 and an apology.") }, event.Responded,
			event.Text{Text: "Refund of 3.50 and an apology."}, lifecycle.Responded},
		{'c', "close", func() {
			k.press(tcell.KeyEnter, tcell.KeyDown, tcell.KeyEnter, tcell.KeyTab) // accepted: yes
			k.typeText("Customer happy.")
		}, event.Closed, event.Closure{CustomerAccepted: new(true), Text: "Customer happy."}, lifecycle.Closed},
		{'o', "reopen", func() { k.typeText("The refund never arrived.") }, event.Reopened,
			event.Text{Text: "The refund never arrived."}, lifecycle.Investigating},
		{'r', "root cause", func() { k.typeText("Card terminal double-submits on timeout.") }, event.RootCauseSet,
			event.Text{Text: "Card terminal double-submits on timeout."}, lifecycle.Investigating},
	}
	for i, step := range steps {
		k.typeText(string(step.key))
		k.waitTop("form")
		if step.keys != nil {
			step.keys()
		}
		k.press(tcell.KeyCtrlS)
		k.waitText("Recorded: " + step.name + " on case")
		k.waitTop("case")

		d := e.detail(f.Complaint.ID)
		if got, want := len(d.Events), i+2; got != want {
			t.Fatalf("%s: %d events, want %d", step.name, got, want)
		}
		ev := d.Events[len(d.Events)-1]
		if ev.Type != step.typ || ev.Actor != (event.Actor{Kind: event.ActorStaff, ID: "sam"}) || ev.Branch != branch {
			t.Errorf("%s: event %s by %+v in %q", step.name, ev.Type, ev.Actor, ev.Branch)
		}
		if step.data == nil {
			if len(ev.Data) != 0 {
				t.Errorf("%s: data %s, want none", step.name, ev.Data)
			}
		} else {
			got := reflect.New(reflect.TypeOf(step.data))
			if err := json.Unmarshal(ev.Data, got.Interface()); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			if !reflect.DeepEqual(got.Elem().Interface(), step.data) {
				t.Errorf("%s: data %s, want %+v", step.name, ev.Data, step.data)
			}
		}
		if d.Case.State != step.state || len(d.Case.Rejected) != 0 {
			t.Errorf("%s: state %s, rejected %v", step.name, d.Case.State, d.Case.Rejected)
		}
		if !d.Unsynced[ev.ID] {
			t.Errorf("%s: not waiting in the outbox", step.name)
		}
	}
	var calls int
	k.app.QueueUpdate(func() { calls = acted })
	if calls != len(steps) {
		t.Errorf("OnAct called %d times, want %d", calls, len(steps))
	}
	s := k.waitText("Card terminal double-submits")
	if !strings.Contains(s, "INVESTIGATING") {
		t.Errorf("case screen not refreshed:\n%s", s)
	}
}

// TestForbiddenHotkeySaysWhy: a key of an action that is not offered says
// why, and opens nothing.
func TestForbiddenHotkeySaysWhy(t *testing.T) {
	e := newEnv(t)
	closed := e.file("billing", "Closed case.", time.Now().Add(-3*time.Hour))
	for _, step := range []struct {
		typ  event.Type
		data any
	}{
		{event.Acknowledged, nil}, {event.Assessed, event.Assessment{Severity: event.SeverityLow, Priority: 4}},
		{event.Responded, event.Text{Text: "No fault found."}}, {event.Closed, event.Closure{CustomerAccepted: new(true)}},
	} {
		e.act(closed.Complaint.ID, step.typ, "sam", step.data)
	}
	fresh := e.file("billing", "Fresh case.", time.Now().Add(-time.Hour))

	k := start(t, e.config(), 80, 24)
	k.signIn("ann", annPIN) // an agent
	k.openCase(string(fresh.Code))
	k.typeText("d")
	k.waitSaid("Record the decision and remedy: not now, a response can only be recorded after assessment")
	if k.top() != "case" {
		t.Errorf("a form opened: %s", k.top())
	}
	k.press(tcell.KeyEsc)
	k.waitTop("queue")
	k.typeText("x")
	k.openCase(string(closed.Code))
	k.typeText("o")
	k.waitSaid("Reopen the closed case: not now, only a supervisor may do this.")
	k.typeText("a")
	k.waitSaid("Acknowledge receipt to the customer: not now, the case is closed; it must be reopened first.")
	if k.top() != "case" {
		t.Errorf("a form opened: %s", k.top())
	}
	// The case screen lists what may be done, and the help says why not.
	s := k.screen()
	if l, _ := line(s, "Actions:"); !strings.Contains(l, "n note") || strings.Contains(l, "reopen") {
		t.Errorf("actions line %q", l)
	}
	k.typeText("?")
	k.waitText("Keys on the case screen")
	k.press(tcell.KeyEnd)
	k.waitText("Reopen the closed case (not now: only a")
}

// TestStoreRefusalKeepsTheForm: when another terminal's action wins while
// a form is open, the store refuses, the form says why plainly and keeps
// what was typed.
func TestStoreRefusalKeepsTheForm(t *testing.T) {
	e := newEnv(t)
	f := e.file("billing", "Charged twice.", time.Now().Add(-time.Hour))
	e.act(f.Complaint.ID, event.Acknowledged, "sam", nil)
	e.act(f.Complaint.ID, event.Assessed, "sam", event.Assessment{Severity: event.SeverityLow, Priority: 3})
	k := start(t, e.config(), 80, 24)
	k.signIn("ann", annPIN)
	k.openCase(string(f.Code))
	k.typeText("d")
	k.waitTop("form")
	k.typeText("Refund of 3.50 to the card.")
	k.waitText("Refund of 3.50 to the card.")
	// Meanwhile bob records the decision on another terminal.
	e.remote(staffEvent(f.Complaint.ID, event.Responded, "bob", e.clock.Now(), event.Text{Text: "No fault."}))
	k.press(tcell.KeyCtrlS)
	s := k.waitSaid("Not recorded: a response can only be recorded after assessment")
	if !strings.Contains(s, "Refund of 3.50 to the card.") || k.top() != "form" {
		t.Errorf("the form or its text is gone (%s):\n%s", k.top(), s)
	}
	if d := e.detail(f.Complaint.ID); len(d.Events) != 4 {
		t.Errorf("%d events stored, want 4 (nothing of ann's)", len(d.Events))
	}
	k.press(tcell.KeyEsc)
	k.waitText("Cancelled: nothing was recorded.")
	k.waitTop("case")
}

// TestCloseWaitsForTheCustomer (ISO 10002 8.9): once the decision is
// recorded, the case screen says until when the customer may answer, and
// closing before then without their acceptance is refused with that date,
// what was typed kept.
func TestCloseWaitsForTheCustomer(t *testing.T) {
	e := newEnv(t)
	f := e.file("billing", "Charged twice for one coffee.", time.Now().Add(-2*time.Hour))
	e.act(f.Complaint.ID, event.Acknowledged, "sam", nil)
	e.act(f.Complaint.ID, event.Assessed, "sam", event.Assessment{Severity: event.SeverityLow, Priority: 3})
	k := start(t, e.config(), 80, 24)
	k.signIn("ann", annPIN)
	k.openCase(string(f.Code))
	k.typeText("d")
	k.waitTop("form")
	k.typeText("Refund of 3.50.")
	k.press(tcell.KeyCtrlS)
	k.waitText("Recorded: decision on case")
	k.waitTop("case")

	d := e.detail(f.Complaint.ID)
	ev := d.Events[len(d.Events)-1]
	var dec event.Decision
	if err := json.Unmarshal(ev.Data, &dec); err != nil || !dec.AnswerBy.Equal(ev.At.Time().Add(sla.DefaultAcceptWithin)) {
		t.Fatalf("decision %+v (%v): want AnswerBy 14 days after it", dec, err)
	}
	k.waitSaid("the customer may accept or say not satisfied until")

	k.typeText("c")
	k.waitTop("form")
	k.press(tcell.KeyTab) // accepted: not said
	k.typeText("Closing.")
	k.press(tcell.KeyCtrlS)
	k.waitSaid("Not recorded: the customer has until", "What you typed is kept")
	if got := e.detail(f.Complaint.ID).Case.State; got != lifecycle.Responded {
		t.Errorf("state %s after a refused close, want responded", got)
	}
}
