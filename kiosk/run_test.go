package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/store/storetest"
)

// watchScreen is tcell's simulation screen that reports, from inside Show
// (on the UI goroutine, where reading the cells is safe), when the screen
// first contains a wanted text.
type watchScreen struct {
	tcell.SimulationScreen
	w, h  int
	mu    sync.Mutex
	wants map[string]chan struct{}
	text  []byte // the screen's text, reused by every Show: Show is timed too
}

func newWatchScreen(w, h int) *watchScreen {
	sim := tcell.NewSimulationScreen("UTF-8")
	return &watchScreen{SimulationScreen: sim, w: w, h: h, wants: map[string]chan struct{}{}}
}

// Init is called by tview's SetScreen and resets the size, so size it after.
func (s *watchScreen) Init() error {
	if err := s.SimulationScreen.Init(); err != nil {
		return err
	}
	s.SimulationScreen.SetSize(s.w, s.h)
	return nil
}

// await returns a channel closed once the screen shows text.
func (s *watchScreen) await(text string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.wants[text] = ch
	return ch
}

func (s *watchScreen) Show() {
	s.SimulationScreen.Show()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.wants) == 0 {
		return
	}
	cells, w, _ := s.GetContents()
	text := s.text[:0]
	for i, c := range cells {
		if i > 0 && i%w == 0 {
			text = append(text, '\n')
		}
		if len(c.Runes) == 0 {
			text = append(text, ' ')
		}
		for _, r := range c.Runes {
			text = utf8.AppendRune(text, r)
		}
	}
	s.text = text
	for want, ch := range s.wants {
		if bytes.Contains(text, []byte(want)) {
			close(ch)
			delete(s.wants, want)
		}
	}
}

func within(t testing.TB, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// startRun runs the kiosk program in-process on a watch screen and returns
// a function that stops it and returns run's error.
func startRun(t testing.TB, scr *watchScreen, args ...string) (stop func() error, done <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, args, func(string) string { return "" }, io.Discard, io.Discard, scr) }()
	return func() error { cancel(); return <-errc }, errc
}

