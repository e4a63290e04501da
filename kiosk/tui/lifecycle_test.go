package tui_test

import (
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/tui"
)

// TestStopRacingRun: Stop may come at any moment of start-up (a signal
// during boot); Run must always return, without error. A Stop that landed
// before tview's Run had taken the screen used to leave tview making a
// terminal screen of its own and waiting on it for ever.
func TestStopRacingRun(t *testing.T) {
	const rounds = 300
	for i := range rounds {
		app := tui.New(tui.Config{Filer: &fakeFiler{}})
		done := make(chan error, 1)
		sim := tcell.NewSimulationScreen("UTF-8")
		go func() { done <- app.Run(sim) }()
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

// TestStopBeforeRun: Run after Stop returns at once.
func TestStopBeforeRun(t *testing.T) {
	app := tui.New(tui.Config{Filer: &fakeFiler{}})
	app.Stop()
	app.Stop()
	done := make(chan error, 1)
	go func() { done <- app.Run(tcell.NewSimulationScreen("UTF-8")) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run after Stop did not return")
	}
}
