package staffui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"ombud/kiosk/session"
	"ombud/kiosk/staffui/model"
	"ombud/kiosk/store/cases"
	"ombud/kiosk/store/signin"
	"ombud/kiosk/termapp/keys"
	"ombud/shared/staff"
	"ombud/shared/textsafe"
)

// Page names.
const (
	pageSignIn = "signin"
	pageQueue  = "queue"
	pageCase   = "case"
	pageForm   = "form"
	pageHelp   = "help"
	pageNotice = "notice"
	pageResult = "result"
)

// widgets is one complete set of screens. A new set is built at every
// sign-in and sign-out, so no widget carries a case, a search or a PIN
// from one session into the next.
type widgets struct {
	pages                 *tview.Pages
	root                  *tview.Flex
	header, counts, hints *bar
	message               *docView // one to three rows: a message is never cut
	offline               *bar     // while signed in offline, what that means; else no row

	signin  *tview.Form
	id, pin *tview.InputField

	filterLine, legend *bar
	table              *caseTable
	search             *tview.InputField
	queueCol           *tview.Flex

	caseDoc *docView

	help, notice, result *docView
	noticeLines          []string
	resultState          *result
	form                 *formView
}

// build makes a fresh set of screens.
func (a *App) build() {
	w := &widgets{
		pages:   tview.NewPages(),
		header:  newBar(styleBar),
		counts:  newBar(styleText),
		message: newDocView(),
		offline: newBar(styleHeading),
		hints:   newBar(styleDim),
	}
	a.w = w
	a.syncText = ""
	a.updateSyncText()
	a.overlays = nil

	w.pages.AddPage(pageSignIn, a.buildSignIn(), true, false)
	w.pages.AddPage(pageQueue, a.buildQueue(), true, false)
	w.caseDoc = newDocView()
	w.caseDoc.focusable = true
	w.pages.AddPage(pageCase, w.caseDoc, true, false)
	w.help = newOverlayDoc(a.tr("Keys"))
	w.notice = newOverlayDoc(a.tr("Not applied"))
	w.result = newOverlayDoc(a.tr("Complaint filed"))
	w.notice.SetBorderColor(tcell.ColorRed).SetTitleColor(tcell.ColorRed)
	w.pages.AddPage(pageHelp, modal{w.help}, true, false)
	w.pages.AddPage(pageNotice, modal{w.notice}, true, false)
	w.pages.AddPage(pageResult, modal{w.result}, true, false)

	w.root = tview.NewFlex().SetDirection(tview.FlexRow)
	w.root.
		AddItem(w.header, 1, 0, false).
		AddItem(w.counts, 1, 0, false).
		AddItem(w.pages, 0, 1, true).
		AddItem(w.offline, 0, 0, false).
		AddItem(w.message, 1, 0, false).
		AddItem(w.hints, 1, 0, false)
	a.tv.SetRoot(w.root, true)
	a.drawHeader()
}

func newOverlayDoc(title string) *docView {
	v := newDocView()
	v.focusable = true
	v.SetBorder(true).SetTitle(" " + title + " ").SetBorderColor(tcell.ColorYellow).SetTitleColor(tcell.ColorYellow)
	v.SetBorderPadding(0, 0, 1, 1)
	return v
}

// layout runs before every draw: the message gets the rows it needs and
// the counts line is shortened to the screen's width.
func (a *App) layout(width int) {
	a.w.root.ResizeItem(a.w.message, max(1, min(3, a.w.message.rowsAt(width))), 0)
	// A form needs every row at 80x24 (the consent box is its last): the
	// header's "offline" stays meanwhile.
	offline := 0
	if a.offline && a.top() != model.Form {
		offline = 1
	}
	a.w.root.ResizeItem(a.w.offline, offline, 0)
	if a.acct == nil || a.counts == nil {
		a.w.counts.set()
		return
	}
	a.w.counts.set(sp(model.CountsLine(a.tr, a.counts, width), styleText))
}

