package staffui_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/shared/event"
	"ombud/shared/hlc"
)

// TestQueueOrderAndOverdue: cases are listed by their next deadline, and an
// overdue one is marked with a character as well as a colour.
func TestQueueOrderAndOverdue(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	newest := e.file("billing", "Filed today.", now)
	late := e.file("billing", "Filed a month ago.", now.AddDate(0, 0, -30))
	middle := e.file("billing", "Filed yesterday.", now.AddDate(0, 0, -1))
	k := start(t, e.config(), 80, 24)
	k.signIn("ann", annPIN)
	s := k.waitText(newest.Code.String(), late.Code.String(), middle.Code.String(), "1 OVERDUE")

	_, yLate := line(s, late.Code.String())
	_, yMiddle := line(s, middle.Code.String())
	_, yNewest := line(s, newest.Code.String())
	if !(yLate < yMiddle && yMiddle < yNewest) {
		t.Errorf("rows late %d, middle %d, newest %d: want due first\n%s", yLate, yMiddle, yNewest, s)
	}
	lateRow, _ := line(s, late.Code.String())
	if !strings.Contains(lateRow[:strings.Index(lateRow, late.Code.String())], "!") {
		t.Errorf("overdue row has no ! marker: %q", lateRow)
	}
	for _, code := range []string{middle.Code.String(), newest.Code.String()} {
		if row, _ := line(s, code); strings.Contains(row[:strings.Index(row, code)], "!") {
			t.Errorf("row not overdue but marked: %q", row)
		}
	}
	// The marker is red too; the legend says what it means.
	cells, w, _ := k.cells()
	x := strings.Index(lateRow, "!")
	x = len([]rune(lateRow[:x]))
	if fg, _, _ := cells[yLate*w+x].Style.Decompose(); fg != tcell.ColorRed && fg != tcell.ColorMaroon {
		t.Errorf("overdue marker colour %v", fg)
	}
	if !strings.Contains(s, "! overdue") {
		t.Errorf("no legend:\n%s", s)
	}
	// The first row is selected; j moves down.
	if got := k.selected(); got != late.Complaint.ID {
		t.Errorf("selected %s, want the most urgent", got)
	}
	k.typeText("j")
	k.waitFor("selection on the middle case", func(string) bool { return k.selected() == middle.Complaint.ID })
}

