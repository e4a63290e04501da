// Package tui owns the customer's screens at the branch kiosk: welcome and
// language, category, what happened, desired outcome, optional contact
// details with consent, review, and the receipt with the tracking code in
// large type and a QR code a phone can scan off the screen.
//
// It is built for a walk-in customer who has never seen it: one question
// per screen, keyboard and touch, high contrast, every key listed on screen,
// and an idle timeout that clears everything so the next customer never
// sees the last one's complaint. The visit's state and rules live in
// package flow; this package only draws them and reacts to input.
//
// Concurrency: tview widgets belong to the UI goroutine. Filing, printing
// and the idle clock run in goroutines and change the screen only through
// the shell's Update (package termapp), which queues the change onto the UI
// goroutine.
package tui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"ombud/kiosk/filing"
	"ombud/kiosk/i18n"
	"ombud/kiosk/printer"
	"ombud/kiosk/qr"
	"ombud/kiosk/termapp"
	"ombud/kiosk/termapp/keys"
	"ombud/kiosk/tui/flow"
	"ombud/shared/complaint"
	"ombud/shared/retention"
)

// Config is what the kiosk program gives the screens.
type Config struct {
	Filer   termapp.Filer
	Printer printer.Printer // nil: printing disabled, the customer is asked to photograph the screen

	Bundle          *i18n.Bundle
	DefaultLanguage string // the welcome screen's language; Fallback when empty or unknown
	Categories      []i18n.Category
	// Retention is the retention policy until the server's is received
	// (--retention-config); the zero value is its default, 12 months
	// after closure.
	Retention retention.Policy
	// RetentionNow, when set, is the policy in force (the server's as last
	// received, kiosk/retentionrules): it replaces Retention.
	RetentionNow func() retention.Policy

	BranchName string

	// IdleTimeout clears the visit after this long without a key or touch;
	// the last IdleWarning of it shows "Are you still there?". The receipt
	// has its own, shorter ReceiptTimeout back to the welcome screen.
	IdleTimeout, IdleWarning, ReceiptTimeout time.Duration

	// Logger is the staff-facing log. The screens never log customer text
	// or contact details: ids, codes, steps and errors only.
	Logger *slog.Logger
	// Now stamps consent (time.Now when nil).
	Now func() time.Time
	// OnReceipt, when set, is called on the UI goroutine after a receipt
	// has been drawn. It is for logging and counting: the screen is not
	// redrawn after it.
	OnReceipt func(f filing.Filed)
	// StaffStatus, when set, is shown to staff on F2: the sync state. It is
	// called on the UI goroutine, so it must not block.
	StaffStatus func() string
	// OperatorQuit lets Ctrl-Q stop the kiosk. Off in production (a
	// customer must not be able to quit; operators use a signal); on for
	// demos and trials.
	OperatorQuit bool
}

// Defaults for a zero Config field.
const (
	DefaultIdleTimeout    = 2 * time.Minute
	DefaultIdleWarning    = 20 * time.Second
	DefaultReceiptTimeout = 90 * time.Second
)

// fileTimeout bounds one File call: the store waits up to its busy timeout
// for a lock, and a customer should not wait much longer than that.
const fileTimeout = 30 * time.Second

// printTimeout bounds one receipt print, so a jammed printer only ever
// costs a message on screen.
const printTimeout = 20 * time.Second

// Attribute keys of the screens' log records. A complaint is named by its
// id, never by its tracking code: the code is enough to act on the case
// on its public page, and logs leave the branch.
const (
	logKeyComponent = "component"
	logKeyStep      = "step"
	logKeyLang      = "lang"
	logKeyComplaint = "complaint"
	logKeyField     = "field"
	logKeyProblem   = "problem"
	logKeyErr       = "err"
)

// App is the kiosk's customer-facing application.
type App struct {
	cfg Config
	tv  *termapp.App // its Context ends filing and printing; Run waits for their goroutines
	log *slog.Logger

	// Everything below belongs to the UI goroutine.
	visit      *flow.Visit
	w          *widgets
	gen        uint64 // bumped by every reset: results for an earlier visit are ignored
	submitting bool
	lastInput  time.Time
	warning    bool
	staffShown bool
	printSeq   uint64
	laidOut    laidOut
	hintWidths map[string]int // hint text -> width on one line (see hintView)
}

