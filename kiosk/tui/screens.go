package tui

import (
	"strings"
	"unicode/utf8"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"ombud/kiosk/termapp/keys"
	"ombud/kiosk/tui/flow"
	"ombud/shared/complaint"
	"ombud/shared/textsafe"
)

const pageIdle = "idle"

// maxContentWidth keeps lines readable on wide screens: beyond about 100
// columns the eye loses its place between the end of one line and the
// start of the next.
const maxContentWidth = 110

// screen is one page: its root, its Tab order and what gets the focus when
// it is shown.
type screen struct {
	root      *tview.Flex // outer row with side margins, resized by layout
	col       *tview.Flex // the content column
	hint      *tview.TextView
	hintWidth int // the hint's width on one line
	// tight is the hint with the keys closer, for when hintWidth does not
	// fit; tightWidth its width.
	hintText, tight string
	tightWidth      int
	focus           []tview.Primitive
	first           tview.Primitive
}

// widgets is one complete set of screens. A new set is built for every new
// visit and language, so no widget carries anything over from a previous
// customer.
type widgets struct {
	pages     *tview.Pages
	screens   map[flow.Step]*screen
	keys      map[flow.Step][]keys.Binding // in the visit's language: see keymaps
	idleBody  *tview.TextView
	staffBody *tview.TextView
	lastFocus tview.Primitive

	start *tview.Button

	categories  *tview.List
	categoryMsg *tview.TextView

	desc, outcome                                *tview.TextArea
	descCount, descMsg, outcomeCount, outcomeMsg *tview.TextView

	name, email, phone          *tview.InputField
	nameMsg, emailMsg, phoneMsg *tview.TextView
	consent                     *tview.Checkbox
	consentMsg                  *tview.TextView
	notice                      *tview.TextView // the privacy notice, with the category's retention period

	reviewCategory, reviewDesc, reviewOutcome, reviewContact, reviewMsg *tview.TextView
	submit                                                              *tview.Button

	receipt *receiptView
}

// build makes a fresh set of screens for the visit as it stands.
func (a *App) build() {
	w := &widgets{pages: tview.NewPages(), screens: map[flow.Step]*screen{}}
	a.w = w
	w.keys = a.keymaps()
	w.screens[flow.Welcome] = a.buildWelcome()
	w.screens[flow.Category] = a.buildCategory()
	w.screens[flow.Description] = a.buildText(flow.Description)
	w.screens[flow.Outcome] = a.buildText(flow.Outcome)
	w.screens[flow.Contact] = a.buildContact()
	w.screens[flow.Review] = a.buildReview()
	for step, s := range w.screens {
		w.pages.AddPage(step.String(), s.root, true, false)
	}
	w.pages.AddPage(pageIdle, a.buildIdle(), true, false)
	w.pages.AddPage(pageStaff, a.buildStaff(), true, false)
	a.tv.SetRoot(w.pages, true)
	// The new pages show no overlay: a flag left set would make an
	// invisible overlay swallow the next key or touch.
	a.warning, a.staffShown = false, false
}

// show switches to step's screen with its content up to date.
func (a *App) show(step flow.Step) {
	s := a.w.screens[step]
	if s == nil {
		return
	}
	if step == flow.Review {
		a.refreshReview()
	}
	a.switchTo(step.String())
	a.tv.SetFocus(s.first)
}

// switchTo shows page alone. SwitchToPage hides every other page, overlays
// included, so their flags go too (an overlay is only ever open over the
// screen it was opened on).
func (a *App) switchTo(page string) {
	a.w.pages.SwitchToPage(page)
	a.warning, a.staffShown = false, false
}

// laidOut is what the current layout was computed for. tview calls layout
// before every draw, but the result only changes with the screen size or
// the widgets (a new visit, a new language, a new receipt): measuring every
// hint row through uniseg on every key press cost more than drawing.
type laidOut struct {
	width, height int
	w             *widgets
	receipt       *receiptView
}

