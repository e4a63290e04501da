// Package staffui owns the staff terminal (`kiosk staff`): sign-in with a
// staff id and PIN, the branch's queue of complaint cases sorted by the
// next deadline, a case with its whole timeline, the actions staff record
// on it (ISO 10002 clause 8: acknowledge, assess, investigate, respond,
// close...), complaints filed on a walk-in customer's behalf, and receipts
// printed again.
//
// Every action is a local write to the kiosk database (Queue.Act) that the
// sync client sends on later, so the terminal works offline and shows what
// is not yet sent. Customer text is untrusted: it is cleaned with textsafe
// and drawn by widgets that never read tview style tags (text.go).
//
// What the screens know apart from drawing (key bindings as data, which
// actions are offered, the queue's filter and selection, the timeline's
// text) is in package model; this package draws it and reacts to input.
//
// Sign-in is confirmed by the central server while it can be reached
// (Sessions: a session the server attributes the person's actions to,
// ended at sign-out); only when it cannot be is the person signed in
// against the stored directory, within the server's bound on offline
// sign-in, and the screen then says they are signed in offline.
//
// Concurrency: tview widgets belong to the UI goroutine. Sign-in (the
// server, or a slow PIN hash), actions, filing, printing, store
// notifications and the idle clock run in goroutines and change the
// screen only through the shell's Update (package termapp).
package staffui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"ombud/kiosk/i18n"
	"ombud/kiosk/printer"
	"ombud/kiosk/session"
	"ombud/kiosk/staffui/model"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/kiosk/termapp"
	"ombud/kiosk/termapp/keys"
	"ombud/shared/catalog"
	"ombud/shared/hlc"
	"ombud/shared/lifecycle"
	"ombud/shared/retention"
	"ombud/shared/sla"
	"ombud/shared/staff"
)

// Config is what the kiosk program gives the staff terminal.
type Config struct {
	Store Store      // required
	Clock *hlc.Clock // stamps the events staff record; required

	// Branch is the branch id, stamped on events whose case has no branch
	// of its own (a case's events carry the case's branch); BranchName is
	// what the header shows.
	Branch, BranchName string

	// Teams are a team terminal's teams (nil on a branch's terminal): the
	// sign-in screen names them instead of the branch.
	Teams []string

	// Filer files complaints for walk-in customers (nil: `n` says filing
	// is not available here).
	Filer termapp.Filer
	// Printer prints receipts (nil: none; the code is shown to be written
	// down).
	Printer printer.Printer
	// Bundle words the paper receipt in the customer's language and holds
	// the privacy notice read to a customer who gives contact details
	// (the embedded catalogs when nil).
	Bundle *i18n.Bundle
	// Categories are offered when filing and assessing (the default list
	// when empty).
	Categories []i18n.Category
	// Retention is the server's retention policy, whose period the
	// privacy notice states (the zero value: its default), until
	// RetentionNow (the server's as last received) is set.
	Retention    retention.Policy
	RetentionNow func() retention.Policy
	// Language is the language of complaints filed here for walk-in
	// customers (i18n.Fallback when empty or unknown).
	Language string
	// PublicURL is the base of the tracking URL printed on receipts, as in
	// filing.Config; empty prints no URL and no QR code.
	PublicURL string
	// SLA returns the rules in force (kiosk/slarules), which date a
	// reprinted receipt as the original was; nil is sla.Fallback(2, 15)
	// in Location.
	SLA func() *sla.Config
	// Location is the branch's time zone for every date shown (time.Local
	// when nil).
	Location *time.Location

	// Sessions confirms sign-ins with the central server: only when it
	// cannot be reached is a person signed in offline, against the stored
	// directory, and the screen then says so for as long as they are
	// signed in. Nil: every sign-in is offline.
	Sessions Sessions
	// RefreshDirectory fetches the staff directory at once (optional): a
	// person the server has just confirmed whom the stored directory does
	// not list yet is looked up again after it.
	RefreshDirectory func(context.Context) error

	// Lockout is the wrong-PIN rule (staff.DefaultLockout when zero).
	Lockout staff.Lockout
	// IdleSignOut signs the person out after this long without a key or a
	// click (DefaultIdleSignOut when zero).
	IdleSignOut time.Duration

	// Now is the time of sign-in checks and deadlines (time.Now when nil).
	Now func() time.Time
	// Logger logs ids, codes and errors, never customer text.
	Logger *slog.Logger
	// OnAct is called after every durable local write (an action, a
	// filing) so the sync client is woken. It must not block.
	OnAct func()
	// SyncStatus is shown in the header: online or not, how many events
	// wait to be sent. It is called on the UI goroutine about once a
	// second, so it must not block.
	SyncStatus func() string
	// SyncStatusIn is SyncStatus in the person's words (tr gives a staff
	// catalog's message); used instead of SyncStatus when set.
	SyncStatusIn func(tr func(string, ...any) string) string
	// Words are the staff screens' catalogs (LoadCatalogs("") when nil).
	Words *catalog.Set
	// UILanguage is the language the staff screens start in (English when
	// empty or not in Words): the branch's working language. A person
	// may switch on the sign-in screen for their session.
	UILanguage string

	// OperatorQuit lets Ctrl-Q stop the program (off at a branch, where a
	// signal stops it; on for demos and trials).
	OperatorQuit bool
}

