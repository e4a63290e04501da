package tui_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/filing"
	"ombud/kiosk/printer"
	"ombud/kiosk/screentest"
	"ombud/kiosk/tui"
	"ombud/shared/complaint"
	"ombud/shared/trackcode"
)

const waitLimit = 10 * time.Second

// kiosk is a real App running on a simulation screen.
type kiosk struct {
	t    *testing.T
	app  *tui.App
	sim  tcell.SimulationScreen
	done chan error
}

// startKiosk runs the app at w x h. SetScreen (inside Run) resets the
// simulation screen to 80x25, so the size is set once the first frame is
// drawn, followed by a resize event to redraw.
func startKiosk(t *testing.T, cfg tui.Config, w, h int) *kiosk {
	t.Helper()
	if cfg.BranchName == "" {
		cfg.BranchName = "Main Street"
	}
	k := &kiosk{t: t, app: tui.New(cfg), sim: tcell.NewSimulationScreen("UTF-8"), done: make(chan error, 1)}
	go func() { k.done <- k.app.Run(k.sim) }()
	t.Cleanup(func() {
		k.app.Stop()
		select {
		case err := <-k.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLimit):
			t.Error("Run did not return after Stop")
		}
	})
	k.waitFor("first frame", func(string) bool {
		_, cw, ch := k.sim.GetContents()
		return cw == 80 && ch == 25
	})
	k.waitText("Start")
	k.sim.SetSize(w, h)
	if err := k.sim.PostEvent(tcell.NewEventResize(w, h)); err != nil {
		t.Fatal(err)
	}
	// SetSize keeps the old cells; the redraw has happened once every cell
	// is drawn and the hint row is at the new bottom.
	k.waitFor("resize", func(screen string) bool {
		lines := strings.Split(screen, "\n")
		if len(lines) != h || !strings.Contains(lines[h-1], "Tab") {
			return false
		}
		cells, _, _ := k.cells()
		for _, c := range cells {
			if len(c.Runes) == 0 {
				return false
			}
		}
		return true
	})
	return k
}

// screen returns the screen's text, one line per row, read on the UI
// goroutine (GetContents is the live buffer).
func (k *kiosk) screen() string {
	var text string
	k.app.QueueUpdate(func() { text = screentest.Text(k.sim.GetContents()) })
	return text
}

// cells returns a copy of the screen's cells, read on the UI goroutine.
func (k *kiosk) cells() ([]tcell.SimCell, int, int) {
	var out []tcell.SimCell
	var w, h int
	k.app.QueueUpdate(func() {
		var cells []tcell.SimCell
		cells, w, h = k.sim.GetContents()
		out = screentest.Copy(cells)
	})
	return out, w, h
}

func (k *kiosk) waitFor(what string, cond func(screen string) bool) string {
	k.t.Helper()
	return screentest.WaitFor(k.t, what, waitLimit, k.done, k.screen, cond)
}

func (k *kiosk) waitText(texts ...string) string {
	k.t.Helper()
	return k.waitFor(strings.Join(texts, ", "), func(s string) bool {
		for _, t := range texts {
			if !strings.Contains(s, t) {
				return false
			}
		}
		return true
	})
}

func (k *kiosk) waitGone(text string) string {
	k.t.Helper()
	return k.waitFor(text+" to go", func(s string) bool { return !strings.Contains(s, text) })
}

func (k *kiosk) step() string {
	var s string
	k.app.QueueUpdate(func() { s = k.app.StepName() })
	return s
}

func (k *kiosk) waitStep(want string) {
	k.t.Helper()
	k.waitFor("step "+want, func(string) bool { return k.step() == want })
}

func (k *kiosk) press(keys ...tcell.Key) {
	for _, key := range keys {
		k.sim.InjectKey(key, 0, tcell.ModNone)
	}
}

func (k *kiosk) typeText(s string) {
	for _, r := range s {
		if r == '\n' {
			k.sim.InjectKey(tcell.KeyEnter, 0, tcell.ModNone)
			continue
		}
		k.sim.InjectKey(tcell.KeyRune, r, tcell.ModNone)
	}
}

// find returns the screen position of text's first rune, in its lowest
// occurrence: buttons are below the help text that names them.
func (k *kiosk) find(text string) (x, y int, ok bool) {
	lines := strings.Split(k.screen(), "\n")
	for y := len(lines) - 1; y >= 0; y-- {
		if i := strings.LastIndex(lines[y], text); i >= 0 {
			return len([]rune(lines[y][:i])), y, true
		}
	}
	return 0, 0, false
}

// click touches the middle of text's lowest occurrence on screen, as a
// finger would.
func (k *kiosk) click(text string) {
	k.t.Helper()
	k.waitText(text)
	x, y, _ := k.find(text)
	x += len([]rune(text)) / 2
	k.sim.InjectMouse(x, y, tcell.Button1, tcell.ModNone)
	k.sim.InjectMouse(x, y, tcell.ButtonNone, tcell.ModNone)
}

// fakeFiler records drafts and answers from a script, one entry per call
// (the last entry repeats).
type fakeFiler struct {
	mu     sync.Mutex
	drafts []filing.Draft
	errs   []error
}

const testCode = trackcode.Code("DWSRS7EZTW89")

func (f *fakeFiler) File(_ context.Context, d filing.Draft) (filing.Filed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drafts = append(f.drafts, d)
	if n := len(f.drafts); len(f.errs) > 0 {
		if err := f.errs[min(n, len(f.errs))-1]; err != nil {
			return filing.Filed{}, err
		}
	}
	now := time.Date(2026, time.May, 12, 14, 5, 0, 0, time.UTC)
	return filing.Filed{
		Complaint:     complaint.Complaint{ID: "0196c0de-0000-7000-8000-000000000001", Code: string(testCode), FiledAt: now},
		Code:          testCode,
		URL:           "https://track.example.org/t/" + string(testCode),
		AcknowledgeBy: time.Date(2026, time.May, 14, 14, 5, 0, 0, time.UTC), // 2 business days
		RespondBy:     time.Date(2026, time.June, 2, 14, 5, 0, 0, time.UTC), // 15
	}, nil
}

func (f *fakeFiler) calls() []filing.Draft {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]filing.Draft(nil), f.drafts...)
}

// fakePrinter fails while fail is set and counts receipts.
type fakePrinter struct {
	mu       sync.Mutex
	fail     bool
	receipts []printer.Receipt
}

func (p *fakePrinter) Print(_ context.Context, r printer.Receipt) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.receipts = append(p.receipts, r)
	if p.fail {
		return &printer.Error{Printer: "fake", Op: "write", Err: errors.New("paper out")}
	}
	return nil
}

func (p *fakePrinter) setFail(fail bool) {
	p.mu.Lock()
	p.fail = fail
	p.mu.Unlock()
}

type panicFiler struct{}

func (panicFiler) File(context.Context, filing.Draft) (filing.Filed, error) { panic("boom") }