// layout runs before every draw: it centres each screen's content within
// maxContentWidth and lays out the receipt for the screen size.
func (a *App) layout(width, height int) {
	now := laidOut{width, height, a.w, a.w.receipt}
	if now == a.laidOut {
		return
	}
	a.laidOut = now
	margin := max(1, (width-maxContentWidth)/2)
	for _, s := range a.w.screens {
		s.root.ResizeItem(s.root.GetItem(0), margin, 0)
		s.root.ResizeItem(s.root.GetItem(2), margin, 0)
		s.fitHint(width - 2*margin)
	}
	if r := a.w.receipt; r != nil {
		r.layout(width-2, height, r.fitHint(width-2))
	}
}

// fitHint gives the hint row a second line when the keys do not fit in one
// (long translations on a narrow screen): a cut-off hint is no hint.
func (s *screen) fitHint(width int) int {
	rows, text := 1, s.hintText
	switch {
	case s.hintWidth <= width:
	case s.tight != "" && s.tightWidth <= width:
		text = s.tight // one line, the keys closer
	default:
		rows = 2
	}
	if text != "" && s.hint.GetText(false) != text {
		s.hint.SetText(text)
	}
	s.col.ResizeItem(s.hint, rows, 0)
	return rows
}

// --- building blocks ---

func newText(text string) *tview.TextView {
	v := tview.NewTextView().SetWrap(true).SetWordWrap(true).SetText(text)
	v.SetTextStyle(styleText)
	v.SetBackgroundColor(colorBg)
	return v
}

// newMarkup is a text view that understands style tags: every piece of
// dynamic text put into one must go through escapeMarkup. Customer text
// never goes into one: it goes into a newText view, where a "[" is only
// ever a "[".
func newMarkup(text string) *tview.TextView {
	return newText(text).SetDynamicColors(true)
}

// escapeMarkup makes trusted text (catalog strings, the branch name, the
// tracking URL) inert in a markup view (newMarkup, list items): every "["
// that tview could read as the start of a tag is neutralised. tview.Escape
// only knows a narrow alphabet, so "[::u:https://x/]" passes through it and
// becomes a live hyperlink.
//
// "[abc]" becomes "[abc[]", which tview prints as "[abc]". A tag with a URL
// part (three colons) has no escape in tview's grammar: everything up to
// "]" is the address, escaping "[" included. Its "[" is replaced with a
// fullwidth "［", which looks alike and cannot start a tag. Customer text
// never comes here: it goes into plain views, shown exactly as typed.
func escapeMarkup(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '[')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:]
		j := strings.IndexByte(s, ']')
		if j < 0 { // no tag can close: the rest is literal
			b.WriteString(s)
			return b.String()
		}
		inner := s[1:j]
		body := strings.TrimRight(inner, "[")
		switch {
		case strings.Count(inner, ":") >= 3:
			b.WriteString("\uff3b")
			s = s[1:]
		case inner == "": // "[]" is not a tag
			b.WriteString("[]")
			s = s[2:]
		case body != "" && !strings.Contains(body, "["):
			b.WriteString(s[:j])
			b.WriteString("[]")
			s = s[j+1:]
		default: // another "[" inside: this one cannot start a tag
			b.WriteString("[")
			s = s[1:]
		}
	}
}

func spacer() *tview.Box { return tview.NewBox().SetBackgroundColor(colorBg) }

func (a *App) button(label string, selected func()) *tview.Button {
	b := tview.NewButton(label).SetSelectedFunc(selected)
	b.SetStyle(styleButton)
	b.SetActivatedStyle(styleFocused)
	b.SetDisabledStyle(styleHint)
	return b
}

func buttonWidth(b *tview.Button) int {
	return tview.TaggedStringWidth(b.GetLabel()) + 4
}

// buttonRow lays buttons out on one row: left ones first, right ones
// against the right edge.
func buttonRow(left, right []*tview.Button) *tview.Flex {
	row := tview.NewFlex()
	for _, b := range left {
		row.AddItem(b, buttonWidth(b), 0, false).AddItem(spacer(), 2, 0, false)
	}
	row.AddItem(spacer(), 0, 1, false)
	for i, b := range right {
		if i > 0 {
			row.AddItem(spacer(), 2, 0, false)
		}
		row.AddItem(b, buttonWidth(b), 0, false)
	}
	return row
}