// DefaultIdleSignOut is Config.IdleSignOut's default.
const DefaultIdleSignOut = 5 * time.Minute

// Bounds on the store calls: a read that takes longer than readTimeout is
// shown as an error rather than freezing the screen; writes wait for the
// store's busy timeout, which is shorter than writeTimeout.
const (
	readTimeout  = 3 * time.Second
	writeTimeout = 30 * time.Second
	printTimeout = 20 * time.Second
	// signOutTimeout bounds telling the server of a sign-out, which is
	// best effort: a session the server is not told of ends when it
	// expires.
	signOutTimeout = 3 * time.Second
)

// Attribute keys of the terminal's log records: ids only, never a
// tracking code (enough to act on a case on its public page) nor
// customer text.
const (
	logKeyComponent = "component"
	logKeyStaff     = "staff"
	logKeyComplaint = "complaint"
	logKeyEvent     = "event"
	logKeyType      = "type"
	logKeyReason    = "reason"
	logKeyErr       = "err"
	logKeySession   = "session"
	logKeyOnline    = "online"
)

// App is the staff terminal.
type App struct {
	cfg  Config
	lang string       // the staff screens' language now (UI goroutine)
	tv   *termapp.App // its Context ends store calls, filing and printing
	log  *slog.Logger

	// Everything below belongs to the UI goroutine.
	w         *widgets
	gen       uint64 // bumped at every sign-out: results for an earlier session are dropped
	acct      *staff.Account
	online    *session.Session // the server confirmed acct's sign-in; nil: offline, or nobody
	offline   bool             // acct was signed in offline
	screen    model.Screen     // SignIn, Queue or Case
	overlays  []model.Screen   // Form, Search, Help, Notice, Result, topmost last
	queue     model.Cases
	counts    map[lifecycle.State]int
	detail    *cases.Detail // the open case
	notices   model.Notices
	revoked   bool // the directory says the signed-in account is revoked
	busy      bool // a sign-in, action or filing is being written
	lastInput time.Time
	syncText  string
	minute    int64 // the minute last drawn, so overdue marks move on time
}

