package staffui

import (
	"context"
	"fmt"
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

	out.line(sp(model.DisplayCode(c.Code), styleHeading), sp("  "+strings.ToUpper(string(c.State)), styleBold))
	deadline, overdue := model.Deadline(d.NextStep, d.DueAt, c.WaitingOnCustomer, now, loc)
	if overdue {
		out.line(sp("! "+deadline, styleLate))
	} else {
		out.line(sp(deadline, styleText))
	}
	var facts []string
	if c.Priority > 0 {
		facts = append(facts, fmt.Sprintf("priority %d", c.Priority))
	} else {
		facts = append(facts, "not assessed")
	}
	if c.Severity != "" {
		facts = append(facts, "severity "+string(c.Severity))
	}
	if c.Queue != "" {
		facts = append(facts, "queue "+c.Queue)
	} else {
		facts = append(facts, "no queue")
	}
	if c.Escalated {
		facts = append(facts, fmt.Sprintf("ESCALATED (level %d)", c.EscalationLevel))
	}
	if c.WaitingOnCustomer {
		facts = append(facts, "waiting on the customer since "+c.WaitingSince.Time().In(loc).Format("02 Jan 15:04"))
	}
	if c.ReopenCount > 0 {
		facts = append(facts, fmt.Sprintf("reopened %d×", c.ReopenCount))
	}
	out.indented(2, sp(strings.Join(facts, " · "), styleText))
	out.indented(2, sp("Category: "+a.categoryName(c.Category), styleText))
	cp := d.Complaint
	out.indented(2, sp(fmt.Sprintf("Filed %s via %s · language %s", cp.FiledAt.In(loc).Format("Mon 02 Jan 2006 15:04"),
		cp.Channel, cp.Language), styleText))
	if n := len(d.Unsynced); n > 0 {
		out.line(sp(fmt.Sprintf("%s %d of this case's events not sent to the server yet", model.MarkUnsynced, n), styleBold))
	}
	if n := len(c.Rejected); n > 0 {
		out.line(sp(fmt.Sprintf("%s %d event(s) not applied: see the timeline", model.MarkRefused, n), styleError))
	}

	// What the person may do now, with the keys: the hint row has no room.
	if a.acct != nil {
		offered := model.Offered(c.State, a.acct.Role)
		spans := []span{sp("Actions: ", styleBold)}
		for i, act := range offered {
			if i > 0 {
				spans = append(spans, sp("  ", styleText))
			}
			spans = append(spans, sp(string(act.Key), styleHeading), sp(" "+act.Name, styleText))
		}
		spans = append(spans, sp("  p", styleHeading), sp(" reprint", styleText))
		out.indented(9, spans...)
	}

	out.blank()
	out.line(sp("What happened", styleHeading))
	out.text("  ", cp.Description, styleText)
	out.line(sp("What the customer wants", styleHeading))
	if strings.TrimSpace(cp.DesiredOutcome) == "" {
		out.line(sp("  (not said)", styleDim))
	} else {
		out.text("  ", cp.DesiredOutcome, styleText)
	}
	if ct := cp.Contact; ct != nil {
		out.line(sp("Contact", styleHeading), sp(fmt.Sprintf("  (the customer agreed to notice %s on %s)",
			ct.NoticeVersion, ct.ConsentAt.In(loc).Format("02 Jan 2006 15:04")), styleDim))
		for _, f := range [][2]string{{"Name", ct.Name}, {"Email", ct.Email}, {"Phone", ct.Phone}} {
			if f[1] != "" {
				out.line(sp("  "+f[0]+": ", styleBold), sp(f[1], styleText))
			}
		}
	} else {
		out.line(sp("Contact", styleHeading), sp("  none kept: the customer gave no details or did not agree to the privacy notice", styleDim))
	}
	if c.RootCause != "" {
		out.line(sp("Root cause", styleHeading))
		out.text("  ", c.RootCause, styleText)
	}

	out.blank()
	out.line(sp("Timeline", styleHeading), sp("  oldest first · public: the customer sees it · internal: staff only", styleDim))
	pad := strings.Repeat(" ", timelineIndent)
	for _, e := range model.Timeline(d) {
		vis := styleDim
		if e.Public {
			vis = stylePublic
		}
		what := styleBold
		if e.NotApplied != "" {
			what = styleDim.StrikeThrough(true)
		}
		head := []span{
			sp(e.At.In(loc).Format("02 Jan 15:04")+"  ", styleText),
			sp(fmt.Sprintf("%-8s  ", e.Visibility()), vis),
			sp(e.What, what), sp(" — "+e.Actor, styleDim),
		}
		if e.Unsynced {
			head = append(head, sp("  "+model.MarkUnsynced+" not sent", styleBold))
		}
		out.indented(timelineIndent, head...)
		if e.Text != "" {
			out.text(pad, e.Text, styleText)
		}
		if e.Quarantined != "" {
			out.indented(timelineIndent, sp(pad+model.MarkRefused+" refused by the server: ", styleError), sp(e.Quarantined, styleText))
		}
		if e.NotApplied != "" {
			out.indented(timelineIndent, sp(pad+"not applied: ", styleError), sp(e.NotApplied, styleText))
		}
	}
	return out
}