// header is the title row: where the customer is, and the branch.
func (a *App) header(title string) *tview.Flex {
	t := newText(" " + title).SetWrap(false)
	t.SetTextStyle(styleField.Bold(true))
	t.SetBackgroundColor(tcell.ColorWhite)
	branch := textsafe.Line(a.cfg.BranchName)
	b := newText(branch + " ").SetWrap(false).SetTextAlign(tview.AlignRight)
	b.SetTextStyle(styleField)
	b.SetBackgroundColor(tcell.ColorWhite)
	return tview.NewFlex().
		AddItem(t, 0, 1, false).
		AddItem(b, utf8.RuneCountInString(branch)+1, 0, false)
}

func (a *App) stepTitle(step flow.Step, title string) string {
	n := int(step-flow.Category) + 1
	return a.t("title.step", "step", n, "total", flow.NumberedSteps) + " · " + title
}

// frame puts a screen together: title row, body, buttons, hint row, with
// side margins that layout adjusts.
func (a *App) frame(step flow.Step, title string, body tview.Primitive, buttons *tview.Flex, focus []tview.Primitive) *screen {
	hint, hintWidth := a.hintView(step)
	tight, tightWidth := a.measureHint(hintTextIn(a.w.keys[step], tightHintLayout))
	col := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(a.header(title), 1, 0, false).
		AddItem(body, 0, 1, true)
	if buttons != nil {
		col.AddItem(buttons, 1, 0, false)
	}
	col.AddItem(hint, 1, 0, false)
	root := tview.NewFlex().
		AddItem(spacer(), 1, 0, false).
		AddItem(col, 0, 1, true).
		AddItem(spacer(), 1, 0, false)
	return &screen{root: root, col: col, hint: hint, hintWidth: hintWidth, hintText: hintText(a.w.keys[step]),
		tight: tight, tightWidth: tightWidth, focus: focus, first: focus[0]}
}

// hintView is step's hint row and the width of its text on one line.
func (a *App) hintView(step flow.Step) (*tview.TextView, int) {
	text := hintText(a.w.keys[step])
	hint := newMarkup(text)
	hint.SetTextStyle(styleHint)
	_, width := a.measureHint(text)
	return hint, width
}

// measureHint is text and its width on one line. Measuring goes through
// uniseg and every visit rebuilds the screens with the same few texts:
// each text is measured once.
func (a *App) measureHint(text string) (string, int) {
	width, ok := a.hintWidths[text]
	if !ok {
		width = tview.TaggedStringWidth(text)
		a.hintWidths[text] = width
	}
	return text, width
}

// setMessage shows msg (plain text) in an inline message view.
func setMessage(v *tview.TextView, msg string, style tcell.Style) {
	v.SetTextStyle(style)
	v.SetText(msg)
}

// --- welcome ---

func (a *App) buildWelcome() *screen {
	title := newText(a.t("welcome.title"))
	title.SetTextStyle(styleTitle)
	body := newText(a.t("welcome.body"))
	var langs []*tview.Button
	for _, tag := range a.cfg.Bundle.Tags() {
		label := a.cfg.Bundle.Name(tag)
		if tag == a.visit.Lang {
			label = "✓ " + label
		}
		langs = append(langs, a.button(label, func() { a.setLanguage(tag) }))
	}
	a.w.start = a.button(a.t("welcome.start"), a.start)
	col := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(spacer(), 1, 0, false).
		AddItem(title, 1, 0, false).
		AddItem(spacer(), 1, 0, false).
		AddItem(body, 3, 0, false).
		AddItem(newText(a.t("welcome.language")), 1, 0, false).
		AddItem(spacer(), 1, 0, false).
		AddItem(buttonRow(langs, nil), 1, 0, false).
		AddItem(spacer(), 2, 0, false).
		AddItem(buttonRow([]*tview.Button{a.w.start}, nil), 1, 0, false).
		AddItem(spacer(), 0, 1, false)
	focus := make([]tview.Primitive, 0, len(langs)+1)
	for _, b := range langs {
		focus = append(focus, b)
	}
	focus = append(focus, a.w.start)
	s := a.frame(flow.Welcome, a.t("welcome.title"), col, nil, focus)
	s.first = a.w.start
	return s
}

// --- category ---