// drawHeader writes the header: the program, the branch and who is signed
// in (the sync status is on its right, see updateSyncText).
func (a *App) drawHeader() {
	place := a.cfg.BranchName
	if len(a.cfg.Teams) > 0 { // a team terminal: its teams, in the person's words
		place = a.tr("Team {teams}", "teams", strings.Join(a.cfg.Teams, ", "))
	}
	left := []span{sp(" "+a.tr("Ombud staff"), styleBarBold), sp(" · "+place, styleBar)}
	short := []span{sp(" "+place, styleBarBold)}
	if a.acct != nil {
		mode := ""
		if a.offline {
			mode = ", " + a.tr("offline")
		}
		who := sp(fmt.Sprintf(" · %s (%s%s)", a.acct.Name, a.tr(string(a.acct.Role)), mode), styleBar)
		left, short = append(left, who), append(short, who)
	}
	a.w.header.set(left...)
	a.w.header.short = short
}

// show makes s the screen, closing every overlay.
func (a *App) show(s model.Screen) {
	a.screen = s
	a.overlays = nil
	for _, p := range []string{pageForm, pageHelp, pageNotice, pageResult} {
		a.w.pages.HidePage(p)
	}
	a.w.form = nil
	a.w.queueCol.ResizeItem(a.w.search, 0, 0)
	switch s {
	case model.SignIn:
		a.w.pages.SwitchToPage(pageSignIn)
	case model.Queue:
		a.w.pages.SwitchToPage(pageQueue)
	case model.Case:
		a.w.pages.SwitchToPage(pageCase)
	}
	a.focusTop()
	a.drawHeader()
}

// openOverlay puts overlay s (its page already filled) over the screen.
func (a *App) openOverlay(s model.Screen) {
	a.overlays = append(a.overlays, s)
	if page := overlayPage(s); page != "" {
		a.w.pages.SendToFront(page)
		a.w.pages.ShowPage(page)
	}
	a.focusTop()
}

// raise puts overlay s on top, opening it if it is not open.
func (a *App) raise(s model.Screen) {
	if a.top() == s {
		return
	}
	for i, o := range a.overlays {
		if o == s {
			a.overlays = append(a.overlays[:i], a.overlays[i+1:]...)
			break
		}
	}
	a.openOverlay(s)
}

// closeOverlay removes overlay s (wherever it is in the stack).
func (a *App) closeOverlay(s model.Screen) {
	for i := len(a.overlays) - 1; i >= 0; i-- {
		if a.overlays[i] == s {
			a.overlays = append(a.overlays[:i], a.overlays[i+1:]...)
			break
		}
	}
	if page := overlayPage(s); page != "" {
		a.w.pages.HidePage(page)
	}
	if s == model.Form {
		a.w.form = nil
		a.w.pages.RemovePage(pageForm)
	}
	switch s {
	case model.Notice:
		a.w.noticeLines = nil
	case model.Result:
		a.w.resultState = nil
	}
	a.focusTop()
}

func overlayPage(s model.Screen) string {
	switch s {
	case model.Form:
		return pageForm
	case model.Help:
		return pageHelp
	case model.Notice:
		return pageNotice
	case model.Result:
		return pageResult
	}
	return ""
}

// focusTop gives the focus to the topmost screen's widget and shows its
// keys on the hint row.
func (a *App) focusTop() {
	top := a.top()
	var p tview.Primitive
	switch top {
	case model.SignIn:
		p = a.w.signin
	case model.Queue:
		p = a.w.table
	case model.Case:
		p = a.w.caseDoc
	case model.Search:
		p = a.w.search
	case model.Form:
		if a.w.form != nil {
			p = a.w.form.form
		}
	case model.Help:
		p = a.w.help
	case model.Notice:
		p = a.w.notice
	case model.Result:
		p = a.w.result
	}
	if p != nil {
		a.tv.SetFocus(p)
	}
	hints := model.Hints(a.keymap(top))
	if top == model.SignIn && len(a.cfg.Words.Tags()) > 1 {
		hints += " · F2 " + a.tr("language: {name}", "name", a.nextLanguageName())
	}
	a.w.hints.set(sp(" "+hints, styleDim))
}

