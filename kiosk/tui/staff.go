package tui

import (
	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"ombud/shared/textsafe"
)

// The staff panel: F2 shows the sync state (online or not, how many
// complaints wait to be sent, the last success) over whatever is on screen,
// and any key or touch hides it again. Touch-screen customers have no F2, and
// a customer who finds it sees a short technical note and nothing of anyone
// else's complaint, so it troubles nobody.

const pageStaff = "staff"

func (a *App) buildStaff() tview.Primitive {
	// Plain text, no style tags: the status comes from the sync code and
	// may quote what a server or a network said.
	body := newText("")
	body.SetBorder(true).SetTitle(" "+a.t("staff.title")+" ").
		SetBorderColor(colorFocus).SetTitleColor(colorFocus).SetBorderPadding(0, 0, 1, 1)
	a.w.staffBody = body
	return tview.NewFlex().
		AddItem(nil, 0, 1, false).
		AddItem(tview.NewFlex().SetDirection(tview.FlexRow).
			AddItem(nil, 0, 1, false).
			AddItem(body, 9, 0, true).
			AddItem(nil, 0, 1, false), 70, 0, true).
		AddItem(nil, 0, 1, false)
}

func (a *App) showStaff() {
	text := textsafe.Clean(a.cfg.StaffStatus()) + "\n\n" + a.t("staff.dismiss")
	a.w.staffBody.SetText(text)
	a.staffShown = true
	a.w.lastFocus = a.tv.GetFocus()
	// On top of every page, including a receipt page added after it: a
	// panel drawn underneath would still swallow the next key or touch.
	// To the front first, so that ShowPage gives it the focus.
	a.w.pages.SendToFront(pageStaff)
	a.w.pages.ShowPage(pageStaff)
}

func (a *App) hideStaff() {
	a.staffShown = false
	a.w.pages.HidePage(pageStaff)
	if a.w.lastFocus != nil {
		a.tv.SetFocus(a.w.lastFocus)
	}
}

// staffKey handles the keys meant for staff and operators; it reports
// whether it used the key.
func (a *App) staffKey(ev *tcell.EventKey) bool {
	switch {
	case a.staffShown:
		a.hideStaff()
		return true
	case ev.Key() == tcell.KeyF2 && a.cfg.StaffStatus != nil:
		a.showStaff()
		return true
	case ev.Key() == tcell.KeyCtrlQ && a.cfg.OperatorQuit:
		a.Stop() // only signals: tview is stopped from another goroutine
		return true
	}
	return false
}