func (a *App) buildCategory() *screen {
	list := tview.NewList().ShowSecondaryText(false).SetHighlightFullLine(true).SetWrapAround(false)
	list.SetMainTextStyle(styleText)
	list.SetSelectedStyle(styleFocused)
	list.SetBackgroundColor(colorBg)
	for i, c := range a.cfg.Categories {
		id := c.ID
		list.AddItem(" "+escapeMarkup(textsafe.Line(c.Label(a.visit.Lang))), "", 0, func() {
			a.visit.Category = id
			if a.w.notice != nil {
				a.w.notice.SetText(a.notice())
			}
			a.next()
		})
		if id == a.visit.Category {
			list.SetCurrentItem(i)
		}
	}
	a.w.categories = list
	a.w.categoryMsg = newText("")
	next := a.button(a.t("button.next"), func() {
		if i := list.GetCurrentItem(); i >= 0 && i < len(a.cfg.Categories) {
			a.visit.Category = a.cfg.Categories[i].ID
		}
		a.next()
	})
	back := a.button(a.t("button.back"), a.back)
	body := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(newText(a.t("category.help")), 2, 0, false).
		AddItem(list, 0, 1, true).
		AddItem(a.w.categoryMsg, 1, 0, false).
		AddItem(spacer(), 1, 0, false)
	return a.frame(flow.Category, a.stepTitle(flow.Category, a.t("category.title")), body,
		buttonRow([]*tview.Button{back}, []*tview.Button{next}), []tview.Primitive{list, next, back})
}

// --- what happened / desired outcome ---

func (a *App) buildText(step flow.Step) *screen {
	limit, text, titleKey, helpKey := complaint.MaxDescription, &a.visit.Description, "description.title", "description.help"
	if step == flow.Outcome {
		limit, text, titleKey, helpKey = complaint.MaxOutcome, &a.visit.DesiredOutcome, "outcome.title", "outcome.help"
	}
	area := tview.NewTextArea().SetWrap(true).SetWordWrap(true)
	area.SetTextStyle(styleField)
	area.SetBackgroundColor(tcell.ColorWhite)
	area.SetBorder(true).SetBorderStyle(styleText).SetBorderColor(colorFg)
	area.SetFocusFunc(func() { area.SetBorderColor(colorFocus) })
	area.SetBlurFunc(func() { area.SetBorderColor(colorFg) })
	area.SetText(*text, true)
	counter := newText("").SetTextAlign(tview.AlignRight).SetWrap(false)
	msg := newText("")
	updateCounter := func(n int) {
		key := "counter"
		if n >= limit {
			key = "counter.full"
		}
		counter.SetText(a.t(key, "count", n, "limit", limit))
	}
	updateCounter(utf8.RuneCountInString(*text))
	area.SetChangedFunc(func() {
		*text = area.GetText()
		updateCounter(utf8.RuneCountInString(*text))
		if strings.TrimSpace(*text) != "" {
			msg.SetText("")
		}
	})
	// The limit counts characters, as complaint.Validate does. tview's own
	// SetMaxLength counts bytes (an "é" costs two) and stops one short, so
	// the limit is enforced here on every key instead.
	area.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		if ev.Key() == tcell.KeyRune || ev.Key() == tcell.KeyEnter {
			if _, start, end := area.GetSelection(); start == end && utf8.RuneCountInString(area.GetText()) >= limit {
				return nil
			}
		}
		return ev
	})
	next := a.button(a.t("button.next"), a.next)
	back := a.button(a.t("button.back"), a.back)
	// As wide as the counter's longest text in this language ("2000 /
	// 2000: limit reached"), so it is never cut; the message gets the rest.
	counterWidth := tview.TaggedStringWidth(a.t("counter.full", "count", limit, "limit", limit)) + 1
	status := tview.NewFlex().
		AddItem(msg, 0, 1, false).
		AddItem(counter, counterWidth, 0, false)
	body := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(newText(a.t(helpKey)), 2, 0, false).
		AddItem(area, 0, 1, true).
		AddItem(status, 2, 0, false)
	if step == flow.Outcome {
		a.w.outcome, a.w.outcomeCount, a.w.outcomeMsg = area, counter, msg
	} else {
		a.w.desc, a.w.descCount, a.w.descMsg = area, counter, msg
	}
	return a.frame(step, a.stepTitle(step, a.t(titleKey)), body,
		buttonRow([]*tview.Button{back}, []*tview.Button{next}), []tview.Primitive{area, next, back})
}

