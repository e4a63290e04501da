package console

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"ombud/server/improve"
	"ombud/server/storage"
	"ombud/shared/rootcause"
	"ombud/shared/staff"
	"ombud/shared/trackcode"
)

// The corrective actions (ISO 10002 9.7): supervisors and managers open
// them against cases and recurring groups, move them along, and a manager
// records whether they worked after the effectiveness check. The rules
// live in package server/improve; this file reads forms and renders.

type actionRow struct {
	improve.Action
	CauseLabel, StateLabel string
	Overdue                bool
}

type actionsView struct {
	baseView
	Actions []actionRow
	Causes  []rootcause.Cause
	Input   map[string]string
	Error   string
}

type actionView struct {
	baseView
	A          actionRow
	Cases      []string // tracking codes, those in the person's scope
	History    []historyRow
	Effect     improve.Effect
	HasEffect  bool
	Moves      []string
	CanJudge   bool
	Error      string
	Notice     string
	StateNames map[string]string
}

type historyRow struct {
	At          time.Time
	Actor, What string
	Detail      string
}

// actionStore is the corrective actions' storage: the SQLite store has
// it (and the PostgreSQL one once ported).
func (h *Handler) actions() (improve.Actions, bool) {
	st, ok := h.store.(storage.Improve)
	return improve.Actions{Store: st, Now: h.opts.Now}, ok
}

func (h *Handler) rowOf(a improve.Action) actionRow {
	due := a.DueDate()
	open := a.State == improve.Planned || a.State == improve.InProgress
	return actionRow{Action: a, CauseLabel: rootcause.Label(a.Cause), StateLabel: improve.StateLabel(a.State),
		Overdue: open && !due.IsZero() && h.opts.Now().After(due.AddDate(0, 0, 1))}
}

func (h *Handler) handleActions(w http.ResponseWriter, r *http.Request) {
	h.renderActions(w, r, http.StatusOK, map[string]string{"check_days": "30"}, "")
}