// New makes the app; Run shows it.
func New(cfg Config) *App {
	if cfg.Store == nil || cfg.Clock == nil {
		panic("staffui: Config.Store and Config.Clock are required")
	}
	if cfg.Bundle == nil {
		b, err := i18n.Load("")
		if err != nil {
			panic(fmt.Sprintf("staffui: embedded catalogs: %v", err)) // a build defect, caught by i18n's tests
		}
		cfg.Bundle = b
	}
	if cfg.Words == nil {
		w, err := LoadCatalogs("")
		if err != nil {
			panic(fmt.Sprintf("staffui: embedded catalogs: %v", err)) // a build defect, caught by the catalog tests
		}
		cfg.Words = w
	}
	if cfg.UILanguage == "" || !cfg.Words.Has(cfg.UILanguage) {
		cfg.UILanguage = catalog.Fallback
	}
	if len(cfg.Categories) == 0 {
		cfg.Categories = i18n.DefaultCategories()
	}
	if cfg.Language == "" || !cfg.Bundle.Has(cfg.Language) {
		cfg.Language = i18n.Fallback
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.SLA == nil {
		fallback, err := sla.Fallback(2, 15, cfg.Location)
		if err != nil {
			panic(err) // constant days
		}
		cfg.SLA = func() *sla.Config { return fallback }
	}
	if cfg.Lockout == (staff.Lockout{}) {
		cfg.Lockout = staff.DefaultLockout
	}
	if cfg.IdleSignOut <= 0 {
		cfg.IdleSignOut = DefaultIdleSignOut
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BranchName == "" {
		cfg.BranchName = cfg.Branch
	}
	a := &App{
		cfg:       cfg,
		lang:      cfg.UILanguage,
		tv:        termapp.New(),
		log:       cfg.Logger.With(logKeyComponent, "staffui"),
		lastInput: time.Now(),
	}
	a.tv.SetInputCapture(a.onKey)
	a.tv.SetMouseCapture(a.onMouse)
	a.tv.SetBeforeDrawFunc(func(screen tcell.Screen) bool {
		w, _ := screen.Size()
		a.layout(w)
		return false
	})
	a.build()
	a.show(model.SignIn)
	return a
}

// Run shows the app on screen (a real terminal when nil) and blocks until
// Stop is called.
func (a *App) Run(screen tcell.Screen) error {
	changes, unsubscribe := a.cfg.Store.Changes()
	defer unsubscribe()
	err := a.tv.Run(screen, a.idleClock(), func() { a.watchChanges(changes) })
	// Quitting signs the person out: the server is told, so that it
	// attributes nothing more to their session. (The UI goroutine has
	// ended: a.online is this goroutine's to read.)
	if a.online != nil {
		a.endSession(a.online.ID)
	}
	return err
}

// Stop ends Run. It is safe to call from any goroutine, more than once,
// and before Run: Run then returns at once.
func (a *App) Stop() { a.tv.Stop() }

// idleClock is the task that signs an idle person out, and keeps the sync
// status and the overdue marks current.
func (a *App) idleClock() func() {
	return a.tv.Every(min(time.Second, a.cfg.IdleSignOut/10), a.tick)
}

// tick applies the idle rule at now and reports whether the screen
// changed.
func (a *App) tick(now time.Time) (changed bool) {
	if a.acct != nil && !a.busy && now.Sub(a.lastInput) >= a.cfg.IdleSignOut {
		a.signOut(a.tr("Signed out after {duration} without input.", "duration", a.roundDuration(a.cfg.IdleSignOut)))
		return true
	}
	if a.online != nil && !a.busy && !now.Before(a.online.ExpiresAt) {
		// The server attributes nothing to a session past its end: sign
		// in again rather than go on as if confirmed.
		a.signOut(a.tr("Your sign-in has expired: sign in again."))
		return true
	}
	if a.updateSyncText() {
		changed = true
	}
	if m := a.cfg.Now().Unix() / 60; m != a.minute {
		a.minute = m
		changed = true
	}
	return changed
}

func (a *App) roundDuration(d time.Duration) string {
	switch {
	case d >= time.Minute && d%time.Minute == 0:
		if d == time.Minute {
			return a.tr("1 minute")
		}
		return a.tr("{count} minutes", "count", int64(d/time.Minute))
	case d >= time.Second:
		return d.Round(time.Second).String()
	}
	return d.String()
}

// watchChanges refreshes the screen after every store commit that may
// change it: another terminal's events arriving, the outbox being sent, a
// new staff directory.
func (a *App) watchChanges(ch <-chan struct{}) {
	for {
		select {
		case <-a.tv.Stopped():
			return
		case _, ok := <-ch:
			if !ok {
				return
			}
			if !a.tv.Update(a.storeChanged) {
				return
			}
		}
	}
}

// storeChanged re-reads what the screen shows and checks the directory
// for the signed-in account's revocation.
func (a *App) storeChanged() {
	if a.acct == nil {
		return
	}
	a.checkDirectory()
	a.refresh()
}

// checkDirectory notes a revocation, to act on at the person's next key
// (signing out in the middle of their reading would lose nothing, but
// telling them why is kinder at the moment they act), and picks up a
// changed name or role.
func (a *App) checkDirectory() {
	ctx, cancel := context.WithTimeout(a.tv.Context(), readTimeout)
	defer cancel()
	d, err := a.cfg.Store.Directory(ctx)
	if err != nil {
		a.log.Warn("staff directory not read", logKeyErr, err)
		return
	}
	acc, ok := d.Find(a.acct.ID)
	switch {
	case !ok || acc.Revoked():
		if !a.revoked {
			a.log.Info("signed-in account revoked", logKeyStaff, a.acct.ID)
		}
		a.revoked = true
	default:
		a.acct.Name, a.acct.Role = acc.Name, acc.Role
	}
}

// revokedMessage is shown when a revoked person is signed out.
const revokedMessage = "You were signed out: this staff account has been revoked. Ask a supervisor."

// onKey sees every key first: the idle clock, a pending revocation,
// Ctrl-C (never quits), then the bindings of the topmost screen.
func (a *App) onKey(ev *tcell.EventKey) *tcell.EventKey {
	a.lastInput = time.Now()
	if ev.Key() == tcell.KeyCtrlC {
		return nil
	}
	if a.acct != nil && a.revoked {
		a.signOut(a.tr(revokedMessage))
		return nil
	}
	if ev.Key() == tcell.KeyRune && termapp.ControlRune(ev.Rune()) {
		return nil
	}
	top := a.top()
	if top == model.SignIn && ev.Key() == tcell.KeyF2 && len(a.cfg.Words.Tags()) > 1 {
		a.switchLanguage()
		return nil
	}
	if top == model.Form && a.dropDownOpen() {
		return ev // Enter chooses, Esc closes the list
	}
	if keys.Handle(a.keymap(top), ev) {
		return nil
	}
	if ev.Key() == tcell.KeyRune {
		// Characters that are neither bound nor the widget's own (moving,
		// scrolling) do nothing, and on the main screens say so: a key
		// typed at a notice must not act on the screen underneath.
		if own, ok := navRunes[top]; ok && !strings.ContainsRune(own, ev.Rune()) {
			if top == model.Queue || top == model.Case {
				a.say(a.tr("The key {key} does nothing here: press ? for the keys.", "key", strconv.QuoteRune(ev.Rune())), styleDim)
			}
			return nil
		}
	}
	return ev
}

// navRunes are the characters each screen's own widget uses.
var navRunes = map[model.Screen]string{
	model.Queue: "jkgG", model.Case: "jk ", model.Help: "jk ", model.Notice: "jk ", model.Result: "jk ",
}

func (a *App) onMouse(ev *tcell.EventMouse, action tview.MouseAction) (*tcell.EventMouse, tview.MouseAction) {
	if action == tview.MouseMove {
		return ev, action
	}
	a.lastInput = time.Now()
	if a.acct != nil && a.revoked && (action == tview.MouseLeftDown || action == tview.MouseLeftClick) {
		a.signOut(a.tr(revokedMessage))
		return nil, action
	}
	if a.top() == model.Search && action == tview.MouseLeftDown && !a.w.search.InRect(ev.Position()) {
		a.endSearch(true) // a click elsewhere keeps the search and leaves the line
	}
	return ev, action
}

// top is the screen keys go to: the topmost overlay, else the screen.
func (a *App) top() model.Screen {
	if n := len(a.overlays); n > 0 {
		return a.overlays[n-1]
	}
	return a.screen
}

// keymap is the bindings of screen s, their actions performed on s.
func (a *App) keymap(s model.Screen) []keys.Binding {
	bs := model.Keymap(s, a.cfg.OperatorQuit, func(c model.Command) { a.perform(s, c) })
	for i := range bs { // the words of the hint row and the help, not the keys
		bs[i].Desc = a.tr(bs[i].Desc)
		if bs[i].Short != "" {
			bs[i].Short = a.tr(bs[i].Short)
		}
	}
	return bs
}

// perform runs command c of screen s.
func (a *App) perform(s model.Screen, c model.Command) {
	switch c.Action {
	case model.ActQuit:
		a.Stop() // only signals: tview is stopped from another goroutine
	case model.ActSignIn:
		a.submitSignIn()
	case model.ActSignOut:
		a.signOut(a.tr("Signed out."))
	case model.ActHelp:
		a.showHelp()
	case model.ActDismiss:
		a.closeOverlay(s)
	case model.ActOpen:
		a.openSelected()
	case model.ActBack:
		a.closeCase()
	case model.ActSearch:
		a.startSearch()
	case model.ActFilter:
		a.openFilterForm()
	case model.ActClear:
		a.queue.Filter = model.DefaultFilter()
		a.refresh()
		a.say(a.tr("Filter and search cleared: {filter}.", "filter", a.queue.Filter.Describe(a.tr)), styleText)
	case model.ActNew:
		a.openFilingForm()
	case model.ActReprint:
		a.reprint()
	case model.ActCaseAction:
		a.startAction(c.Event)
	case model.ActSubmit:
		if s == model.Search {
			a.endSearch(true)
		} else if f := a.w.form; f != nil && f.submit != nil {
			f.submit()
		}
	case model.ActCancel:
		if s == model.Search {
			a.endSearch(false)
		} else {
			a.closeForm()
		}
	}
}

// say puts a message on the status line, until the next one.
func (a *App) say(text string, style tcell.Style) {
	var d doc
	if text != "" {
		d.line(sp(text, style))
	}
	a.w.message.SetDoc(d, false)
}

// updateSyncText reads the sync status and reports whether it changed.
func (a *App) updateSyncText() bool {
	var t string
	switch {
	case a.cfg.SyncStatusIn != nil:
		t = a.cfg.SyncStatusIn(a.tr)
	case a.cfg.SyncStatus != nil:
		t = a.cfg.SyncStatus()
	default:
		return false
	}
	if t == a.syncText {
		return false
	}
	a.syncText = t
	a.w.header.setRight(sp(t+" ", styleBar))
	return true
}

// signOut ends the session: new widgets, so nothing of the last case, the
// queue or a half-typed form stays anywhere on screen or in memory the
// widgets hold; the sign-in screen says why.
func (a *App) signOut(reason string) {
	if a.acct != nil {
		a.log.Info("signed out", logKeyStaff, a.acct.ID, logKeyReason, reason)
	}
	if a.online != nil {
		id := a.online.ID
		a.tv.Go(func() { a.endSession(id) })
	}
	a.gen++
	a.lang = a.cfg.UILanguage // the next person starts in the terminal's language
	a.acct, a.online, a.offline, a.detail, a.counts = nil, nil, false, nil, nil
	a.queue = model.Cases{}
	a.revoked, a.busy = false, false
	a.build()
	a.show(model.SignIn)
	a.say(reason, styleBold)
}

// endSession tells the server that session id ended, best effort: one it
// is not told of ends when it expires. It blocks for at most
// signOutTimeout, whatever the app's state (it runs as the app stops).
func (a *App) endSession(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), signOutTimeout)
	defer cancel()
	if err := a.cfg.Sessions.SignOut(ctx, id); err != nil {
		a.log.Warn("sign-out not confirmed by the server: the session ends when it expires", logKeySession, id, logKeyErr, err)
	}
}

