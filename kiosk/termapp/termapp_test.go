package termapp_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"ombud/kiosk/screentest"
	"ombud/kiosk/termapp"
	"ombud/kiosk/termapp/keys"
)

const waitLimit = 10 * time.Second

// running is an App running on a simulation screen.
type running struct {
	t    *testing.T
	app  *termapp.App
	sim  tcell.SimulationScreen
	done chan error
}

// start runs app with root and tasks, and waits until the screen shows
// ready.
func start(t *testing.T, app *termapp.App, root tview.Primitive, ready string, tasks ...func()) *running {
	t.Helper()
	r := &running{t: t, app: app, sim: tcell.NewSimulationScreen("UTF-8"), done: make(chan error, 1)}
	app.SetRoot(root, true)
	go func() { r.done <- app.Run(r.sim, tasks...) }()
	t.Cleanup(func() {
		app.Stop()
		r.wait()
	})
	r.waitText(ready)
	return r
}

// wait waits for Run to return, and fails on an error.
func (r *running) wait() {
	r.t.Helper()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			r.t.Errorf("Run: %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(waitLimit):
		r.t.Fatal("Run did not return after Stop")
	}
}

// screen reads the screen on the UI goroutine (GetContents is the live
// buffer); QueueUpdate itself draws nothing.
func (r *running) screen() string {
	var s string
	r.app.QueueUpdate(func() { s = screentest.Text(r.sim.GetContents()) })
	return s
}

func (r *running) waitText(text string) string {
	r.t.Helper()
	return screentest.WaitFor(r.t, text, waitLimit, r.done, r.screen, func(s string) bool { return strings.Contains(s, text) })
}

// TestStopRacingRun: Stop may come at any moment of start-up (a signal
// during boot), from any goroutine; Run must always return, without error.
// A tview Stop before tview's Run has taken the screen would leave tview
// making a terminal screen of its own and waiting on it for ever.
func TestStopRacingRun(t *testing.T) {
	const rounds = 300
	for i := range rounds {
		app := termapp.New()
		app.SetRoot(tview.NewBox(), true)
		done := make(chan error, 1)
		go func() { done <- app.Run(tcell.NewSimulationScreen("UTF-8")) }()
		if i%3 == 0 {
			app.Stop()
		} else {
			go app.Stop()
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: Run: %v", i, err)
			}
		case <-time.After(waitLimit):
			t.Fatalf("round %d: Run did not return after Stop", i)
		}
	}
}

// TestStopBeforeRun: Run after Stop returns at once, and runs no task.
func TestStopBeforeRun(t *testing.T) {
	app := termapp.New()
	app.Stop()
	app.Stop()
	var ran atomic.Bool
	done := make(chan error, 1)
	go func() { done <- app.Run(tcell.NewSimulationScreen("UTF-8"), func() { ran.Store(true) }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run after Stop did not return")
	}
	if ran.Load() {
		t.Error("a task ran although the app had stopped before Run")
	}
}

// TestStopFromAnotherGoroutine: a running app stops on a Stop from any
// goroutine, including the UI goroutine itself (a quit key), and then its
// Stopped channel is closed, its Context cancelled and every task and Go
// goroutine has returned.
func TestStopFromAnotherGoroutine(t *testing.T) {
	for _, from := range []string{"goroutine", "ui"} {
		t.Run(from, func(t *testing.T) {
			app := termapp.New()
			var taskEnded, goEnded atomic.Bool
			r := start(t, app, tview.NewTextView().SetText("running"), "running", func() {
				<-app.Stopped()
				taskEnded.Store(true)
			})
			r.app.QueueUpdate(func() {
				app.Go(func() {
					<-app.Context().Done()
					goEnded.Store(true)
				})
			})
			if from == "ui" {
				app.QueueUpdate(app.Stop)
			} else {
				go app.Stop()
			}
			r.wait()
			select {
			case <-app.Stopped():
			default:
				t.Error("Stopped not closed after Run returned")
			}
			if app.Context().Err() == nil {
				t.Error("Context not cancelled after Stop")
			}
			if !taskEnded.Load() || !goEnded.Load() {
				t.Errorf("Run returned before its goroutines: task ended %v, Go ended %v", taskEnded.Load(), goEnded.Load())
			}
		})
	}
}

// TestUpdateDrawsBeforeReturning: Update runs its change on the UI
// goroutine and the new frame is on screen when it returns.
func TestUpdateDrawsBeforeReturning(t *testing.T) {
	text := tview.NewTextView().SetText("before")
	r := start(t, termapp.New(), text, "before")
	if !r.app.Update(func() { text.SetText("after") }) {
		t.Fatal("Update on a running app returned false")
	}
	// Read at once, not polled: Update must have drawn.
	if s := r.screen(); !strings.Contains(s, "after") {
		t.Errorf("screen after Update:\n%s", s)
	}
}

// TestUpdateIfDrawsOnlyChanges: UpdateIf redraws only when its function
// says the screen changed.
func TestUpdateIfDrawsOnlyChanges(t *testing.T) {
	// Nothing else redraws here: the simulation screen posts no events of
	// its own, and the test injects none.
	text := tview.NewTextView().SetText("first")
	r := start(t, termapp.New(), text, "first")
	r.app.UpdateIf(func() bool { text.SetText("second"); return false })
	if s := r.screen(); !strings.Contains(s, "first") || strings.Contains(s, "second") {
		t.Errorf("UpdateIf reporting no change redrew:\n%s", s)
	}
	r.app.UpdateIf(func() bool { text.SetText("third"); return true })
	if s := r.screen(); !strings.Contains(s, "third") {
		t.Errorf("UpdateIf reporting a change did not redraw:\n%s", s)
	}
}

// TestUpdateAfterStop: once the app has stopped nobody reads tview's
// queue; Update must then return false at once instead of waiting for
// ever.
func TestUpdateAfterStop(t *testing.T) {
	r := start(t, termapp.New(), tview.NewBox(), "")
	r.app.Stop()
	r.wait()
	done := make(chan bool, 1)
	go func() { done <- r.app.Update(func() { t.Error("Update ran f after Stop") }) }()
	select {
	case ok := <-done:
		if ok {
			t.Error("Update after Stop returned true")
		}
	case <-time.After(waitLimit):
		t.Fatal("Update after Stop did not return")
	}
}

// TestEvery: the clock task calls its function on the UI goroutine,
// redraws what it changed, and ends with the app.
func TestEvery(t *testing.T) {
	app := termapp.New()
	text := tview.NewTextView()
	var mu sync.Mutex
	var ranOn []string // the goroutines the function ran on
	ticks := 0         // the UI goroutine's
	var last time.Time
	clock := app.Every(time.Millisecond, func(now time.Time) bool {
		mu.Lock()
		ranOn = append(ranOn, goroutine())
		mu.Unlock()
		if now.Before(last) {
			t.Errorf("time went back: %v after %v", now, last)
		}
		last = now
		ticks++
		text.SetText(fmt.Sprintf("tick %d", ticks))
		return true
	})
	r := start(t, app, text, "tick 3", clock)
	var ui string
	app.QueueUpdate(func() { ui = goroutine() })
	app.Stop()
	r.wait()
	mu.Lock()
	defer mu.Unlock()
	for _, g := range ranOn {
		if g != ui {
			t.Fatalf("the clock's function ran on goroutine %s, not on the UI goroutine (%s)", g, ui)
		}
	}
}

// goroutine is the number of the goroutine that calls it, from the first
// line of its stack trace ("goroutine 18 [running]:"): the way a test
// tells on which goroutine a function ran.
func goroutine() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	return strings.Fields(string(buf))[1]
}