// --- sign-in ---

func (a *App) buildSignIn() tview.Primitive {
	w := a.w
	f := styledForm()
	f.AddInputField(inert(a.tr("Staff id")), "", 24, acceptTyped, nil)
	f.AddPasswordField(inert(a.tr("PIN")), "", 24, '*', nil)
	f.AddButton(inert(a.tr("Sign in")), a.submitSignIn)
	w.signin = f
	w.id = f.GetFormItem(0).(*tview.InputField)
	w.pin = f.GetFormItem(1).(*tview.InputField)
	w.pin.SetAcceptanceFunc(acceptTyped)
	f.SetBorder(true).SetTitle(" " + inert(a.tr("Staff sign-in")) + " ").SetTitleColor(tcell.ColorYellow).SetBorderColor(tcell.ColorYellow)

	intro := newDocView()
	var d doc
	place := a.tr("Branch {branch}", "branch", a.cfg.BranchName)
	if len(a.cfg.Teams) > 0 {
		place = a.tr("Team terminal: {teams}", "teams", strings.Join(a.cfg.Teams, ", "))
	}
	d.line(sp(place, styleBold))
	d.line(sp(a.tr("Sign in with your staff id and PIN. Your actions are recorded under your id."), styleText))
	intro.SetDoc(d, false)
	col := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(nil, 0, 1, false).
		AddItem(intro, intro.rowsAt(44), 0, false). // as long as the language's words need

		AddItem(f, 9, 0, true).
		AddItem(nil, 0, 1, false)
	return tview.NewFlex().
		AddItem(nil, 0, 1, false).
		AddItem(col, 44, 0, true).
		AddItem(nil, 0, 1, false)
}

// offlineNotice is shown under the screens for as long as a person is
// signed in offline: the server will not attribute their actions to a
// confirmed sign-in, and refuses them once older than its bound.
const (
	offlineNotice = "Signed in offline: the server is out of reach; your actions will be marked as offline."
	// offlineShort is the notice on an 80-column screen.
	offlineShort = "Signed in offline: the server is out of reach; actions will be marked offline."
)

// errNotListed refuses a sign-in the server confirmed for an account the
// terminal's directory does not hold yet: the screens need the person's
// name and role.
var errNotListed = errors.New(msgNotListed)

const msgNotListed = "your account is not on this terminal yet: wait a minute and sign in again"

// signInResult is what checking a sign-in ends in.
type signInResult struct {
	acct    staff.Account
	session *session.Session // the server confirmed it; nil: offline
	err     error
	server  bool // err is the server's answer (a lock-out there, a refusal)
}

// submitSignIn checks the id and PIN in the background: with the server
// when it can be reached, else against the stored directory (the PIN hash
// is deliberately slow, about a fifth of a second).
func (a *App) submitSignIn() {
	if a.top() != model.SignIn {
		return
	}
	if a.tv.GetFocus() == a.w.id {
		a.tv.SetFocus(a.w.pin) // Enter in the id field moves on
		return
	}
	if a.busy {
		return
	}
	id, pin := a.w.id.GetText(), a.w.pin.GetText()
	if strings.TrimSpace(id) == "" {
		a.say(a.tr("Type your staff id first."), styleError)
		a.tv.SetFocus(a.w.id)
		return
	}
	a.w.pin.SetText("")
	a.busy = true
	a.say(a.tr("Checking…"), styleText)
	gen, now := a.gen, a.cfg.Now()
	a.tv.Go(func() {
		ctx, cancel := context.WithTimeout(a.tv.Context(), writeTimeout)
		res := a.checkSignIn(ctx, id, pin, now)
		cancel()
		var taken atomic.Bool
		a.tv.Update(func() {
			if gen != a.gen {
				return
			}
			taken.Store(true)
			a.busy = false
			if res.err != nil {
				a.signInFailed(id, res)
				return
			}
			a.signedIn(res.acct, res.session)
		})
		if res.session != nil && !taken.Load() {
			// Signed out, or stopped, while the server was answering.
			a.endSession(res.session.ID)
		}
	})
}

