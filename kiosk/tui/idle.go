package tui

import (
	"math"
	"time"

	"ombud/kiosk/tui/flow"
)

// idleClock is the task that checks the idle clock a few times a second
// (often enough for a countdown in whole seconds) until the app stops.
func (a *App) idleClock() func() {
	period := min(250*time.Millisecond, a.cfg.IdleWarning/5, a.cfg.ReceiptTimeout/5)
	return a.tv.Every(period, a.checkIdle)
}

// checkIdle applies the idle rules at now:
//   - receipt: back to welcome after ReceiptTimeout (nothing typed is left
//     to lose, so no warning);
//   - welcome: back to the default language after IdleTimeout;
//   - any other step: warn for the last IdleWarning, then clear everything.
//
// It reports whether it changed the screen: most checks change nothing and
// need no redraw.
func (a *App) checkIdle(now time.Time) (changed bool) {
	if a.submitting {
		return false // the filing result decides what comes next
	}
	idle := now.Sub(a.lastInput)
	switch a.visit.Step {
	case flow.Receipt:
		if idle >= a.cfg.ReceiptTimeout {
			a.reset("receipt timeout")
			return true
		}
	case flow.Welcome:
		if idle >= a.cfg.IdleTimeout && a.visit.Lang != a.cfg.DefaultLanguage {
			a.reset("idle on welcome")
			return true
		}
	default:
		switch {
		case idle >= a.cfg.IdleTimeout:
			a.reset("idle timeout")
			return true
		case idle >= a.cfg.IdleTimeout-a.cfg.IdleWarning:
			left := int(math.Ceil((a.cfg.IdleTimeout - idle).Seconds()))
			a.showWarning(left)
			return true
		}
	}
	return false
}

func (a *App) showWarning(secondsLeft int) {
	// The countdown has a line of its own: in the sentence it broke
	// wherever the width fell ("Clearing" at the end of one line, "in 38 s"
	// alone on the next), and it changes every second.
	a.w.idleBody.SetText(a.t("idle.body") + "\n\n" + a.t("idle.countdown", "seconds", secondsLeft))
	if !a.warning {
		if a.staffShown {
			// One overlay at a time, so that dismissing the warning puts
			// the focus back on the customer's widget, not the panel's.
			a.hideStaff()
		}
		a.warning = true
		a.w.lastFocus = a.tv.GetFocus()
		a.w.pages.SendToFront(pageIdle)
		a.w.pages.ShowPage(pageIdle)
	}
}

func (a *App) hideWarning() {
	a.warning = false
	a.w.pages.HidePage(pageIdle)
	// Pages moves the focus to the page it shows; put it back on the
	// widget the customer was using.
	if a.w.lastFocus != nil {
		a.tv.SetFocus(a.w.lastFocus)
	}
}
