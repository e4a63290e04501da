package staffui

import (
	"context"
	"errors"
	"slices"
	"strings"

	"ombud/kiosk/i18n"
	"ombud/kiosk/staffui/model"
	"ombud/kiosk/store/cases"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/rootcause"
	"ombud/shared/staff"
	"ombud/shared/textsafe"
)

// timelineIndent is where an entry's text starts: after the date and the
// public/internal label ("12 May 14:05  internal  ").
const timelineIndent = 24

// setDetail shows case d; keepScroll keeps the reader's place (a refresh).
func (a *App) setDetail(d cases.Detail, keepScroll bool) {
	a.detail = &d
	a.w.caseDoc.SetDoc(a.caseDoc(d), keepScroll)
}

// caseDoc lays out everything the case screen shows. Customer text and
// everything that came from another device is cleaned (package model and
// sp/doc.text do it) and never read as markup.
func (a *App) caseDoc(d cases.Detail) doc {
	c, loc, now := d.Case, a.cfg.Location, a.cfg.Now()
	var out doc

	out.line(sp(model.DisplayCode(c.Code), styleHeading), sp("  "+strings.ToUpper(a.tr(string(c.State))), styleBold))
	deadline, overdue := model.Deadline(a.tr, d.NextStep, d.DueAt, c.WaitingOnCustomer, now, loc)
	if overdue {
		out.line(sp("! "+deadline, styleLate))
	} else {
		out.line(sp(deadline, styleText))
	}
	var facts []string
	if c.Priority > 0 {
		facts = append(facts, a.tr("priority {priority}", "priority", c.Priority))
	} else {
		facts = append(facts, a.tr("not assessed"))
	}
	if c.Severity != "" {
		facts = append(facts, a.tr("severity {severity}", "severity", a.tr(string(c.Severity))))
	}
	if c.Queue != "" {
		facts = append(facts, a.tr("queue {queue}", "queue", c.Queue))
	} else {
		facts = append(facts, a.tr("no queue"))
	}
	if c.Escalated {
		facts = append(facts, a.tr("ESCALATED (level {level})", "level", c.EscalationLevel))
	}
	if c.WaitingOnCustomer {
		facts = append(facts, a.tr("waiting on the customer since {date}", "date", model.Date(a.tr, c.WaitingSince.Time().In(loc), "02 Jan 15:04")))
	}
	if c.ReopenCount > 0 {
		facts = append(facts, a.tr("reopened {count}×", "count", c.ReopenCount))
	}
	out.indented(2, sp(strings.Join(facts, " · "), styleText))
	out.indented(2, sp(a.tr("Category: {category}", "category", a.categoryName(c.Category)), styleText))
	cp := d.Complaint
	out.indented(2, sp(a.tr("Filed {date} via {channel} · language {language}", "date", model.Date(a.tr, cp.FiledAt.In(loc), "Mon 02 Jan 2006 15:04"),
		"channel", a.tr(string(cp.Channel)), "language", cp.Language), styleText))
	if n := len(d.Unsynced); n > 0 {
		out.line(sp(model.MarkUnsynced+" "+a.tr("{count} of this case's events not sent to the server yet", "count", n), styleBold))
	}
	if n := len(c.Rejected); n > 0 {
		out.line(sp(model.MarkRefused+" "+a.tr("{count} event(s) not applied: see the timeline", "count", n), styleError))
	}

	// What the person may do now, with the keys: the hint row has no room.
	if a.acct != nil {
		offered := model.Offered(c.State, a.acct.Role)
		spans := []span{sp(a.tr("Actions:")+" ", styleBold)}
		for i, act := range offered {
			if i > 0 {
				spans = append(spans, sp("  ", styleText))
			}
			spans = append(spans, sp(string(act.Key), styleHeading), sp(" "+a.tr(act.Name), styleText))
		}
		spans = append(spans, sp("  p", styleHeading), sp(" "+a.tr("reprint"), styleText))
		out.indented(9, spans...)
	}

	out.blank()
	out.line(sp(a.tr("What happened"), styleHeading))
	out.text("  ", cp.Description, styleText)
	out.line(sp(a.tr("What the customer wants"), styleHeading))
	if strings.TrimSpace(cp.DesiredOutcome) == "" {
		out.line(sp("  "+a.tr("(not said)"), styleDim))
	} else {
		out.text("  ", cp.DesiredOutcome, styleText)
	}
	if ct := cp.Contact; ct != nil {
		out.line(sp(a.tr("Contact"), styleHeading), sp("  "+a.tr("(the customer agreed to notice {notice} on {date})",
			"notice", ct.NoticeVersion, "date", model.Date(a.tr, ct.ConsentAt.In(loc), "02 Jan 2006 15:04")), styleDim))
		for _, f := range [][2]string{{a.tr("Name"), ct.Name}, {a.tr("Email"), ct.Email}, {a.tr("Phone"), ct.Phone}} {
			if f[1] != "" {
				out.line(sp("  "+f[0]+": ", styleBold), sp(f[1], styleText))
			}
		}
	} else {
		out.line(sp(a.tr("Contact"), styleHeading), sp("  "+a.tr("none kept: the customer gave no details or did not agree to the privacy notice"), styleDim))
	}
	if c.RootCause != "" {
		out.line(sp(a.tr("Root cause"), styleHeading))
		out.text("  ", c.RootCause, styleText)
	}

	out.blank()
	out.line(sp(a.tr("Timeline"), styleHeading), sp("  "+a.tr("oldest first · public: the customer sees it · internal: staff only"), styleDim))
	pad := strings.Repeat(" ", timelineIndent)
	for _, e := range model.Timeline(a.tr, d) {
		vis := styleDim
		if e.Public {
			vis = stylePublic
		}
		what := styleBold
		if e.NotApplied != "" {
			what = styleDim.StrikeThrough(true)
		}
		head := []span{
			sp(model.Date(a.tr, e.At.In(loc), "02 Jan 15:04")+"  ", styleText),
			sp(a.padTo(a.tr(e.Visibility()), 8)+"  ", vis),
			sp(e.What, what), sp(" — "+e.Actor, styleDim),
		}
		if e.Unsynced {
			head = append(head, sp("  "+model.MarkUnsynced+" "+a.tr("not sent"), styleBold))
		}
		out.indented(timelineIndent, head...)
		if e.Text != "" {
			out.text(pad, e.Text, styleText)
		}
		if e.Quarantined != "" {
			out.indented(timelineIndent, sp(pad+model.MarkRefused+" "+a.tr("refused by the server:")+" ", styleError), sp(e.Quarantined, styleText))
		}
		if e.NotApplied != "" {
			out.indented(timelineIndent, sp(pad+a.tr("not applied:")+" ", styleError), sp(e.NotApplied, styleText))
		}
	}
	return out
}