// TestAfterDrawChained: an after-draw function set before Run still runs;
// the app's own (which lets Stop work before the first frame) does not
// replace it.
func TestAfterDrawChained(t *testing.T) {
	app := termapp.New()
	var draws atomic.Int64
	app.SetAfterDrawFunc(func(tcell.Screen) { draws.Add(1) })
	r := start(t, app, tview.NewTextView().SetText("drawn"), "drawn")
	r.app.Update(func() {})
	if draws.Load() < 2 {
		t.Errorf("after-draw function ran %d times, want at least 2", draws.Load())
	}
}

// TestBindingsDriveKeysAndHints: a screen's bindings, on a running app,
// draw its hint bar and run their actions on their keys; a key without a
// binding goes on to the widget.
func TestBindingsDriveKeysAndHints(t *testing.T) {
	app := termapp.New()
	status := tview.NewTextView()
	input := tview.NewInputField()
	bs := []keys.Binding{
		{Keys: []keys.Key{keys.K(tcell.KeyCtrlS)}, Desc: "save", Hint: true, Action: func() { status.SetText("saved " + input.GetText()) }},
		{Keys: []keys.Key{keys.R('?')}, Desc: "help: every key", Short: "help", Hint: true, Action: func() { status.SetText("help shown") }},
		{Keys: []keys.Key{keys.K(tcell.KeyEsc)}, Desc: "cancel", Action: func() { status.SetText("cancelled") }},
	}
	hints := tview.NewTextView().SetText(keys.Text(keys.HintBar(bs, keys.HintLayout{Join: " ", Sep: " · "})))
	app.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		if keys.Handle(bs, ev) {
			return nil
		}
		return ev
	})
	root := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(input, 1, 0, true).
		AddItem(status, 1, 0, false).
		AddItem(hints, 1, 0, false)
	r := start(t, app, root, "Ctrl-S save · ? help")
	for _, c := range "ab" {
		r.sim.InjectKey(tcell.KeyRune, c, tcell.ModNone)
	}
	r.sim.InjectKey(tcell.KeyCtrlS, 0, tcell.ModCtrl)
	r.waitText("saved ab")
	r.sim.InjectKey(tcell.KeyRune, '?', tcell.ModNone)
	r.waitText("help shown")
	r.sim.InjectKey(tcell.KeyEsc, 0, tcell.ModNone)
	s := r.waitText("cancelled")
	if strings.Contains(s, "ab?") {
		t.Errorf("a bound key reached the input field:\n%s", s)
	}
}

func TestControlRune(t *testing.T) {
	for _, r := range []rune{0, '\t', '\r', 0x1b, 0x7f, 0x85, 0x9f} {
		if !termapp.ControlRune(r) {
			t.Errorf("%U is not a control rune", r)
		}
	}
	for _, r := range []rune{' ', 'a', 'é', 0xa0, '€', '中'} {
		if termapp.ControlRune(r) {
			t.Errorf("%U is a control rune", r)
		}
	}
}
