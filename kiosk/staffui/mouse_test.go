package staffui_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"ombud/kiosk/staffui"
)

// click presses and releases the left button on the first rune of text.
func (k *term) click(text string) {
	k.t.Helper()
	s := k.waitText(text)
	l, y := line(s, text)
	x := len([]rune(l[:strings.Index(l, text)]))
	k.sim.InjectMouse(x, y, tcell.Button1, tcell.ModNone)
	k.sim.InjectMouse(x, y, tcell.ButtonNone, tcell.ModNone)
}

// TestMouse: a click selects a row, a double click opens it; clicks on an
// overlay never reach the screen under it.
func TestMouse(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	first := e.file("billing", "First.", now.Add(-2*time.Hour))
	second := e.file("billing", "Second.", now.Add(-time.Hour))
	k := start(t, e.config(), 80, 24)
	k.signIn("ann", annPIN)
	k.click(second.Code.String())
	k.waitFor("second selected", func(string) bool { return k.selected() == second.Complaint.ID })
	k.click(first.Code.String())
	k.click(first.Code.String())
	k.waitTop("case")
	k.waitText("First.")

	// A form over the case: a click on its empty part leaves the focus in
	// the form, so typing still goes to the note.
	k.typeText("n")
	k.waitTop("form")
	k.click("Internal:")
	k.typeText("typed after a click")
	k.waitText("typed after a click")
	k.press(tcell.KeyCtrlS)
	k.waitText("Recorded: note")
}

// TestQuitKey: Ctrl-Q stops the program only when the operator allows it.
func TestQuitKey(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.OperatorQuit = false
	k := start(t, cfg, 80, 24)
	k.press(tcell.KeyCtrlQ, tcell.KeyCtrlC)
	k.typeText("ann")
	k.waitText("Staff id ann") // still running, and the keys after it arrive
	if strings.Contains(k.screen(), "Ctrl-Q") {
		t.Error("Ctrl-Q offered although quitting is off")
	}

	cfg.OperatorQuit = true
	k = start(t, cfg, 80, 24)
	k.press(tcell.KeyCtrlQ)
	select {
	case err := <-k.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		k.done <- nil // for the cleanup
	case <-time.After(waitLimit):
		t.Fatal("Ctrl-Q did not stop the program")
	}
}

// TestInert: trusted labels shown by tview widgets that read style tags
// print as themselves and link nowhere.
func TestInert(t *testing.T) {
	for _, in := range []string{"Billing [red]and[-] charges", "[::b]bold", "a[:::https://evil.example]b", `["region"]x`, "plain"} {
		got := staffui.Inert(in)
		if w, want := tview.TaggedStringWidth(got), len([]rune(in)); w != want && !strings.Contains(got, "\uff3b") {
			t.Errorf("%q: escaped %q is %d wide, want %d", in, got, w, want)
		}
		if strings.Contains(in, ":::") && !strings.Contains(got, "\uff3b:::") {
			t.Errorf("%q: URL tag kept live: %q", in, got)
		}
	}
}
