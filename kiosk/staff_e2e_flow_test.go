package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/screentest"
	"ombud/shared/trackcode"
)

// staffScreen is a simulation screen whose text is copied in Show (on the
// UI goroutine, where reading the cells is safe), so a test can poll it.
type staffScreen struct {
	tcell.SimulationScreen
	w, h int
	mu   sync.Mutex
	text string
}

func (s *staffScreen) Init() error {
	if err := s.SimulationScreen.Init(); err != nil {
		return err
	}
	s.SimulationScreen.SetSize(s.w, s.h)
	return nil
}

func (s *staffScreen) Show() {
	s.SimulationScreen.Show()
	cells, w, _ := s.GetContents()
	var b strings.Builder
	for i, c := range cells {
		if i > 0 && i%w == 0 {
			b.WriteByte('\n')
		}
		if len(c.Runes) == 0 {
			b.WriteByte(' ')
		}
		for _, r := range c.Runes {
			b.WriteRune(r)
		}
	}
	s.mu.Lock()
	s.text = b.String()
	s.mu.Unlock()
}

func (s *staffScreen) snapshot() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.text
}

// staffTerm is `kiosk staff` running in-process on a staffScreen.
type staffTerm struct {
	t    *testing.T
	scr  *staffScreen
	stop func() error
	done chan error
	once sync.Once
	err  error
}

func startStaff(t *testing.T, dir string, extra ...string) *staffTerm {
	t.Helper()
	scr := &staffScreen{SimulationScreen: tcell.NewSimulationScreen("UTF-8"), w: 100, h: 30}
	ctx, cancel := context.WithCancel(context.Background())
	k := &staffTerm{t: t, scr: scr, done: make(chan error, 1)}
	args := append([]string{"staff", "--data", dir, "--directory-interval", "200ms", "--timezone", "UTC"}, extra...)
	go func() {
		k.done <- run(ctx, args, func(string) string { return "" }, io.Discard, io.Discard, scr)
	}()
	k.stop = func() error {
		k.once.Do(func() {
			cancel()
			select {
			case k.err = <-k.done:
			case <-time.After(20 * time.Second):
				k.err = context.DeadlineExceeded
			}
		})
		return k.err
	}
	t.Cleanup(func() { _ = k.stop() })
	k.waitSaid("Staff sign-in")
	return k
}

// flatText makes every run of white space and box border one space, so
// text wrapped over rows reads as one line.
func flatText(s string) string {
	for _, b := range []string{"║", "│", "┃"} {
		s = strings.ReplaceAll(s, b, " ")
	}
	return strings.Join(strings.Fields(s), " ")
}

func (k *staffTerm) waitFor(what string, cond func(screen string) bool) string {
	k.t.Helper()
	return screentest.WaitFor(k.t, what, 20*time.Second, k.done, k.scr.snapshot, cond)
}

// waitSaid waits until the screen shows every text (wrapping allowed).
func (k *staffTerm) waitSaid(texts ...string) string {
	k.t.Helper()
	return k.waitFor(strings.Join(texts, ", "), func(s string) bool {
		for _, t := range texts {
			if !strings.Contains(flatText(s), flatText(t)) {
				return false
			}
		}
		return true
	})
}

func (k *staffTerm) press(keys ...tcell.Key) {
	for _, key := range keys {
		k.scr.InjectKey(key, 0, tcell.ModNone)
	}
}

func (k *staffTerm) typeText(s string) {
	for _, r := range s {
		if r == '\n' {
			k.scr.InjectKey(tcell.KeyEnter, 0, tcell.ModNone)
			continue
		}
		k.scr.InjectKey(tcell.KeyRune, r, tcell.ModNone)
	}
}

// signIn signs in once the terminal has the staff directory from the
// server (its log says so).
func (k *staffTerm) signIn(dir, id, pin string) {
	k.t.Helper()
	waitFor(k.t, "the staff directory", 20*time.Second, func() bool {
		return logLine(filepath.Join(dir, "staff.log"), "staff directory updated") != ""
	})
	k.typeText(id)
	k.press(tcell.KeyTab)
	k.typeText(pin)
	k.press(tcell.KeyEnter)
	// The queue, or over it the notice of actions refused while away.
	k.waitFor("the queue after sign-in", func(s string) bool {
		return strings.Contains(s, "Showing") || strings.Contains(s, "Not applied")
	})
}

// openCase finds the case by its code and opens it.
func (k *staffTerm) openCase(code string) {
	k.t.Helper()
	shown := trackcode.Code(code).String()
	k.waitSaid(shown)
	k.typeText("/" + code)
	k.press(tcell.KeyEnter)
	k.waitSaid("Showing")
	k.press(tcell.KeyEnter)
	k.waitSaid("Actions:", shown)
}

// act records the case action on key: keys fill its form, Ctrl-S saves.
func (k *staffTerm) act(key rune, name string, keys func()) {
	k.t.Helper()
	k.typeText(string(key))
	k.waitSaid("Ctrl-S")
	if keys != nil {
		keys()
	}
	k.press(tcell.KeyCtrlS)
	k.waitSaid("Recorded: " + name + " on case")
}
