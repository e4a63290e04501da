package tui_test

import (
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/tui"
)

// Stop racing Run's start-up is tested where that code is, in package
// termapp (TestStopRacingRun).

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