// padTo pads s with spaces to width columns.
func (a *App) padTo(s string, width int) string {
	if w := textWidth(s); w < width {
		return s + strings.Repeat(" ", width-w)
	}
	return s
}

// categoryName is a category id with its label, when configured.
func (a *App) categoryName(id string) string {
	id = textsafe.Line(id)
	for _, c := range a.cfg.Categories {
		if c.ID == id {
			if l := c.Label(a.lang); l != id {
				return id + " (" + l + ")"
			}
		}
	}
	return id
}

// startAction opens the form of action t on the open case, or says why it
// is not offered.
func (a *App) startAction(t event.Type) {
	d := a.detail
	if d == nil || a.acct == nil {
		return
	}
	act, _ := model.ActionFor(t)
	if why := model.Refusal(a.tr, d.Case.State, a.acct.Role, t); why != "" {
		a.say(a.tr("{action}: not now, {reason}.", "action", a.tr(act.Desc), "reason", why), styleError)
		return
	}
	a.openActionForm(act, d.Case)
}

// openActionForm builds the form for act on case c.
func (a *App) openActionForm(act model.CaseAction, c lifecycle.Case) {
	title := a.tr("{action} · case {code}", "action", a.tr(act.Desc), "code", model.DisplayCode(c.Code))
	var intro []span
	if act.Public {
		intro = []span{sp(a.tr("Public:")+" ", styleBold), sp(a.tr("the customer sees this on the tracking page."), stylePublic)}
	} else {
		intro = []span{sp(a.tr("Internal:")+" ", styleBold), sp(a.tr("only staff see this."), styleText)}
	}
	textLabel := a.tr(act.TextLabel)
	fv := a.newFormView(title, intro)
	f := fv.form

	var sevIdx, prioIdx, catIdx, acceptIdx, causeIdx *int
	var catIDs []string
	for _, field := range act.Input {
		switch field {
		case model.FieldSeverity:
			opts := make([]string, 0, 4)
			initial := -1
			for i, s := range model.Severities() {
				opts = append(opts, a.tr(string(s)))
				if s == c.Severity {
					initial = i
				}
			}
			sevIdx = a.addDropDown(f, a.tr("Severity"), opts, initial)
		case model.FieldPriority:
			opts := []string{a.tr("1 (most urgent)"), "2", "3", a.tr("4 (least urgent)")}
			prioIdx = a.addDropDown(f, a.tr("Priority"), opts, c.Priority-1)
		case model.FieldCategory:
			var opts []string
			initial := 0
			if !slices.ContainsFunc(a.cfg.Categories, func(cat i18n.Category) bool { return cat.ID == c.Category }) {
				catIDs = append(catIDs, c.Category)
				opts = append(opts, textsafe.Line(c.Category)+" "+a.tr("(as filed)"))
			}
			for _, cat := range a.cfg.Categories {
				if cat.ID == c.Category {
					initial = len(catIDs)
				}
				catIDs = append(catIDs, cat.ID)
				opts = append(opts, cat.Label(a.lang))
			}
			catIdx = a.addDropDown(f, a.tr("Category"), opts, initial)
		case model.FieldQueue:
			f.AddInputField(inert(a.tr("Queue")), "", 32, acceptTyped, nil)
		case model.FieldAccepted:
			var opts []string
			for _, ac := range model.Acceptances() {
				opts = append(opts, a.tr(ac.String()))
			}
			acceptIdx = a.addDropDown(f, a.tr("Customer accepted?"), opts, 0)
		case model.FieldRootCause:
			opts := []string{a.tr("not recorded")}
			for _, rc := range rootcause.All() {
				opts = append(opts, a.tr(rc.Label))
			}
			causeIdx = a.addDropDown(f, a.tr("Root cause"), opts, 0)
		case model.FieldText:
			f.AddTextArea(inert(textLabel), "", 0, 6, 0, nil)
		}
	}
	f.AddButton(inert(a.tr("Save")), func() { fv.submit() })
	f.AddButton(inert(a.tr("Cancel")), a.closeForm)

	read := func() model.Input {
		in := model.Input{}
		if sevIdx != nil && *sevIdx >= 0 {
			in.Severity = model.Severities()[*sevIdx]
		}
		if prioIdx != nil && *prioIdx >= 0 {
			in.Priority = *prioIdx + 1
		}
		if catIdx != nil && *catIdx >= 0 && *catIdx < len(catIDs) && catIDs[*catIdx] != c.Category {
			in.Category = catIDs[*catIdx]
		}
		if acceptIdx != nil && *acceptIdx >= 0 {
			in.Accepted = model.Acceptances()[*acceptIdx]
		}
		if causeIdx != nil && *causeIdx > 0 && *causeIdx <= len(rootcause.All()) {
			in.RootCause = rootcause.All()[*causeIdx-1].Code
		}
		if i := f.GetFormItemIndex(inert(a.tr("Queue"))); i >= 0 {
			in.Queue = f.GetFormItem(i).(interface{ GetText() string }).GetText()
		}
		if act.TextLabel != "" {
			if i := f.GetFormItemIndex(inert(textLabel)); i >= 0 {
				in.Text = f.GetFormItem(i).(interface{ GetText() string }).GetText()
			}
		}
		return in
	}
	fv.submit = func() { a.submitAction(act, c, fv, read()) }
	a.openForm(fv)
}

