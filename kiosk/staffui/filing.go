package staffui

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/rivo/tview"

	"ombud/kiosk/filing"
	"ombud/kiosk/printer"
	"ombud/kiosk/staffui/model"
	"ombud/kiosk/store"
	"ombud/kiosk/tui/flow"
	"ombud/shared/complaint"
	"ombud/shared/retention"
	"ombud/shared/textsafe"
	"ombud/shared/trackcode"
)

// Labels of the filing form's fields: they name the items in the form.
const (
	labelCategory = "Category"
	labelDesc     = "What happened"
	labelOutcome  = "Desired outcome"
	labelName     = "Name"
	labelEmail    = "Email"
	labelPhone    = "Phone"
	labelNotice   = "Privacy notice"
	labelConsent  = "Customer agrees"
)

// openFilingForm starts a complaint for a walk-in customer, filed under the
// signed-in person's id (channel "staff").
func (a *App) openFilingForm() {
	if a.cfg.Filer == nil {
		a.say(a.tr("Filing is not available on this terminal."), styleError)
		return
	}
	fv := a.newFormView(a.tr("New complaint for a walk-in customer"),
		[]span{sp(a.tr("Type what the customer says. Contact details are kept only with consent."), styleDim)})
	f := fv.form
	labels := make([]string, len(a.cfg.Categories))
	for i, c := range a.cfg.Categories {
		labels[i] = c.Label(a.lang)
	}
	// The labels in the person's language name the form's items.
	label := func(l string) string { return inert(a.tr(l)) }
	category := a.addDropDown(f, a.tr(labelCategory), labels, -1)
	// No tview limit: it counts bytes and silently refuses what would pass
	// it (a paste, or about 1,000 letters of Greek), while the complaint's
	// limits count characters; Validate says "too long" and keeps the text.
	f.AddTextArea(label(labelDesc), "", 0, 4, 0, nil)
	f.AddTextArea(label(labelOutcome), "", 0, 2, 0, nil)
	f.AddInputField(label(labelName), "", 40, acceptTyped, nil)
	f.AddInputField(label(labelEmail), "", 40, acceptTyped, nil)
	f.AddInputField(label(labelPhone), "", 24, acceptTyped, nil)
	// The notice in the customer's language (the complaint's), which the
	// person reads out.
	f.AddTextView(label(labelNotice), a.tr("Read it to the customer:")+" "+textsafe.Clean(a.cfg.Bundle.T(a.cfg.Language, "contact.notice", "months", a.retentionPolicy().Months(""))),
		0, 2, false, true)
	f.AddCheckbox(label(labelConsent), false, nil)
	f.AddButton(inert(a.tr("File")), func() { fv.submit() })
	f.AddButton(inert(a.tr("Cancel")), a.closeForm)

	text := func(l string) string {
		return f.GetFormItemByLabel(label(l)).(interface{ GetText() string }).GetText()
	}
	fv.submit = func() {
		if a.busy || a.acct == nil {
			return
		}
		d := filing.Draft{
			Description:    text(labelDesc),
			DesiredOutcome: text(labelOutcome),
			Language:       a.cfg.Language,
			Staff:          a.acct.ID,
		}
		if *category >= 0 {
			d.Category = a.cfg.Categories[*category].ID
		}
		ct := &complaint.Contact{Name: text(labelName), Email: text(labelEmail), Phone: text(labelPhone)}
		consent := f.GetFormItemByLabel(label(labelConsent)).(*tview.Checkbox).IsChecked()
		dropped := false
		switch {
		case ct.Empty():
		case consent:
			ct.ConsentAt, ct.NoticeVersion = a.cfg.Now(), flow.NoticeVersion+"/"+a.cfg.Language
			d.Contact = ct
		default:
			dropped = true // typed, but the customer did not agree: not kept
		}
		a.submitFiling(fv, d, dropped)
	}
	a.openForm(fv)
}