// signedIn starts a session for acct: confirmed by the server (s), or
// offline (s nil).
func (a *App) signedIn(acct staff.Account, s *session.Session) {
	if s != nil {
		a.log.Info("signed in", logKeyStaff, acct.ID, logKeyOnline, true, logKeySession, s.ID)
	} else {
		a.log.Info("signed in", logKeyStaff, acct.ID, logKeyOnline, false)
	}
	a.acct = &acct
	a.online, a.offline = s, s == nil
	a.revoked = false
	// A revocation saved while the PIN was being checked sent its change
	// notice before anyone was signed in: look again now.
	a.checkDirectory()
	a.queue = model.Cases{Filter: model.DefaultFilter()}
	a.build() // the sign-in form's PIN is dropped with its widget
	if a.offline {
		a.w.offline.set(sp(" "+a.tr(offlineNotice), styleHeading))
		a.w.offline.short = []span{sp(" "+a.tr(offlineShort), styleHeading)}
	}
	a.show(model.Queue)
	a.refresh()
	if a.top() != model.Notice {
		a.say(a.tr("Welcome, {name}. Press ? for the keys.", "name", acct.Name), styleText)
	}
}

// refresh re-reads the queue, the counts, the open case and the refused
// actions, and shows any refusal not yet shown.
func (a *App) refresh() {
	if a.acct == nil {
		return
	}
	ctx, cancel := context.WithTimeout(a.tv.Context(), readTimeout)
	defer cancel()
	st := a.cfg.Store
	if rows, err := st.Cases(ctx, a.queue.Filter.Store()); err != nil {
		a.log.Error("queue not read", logKeyErr, err)
		a.say(a.tr("Could not read the queue: {error}", "error", a.plainError(err)), styleError)
	} else {
		a.queue.SetRows(rows)
	}
	if counts, err := st.CaseCounts(ctx); err == nil {
		a.counts = counts
	}
	if a.detail != nil {
		d, err := st.CaseDetail(ctx, a.detail.Case.ID)
		if err != nil {
			a.log.Error("case not read", logKeyComplaint, a.detail.Case.ID, logKeyErr, err)
			a.say(a.tr("Could not read the case again: {error}", "error", a.plainError(err)), styleError)
		} else {
			a.setDetail(d, true)
		}
	}
	a.drawQueueChrome()
	a.drawHeader() // the directory may have renamed the person
	refused, err := st.RefusedActions(ctx, a.acct.ID)
	if err != nil {
		a.log.Error("refused actions not read", logKeyErr, err)
		return
	}
	if unseen := a.notices.Unseen(a.acct.ID, refused); len(unseen) > 0 {
		a.showNotices(unseen)
	}
}

// plainError is an error for the status line: the store's and the
// lifecycle's messages are plain words already; others are shown as they
// are, cleaned.
func (a *App) plainError(err error) string {
	if le, ok := errors.AsType[*lifecycle.Error](err); ok {
		return a.tr(le.Message)
	}
	switch {
	case errors.Is(err, cases.ErrNoCase):
		return a.tr("this case is not in this terminal's store")
	case errors.Is(err, store.ErrUnavailable) || store.Unavailable(err):
		return a.tr("the local database is busy or unavailable; nothing was saved, try again")
	case errors.Is(err, context.DeadlineExceeded):
		return a.tr("the local database did not answer in time; try again")
	}
	return err.Error()
}
