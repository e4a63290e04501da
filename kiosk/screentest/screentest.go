// Package screentest holds what the kiosk's screen tests share: turning a
// tcell simulation screen's cells into text, copying them out of the live
// buffer, and waiting for a screen to show something, with a deadline. It is
// imported only by tests.
package screentest

import (
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
)

// Text is the screen's text, one line per row, the first rune of each cell
// (a space for an empty one). Call it where reading the cells is safe: on
// the UI goroutine (tview's QueueUpdate) or inside the screen's Show.
func Text(cells []tcell.SimCell, w, h int) string {
	var b strings.Builder
	for y := range h {
		for x := range w {
			c := cells[y*w+x]
			if len(c.Runes) == 0 {
				b.WriteRune(' ')
			} else {
				b.WriteRune(c.Runes[0])
			}
		}
		if y < h-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Copy copies cells out of the simulation screen's live buffer.
func Copy(cells []tcell.SimCell) []tcell.SimCell {
	out := make([]tcell.SimCell, len(cells))
	for i, c := range cells {
		out[i] = tcell.SimCell{Runes: append([]rune(nil), c.Runes...), Style: c.Style}
	}
	return out
}

// WaitFor reads the screen with read until cond holds, and returns that
// screen. It fails tb when limit passes, or when the program ends first
// (done receives its error).
func WaitFor(tb testing.TB, what string, limit time.Duration, done <-chan error, read func() string, cond func(screen string) bool) string {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for {
		s := read()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s; screen:\n%s", what, s)
		}
		select {
		case err := <-done:
			tb.Fatalf("the program stopped while waiting for %s: %v", what, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