// submitFiling files d in the background; the form keeps what was typed
// until the complaint is stored.
func (a *App) submitFiling(fv *formView, d filing.Draft, contactDropped bool) {
	a.busy = true
	fv.say(a.tr("Saving…"), styleText)
	gen := a.gen
	a.tv.Go(func() {
		ctx, cancel := context.WithTimeout(a.tv.Context(), writeTimeout)
		f, err := a.cfg.Filer.File(ctx, d)
		cancel()
		if err == nil && a.cfg.OnAct != nil {
			a.cfg.OnAct()
		}
		a.tv.Update(func() {
			if gen != a.gen {
				if err == nil {
					a.log.Warn("complaint filed after sign-out", logKeyComplaint, f.Complaint.ID)
				}
				return
			}
			a.busy = false
			if err != nil {
				msg := a.filingError(err)
				a.log.Warn("complaint not filed", logKeyErr, err)
				fv.say(msg, styleError)
				a.say(msg, styleError)
				return
			}
			a.log.Info("complaint filed for a customer", logKeyStaff, d.Staff, logKeyComplaint, f.Complaint.ID)
			a.closeOverlay(model.Form)
			a.queue.SelectID(f.Complaint.ID)
			a.refresh()
			a.showResult(f, contactDropped)
		})
	})
}

// filingError says why a filing was refused, plainly.
func (a *App) filingError(err error) string {
	if fe, ok := errors.AsType[*complaint.FieldError](err); ok {
		name := map[string]string{
			complaint.FieldCategory: labelCategory, complaint.FieldDescription: labelDesc,
			complaint.FieldOutcome: labelOutcome, complaint.FieldName: labelName,
			complaint.FieldEmail: labelEmail, complaint.FieldPhone: labelPhone,
			complaint.FieldConsent: labelConsent,
		}[fe.Field]
		if name == "" {
			name = fe.Field
		} else {
			name = a.tr(name)
		}
		switch fe.Problem {
		case complaint.ProblemRequired:
			return a.tr("Not filed: {field} is needed.", "field", name)
		case complaint.ProblemTooLong:
			return a.tr("Not filed: {field} is longer than {max} characters.", "field", name, "max", fe.Limit)
		}
		return a.tr("Not filed: {field} is not valid.", "field", name)
	}
	if errors.Is(err, filing.ErrUnavailable) || store.Unavailable(err) {
		return a.tr("Not filed: the local database is unavailable. Nothing typed is lost: try again.")
	}
	return a.tr("Not filed: {error}. Nothing typed is lost.", "error", textsafe.Line(err.Error()))
}

// result is what the filing result screen shows.
type result struct {
	filed          filing.Filed
	contactDropped bool
	print          span
}

// showResult shows a new complaint's code and URL and prints its receipt.
func (a *App) showResult(f filing.Filed, contactDropped bool) {
	r := &result{filed: f, contactDropped: contactDropped}
	a.w.resultState = r
	if a.cfg.Printer == nil {
		r.print = sp(a.tr("No receipt printer here: write the code down for the customer, or let them photograph it."), styleBold)
	} else {
		r.print = sp(a.tr("Printing the receipt…"), styleText)
		gen := a.gen
		a.printReceipt(f.Complaint.ID, a.paperReceipt(f.Complaint, f.URL, f.AcknowledgeBy, f.RespondBy), func(err error) {
			if gen != a.gen || a.w.resultState != r {
				return
			}
			if err != nil {
				r.print = sp(a.tr("The receipt was not printed ({error}). The complaint is saved: give the customer the code above.", "error", textsafe.Line(err.Error())), styleError)
			} else {
				r.print = sp(a.tr("Receipt printed: give it to the customer."), styleGood)
			}
			a.drawResult()
		})
	}
	a.drawResult()
	a.raise(model.Result)
}

func (a *App) drawResult() {
	r := a.w.resultState
	if r == nil {
		return
	}
	f, loc := r.filed, a.cfg.Location
	var d doc
	d.line(sp(a.tr("Filed and saved. The customer's tracking code:"), styleBold))
	d.blank()
	d.line(sp("    "+f.Code.String(), styleHeading))
	d.blank()
	if f.URL != "" {
		d.line(sp(a.tr("Tracking page:")+" ", styleText), sp(f.URL, styleBold))
	}
	d.line(sp(a.tr("Promised: acknowledged by {ack}, answered by {respond}.",
		"ack", model.Date(a.tr, f.AcknowledgeBy.In(loc), "Mon 02 Jan"), "respond", model.Date(a.tr, f.RespondBy.In(loc), "Mon 02 Jan")), styleText))
	if r.contactDropped {
		d.line(sp(a.tr("The contact details were NOT kept: the box saying the customer agrees was not ticked."), styleError))
	}
	d.blank()
	d.line(r.print)
	d.blank()
	d.line(sp(a.tr("Enter or Esc: back to the queue, where the new case is selected."), styleDim))
	a.w.result.SetDoc(d, false)
}