// categoryName is a category id with its label, when configured.
func (a *App) categoryName(id string) string {
	id = textsafe.Line(id)
	for _, c := range a.cfg.Categories {
		if c.ID == id {
			if l := c.Label(a.cfg.Language); l != id {
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
	if why := model.Refusal(d.Case.State, a.acct.Role, t); why != "" {
		a.say(fmt.Sprintf("%s: not now, %s.", act.Desc, why), styleError)
		return
	}
	a.openActionForm(act, d.Case)
}

// openActionForm builds the form for act on case c.
func (a *App) openActionForm(act model.CaseAction, c lifecycle.Case) {
	title := fmt.Sprintf("%s · case %s", act.Desc, model.DisplayCode(c.Code))
	var intro []span
	if act.Public {
		intro = []span{sp("Public: ", styleBold), sp("the customer sees this on the tracking page.", stylePublic)}
	} else {
		intro = []span{sp("Internal: ", styleBold), sp("only staff see this.", styleText)}
	}
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
				opts = append(opts, string(s))
				if s == c.Severity {
					initial = i
				}
			}
			sevIdx = addDropDown(f, "Severity", opts, initial)
		case model.FieldPriority:
			opts := []string{"1 (most urgent)", "2", "3", "4 (least urgent)"}
			prioIdx = addDropDown(f, "Priority", opts, c.Priority-1)
		case model.FieldCategory:
			var opts []string
			initial := 0
			if !slices.ContainsFunc(a.cfg.Categories, func(cat i18n.Category) bool { return cat.ID == c.Category }) {
				catIDs = append(catIDs, c.Category)
				opts = append(opts, textsafe.Line(c.Category)+" (as filed)")
			}
			for _, cat := range a.cfg.Categories {
				if cat.ID == c.Category {
					initial = len(catIDs)
				}
				catIDs = append(catIDs, cat.ID)
				opts = append(opts, cat.Label(a.cfg.Language))
			}
			catIdx = addDropDown(f, "Category", opts, initial)
		case model.FieldQueue:
			f.AddInputField("Queue", "", 32, acceptTyped, nil)
		case model.FieldAccepted:
			var opts []string
			for _, ac := range model.Acceptances() {
				opts = append(opts, ac.String())
			}
			acceptIdx = addDropDown(f, "Customer accepted?", opts, 0)
		case model.FieldRootCause:
			opts := []string{"not recorded"}
			for _, rc := range rootcause.All() {
				opts = append(opts, rc.Label)
			}
			causeIdx = addDropDown(f, "Root cause", opts, 0)
		case model.FieldText:
			f.AddTextArea(act.TextLabel, "", 0, 6, 0, nil)
		}
	}
	f.AddButton("Save", func() { fv.submit() })
	f.AddButton("Cancel", a.closeForm)

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
		if i := f.GetFormItemIndex("Queue"); i >= 0 {
			in.Queue = f.GetFormItem(i).(interface{ GetText() string }).GetText()
		}
		if act.TextLabel != "" {
			if i := f.GetFormItemIndex(act.TextLabel); i >= 0 {
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
		fv.say("Not recorded: "+why+".", styleError)
		return
	}
	branch := c.Branch
	if branch == "" {
		branch = a.cfg.Branch
	}
	e, err := model.NewEvent(act, in, model.Meta{ComplaintID: c.ID, Branch: branch, Actor: a.acct.ID, At: a.cfg.Clock.Now(),
		AcceptWithin: a.cfg.SLA().AcceptWithin()})
	if err != nil {
		fv.say(err.Error(), styleError)
		return
	}
	a.busy = true
	fv.say("Saving…", styleText)
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
				msg := "Not recorded: " + plainError(err) + ". What you typed is kept."
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
			a.say(fmt.Sprintf("Recorded: %s on case %s.", act.Name, model.DisplayCode(code)), styleGood)
		})
	})
}