// checkSignIn asks the server first; only when it cannot be reached does
// it sign the person in against the stored directory. Either way this
// terminal's lock-out holds.
func (a *App) checkSignIn(ctx context.Context, id, pin string, now time.Time) signInResult {
	st, l := a.cfg.Store, a.cfg.Lockout
	offline := func() signInResult {
		acct, err := st.SignIn(ctx, id, pin, now, l)
		return signInResult{acct: acct, err: err}
	}
	if a.cfg.Sessions == nil {
		return offline()
	}
	if err := st.Locked(ctx, id, now, l); err != nil {
		return signInResult{err: err}
	}
	s, err := a.cfg.Sessions.SignIn(ctx, id, pin)
	switch {
	case err == nil:
		return a.confirmed(ctx, s)
	case errors.Is(err, staff.ErrWrongCredentials):
		// Counted here too, so the lock-out is the same when the server
		// is next out of reach.
		if err := st.Refused(ctx, id, now, l); err != nil {
			if _, locked := errors.AsType[*staff.LockedError](err); locked {
				return signInResult{err: err}
			}
			a.log.Error("wrong PIN not counted on this terminal", logKeyErr, err)
		}
		return signInResult{err: staff.ErrWrongCredentials}
	case errors.Is(err, session.ErrUnreachable):
		a.log.Warn("server out of reach: signing in offline", logKeyErr, err)
		return offline()
	}
	return signInResult{err: err, server: true}
}

// confirmed is a sign-in the server confirmed: the person's name and role
// come from the stored directory, fetched again if it does not list them
// (new) or lists them revoked (the server says otherwise).
func (a *App) confirmed(ctx context.Context, s session.Session) signInResult {
	find := func() (staff.Account, bool) {
		d, err := a.cfg.Store.Directory(ctx)
		if err != nil {
			a.log.Error("staff directory not read", logKeyErr, err)
			return staff.Account{}, false
		}
		acct, ok := d.Find(s.StaffID)
		return acct, ok && !acct.Revoked()
	}
	acct, ok := find()
	if !ok && a.cfg.RefreshDirectory != nil {
		if err := a.cfg.RefreshDirectory(ctx); err != nil {
			a.log.Warn("staff directory not fetched", logKeyErr, err)
		}
		acct, ok = find()
	}
	if !ok {
		a.endSession(s.ID)
		return signInResult{err: errNotListed}
	}
	if err := a.cfg.Store.Confirmed(ctx, acct.ID); err != nil {
		a.log.Error("wrong PINs not cleared on this terminal", logKeyErr, err)
	}
	return signInResult{acct: acct, session: &s}
}

func (a *App) signInFailed(id string, res signInResult) {
	var msg string
	err := res.err
	locked, isLocked := errors.AsType[*staff.LockedError](err)
	refused, isRefused := errors.AsType[*session.Error](err)
	_, outOfReach := errors.AsType[*signin.OutOfReachError](err)
	switch {
	case isLocked && res.server:
		msg = a.tr("Too many wrong PINs: this id is locked until {time}.", "time",
			locked.Until.In(a.cfg.Location).Format("15:04:05"))
	case isLocked:
		msg = a.tr("Too many wrong PINs: this id is locked on this terminal until {time}.", "time",
			locked.Until.In(a.cfg.Location).Format("15:04:05"))
	case isRefused:
		// The server's words, for staff; nothing of the customer's.
		msg = a.tr("The server refused the sign-in: {reason}", "reason", textsafe.Line(refused.Error()))
		if r := []rune(msg); len(r) > 200 {
			msg = string(r[:199]) + "…"
		}
	case errors.Is(err, staff.ErrWrongCredentials), errors.Is(err, staff.ErrRevoked), errors.Is(err, staff.ErrOtherBranch),
		errors.Is(err, signin.ErrNeverReached), outOfReach, errors.Is(err, errNotListed):
		// The errors' English sentences are the catalogs' keys.
		msg = upperFirst(a.tr(err.Error())) + "."
	default:
		a.log.Error("sign-in failed", logKeyErr, err)
		msg = a.tr("Sign-in is not possible just now: {error}", "error", a.plainError(err))
	}
	a.log.Info("sign-in refused", logKeyStaff, staff.NormalizeID(textsafe.Line(id)), logKeyReason, msg)
	a.say(msg, styleError)
	a.tv.SetFocus(a.w.pin)
}

