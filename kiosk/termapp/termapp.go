// Package termapp owns what the kiosk's two terminal programs, the
// customer kiosk (kiosk/tui) and the staff terminal (kiosk/staffui), share
// beneath their screens: the life of a tview application on a tcell screen
// (Run, a Stop that works from any goroutine at any moment, the background
// goroutines Run waits for), the one way other goroutines change widgets
// (Update), the typed-text hygiene both apply to keys, and the Filer both
// file complaints through. Their key bindings are in package keys.
//
// Concurrency: tview widgets belong to the UI goroutine, the one running
// Run. Any other goroutine changes them only through Update or UpdateIf,
// which queue the change onto the UI goroutine and redraw.
package termapp

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"ombud/kiosk/filing"
)

// Filer files a complaint durably; *filing.Service is the real one.
type Filer interface {
	File(context.Context, filing.Draft) (filing.Filed, error)
}

var _ Filer = (*filing.Service)(nil)

// App is a tview application with a lifecycle safe to drive from other
// goroutines. The screens use the embedded Application to build
// themselves (SetRoot, SetFocus, input captures, a before-draw layout);
// its Run and Stop are replaced by App's, and its after-draw function
// belongs to App until Run starts (Run chains any set before it).
type App struct {
	*tview.Application

	ctx    context.Context // cancelled when the app stops
	cancel context.CancelFunc

	stopOnce    sync.Once
	stopped     chan struct{} // closed by the first Stop, or when Run ends
	startedOnce sync.Once
	started     chan struct{}  // closed by Run's first draw: tview's Stop works from then on
	wg          sync.WaitGroup // Run's tasks and the goroutines of Go
}

// New makes an app with the mouse enabled (kiosks are touch screens);
// Run shows it.
func New() *App {
	ctx, cancel := context.WithCancel(context.Background())
	a := &App{
		Application: tview.NewApplication(),
		ctx:         ctx,
		cancel:      cancel,
		stopped:     make(chan struct{}),
		started:     make(chan struct{}),
	}
	a.EnableMouse(true)
	return a
}

// Run shows the app on screen (a real terminal when nil) and blocks until
// Stop is called or the terminal fails. Each task runs in a goroutine of
// its own from the start; a task must return once Stopped is closed. Run
// returns after every task and every goroutine started with Go has
// returned.
func (a *App) Run(screen tcell.Screen, tasks ...func()) error {
	select {
	case <-a.stopped:
		return nil
	default:
	}
	if screen == nil {
		s, err := tcell.NewScreen()
		if err != nil {
			return fmt.Errorf("terminal: %w", err)
		}
		screen = s
	}
	a.SetScreen(screen)
	// tview enables the mouse only on screens it creates itself.
	screen.EnableMouse()
	after := a.GetAfterDrawFunc()
	a.SetAfterDrawFunc(func(s tcell.Screen) {
		a.startedOnce.Do(func() { close(a.started) })
		if after != nil {
			after(s)
		}
	})

	ran := make(chan struct{})
	a.wg.Add(1 + len(tasks))
	go a.stopWhenAsked(ran)
	for _, task := range tasks {
		go func() {
			defer a.wg.Done()
			task()
		}()
	}
	err := a.Application.Run()
	close(ran)
	a.halt()
	a.wg.Wait()
	return err
}

// stopWhenAsked stops tview once Stop has been called, but never before
// tview's Run has drawn its first frame. tview's Stop drops the screen, and
// a Run that starts after that makes a terminal screen of its own and waits
// on it for ever; from the first draw on, Run owns the screen and its Stop
// ends Run.
func (a *App) stopWhenAsked(ran <-chan struct{}) {
	defer a.wg.Done()
	select {
	case <-a.started:
	case <-ran: // tview's Run failed before its first draw
		return
	}
	select {
	case <-a.stopped:
		a.Application.Stop()
	case <-ran: // tview stopped itself (a terminal error)
	}
}

// Stop ends Run. It is safe to call from any goroutine, the UI goroutine
// included, more than once, and before Run: Run then returns at once. It
// only signals; Run returns once tview has let go of the screen and the
// goroutines have ended.
func (a *App) Stop() { a.halt() }

func (a *App) halt() {
	a.stopOnce.Do(func() {
		close(a.stopped)
		a.cancel()
	})
}

// Stopped is closed once the app stops: background work selects on it.
func (a *App) Stopped() <-chan struct{} { return a.stopped }

// Context is cancelled once the app stops: it ends filing, printing and
// store calls made for the screens.
func (a *App) Context() context.Context { return a.ctx }

// Go runs f in a goroutine that Run waits for before it returns. f should
// end soon after the app stops (its calls take Context). Call Go from the
// UI goroutine or from another goroutine started with Go.
func (a *App) Go(f func()) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		f()
	}()
}

// Update runs f on the UI goroutine, redraws, and returns once the new
// frame is drawn. It returns false, without waiting, once the app has
// stopped: tview's queue is no longer read then, and a goroutine that
// waited for it would never end.
func (a *App) Update(f func()) bool {
	return a.UpdateIf(func() bool { f(); return true })
}

// UpdateIf is Update that redraws only when f reports that it changed the
// screen: a full redraw costs about a millisecond, and one that starts
// just before a key is pressed delays what that key shows.
func (a *App) UpdateIf(f func() (changed bool)) bool {
	done := make(chan struct{})
	go func() {
		a.QueueUpdate(func() {
			if f() {
				a.ForceDraw()
			}
		})
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-a.stopped:
		return false
	}
}

// Every is a task for Run: it calls f on the UI goroutine about every
// period (at least 5 ms), with the time of the call, until the app stops,
// and redraws when f reports a change. Clocks use it: idle timeouts,
// countdowns, deadlines that pass.
func (a *App) Every(period time.Duration, f func(now time.Time) (changed bool)) func() {
	period = max(period, 5*time.Millisecond)
	return func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-a.stopped:
				return
			case <-tick.C:
				if !a.UpdateIf(func() bool { return f(time.Now()) }) {
					return
				}
			}
		}
	}
}

// ControlRune reports runes that have no business in typed text: an escape
// or control character arriving as a "character" (from a paste, a barcode
// scanner, a crafted key) is dropped at the door; textsafe removes anything
// that still gets through before display and storage.
func ControlRune(r rune) bool {
	return r < 0x20 || (r >= 0x7F && r <= 0x9F)
}