// --- contact ---

func (a *App) buildContact() *screen {
	v := a.visit
	field := func(labelKey string, value *string, limit int, msg **tview.TextView) (*tview.InputField, *tview.Flex) {
		in := tview.NewInputField().SetLabel(a.t(labelKey)).SetLabelWidth(12).SetFieldWidth(32).
			SetAcceptanceFunc(tview.InputFieldMaxLength(limit)).SetText(*value)
		in.SetLabelStyle(styleText.Bold(true))
		in.SetFieldStyle(styleField)
		in.SetBackgroundColor(colorBg)
		in.SetFocusFunc(func() { in.SetFieldStyle(styleFocused) })
		in.SetBlurFunc(func() { in.SetFieldStyle(styleField) })
		*msg = newText("")
		m := *msg
		in.SetChangedFunc(func(s string) {
			*value = s
			m.SetText("")
			a.updateConsentMessage()
		})
		in.SetDoneFunc(func(key tcell.Key) {
			if key == tcell.KeyEnter {
				a.focusNext()
			}
		})
		row := tview.NewFlex().
			AddItem(in, 12+32+1, 0, true).
			AddItem(spacer(), 1, 0, false).
			AddItem(m, 0, 1, false)
		return in, row
	}
	var nameRow, emailRow, phoneRow *tview.Flex
	a.w.name, nameRow = field("contact.name", &v.Name, complaint.MaxName, &a.w.nameMsg)
	a.w.email, emailRow = field("contact.email", &v.Email, complaint.MaxEmail, &a.w.emailMsg)
	a.w.phone, phoneRow = field("contact.phone", &v.Phone, complaint.MaxPhone, &a.w.phoneMsg)

	consent := tview.NewCheckbox().SetLabel(a.t("contact.consent") + "  ").
		SetCheckedString("X").SetUncheckedString(" ").SetChecked(v.Consent())
	consent.SetLabelStyle(styleText.Bold(true))
	consent.SetUncheckedStyle(styleField)
	consent.SetCheckedStyle(styleField.Bold(true))
	consent.SetActivatedStyle(styleFocused)
	consent.SetBackgroundColor(colorBg)
	consent.SetChangedFunc(func(checked bool) {
		a.visit.SetConsent(checked, a.cfg.Now())
		a.updateConsentMessage()
	})
	a.w.consent = consent
	a.w.consentMsg = newText("")
	a.updateConsentMessage()

	next := a.button(a.t("button.next"), a.next)
	back := a.button(a.t("button.back"), a.back)
	a.w.notice = newText(a.notice())
	body := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(a.w.notice, 0, 2, false).
		AddItem(nameRow, 1, 0, true).
		AddItem(emailRow, 1, 0, false).
		AddItem(phoneRow, 1, 0, false).
		AddItem(spacer(), 1, 0, false).
		AddItem(consent, 1, 0, false).
		AddItem(a.w.consentMsg, 2, 0, false).
		AddItem(spacer(), 0, 1, false)
	return a.frame(flow.Contact, a.stepTitle(flow.Contact, a.t("contact.title")), body,
		buttonRow([]*tview.Button{back}, []*tview.Button{next}),
		[]tview.Primitive{a.w.name, a.w.email, a.w.phone, consent, next, back})
}

// updateConsentMessage says, while the customer types, whether their
// details will be kept: details typed without the box ticked are not.
func (a *App) updateConsentMessage() {
	if a.w.consentMsg == nil {
		return
	}
	switch a.visit.ContactState() {
	case flow.ContactDropped:
		setMessage(a.w.consentMsg, a.t("contact.not_kept"), styleError)
	case flow.ContactKept:
		setMessage(a.w.consentMsg, a.t("contact.kept"), styleText)
	default:
		setMessage(a.w.consentMsg, "", styleText)
	}
}

// --- review ---

