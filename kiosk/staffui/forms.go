package staffui

import (
	"slices"
	"strconv"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"ombud/kiosk/staffui/model"
	"ombud/kiosk/termapp"
)

// formView is a form over the body: a title, a line saying what the form
// does, the fields and a message line for what went wrong. One is open at a
// time; it keeps everything typed until it is saved or cancelled.
type formView struct {
	root   *tview.Flex
	form   *tview.Form
	msg    *docView // two rows
	submit func()
	// cancelled is said when the form is closed without saving.
	cancelled string
}

// styledForm is a tview form in the terminal's colours. Its labels and
// button names are constants of this package (or inert); what staff type
// is shown by tview's text areas and input fields, which read no tags.
func styledForm() *tview.Form {
	f := tview.NewForm()
	f.SetBackgroundColor(tcell.ColorBlack)
	f.SetLabelColor(tcell.ColorWhite)
	f.SetFieldStyle(styleField)
	f.SetButtonStyle(styleField)
	f.SetButtonActivatedStyle(styleFocus)
	f.SetButtonsAlign(tview.AlignLeft)
	return f
}

func (a *App) newFormView(title string, intro []span) *formView {
	fv := &formView{form: styledForm().SetItemPadding(0), msg: newDocView(),
		cancelled: a.tr("Cancelled: nothing was recorded.")}
	fv.root = tview.NewFlex().SetDirection(tview.FlexRow)
	if len(intro) > 0 {
		line := newBar(styleText)
		line.set(intro...)
		fv.root.AddItem(line, 1, 0, false)
	}
	fv.root.AddItem(fv.form, 0, 1, true).AddItem(fv.msg, 2, 0, false)
	fv.root.SetBorder(true).SetTitle(" " + inert(title) + " ").
		SetBorderColor(tcell.ColorYellow).SetTitleColor(tcell.ColorYellow)
	fv.root.SetBorderPadding(0, 0, 1, 1)
	fv.root.SetBackgroundColor(tcell.ColorBlack)
	return fv
}

// say puts a message under the form.
func (fv *formView) say(text string, style tcell.Style) {
	var d doc
	d.line(sp(text, style))
	fv.msg.SetDoc(d, false)
}

// openForm shows fv over the screen.
func (a *App) openForm(fv *formView) {
	if a.w.form != nil {
		a.closeOverlay(model.Form)
	}
	a.w.form = fv
	a.w.pages.AddPage(pageForm, modal{fv.root}, true, false)
	a.openOverlay(model.Form)
}

// closeForm cancels the open form, unless it is being saved: what is being
// written would then arrive with no form to report to.
func (a *App) closeForm() {
	if a.busy {
		a.say(a.tr("Saving… please wait."), styleText)
		return
	}
	msg := a.tr("Cancelled.")
	if a.w.form != nil {
		msg = a.w.form.cancelled
	}
	a.closeOverlay(model.Form)
	a.say(msg, styleDim)
}

// dropDownOpen reports whether the focused widget is an open drop-down,
// which Enter and Esc belong to (choose, close the list) before the form.
func (a *App) dropDownOpen() bool {
	d, ok := a.tv.GetFocus().(*tview.DropDown)
	return ok && d.IsOpen()
}

// addDropDown adds a drop-down of trusted options; the returned index
// follows the choice (-1: none yet).
func (a *App) addDropDown(f *tview.Form, label string, opts []string, initial int) *int {
	idx := new(int)
	*idx = -1
	safe := make([]string, len(opts))
	for i, o := range opts {
		safe[i] = inert(o)
	}
	if initial >= 0 && initial < len(opts) {
		*idx = initial
	} else {
		initial = -1
	}
	f.AddDropDown(inert(label), safe, initial, func(_ string, i int) { *idx = i })
	d := f.GetFormItem(f.GetFormItemCount() - 1).(*tview.DropDown)
	d.SetTextOptions(" ", " ", "", "", inert(a.tr("(choose: Enter)")))
	d.SetListStyles(styleField, styleFocus)
	return idx
}

// acceptTyped refuses control characters typed into a field.
func acceptTyped(_ string, r rune) bool { return !termapp.ControlRune(r) }

// openFilterForm asks which cases the queue shows.
func (a *App) openFilterForm() {
	fv := a.newFormView(a.tr("Filter the queue"), []span{sp(a.tr("Search with / ; x clears everything."), styleDim)})
	fv.cancelled = a.tr("The filter is unchanged.")
	f := fv.form.SetItemPadding(1)
	cur := a.queue.Filter

	statuses := model.StatusFilters()
	opts := make([]string, len(statuses))
	for i, s := range statuses {
		opts[i] = a.tr(string(s) + " cases")
	}
	status := a.addDropDown(f, a.tr("Status"), opts, slices.Index(statuses, cur.Status))

	catOpts := []string{a.tr("any")}
	catIDs := []string{""}
	catInitial := 0
	for _, c := range a.cfg.Categories {
		if c.ID == cur.Category {
			catInitial = len(catIDs)
		}
		catIDs = append(catIDs, c.ID)
		catOpts = append(catOpts, c.Label(a.lang))
	}
	if cur.Category != "" && catInitial == 0 { // a category from elsewhere, set before
		catInitial = len(catIDs)
		catIDs = append(catIDs, cur.Category)
		catOpts = append(catOpts, cur.Category)
	}
	category := a.addDropDown(f, a.tr("Category"), catOpts, catInitial)

	prioOpts := []string{a.tr("any"), "1", "2", "3", "4"}
	priority := a.addDropDown(f, a.tr("Priority"), prioOpts, cur.Priority)

	apply := func() {
		nf := a.queue.Filter
		if *status >= 0 {
			nf.Status = statuses[*status]
		}
		if *category >= 0 {
			nf.Category = catIDs[*category]
		}
		if *priority >= 0 {
			nf.Priority, _ = strconv.Atoi(prioOpts[*priority]) // "any" (in any language) is 0
		}
		a.queue.Filter = nf
		a.closeOverlay(model.Form)
		a.refresh()
		a.say(a.tr("Showing {filter}.", "filter", nf.Describe(a.tr)), styleText)
	}
	f.AddButton(inert(a.tr("Apply")), apply)
	f.AddButton(inert(a.tr("Clear")), func() {
		a.closeOverlay(model.Form)
		a.perform(model.Queue, model.Command{Action: model.ActClear})
	})
	f.AddButton(inert(a.tr("Cancel")), a.closeForm)
	fv.submit = apply
	a.openForm(fv)
}