func (h *Handler) renderActions(w http.ResponseWriter, r *http.Request, status int, input map[string]string, msg string) {
	s, ok := h.actions()
	if !ok {
		h.render(w, r, http.StatusNotImplemented, "error", h.errView(r, "This server's storage does not keep corrective actions yet."))
		return
	}
	list, err := s.List(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := actionsView{baseView: h.baseFor(r, whoOf(r), "Corrective actions"), Causes: rootcause.All(), Input: input, Error: msg}
	for _, a := range list {
		v.Actions = append(v.Actions, h.rowOf(a))
	}
	h.render(w, r, status, "actions", v)
}

func (h *Handler) handleActionOpen(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	s, ok := h.actions()
	if !ok {
		h.render(w, r, http.StatusNotImplemented, "error", h.errView(r, "This server's storage does not keep corrective actions yet."))
		return
	}
	f := r.PostForm
	input := map[string]string{}
	for _, k := range []string{"problem", "cause", "cause_other", "group", "cases", "action", "owner", "due", "check_days"} {
		input[k] = f.Get(k)
	}
	o := improve.Opening{Problem: f.Get("problem"), Cause: f.Get("cause"), Group: f.Get("group"),
		Action: f.Get("action"), Owner: f.Get("owner"), Due: f.Get("due")}
	if o.Cause == "other" {
		o.Cause = rootcause.Other(f.Get("cause_other"))
	}
	o.CheckDays, _ = strconv.Atoi(f.Get("check_days"))
	// Cases are named by tracking code, and only cases the person may
	// see can be linked.
	for _, c := range strings.FieldsFunc(f.Get("cases"), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' }) {
		code, err := trackcode.Parse(c)
		if err != nil {
			h.renderActions(w, r, http.StatusUnprocessableEntity, input, "Name cases by their tracking codes, separated by commas.")
			return
		}
		rows, err := h.store.SearchCases(r.Context(), wh.scope, string(code), 1)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if len(rows) == 0 || rows[0].Code != string(code) {
			h.renderActions(w, r, http.StatusUnprocessableEntity, input, "There is no case "+string(code)+" among those you may see.")
			return
		}
		o.Cases = append(o.Cases, rows[0].ComplaintID)
	}
	if _, err := h.store.ConsoleAccount(r.Context(), strings.TrimSpace(o.Owner)); err != nil {
		h.renderActions(w, r, http.StatusUnprocessableEntity, input, "The owner must be a staff id.")
		return
	}
	a, err := s.Open(r.Context(), wh.acct.ID, o)
	if errors.Is(err, improve.ErrInput) {
		h.renderActions(w, r, http.StatusUnprocessableEntity, input, "The action was not opened: "+strings.TrimPrefix(err.Error(), improve.ErrInput.Error()+": ")+".")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.audit(r, wh.acct.ID, "action_opened", fmt.Sprintf("corrective action %s: %.80s", a.ID, a.Problem))
	http.Redirect(w, r, Prefix+"actions/"+a.ID+"?done=opened", http.StatusSeeOther)
}

func (h *Handler) handleActionPage(w http.ResponseWriter, r *http.Request) {
	h.renderAction(w, r, http.StatusOK, r.URL.Query().Get("done"), "")
}

func (h *Handler) renderAction(w http.ResponseWriter, r *http.Request, status int, notice, msg string) {
	wh := whoOf(r)
	s, ok := h.actions()
	if !ok {
		h.render(w, r, http.StatusNotFound, "error", h.errView(r, "There is no such corrective action."))
		return
	}
	a, err := s.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, improve.ErrNotFound) {
		h.render(w, r, http.StatusNotFound, "error", h.errView(r, "There is no such corrective action."))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := actionView{baseView: h.baseFor(r, wh, "Corrective action"), A: h.rowOf(a), Error: msg,
		CanJudge: wh.acct.Role.AtLeast(staff.Manager) && a.State == improve.Done, StateNames: map[string]string{}}
	switch notice {
	case "opened", "move", "change", "verdict":
		v.Notice = "Recorded."
	}
	for _, st := range improve.States {
		v.StateNames[st] = improve.StateLabel(st)
	}
	for _, to := range []string{improve.Planned, improve.InProgress, improve.Done} {
		if a.Next(moveEvent(to)) == nil {
			v.Moves = append(v.Moves, to)
		}
	}
	for _, id := range a.Cases {
		if row, err := h.store.Case(r.Context(), id); err == nil && (wh.scope.All || contains(wh.scope.Branches, row.Branch)) {
			v.Cases = append(v.Cases, row.Code)
		}
	}
	for _, e := range a.History {
		v.History = append(v.History, historyRow{At: e.At, Actor: e.ActorID, What: e.Type, Detail: describeActionEvent(e)})
	}
	if !a.DoneAt.IsZero() {
		count := func(cause string, from, to time.Time) (int64, error) {
			return s.Store.CauseCounts(r.Context(), wh.scope, cause, from, to)
		}
		if v.Effect, err = improve.Check(a, h.opts.Now(), count); err != nil {
			h.fail(w, r, err)
			return
		}
		v.HasEffect = true
	}
	h.render(w, r, status, "action", v)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func jsonDecode(b []byte, v any) bool { return json.Unmarshal(b, v) == nil }

func moveEvent(to string) storage.ActionEvent {
	return storage.ActionEvent{Type: improve.Moved, Data: []byte(`{"state":"` + to + `"}`)}
}

func describeActionEvent(e storage.ActionEvent) string {
	var parts []string
	switch e.Type {
	case improve.Opened:
		return "opened"
	case improve.Moved:
		var m improve.Move
		if jsonDecode(e.Data, &m) {
			parts = append(parts, "now "+improve.StateLabel(m.State))
			if m.Note != "" {
				parts = append(parts, m.Note)
			}
		}
	case improve.Changed:
		var c improve.Change
		if jsonDecode(e.Data, &c) {
			if c.Action != "" {
				parts = append(parts, "action: "+c.Action)
			}
			if c.Owner != "" {
				parts = append(parts, "owner: "+c.Owner)
			}
			if c.Due != "" {
				parts = append(parts, "due "+c.Due)
			}
			if c.CheckDays > 0 {
				parts = append(parts, "check after "+strconv.Itoa(c.CheckDays)+" days")
			}
		}
	case improve.Verdict:
		var j improve.Judgement
		if jsonDecode(e.Data, &j) {
			v := "not effective"
			if j.Effective {
				v = "effective"
			}
			parts = append(parts, fmt.Sprintf("%s (%d complaints before, %d after): %s", v, j.Before, j.After, j.Note))
		}
	}
	return strings.Join(parts, "; ")
}

func (h *Handler) handleActionStep(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	s, ok := h.actions()
	if !ok {
		h.render(w, r, http.StatusNotFound, "error", h.errView(r, "There is no such corrective action."))
		return
	}
	id := r.PathValue("id")
	unlock := h.lock("action:" + id)
	defer unlock()
	a, err := s.Get(r.Context(), id)
	if errors.Is(err, improve.ErrNotFound) {
		h.render(w, r, http.StatusNotFound, "error", h.errView(r, "There is no such corrective action."))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The page showed the action at a sequence: a change made since
	// then is not overwritten silently.
	if seen, _ := strconv.ParseInt(r.PostForm.Get("seq"), 10, 64); seen != a.Seq {
		h.renderAction(w, r, http.StatusConflict, "", "Someone changed this action while you had it open; your change was not recorded. Check it and try again.")
		return
	}
	f := r.PostForm
	step := r.PathValue("step")
	switch step {
	case "move":
		_, err = s.MoveTo(r.Context(), a, wh.acct.ID, f.Get("state"), f.Get("note"))
	case "change":
		days, _ := strconv.Atoi(f.Get("check_days"))
		c := improve.Change{Action: f.Get("action"), Owner: strings.TrimSpace(f.Get("owner")), Due: f.Get("due")}
		if days != a.CheckDays {
			c.CheckDays = days
		}
		if c.Action == a.Action {
			c.Action = ""
		}
		if c.Owner == a.Owner {
			c.Owner = ""
		} else if c.Owner != "" {
			if _, err := h.store.ConsoleAccount(r.Context(), c.Owner); err != nil {
				h.renderAction(w, r, http.StatusUnprocessableEntity, "", "The owner must be a staff id.")
				return
			}
		}
		if c.Due == a.Due {
			c.Due = ""
		}
		_, err = s.Change(r.Context(), a, wh.acct.ID, c)
	case "verdict":
		if !wh.acct.Role.AtLeast(staff.Manager) {
			h.renderAction(w, r, http.StatusForbidden, "", "Only a manager records whether an action worked.")
			return
		}
		ef, cerr := improve.Check(a, h.opts.Now(), func(cause string, from, to time.Time) (int64, error) {
			return s.Store.CauseCounts(r.Context(), wh.scope, cause, from, to)
		})
		if cerr != nil {
			h.fail(w, r, cerr)
			return
		}
		_, err = s.Judge(r.Context(), a, wh.acct.ID, improve.Judgement{Effective: f.Get("effective") == "yes",
			Note: f.Get("note"), Before: ef.Before, After: ef.After})
	default:
		h.render(w, r, http.StatusNotFound, "error", h.errView(r, "There is no such step."))
		return
	}
	switch {
	case errors.Is(err, improve.ErrInput):
		h.renderAction(w, r, http.StatusUnprocessableEntity, "", "Not recorded: "+strings.TrimPrefix(err.Error(), improve.ErrInput.Error()+": ")+".")
		return
	case storage.ErrorCode(err) == storage.Conflict:
		h.renderAction(w, r, http.StatusConflict, "", "Someone changed this action at the same moment; your change was not recorded. Check it and try again.")
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	h.audit(r, wh.acct.ID, "action_"+step, "corrective action "+a.ID)
	http.Redirect(w, r, Prefix+"actions/"+a.ID+"?done="+step, http.StatusSeeOther)
}

// actionColumns are the corrective actions export's columns (documented
// in docs/API.md).
var actionColumns = []string{"id", "problem", "cause", "cause_label", "group", "cases", "action", "owner", "due",
	"state", "opened_at", "opened_by", "done_at", "check_days", "verdict", "verdict_by", "verdict_before", "verdict_after", "verdict_note"}

// handleActionsExport writes every corrective action as CSV or NDJSON
// (one JSON object a line, streamed), and records the export in the
// audit trail.
func (h *Handler) handleActionsExport(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	s, ok := h.actions()
	if !ok {
		h.render(w, r, http.StatusNotFound, "error", h.errView(r, "This server's storage does not keep corrective actions yet."))
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "ndjson" {
		h.render(w, r, http.StatusBadRequest, "error", h.errView(r, "Choose the format: csv or ndjson."))
		return
	}
	list, err := s.List(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.audit(r, wh.acct.ID, "export", fmt.Sprintf("corrective actions, %d, %s", len(list), format))
	stamp := h.opts.Now().UTC().Format("20060102")
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="corrective-actions-`+stamp+`.csv"`)
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Disposition", `attachment; filename="corrective-actions-`+stamp+`.ndjson"`)
	}
	cw := csv.NewWriter(w)
	if format == "csv" {
		cw.Write(actionColumns)
	}
	enc := json.NewEncoder(w)
	for _, a := range list {
		rec := []string{a.ID, a.Problem, a.Cause, rootcause.Label(a.Cause), a.Group, strconv.Itoa(len(a.Cases)), a.Action, a.Owner, a.Due,
			a.State, iso(a.OpenedAt), a.OpenedBy, iso(a.DoneAt), strconv.Itoa(a.CheckDays), "", "", "", "", ""}
		if j := a.Verdict; j != nil {
			rec[14], rec[15] = map[bool]string{true: "effective", false: "not_effective"}[j.Effective], a.VerdictBy
			rec[16], rec[17], rec[18] = strconv.FormatInt(j.Before, 10), strconv.FormatInt(j.After, 10), j.Note
		}
		if format == "csv" {
			for i := range rec {
				rec[i] = csvCell(rec[i])
			}
			cw.Write(rec)
			continue
		}
		obj := make(map[string]string, len(rec))
		for i, c := range actionColumns {
			obj[c] = rec[i]
		}
		if err := enc.Encode(obj); err != nil {
			return // the client went away
		}
	}
	cw.Flush()
}

func iso(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