// New makes the app; Run shows it.
func New(cfg Config) *App {
	applyTheme()
	if cfg.Bundle == nil {
		b, err := i18n.Load("")
		if err != nil {
			panic(fmt.Sprintf("tui: embedded catalogs: %v", err)) // a build defect, caught by i18n's tests
		}
		cfg.Bundle = b
	}
	if cfg.DefaultLanguage == "" || !cfg.Bundle.Has(cfg.DefaultLanguage) {
		cfg.DefaultLanguage = i18n.Fallback
	}
	if len(cfg.Categories) == 0 {
		cfg.Categories = i18n.DefaultCategories()
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.IdleWarning <= 0 || cfg.IdleWarning >= cfg.IdleTimeout {
		cfg.IdleWarning = min(DefaultIdleWarning, cfg.IdleTimeout/2)
	}
	if cfg.ReceiptTimeout <= 0 {
		cfg.ReceiptTimeout = DefaultReceiptTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &App{
		cfg:        cfg,
		tv:         termapp.New(),
		log:        cfg.Logger.With(logKeyComponent, "tui"),
		visit:      flow.New(cfg.DefaultLanguage),
		lastInput:  time.Now(),
		hintWidths: map[string]int{},
	}
	a.tv.SetInputCapture(a.onKey)
	a.tv.SetMouseCapture(a.onMouse)
	a.tv.SetBeforeDrawFunc(func(screen tcell.Screen) bool {
		a.layout(screen.Size())
		return false
	})
	a.build()
	a.show(flow.Welcome)
	return a
}

// Run shows the app on screen (a real terminal when nil) and blocks until
// Stop is called.
func (a *App) Run(screen tcell.Screen) error {
	return a.tv.Run(screen, a.idleClock())
}

// Stop ends Run. It is safe to call from any goroutine, more than once,
// and before Run: Run then returns at once.
func (a *App) Stop() {
	a.tv.Stop()
}

// t translates key into the visit's language.
func (a *App) t(key string, args ...any) string {
	return a.cfg.Bundle.T(a.visit.Lang, key, args...)
}

// notice is the privacy notice in the visit's language, stating the
// retention period the server enforces for the chosen category: the
// sentence is made from the same policy (Config.Retention), so the promise
// cannot drift from the rule.
func (a *App) notice() string {
	return a.t("contact.notice", "months", a.retention().Months(a.visit.Category))
}

// retention is the policy in force.
func (a *App) retention() retention.Policy {
	if a.cfg.RetentionNow != nil {
		return a.cfg.RetentionNow()
	}
	return a.cfg.Retention
}

// onKey sees every key first: it keeps the idle clock, dismisses the idle
// warning, swallows Ctrl-C (customers must not be able to quit the kiosk)
// and runs the screen's bound actions.
func (a *App) onKey(ev *tcell.EventKey) *tcell.EventKey {
	a.lastInput = time.Now()
	if a.warning {
		a.hideWarning()
		return nil // the key only said "I'm still here"
	}
	if a.staffKey(ev) {
		return nil
	}
	switch {
	case ev.Key() == tcell.KeyCtrlC:
		return nil
	case a.submitting:
		return nil // the draft must not change while it is being filed
	case ev.Key() == tcell.KeyRune && termapp.ControlRune(ev.Rune()):
		return nil
	}
	if keys.Handle(a.w.keys[a.visit.Step], ev) {
		return nil
	}
	return ev
}

func (a *App) onMouse(ev *tcell.EventMouse, action tview.MouseAction) (*tcell.EventMouse, tview.MouseAction) {
	if action == tview.MouseMove {
		return ev, action
	}
	a.lastInput = time.Now()
	if a.warning {
		if action == tview.MouseLeftDown || action == tview.MouseLeftClick {
			a.hideWarning()
		}
		return nil, action
	}
	if a.staffShown {
		if action == tview.MouseLeftDown || action == tview.MouseLeftClick {
			a.hideStaff()
		}
		return nil, action
	}
	if a.submitting {
		return nil, action
	}
	// tview turns a second click within half a second into a double click,
	// even on another button, and buttons ignore double clicks. A customer
	// tapping Next on two screens in quick succession must not be ignored.
	if action == tview.MouseLeftDoubleClick {
		action = tview.MouseLeftClick
	}
	return ev, action
}

// start leaves the welcome screen.
func (a *App) start() {
	a.log.Info("visit started", logKeyLang, a.visit.Lang)
	if err := a.visit.Next(); err == nil {
		a.show(a.visit.Step)
	}
}

// next checks the current step and moves on, or shows why not next to the
// field.
func (a *App) next() {
	from := a.visit.Step
	if err := a.visit.Next(); err != nil {
		var fe *complaint.FieldError
		if !errors.As(err, &fe) {
			return
		}
		if from == flow.Contact {
			// Every wrong contact field at once, the focus on the first.
			if all := a.visit.ContactProblems(); len(all) > 0 {
				a.clearErrors(flow.Contact)
				for i := len(all) - 1; i >= 0; i-- {
					a.fieldError(all[i])
				}
				return
			}
		}
		a.fieldError(fe)
		return
	}
	a.clearErrors(from)
	a.show(a.visit.Step)
}

func (a *App) back() {
	a.visit.Back()
	a.show(a.visit.Step)
}

func (a *App) edit(s flow.Step) {
	a.visit.Edit(s)
	a.show(s)
}

// setLanguage switches language on the welcome screen: every widget is
// rebuilt with the new words (what was typed is in the visit and survives).
func (a *App) setLanguage(lang string) {
	if !a.cfg.Bundle.Has(lang) {
		return
	}
	a.visit.Lang = lang
	a.build()
	a.show(a.visit.Step)
	a.tv.SetFocus(a.w.start)
}

// reset forgets the visit: a new visit, new widgets (so no widget keeps a
// previous customer's text, selection or scroll position) and the welcome
// screen in the default language.
func (a *App) reset(reason string) {
	a.log.Info("visit cleared", logKeyStep, a.visit.Step.String(), "reason", reason)
	a.gen++
	a.printSeq++
	a.submitting = false
	a.visit = flow.New(a.cfg.DefaultLanguage)
	a.build() // also closes the idle warning and the staff panel
	a.show(flow.Welcome)
}

// submit files the draft in the background; the result comes back through
// filed on the UI goroutine.
func (a *App) submit() {
	if a.submitting {
		return
	}
	a.submitting = true
	a.setReviewMessage(a.t("submit.saving"), styleText)
	d, gen, filer, hook := a.visit.Draft(), a.gen, a.cfg.Filer, a.cfg.OnReceipt
	a.tv.Go(func() {
		f, err := fileSafely(a.tv.Context(), filer, d)
		// The complaint is durable from here; the receipt's QR code is
		// encoded now, off the UI goroutine, so that showing the receipt
		// is only a swap of widgets and one draw.
		var symbol *qr.Matrix
		if err == nil {
			symbol = encodeReceiptQR(f.URL)
		}
		var shown bool
		var printJob func()
		if !a.tv.Update(func() { shown, printJob = a.filed(gen, f, symbol, err) }) {
			return
		}
		// The receipt is on screen now (Update returns after the draw).
		if printJob != nil {
			a.tv.Go(printJob)
		}
		if shown && hook != nil {
			// Queued after the update that drew the receipt, so it runs
			// once the receipt is on screen.
			a.tv.UpdateIf(func() bool {
				if a.gen == gen {
					hook(f)
				}
				return false
			})
		}
	})
}

// fileSafely calls File with a deadline and turns a panic into an error: a
// broken filer must leave the customer an apology and a Try again button,
// not a dead kiosk.
func fileSafely(ctx context.Context, filer termapp.Filer, d filing.Draft) (f filing.Filed, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("filer panicked: %v", p)
		}
	}()
	if filer == nil {
		return f, errors.New("no filer configured")
	}
	ctx, cancel := context.WithTimeout(ctx, fileTimeout)
	defer cancel()
	return filer.File(ctx, d)
}