// submitAction records act on case c in the background. The form stays
// open, with everything typed, until the store has said yes.
func (a *App) submitAction(act model.CaseAction, c lifecycle.Case, fv *formView, in model.Input) {
	if a.busy || a.acct == nil {
		return
	}
	// The role may have changed (a directory update) while the form was open.
	if why := staff.Why(a.acct.Role, act.Type); why != "" {
		fv.say(a.tr("Not recorded: {reason}.", "reason", a.tr(why)), styleError)
		return
	}
	branch := c.Branch
	if branch == "" {
		branch = a.cfg.Branch
	}
	e, err := model.NewEvent(act, in, model.Meta{ComplaintID: c.ID, Branch: branch, Actor: a.acct.ID, At: a.cfg.Clock.Now(),
		AcceptWithin: a.cfg.SLA().AcceptWithin()})
	if err != nil {
		if ie, ok := errors.AsType[*model.InputError](err); ok {
			fv.say(ie.Text(a.tr), styleError)
		} else {
			fv.say(err.Error(), styleError)
		}
		return
	}
	a.busy = true
	fv.say(a.tr("Saving…"), styleText)
	gen, code := a.gen, c.Code
	a.tv.Go(func() {
		ctx, cancel := context.WithTimeout(a.tv.Context(), writeTimeout)
		_, err := a.cfg.Store.Act(ctx, e)
		cancel()
		if err == nil && a.cfg.OnAct != nil {
			a.cfg.OnAct()
		}
		a.tv.Update(func() {
			if gen != a.gen {
				if err == nil { // the person was signed out meanwhile; the action stands
					a.log.Info("action recorded after sign-out", logKeyEvent, e.ID, logKeyType, string(e.Type))
				}
				return
			}
			a.busy = false
			if err != nil {
				a.log.Warn("action not recorded", logKeyComplaint, e.ComplaintID, logKeyType, string(e.Type), logKeyErr, err)
				msg := a.tr("Not recorded: {error}. What you typed is kept.", "error", a.plainError(err))
				fv.say(msg, styleError)
				a.say(msg, styleError)
				a.refresh() // show the case as it now stands
				return
			}
			a.log.Info("action recorded", logKeyStaff, e.Actor.ID, logKeyComplaint, e.ComplaintID,
				logKeyEvent, e.ID, logKeyType, string(e.Type))
			if a.w.form == fv {
				a.closeOverlay(model.Form)
			}
			a.refresh()
			a.say(a.tr("Recorded: {action} on case {code}.", "action", a.tr(act.Name), "code", model.DisplayCode(code)), styleGood)
		})
	})
}