// reprint prints the open case's receipt again: code, URL and QR code, and
// the receipt's promised dates; never the contact details.
func (a *App) reprint() {
	d := a.detail
	if d == nil {
		return
	}
	if a.cfg.Printer == nil {
		a.say(a.tr("No receipt printer is configured on this terminal."), styleError)
		return
	}
	c := d.Complaint
	url := ""
	if a.cfg.PublicURL != "" {
		if code, err := trackcode.Parse(c.Code); err == nil {
			url = strings.TrimRight(a.cfg.PublicURL, "/") + "/t/" + string(code)
		}
	}
	// The dates the first receipt printed: the rules' promise from the
	// Filed event's clock (none if the rules cannot date it).
	rules := a.cfg.SLA()
	ack, respond, err := rules.Promise(c.Branch, c.Category, d.Case.FiledAt.Time())
	if err == nil {
		loc := rules.Location(c.Branch)
		ack, respond = ack.In(loc), respond.In(loc)
	} else {
		ack, respond = time.Time{}, time.Time{}
	}
	r := a.paperReceipt(c, url, ack, respond)
	code := model.DisplayCode(c.Code)
	a.say(a.tr("Printing the receipt of {code}…", "code", code), styleText)
	gen := a.gen
	a.printReceipt(c.ID, r, func(err error) {
		if gen != a.gen {
			return
		}
		if err != nil {
			a.say(a.tr("The receipt of {code} was not printed: {error}", "code", code, "error", textsafe.Line(err.Error())), styleError)
			return
		}
		a.say(a.tr("Receipt printed for {code}.", "code", code), styleGood)
	})
}

// printReceipt prints r, complaint complaintID's receipt, in the
// background and reports on the UI goroutine. The log names the
// complaint, never the code the receipt carries: a tracking code is
// enough to act on a case on its public page.
func (a *App) printReceipt(complaintID string, r printer.Receipt, done func(error)) {
	p := a.cfg.Printer
	a.tv.Go(func() {
		ctx, cancel := context.WithTimeout(a.tv.Context(), printTimeout)
		err := p.Print(ctx, r)
		cancel()
		if err != nil {
			a.log.Error("receipt not printed", logKeyComplaint, complaintID, logKeyErr, err)
		}
		a.tv.Update(func() { done(err) })
	})
}

// paperReceipt is the customer's receipt, in the complaint's language, as
// the kiosk prints it.
func (a *App) paperReceipt(c complaint.Complaint, url string, ack, respond time.Time) printer.Receipt {
	b, lang, loc := a.cfg.Bundle, c.Language, a.cfg.Location
	if !b.Has(lang) {
		lang = a.cfg.Language
	}
	code := textsafe.Line(c.Code)
	if tc, err := trackcode.Parse(c.Code); err == nil {
		code = tc.String()
	}
	var dates []string
	if !ack.IsZero() {
		dates = []string{b.T(lang, "receipt.ack", "date", b.Date(lang, ack)), b.T(lang, "receipt.respond", "date", b.Date(lang, respond))}
	}
	return printer.Receipt{
		Title: b.T(lang, "receipt.title"),
		Lines: []string{
			b.T(lang, "receipt.branch", "branch", textsafe.Line(a.cfg.BranchName)),
			b.T(lang, "receipt.date", "date", b.DateTime(lang, c.FiledAt.In(loc))),
		},
		CodeLabel: b.T(lang, "receipt.code_label"),
		Code:      code,
		URL:       url,
		Footer:    append(dates, b.T(lang, "receipt.follow")),
	}
}

// retentionPolicy is the retention policy in force.
func (a *App) retentionPolicy() retention.Policy {
	if a.cfg.RetentionNow != nil {
		return a.cfg.RetentionNow()
	}
	return a.cfg.Retention
}