func (a *App) buildReview() *screen {
	section := func(labelKey string, step flow.Step) (*tview.Flex, *tview.TextView, *tview.Button) {
		label := newText(a.t(labelKey))
		label.SetTextStyle(styleTitle)
		edit := a.button(a.t("button.edit"), func() { a.edit(step) })
		row := tview.NewFlex().
			AddItem(label, 0, 1, false).
			AddItem(edit, buttonWidth(edit), 0, false)
		// Plain text: what the customer typed is shown exactly as typed,
		// whatever brackets it holds (see safe).
		return row, newText(""), edit
	}
	catRow, catText, catEdit := section("review.category", flow.Category)
	descRow, descText, descEdit := section("review.description", flow.Description)
	outRow, outText, outEdit := section("review.outcome", flow.Outcome)
	descBox, outBox := moreText{descText}, moreText{outText}
	conRow, conText, conEdit := section("review.contact", flow.Contact)
	a.w.reviewCategory, a.w.reviewDesc, a.w.reviewOutcome, a.w.reviewContact = catText, descText, outText, conText
	a.w.reviewMsg = newText("")
	a.w.submit = a.button(a.t("button.submit"), a.submit)
	back := a.button(a.t("button.back"), a.back)
	body := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(newText(a.t("review.help")), 1, 0, false).
		AddItem(catRow, 1, 0, false).
		AddItem(catText, 1, 0, false).
		AddItem(descRow, 1, 0, false).
		AddItem(descBox, 0, 3, false).
		AddItem(outRow, 1, 0, false).
		AddItem(outBox, 0, 2, false).
		AddItem(conRow, 1, 0, false).
		AddItem(conText, 2, 0, false).
		AddItem(a.w.reviewMsg, 3, 0, false)
	return a.frame(flow.Review, a.stepTitle(flow.Review, a.t("review.title")), body,
		buttonRow([]*tview.Button{back}, []*tview.Button{a.w.submit}),
		[]tview.Primitive{a.w.submit, catEdit, descEdit, outEdit, conEdit, back})
}

// moreText is a review section's text that says when it does not fit: the
// last cell of its last row becomes "…" (Edit shows it all), so a long
// complaint is never silently cut.
type moreText struct{ *tview.TextView }

func (m moreText) Draw(screen tcell.Screen) {
	m.TextView.Draw(screen)
	x, y, w, h := m.GetInnerRect()
	if w <= 0 || h <= 0 {
		return
	}
	if lines := tview.WordWrap(m.GetText(false), w); len(lines) > h {
		_, style, _ := screen.Get(x+w-1, y+h-1)
		screen.SetContent(x+w-1, y+h-1, '…', nil, style.Bold(true))
	}
}

// safe makes customer text inert for a plain (non-markup) view: textsafe
// removes terminal escapes and control characters. Customer text never goes
// into a markup view: escaping for one depends on the parser's grammar
// (tview.Escape misses tags holding a URL), and what the customer reviews
// must be exactly what is filed.
func safe(s string) string { return textsafe.Clean(s) }

func (a *App) refreshReview() {
	v := a.visit
	label := v.Category
	for _, c := range a.cfg.Categories {
		if c.ID == v.Category {
			label = c.Label(v.Lang)
		}
	}
	a.w.reviewCategory.SetText(safe(label))
	a.w.reviewContact.SetTextStyle(styleText)
	a.w.reviewDesc.SetText(safe(v.Description))
	if strings.TrimSpace(v.DesiredOutcome) == "" {
		a.w.reviewOutcome.SetText(safe(a.t("review.empty")))
	} else {
		a.w.reviewOutcome.SetText(safe(v.DesiredOutcome))
	}
	switch v.ContactState() {
	case flow.ContactNone:
		a.w.reviewContact.SetText(safe(a.t("review.contact.none")))
	case flow.ContactDropped:
		a.w.reviewContact.SetTextStyle(styleError)
		a.w.reviewContact.SetText(safe(a.t("review.contact.not_kept")))
	case flow.ContactKept:
		var parts []string
		for _, p := range []string{v.Name, v.Email, v.Phone} {
			if p = strings.TrimSpace(textsafe.Line(p)); p != "" {
				parts = append(parts, p)
			}
		}
		a.w.reviewContact.SetText(strings.Join(parts, " · "))
	}
	if !a.submitting {
		a.setReviewMessage("", styleText)
		a.w.submit.SetLabel(a.t("button.submit"))
	}
}