// filed shows the result of a submission and reports whether it drew a
// receipt, and the receipt's print job to start once it has been drawn
// (see showReceipt); symbol is the receipt's QR code (see encodeReceiptQR).
func (a *App) filed(gen uint64, f filing.Filed, symbol *qr.Matrix, err error) (shown bool, printJob func()) {
	if gen != a.gen {
		// The visit was cleared meanwhile. The complaint (if stored) stays
		// stored; only staff can now tell the customer its code.
		if err == nil {
			a.log.Warn("complaint filed after its visit was cleared", logKeyComplaint, f.Complaint.ID)
		}
		return false, nil
	}
	a.submitting = false
	var fe *complaint.FieldError
	switch {
	case err == nil:
		a.log.Info("complaint filed", logKeyComplaint, f.Complaint.ID)
		a.visit.Filed(f)
		a.build() // drop every widget that held the customer's text
		return true, a.showReceipt(f, symbol)
	case errors.As(err, &fe):
		a.log.Info("complaint refused", logKeyField, fe.Field, logKeyProblem, fe.Problem)
		a.visit.Fix(fe.Field)
		a.show(a.visit.Step)
		a.fieldError(fe)
	case errors.Is(err, filing.ErrUnavailable):
		a.log.Error("complaint not stored: storage unavailable", logKeyErr, err)
		a.setReviewMessage(a.t("submit.unavailable"), styleError)
		a.w.submit.SetLabel(a.t("button.try_again"))
	default:
		a.log.Error("complaint not stored", logKeyErr, err)
		a.setReviewMessage(a.t("submit.failed"), styleError)
		a.w.submit.SetLabel(a.t("button.try_again"))
	}
	return false, nil
}
