package tui

import "ombud/kiosk/tui/flow"

// Test seams: the external tests drive the real app through the simulation
// screen and use these only to read state on the UI goroutine.

// QueueUpdate runs f on the UI goroutine and waits for it.
func (a *App) QueueUpdate(f func()) { a.tv.QueueUpdate(f) }

// StepName is the current step (call inside QueueUpdate).
func (a *App) StepName() string { return a.visit.Step.String() }

// QRRect is where the receipt's QR code is drawn (call inside QueueUpdate).
func (a *App) QRRect() (x, y, w, h int) {
	if a.w.receipt == nil {
		return 0, 0, 0, 0
	}
	x, y, _, _ = a.w.receipt.qr.GetInnerRect()
	w, h = a.w.receipt.qr.drawnSize()
	return x, y, w, h
}

// WidgetTexts is every text a customer can type into, as the widgets hold
// it (call inside QueueUpdate).
func (a *App) WidgetTexts() []string {
	return []string{a.w.desc.GetText(), a.w.outcome.GetText(), a.w.name.GetText(),
		a.w.email.GetText(), a.w.phone.GetText()}
}

var _ = flow.Welcome

// EscapeMarkup is escapeMarkup, for its own test.
var EscapeMarkup = escapeMarkup