// TestFilterAndSearch: / searches codes and words live; the filter form
// narrows by status, category and priority; x clears both.
func TestFilterAndSearch(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	refund := e.file("billing", "Please refund the double charge.", now.Add(-3*time.Hour))
	wait := e.file("waiting_time", "Forty minutes in the queue.", now.Add(-2*time.Hour))
	urgent := e.file("billing", "Card swallowed by the machine.", now.Add(-time.Hour))
	e.act(urgent.Complaint.ID, event.Acknowledged, "sam", nil)
	e.act(urgent.Complaint.ID, event.Assessed, "sam", event.Assessment{Severity: event.SeverityHigh, Priority: 1})
	k := start(t, e.config(), 100, 30)
	k.signIn("ann", annPIN)
	all := []string{refund.Code.String(), wait.Code.String(), urgent.Code.String()}
	k.waitText(all...)

	shows := func(what string, want ...string) {
		t.Helper()
		s := k.waitFor(what, func(s string) bool {
			for _, c := range all {
				if strings.Contains(s, c) != contains(want, c) {
					return false
				}
			}
			return true
		})
		_ = s
	}
	// Words, live as they are typed.
	k.typeText("/refund")
	shows("search by word", refund.Code.String())
	k.press(tcell.KeyEsc) // clears the search
	shows("search cleared", all...)
	// A code prefix, with its dash.
	k.typeText("/" + urgent.Code.String()[:6])
	k.press(tcell.KeyEnter)
	shows("search by code prefix", urgent.Code.String())
	k.waitText(`search "` + urgent.Code.String()[:6] + `"`)
	k.typeText("x")
	shows("cleared", all...)

	// The filter form: category "Waiting time" (the fifth), then priority 1.
	k.typeText("f")
	k.waitTop("form")
	k.press(tcell.KeyTab, tcell.KeyEnter, tcell.KeyDown, tcell.KeyDown, tcell.KeyDown, tcell.KeyDown, tcell.KeyDown, tcell.KeyEnter)
	k.press(tcell.KeyCtrlS)
	shows("category filter", wait.Code.String())
	k.waitText("category waiting_time")
	k.typeText("f")
	k.waitTop("form")
	k.press(tcell.KeyTab, tcell.KeyEnter, tcell.KeyHome, tcell.KeyEnter) // category: any
	k.press(tcell.KeyTab, tcell.KeyEnter, tcell.KeyDown, tcell.KeyEnter) // priority 1
	k.press(tcell.KeyCtrlS)
	shows("priority filter", urgent.Code.String())
	k.waitText("priority 1")
	k.typeText("x")
	shows("cleared again", all...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestLiveRefresh: events arriving from the server show at once, and the
// selection stays on the case it was on.
func TestLiveRefresh(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	first := e.file("billing", "First.", now.Add(-2*time.Hour))
	second := e.file("billing", "Second.", now.Add(-time.Hour))
	k := start(t, e.config(), 80, 24)
	k.signIn("ann", annPIN)
	k.waitText(first.Code.String(), second.Code.String())
	k.typeText("j")
	k.waitFor("second selected", func(string) bool { return k.selected() == second.Complaint.ID })

	// A case filed at another kiosk long ago: due first, so listed first.
	other := e.remoteFiled("Filed at the other kiosk.", now.AddDate(0, 0, -20))
	s := k.waitText(string(other.Code[:4]) + "-")
	if k.selected() != second.Complaint.ID || !k.rowSelected(second.Code.String()) {
		t.Errorf("selection moved to %s:\n%s", k.selected(), s)
	}
	if _, y := line(s, "Filed at the"); y < 0 {
		t.Errorf("new case not listed:\n%s", s)
	}

	// On the case screen, a note by someone else appears in the timeline.
	k.press(tcell.KeyEnter)
	k.waitTop("case")
	k.waitText(second.Code.String())
	e.remote(staffEvent(second.Complaint.ID, event.NoteAdded, "bob", e.clock.Now(), event.Text{Text: "Bob rang the card team."}))
	s = k.waitText("Note — staff bob", "Bob rang the card team.")
	if !strings.Contains(s, "internal") {
		t.Errorf("note not labelled internal:\n%s", s)
	}
	e.remote(staffEvent(second.Complaint.ID, event.Acknowledged, "bob", e.clock.Now(), nil))
	k.waitText("ACKNOWLEDGED")
	k.press(tcell.KeyEnd)
	k.waitText("Acknowledged — staff bob")
}

// TestUntrustedTextIsInert: escape sequences and tview style tags in a
// complaint reach the screen as nothing (escapes) or as themselves (tags):
// no colour, no link, nothing hidden.
func TestUntrustedTextIsInert(t *testing.T) {
	e := newEnv(t)
	desc := "Before \x1b[31mRED\x1b[0m [red]tag [:::https://evil.example]link [::b]bold\x1b]8;;https://x\x07click\x1b]8;;\x07 \x1b[2J end"
	c := e.remoteFiled(desc, time.Now().Add(-time.Hour))
	e.remote(staffEvent(c.ID, event.NoteAdded, "bob\x1b[31m", e.clock.Now(), event.Text{Text: "note [yellow]x\x1b[5m blink"}))
	k := start(t, e.config(), 120, 40)
	k.signIn("ann", annPIN)
	want := "Before RED [red]tag [:::https://evil.example]link [::b]boldclick  end"
	s := k.waitText("Before RED [red]tag [:::https://evil")
	if strings.Contains(s, "\x1b") {
		t.Errorf("an escape reached the screen:\n%q", s)
	}
	noStyle(k, "queue")

	k.press(tcell.KeyEnter)
	k.waitTop("case")
	s = k.waitText(want, "note [yellow]x blink", "staff bob")
	if strings.ContainsAny(s, "\x1b\x07") {
		t.Errorf("an escape reached the screen:\n%q", s)
	}
	noStyle(k, "case")
}

// noStyle fails if any cell on screen is a hyperlink, blinks, or is red
// where the screen draws no red (only overdue marks and errors are).
func noStyle(k *term, where string) {
	k.t.Helper()
	cells, _, _ := k.cells()
	for i, c := range cells {
		if c.Style != c.Style.Url("") {
			k.t.Fatalf("%s: cell %d (%q) is a hyperlink:\n%s", where, i, string(c.Runes), k.screen())
		}
		fg, _, attrs := c.Style.Decompose()
		if attrs&tcell.AttrBlink != 0 {
			k.t.Fatalf("%s: cell %d (%q) blinks", where, i, string(c.Runes))
		}
		if (fg == tcell.ColorRed || fg == tcell.ColorYellow && attrs&tcell.AttrBold == 0) && len(c.Runes) > 0 && c.Runes[0] != ' ' {
			k.t.Fatalf("%s: cell %d (%q) turned %v:\n%s", where, i, string(c.Runes), fg, k.screen())
		}
	}
}

// TestReopenedCaseHasADueDate: a case the customer reopened ("not
// satisfied") owes a new answer: it sorts by that date, above a case whose
// answer is due later, and its screen says when the answer is due.
func TestReopenedCaseHasADueDate(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	at := func(d time.Duration) hlc.Timestamp { return hlc.Make(now.Add(d).UnixMilli(), 0) }
	day := 24 * time.Hour
	fresh := e.file("billing", "Acknowledged today.", now.Add(-time.Hour))
	e.remote(staffEvent(fresh.Complaint.ID, event.Acknowledged, "bob", at(-time.Minute), nil))
	reopened := e.file("billing", "Reopened by the customer.", now.Add(-10*day))
	id := reopened.Complaint.ID
	e.remote(staffEvent(id, event.Acknowledged, "bob", at(-9*day), nil))
	e.remote(staffEvent(id, event.Assessed, "bob", at(-9*day+time.Minute), event.Assessment{Severity: event.SeverityLow, Priority: 3}))
	e.remote(staffEvent(id, event.Responded, "bob", at(-9*day+2*time.Minute), event.Text{Text: "No fault."}))
	byCustomer := func(ev event.Event) event.Event { ev.Actor = event.Actor{Kind: event.ActorCustomer}; return ev }
	no := false
	e.remote(byCustomer(staffEvent(id, event.Closed, "", at(-day), event.Closure{CustomerAccepted: &no})))
	e.remote(byCustomer(staffEvent(id, event.Reopened, "", at(-day+time.Millisecond), event.Text{Text: "Not satisfied."})))

	k := start(t, e.config(), 80, 24)
	k.signIn("ann", annPIN)
	s := k.waitText(fresh.Code.String(), reopened.Code.String())
	_, yFresh := line(s, fresh.Code.String())
	_, yReopened := line(s, reopened.Code.String())
	if yReopened > yFresh {
		t.Errorf("the reopened case (answer due from yesterday) sorts below the one acknowledged today:\n%s", s)
	}
	k.openCase(reopened.Code.String())
	k.waitSaid("Next: respond (decision) by")
}

// TestQueueAt80x24Readable: at 80 columns the queue shows the category's
// label (not its id) and the queue's name without "team:", both whole
// enough to read, and leaves the summary room.
func TestQueueAt80x24Readable(t *testing.T) {
	e := newEnv(t)
	f := e.file("waiting_time", "Waited forty minutes at the counter for a simple transfer.", time.Now().Add(-time.Hour))
	e.remote(staffEvent(f.Complaint.ID, event.Assigned, "bob", e.clock.Now(), event.Assignment{Queue: "team:escalations"}))
	g := e.file("billing", "Charged twice for one transfer.", time.Now().Add(-2*time.Hour))
	e.remote(staffEvent(g.Complaint.ID, event.Assigned, "bob", e.clock.Now(), event.Assignment{Queue: "branch:main"}))
	k := start(t, e.config(), 80, 24)
	k.signIn("ann", annPIN)
	s := k.waitText(f.Code.String(), g.Code.String())
	row, _ := line(s, f.Code.String())
	// The due column says the time of what is due today (the day
	// otherwise), so the summary has about 20 columns.
	for _, want := range []string{"Waiting time", "escalations", "Waited forty minute"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	for _, raw := range []string{"waiting_", "team:"} {
		if strings.Contains(row, raw) {
			t.Errorf("row %q shows the raw %q", row, raw)
		}
	}
	// A branch's own queue is named without "branch:" too.
	if row, _ := line(s, g.Code.String()); !strings.Contains(row, " main ") || strings.Contains(row, "branch:") {
		t.Errorf("row %q: want the branch queue as \"main\"", row)
	}
}