func (a *App) setReviewMessage(msg string, style tcell.Style) {
	setMessage(a.w.reviewMsg, msg, style)
}

// --- inline errors ---

// fieldError shows a validation problem next to its field and puts the
// focus there.
func (a *App) fieldError(fe *complaint.FieldError) {
	msg := a.problemText(fe)
	var view *tview.TextView
	var target tview.Primitive
	switch fe.Field {
	case complaint.FieldCategory:
		view, target = a.w.categoryMsg, a.w.categories
	case complaint.FieldDescription:
		view, target = a.w.descMsg, a.w.desc
	case complaint.FieldOutcome:
		view, target = a.w.outcomeMsg, a.w.outcome
	case complaint.FieldName:
		view, target = a.w.nameMsg, a.w.name
	case complaint.FieldEmail:
		view, target = a.w.emailMsg, a.w.email
	case complaint.FieldPhone:
		view, target = a.w.phoneMsg, a.w.phone
	case complaint.FieldConsent:
		view, target = a.w.consentMsg, a.w.consent
	default:
		view = a.w.reviewMsg
	}
	setMessage(view, msg, styleError)
	if target != nil {
		a.tv.SetFocus(target)
	}
}

// problemText finds the most specific message: "error.email.invalid", else
// "error.invalid".
func (a *App) problemText(fe *complaint.FieldError) string {
	key := "error." + fe.Field + "." + fe.Problem
	if _, ok := a.cfg.Bundle.Raw(a.visit.Lang, key); !ok {
		if _, ok := a.cfg.Bundle.Raw("en", key); !ok {
			key = "error." + fe.Problem
		}
	}
	return a.t(key, "limit", fe.Limit)
}

// clearErrors removes the inline messages of a step the customer has just
// completed.
func (a *App) clearErrors(step flow.Step) {
	var views []*tview.TextView
	switch step {
	case flow.Category:
		views = []*tview.TextView{a.w.categoryMsg}
	case flow.Description:
		views = []*tview.TextView{a.w.descMsg}
	case flow.Outcome:
		views = []*tview.TextView{a.w.outcomeMsg}
	case flow.Contact:
		views = []*tview.TextView{a.w.nameMsg, a.w.emailMsg, a.w.phoneMsg}
	}
	for _, v := range views {
		v.SetText("")
	}
}

// --- focus ---

func (a *App) focusNext() { a.moveFocus(1) }
func (a *App) focusPrev() { a.moveFocus(-1) }

// moveFocus steps through the screen's Tab order, skipping disabled
// buttons.
func (a *App) moveFocus(delta int) {
	s := a.currentScreen()
	if s == nil || len(s.focus) == 0 {
		return
	}
	cur := a.tv.GetFocus()
	i := 0
	for j, p := range s.focus {
		if p == cur {
			i = j
			break
		}
	}
	n := len(s.focus)
	for range n {
		i = (i + delta + n) % n
		if b, ok := s.focus[i].(*tview.Button); ok && b.IsDisabled() {
			continue
		}
		a.tv.SetFocus(s.focus[i])
		return
	}
}

func (a *App) currentScreen() *screen {
	if a.visit.Step == flow.Receipt && a.w.receipt != nil {
		return a.w.receipt.screen
	}
	return a.w.screens[a.visit.Step]
}

// --- idle warning overlay ---

func (a *App) buildIdle() tview.Primitive {
	body := newText("").SetTextAlign(tview.AlignCenter)
	body.SetBorder(true).SetTitle(" "+a.t("idle.title")+" ").
		SetBorderColor(colorFocus).SetTitleColor(colorFocus).SetBorderPadding(1, 1, 2, 2)
	a.w.idleBody = body
	return tview.NewFlex().
		AddItem(nil, 0, 1, false).
		AddItem(tview.NewFlex().SetDirection(tview.FlexRow).
			AddItem(nil, 0, 1, false).
			AddItem(body, 8, 0, true).
			AddItem(nil, 0, 1, false), 64, 0, true).
		AddItem(nil, 0, 1, false)
}