// --- queue ---

func (a *App) buildQueue() tview.Primitive {
	w := a.w
	w.filterLine = newBar(styleText)
	w.legend = newBar(styleDim)
	w.legend.set(sp(model.Legend(a.tr), styleDim))
	w.table = newCaseTable(&a.queue, a.cfg.Now, a.cfg.Location, a.openSelected)
	w.table.tr = a.tr
	w.table.label = a.categoryLabel
	w.search = tview.NewInputField().SetLabel(inert(a.tr("Search (code or words):")) + " ").
		SetFieldStyle(styleField).SetLabelStyle(styleBold)
	w.search.SetAcceptanceFunc(acceptTyped)
	w.search.SetChangedFunc(func(text string) {
		if a.top() != model.Search {
			return
		}
		a.queue.Filter.Search = text
		a.refresh()
	})
	w.queueCol = tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(w.filterLine, 1, 0, false).
		AddItem(w.table, 0, 1, true).
		AddItem(w.search, 0, 0, false).
		AddItem(w.legend, 1, 0, false)
	return w.queueCol
}

// drawQueueChrome updates the lines around the table.
func (a *App) drawQueueChrome() {
	rows := a.queue.Rows()
	overdue := 0
	now := a.cfg.Now()
	for _, r := range rows {
		if r.Overdue(now) {
			overdue++
		}
	}
	count := fmt.Sprint(len(rows))
	if len(rows) >= model.MaxRows {
		count = a.tr("the first {count} (narrow with / or f)", "count", model.MaxRows)
	}
	line := []span{sp(" "+a.tr("Showing {filter}: {count}", "filter", a.queue.Filter.Describe(a.tr), "count", count), styleBold)}
	if overdue > 0 {
		line = append(line, sp(" · "+a.tr("{count} OVERDUE", "count", overdue), styleLate))
	}
	line = append(line, sp(" · "+a.tr("due first"), styleDim))
	a.w.filterLine.set(line...)
	if a.queue.Filter == model.DefaultFilter() {
		a.w.table.empty = a.tr("No open cases.")
	} else {
		a.w.table.empty = a.tr("No cases match: press x to clear the filter and search.")
	}
}

func (a *App) startSearch() {
	a.w.search.SetText(a.queue.Filter.Search)
	a.w.queueCol.ResizeItem(a.w.search, 1, 0)
	a.openOverlay(model.Search)
}

// endSearch closes the search line, keeping the search or clearing it.
func (a *App) endSearch(keep bool) {
	a.w.queueCol.ResizeItem(a.w.search, 0, 0)
	a.closeOverlay(model.Search)
	if !keep && a.queue.Filter.Search != "" {
		a.queue.Filter.Search = ""
		a.refresh()
	}
}

// openSelected opens the selected case.
func (a *App) openSelected() {
	r, ok := a.queue.Selected()
	if !ok {
		a.say(a.tr("There is no case to open."), styleDim)
		return
	}
	a.openCase(r.ComplaintID)
}

func (a *App) openCase(id string) {
	ctx, cancel := context.WithTimeout(a.tv.Context(), readTimeout)
	defer cancel()
	d, err := a.cfg.Store.CaseDetail(ctx, id)
	if err != nil {
		a.log.Error("case not read", logKeyComplaint, id, logKeyErr, err)
		a.say(a.tr("Could not open the case: {error}", "error", a.plainError(err)), styleError)
		return
	}
	a.detail = nil
	a.setDetail(d, false)
	a.show(model.Case)
	a.say("", styleText)
}