func TestStaffPanelShowsSyncState(t *testing.T) {
	dir := t.TempDir()
	scr := newWatchScreen(80, 24)
	welcome := scr.await("Choose your language")
	stop, _ := startRun(t, scr, "--data", dir)
	within(t, "the welcome screen", welcome)

	panel := scr.await("Not enrolled: this kiosk works alone")
	scr.InjectKey(tcell.KeyF2, 0, tcell.ModNone)
	within(t, "the staff panel on F2", panel)

	// Any key closes it and leaves the customer's screen as it was.
	gone := scr.await("Start")
	scr.InjectKey(tcell.KeyRune, 'x', tcell.ModNone)
	within(t, "the welcome screen again", gone)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestQuitKeyOnlyWhenAllowed(t *testing.T) {
	for _, allow := range []bool{false, true} {
		scr := newWatchScreen(80, 24)
		welcome := scr.await("Choose your language")
		args := []string{"--data", t.TempDir()}
		if allow {
			args = append(args, "--allow-quit")
		}
		stop, done := startRun(t, scr, args...)
		within(t, "the welcome screen", welcome)
		scr.InjectKey(tcell.KeyCtrlQ, 0, tcell.ModCtrl)
		scr.InjectKey(tcell.KeyCtrlC, 0, tcell.ModCtrl)
		if allow {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("run after Ctrl-Q: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Ctrl-Q with --allow-quit did not stop the kiosk")
			}
			continue
		}
		// Without --allow-quit the keys do nothing: prove the kiosk still
		// answers by moving on to the next screen.
		next := scr.await("What is your complaint about?")
		scr.InjectKey(tcell.KeyEnter, 0, tcell.ModNone)
		within(t, "the category screen after Ctrl-Q and Ctrl-C were ignored", next)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBadFlagsAreExplained(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--idle-timeout", "10s", "--idle-warning", "20s"}, "--idle-warning must be shorter"},
		{[]string{"--paper", "A4"}, "want 80mm or 58mm"},
		{[]string{"--public-url", "track.example.org"}, "http:// or https://"},
		{[]string{"--printer", "lp0"}, "--printer"},
		{[]string{"--lang", "xx"}, "no catalog"},
		{[]string{"stray"}, "unexpected argument"},
	} {
		args := append([]string{"--data", t.TempDir()}, tc.args...)
		err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard, newWatchScreen(80, 24))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run %v = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestEnvironmentOverridesDefaultsNotFlags(t *testing.T) {
	env := map[string]string{"OMBUD_KIOSK_BRANCH": "Harbour", "OMBUD_KIOSK_PAPER": "58mm"}
	o, err := parseOptions([]string{"--paper", "80mm"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.branch != "Harbour" || o.paper != "80mm" {
		t.Errorf("branch %q paper %q: want the environment's branch and the flag's paper", o.branch, o.paper)
	}
}

// BenchmarkStartupToWelcome100k is the kiosk's start-up, from run() to the
// welcome screen drawn, with 100,000 complaints already in its database
// (goal: under 300 ms). Each iteration is a full start and stop.
func BenchmarkStartupToWelcome100k(b *testing.B) {
	dir := b.TempDir()
	if err := storetest.Seed(filepath.Join(dir, "kiosk.db"), 100_000); err != nil {
		b.Fatal(err)
	}
	var took []time.Duration
	b.ResetTimer()
	for range b.N {
		scr := newWatchScreen(80, 24)
		welcome := scr.await("Choose your language")
		start := time.Now()
		stop, _ := startRun(b, scr, "--data", dir)
		within(b, "the welcome screen", welcome)
		took = append(took, time.Since(start))
		b.StopTimer()
		if err := stop(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	reportPercentiles(b, took)
}

// BenchmarkSubmitToReceipt is what a customer waits for after pressing
// Submit: validation, the durable commit (fsync) and the receipt drawn on
// screen with its QR code, through the real program. Only that span is timed;
// walking to the review screen is not.
func BenchmarkSubmitToReceipt(b *testing.B) {
	scr := newWatchScreen(80, 24)
	welcome := scr.await("Choose your language")
	stop, _ := startRun(b, scr, "--data", b.TempDir(), "--printer", "file:"+b.TempDir())
	within(b, "the welcome screen", welcome)
	key := func(k tcell.Key) { scr.InjectKey(k, 0, tcell.ModNone) }
	var took []time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		step := scr.await("What is your complaint about?")
		key(tcell.KeyEnter)
		within(b, "the category screen", step)
		step = scr.await("What happened?")
		key(tcell.KeyDown)
		key(tcell.KeyEnter)
		within(b, "the description screen", step)
		for _, r := range "Charged twice for one transfer." {
			scr.InjectKey(tcell.KeyRune, r, tcell.ModNone)
		}
		step = scr.await("What would you like us to do?")
		key(tcell.KeyTab)
		key(tcell.KeyEnter)
		within(b, "the outcome screen", step)
		step = scr.await("Your contact details")
		key(tcell.KeyTab)
		key(tcell.KeyEnter)
		within(b, "the contact screen", step)
		step = scr.await("Check your complaint")
		for range 4 {
			key(tcell.KeyTab)
		}
		key(tcell.KeyEnter)
		within(b, "the review screen", step)
		receipt := scr.await("Your tracking code")
		b.StartTimer()
		start := time.Now()
		key(tcell.KeyEnter) // Submit
		within(b, "the receipt", receipt)
		took = append(took, time.Since(start))
		b.StopTimer()
		welcome = scr.await("Choose your language")
		key(tcell.KeyEnter) // Finish has the focus

		within(b, "the welcome screen after Finish", welcome)
	}
	b.StopTimer()
	if err := stop(); err != nil {
		b.Fatal(err)
	}
	reportPercentiles(b, took)
}

func reportPercentiles(b *testing.B, took []time.Duration) {
	slices.Sort(took)
	pct := func(p float64) float64 {
		return float64(took[int(p*float64(len(took)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