// closeCase goes back to the queue, the case still selected.
func (a *App) closeCase() {
	if a.detail != nil {
		a.queue.SelectID(a.detail.Case.ID)
	}
	a.detail = nil
	a.w.caseDoc.SetDoc(doc{}, false)
	a.show(model.Queue)
	a.refresh()
	a.say("", styleText)
}

// --- help and notices ---

func (a *App) showHelp() {
	under := a.top()
	var d doc
	d.line(sp(a.helpTitle(under), styleHeading))
	d.blank()
	for _, l := range keys.Help(a.keymap(under), 24) {
		spans := []span{sp(l.Keys, styleBold), sp(l.Desc, styleText)}
		if act, ok := model.CaseActionOf(under, l.Binding); ok && a.detail != nil && a.acct != nil {
			if why := model.Refusal(a.tr, a.detail.Case.State, a.acct.Role, act.Type); why != "" {
				spans = append(spans, sp(" ("+a.tr("not now: {reason}", "reason", why)+")", styleDim))
			}
		}
		d.indented(l.Indent, spans...)
	}
	if under == model.Queue {
		d.blank()
		d.line(sp(a.tr("In the table:")+" ", styleBold), sp(model.Legend(a.tr), styleText))
	}
	a.w.help.SetDoc(d, false)
	a.openOverlay(model.Help)
}

// helpTitle names the screen whose keys the help lists.
func (a *App) helpTitle(s model.Screen) string {
	switch s {
	case model.SignIn:
		return a.tr("Keys on the sign-in screen")
	case model.Queue:
		return a.tr("Keys on the queue screen")
	case model.Case:
		return a.tr("Keys on the case screen")
	case model.Form:
		return a.tr("Keys on the form screen")
	case model.Search:
		return a.tr("Keys on the search screen")
	}
	return a.tr("Keys")
}

// showNotices tells the signed-in person which of their actions were not
// applied; the notice stays until dismissed, and more are added to it.
func (a *App) showNotices(rs []cases.RefusedAction) {
	for _, r := range rs {
		a.log.Info("refused action shown", logKeyStaff, a.acct.ID, logKeyEvent, r.Rejection.EventID, logKeyComplaint, r.ComplaintID)
		a.w.noticeLines = append(a.w.noticeLines, model.NoticeText(a.tr, r))
	}
	var d doc
	d.line(sp(a.tr("Another change won, so these actions of yours were not applied:"), styleBold))
	for _, l := range a.w.noticeLines {
		d.blank()
		d.indented(2, sp("• ", styleError), sp(l, styleText))
	}
	d.blank()
	d.line(sp(a.tr("Open the case to see where it stands now. Enter or Esc closes this."), styleDim))
	a.w.notice.SetDoc(d, false)
	a.raise(model.Notice)
}

// categoryLabel is a category id's label in the terminal's language, as
// the filter and the forms show it; an id no category lists is shown as is.
func (a *App) categoryLabel(id string) string {
	for _, c := range a.cfg.Categories {
		if strings.EqualFold(c.ID, id) {
			return c.Label(a.lang)
		}
	}
	return id
}

// switchLanguage shows the staff screens in the next language (F2 on the
// sign-in screen), keeping the staff id typed; the person works in it
// until they sign out.
func (a *App) switchLanguage() {
	a.lang = a.nextLanguage()
	id := a.w.id.GetText()
	a.build()
	a.show(model.SignIn)
	a.w.id.SetText(id)
	a.say(a.tr("Screens in {language} until you sign out.", "language", a.cfg.Words.Name(a.lang)), styleText)
}

// nextLanguage is the language F2 switches to.
func (a *App) nextLanguage() string {
	tags := a.cfg.Words.Tags()
	i := slices.Index(tags, a.lang)
	return tags[(i+1)%len(tags)]
}

func (a *App) nextLanguageName() string { return a.cfg.Words.Name(a.nextLanguage()) }
