package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"ombud/server/admit"
	"ombud/server/storage"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/rootcause"
	"ombud/shared/staff"
	"ombud/shared/textsafe"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// caseItem is one row of a list, marked for the page.
type caseItem struct {
	storage.CaseRow
	Due     time.Time
	Overdue bool
	AtRisk  bool
}

func (h *Handler) items(rows []storage.CaseRow, now time.Time) []caseItem {
	out := make([]caseItem, len(rows))
	for i, c := range rows {
		it := caseItem{CaseRow: c, Due: c.NextDue}
		if it.Due.IsZero() && c.State.Open() {
			if c.AcknowledgedAt.IsZero() {
				it.Due = c.AckDue
			} else {
				it.Due = c.RespondDue
			}
		}
		// A decided case's date is the customer's time to answer, not a
		// deadline of ours: never overdue (the engine closes it then).
		if c.State.Open() && !it.Due.IsZero() && c.NextTarget != "close" {
			it.Overdue = it.Due.Before(now)
			it.AtRisk = !it.Overdue && it.Due.Before(now.Add(h.opts.AtRisk))
		}
		out[i] = it
	}
	return out
}

type queuesView struct {
	baseView
	Counts   []storage.QueueCount
	Cases    []caseItem
	Total    int
	F        map[string]string
	States   []lifecycle.State
	Branches []string
	Views    []viewItem
	Query    string   // the filters shown, for saving as a view
	Share    []string // teams the person may share a view with
}

// filterOf reads the queue page's filters from the query string; invalid
// values are ignored rather than refused (a hand-edited URL still shows a
// page).
func filterOf(r *http.Request, sc storage.Scope) (storage.CaseFilter, map[string]string) {
	q := r.URL.Query()
	f := storage.CaseFilter{Scope: sc, Limit: 200}
	shown := map[string]string{}
	get := func(k string) string {
		v := strings.TrimSpace(q.Get(k))
		if len(v) > 100 {
			v = ""
		}
		shown[k] = v
		return v
	}
	switch s := get("state"); {
	case s == "" || s == "open":
		f.Open = true
		shown["state"] = "open"
	case s == "all":
	case slices.Contains(lifecycle.States(), lifecycle.State(s)):
		f.States = []lifecycle.State{lifecycle.State(s)}
	}
	f.Branch, f.Category, f.Queue = get("branch"), get("category"), get("queue")
	if p, err := strconv.Atoi(get("priority")); err == nil {
		f.Priority = p
	}
	if t, err := time.Parse("2006-01-02", get("from")); err == nil {
		f.FiledFrom = t
	}
	if t, err := time.Parse("2006-01-02", get("to")); err == nil {
		f.FiledTo = t.Add(24 * time.Hour)
	}
	return f, shown
}

func (h *Handler) handleQueues(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	now := h.opts.Now()
	f, shown := filterOf(r, wh.scope)
	rows, total, err := h.store.QueueCases(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	counts, err := h.store.QueueCounts(r.Context(), wh.scope, now, now.Add(h.opts.AtRisk))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := queuesView{baseView: h.baseFor(r, wh, "Queues"), Counts: counts, Cases: h.items(rows, now), Total: total, F: shown,
		States: lifecycle.States()}
	v.Live = "reload"
	v.Branches = wh.scope.Branches
	if v.Views, err = h.views(r, wh); err != nil {
		h.fail(w, r, err)
		return
	}
	v.Query = viewQuery(shown)
	if wh.acct.Role.AtLeast(staff.Supervisor) {
		v.Share = wh.acct.Teams
	}
	h.render(w, r, http.StatusOK, "queues", v)
}

type searchView struct {
	baseView
	Q     string
	Cases []caseItem
	Done  bool
}

func (h *Handler) handleSearch(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > 200 {
		q = q[:200]
	}
	v := searchView{baseView: h.baseFor(r, wh, "Search"), Q: q}
	if q != "" {
		code := q
		if c, err := trackcode.Parse(q); err == nil {
			code = string(c)
		}
		rows, err := h.store.SearchCases(r.Context(), wh.scope, code, 100)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		// A code typed exactly opens its case.
		if len(rows) == 1 && rows[0].Code == code {
			http.Redirect(w, r, Prefix+"case/"+rows[0].ComplaintID, http.StatusSeeOther)
			return
		}
		v.Cases, v.Done = h.items(rows, h.opts.Now()), true
	}
	h.render(w, r, http.StatusOK, "search", v)
}

// loaded is a case as the console reads it.
type loaded struct {
	row    storage.CaseRow
	events []storage.StoredEvent
	c      lifecycle.Case
	seq    int64
}

// load reads a case the person may see. A case outside their scope is
// "not found", the same as one that does not exist: ids are not probed.
func (h *Handler) load(r *http.Request, wh *who, id string) (*loaded, error) {
	row, err := h.store.Case(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if !admit.ConsoleCovers(admitAccount(wh.acct), row.Branch, row.Queue) {
		return nil, storage.Errorf(storage.NotFound, "no such case")
	}
	evs, err := h.store.ComplaintEvents(r.Context(), id)
	if err != nil {
		return nil, err
	}
	l := &loaded{row: row, events: evs}
	plain := make([]event.Event, len(evs))
	for i, e := range evs {
		plain[i] = e.Event
		l.seq = max(l.seq, e.Seq)
	}
	if l.c, err = lifecycle.Fold(plain); err != nil {
		return nil, err
	}
	// The projection may lag the log by a moment; the fold is current.
	if l.c.Queue != "" {
		l.row.Queue = l.c.Queue
	}
	return l, nil
}

type entry struct {
	Seq      int64
	At       time.Time
	Type     event.Type
	Internal bool
	Actor    string
	Origin   string
	Text     string
	Extra    string
	Rejected string
}

type caseView struct {
	baseView
	Case     lifecycle.Case
	Item     caseItem
	Timeline []entry
	Actions  map[string]bool
	Seq      int64
	Notice   string
	Error    string
	Paused   bool
	Tracking string
	Input    map[string]string
	Causes   []rootcause.Cause // the root-cause taxonomy, for the close form
}

// Actions the console offers, each an event type with its form.
var consoleActions = []struct {
	name string
	typ  event.Type
}{
	{"acknowledge", event.Acknowledged},
	{"assess", event.Assessed},
	{"investigate", event.InvestigationBegan},
	{"assign", event.Assigned},
	{"note", event.NoteAdded},
	{"message", event.MessageSent},
	{"request", event.InfoRequested},
	{"respond", event.Responded},
	{"close", event.Closed},
	{"reopen", event.Reopened},
	{"escalate", event.Escalated},
}

func (h *Handler) handleCase(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	l, err := h.load(r, wh, r.PathValue("id"))
	if err != nil {
		h.notFoundOr(w, r, err)
		return
	}
	v, err := h.caseView(r, wh, l)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	switch r.URL.Query().Get("done") {
	case "":
	default:
		v.Notice = "Recorded: " + title(r.URL.Query().Get("done")) + "."
	}
	h.render(w, r, http.StatusOK, "case", v)
}

func title(s string) string {
	for _, a := range consoleActions {
		if a.name == s {
			return strings.ReplaceAll(string(a.typ), "_", " ")
		}
	}
	return "action"
}

func (h *Handler) notFoundOr(w http.ResponseWriter, r *http.Request, err error) {
	if storage.ErrorCode(err) == storage.NotFound {
		h.render(w, r, http.StatusNotFound, "error", h.errView(r, "There is no such case, or it is not in your queues."))
		return
	}
	h.fail(w, r, err)
}

func (h *Handler) caseView(r *http.Request, wh *who, l *loaded) (*caseView, error) {
	origins, err := h.store.EventOrigins(r.Context(), l.c.ID)
	if err != nil {
		return nil, err
	}
	now := h.opts.Now()
	v := &caseView{baseView: h.baseFor(r, wh, "Case "+l.c.Code), Case: l.c, Item: h.items([]storage.CaseRow{l.row}, now)[0],
		Seq: l.seq, Actions: map[string]bool{}, Paused: l.c.WaitingOnCustomer, Input: map[string]string{},
		Causes: rootcause.All()}
	v.Live = "banner"
	rejected := map[string]string{}
	for _, rj := range l.c.Rejected {
		rejected[rj.EventID] = rj.Reason
	}
	for _, se := range l.events {
		e := se.Event
		en := entry{Seq: se.Seq, At: e.At.Time(), Type: e.Type, Internal: !lifecycle.Public(e.Type), Rejected: rejected[e.ID]}
		switch e.Actor.Kind {
		case event.ActorCustomer:
			en.Actor, en.Origin = "Customer", "tracking page"
		case event.ActorSystem:
			en.Actor, en.Origin = "System", "server"
		case event.ActorDevice:
			en.Actor, en.Origin = "Customer", "kiosk "+e.Actor.ID
		default:
			en.Actor = e.Actor.ID
			o := origins[e.ID]
			switch {
			case strings.HasPrefix(o.DeviceID, "console."):
				en.Origin = "web console"
			case o.DeviceID != "":
				en.Origin = "terminal " + o.DeviceID
			}
			if o.Attest == admit.AttestOffline {
				en.Origin += " (signed in offline)"
			}
		}
		en.Text, en.Extra = describe(e)
		v.Timeline = append(v.Timeline, en)
	}
	slices.Reverse(v.Timeline)
	for _, a := range consoleActions {
		if lifecycle.Allowed(l.c.State, a.typ) == nil && canDo(wh, a.typ) {
			v.Actions[a.name] = true
		}
	}
	base := h.opts.TrackingURL
	if base == "" {
		base = "//" + r.Host
	}
	v.Tracking = strings.TrimSuffix(base, "/") + "/t/" + l.c.Code
	return v, nil
}

func canDo(wh *who, t event.Type) bool {
	return !wh.acct.Revoked() && roleCan(wh, t)
}

// describe is the text and details of an event for the timeline; all of
// it is escaped by the template.
func describe(e event.Event) (text, extra string) {
	switch e.Type {
	case event.Filed:
		c, err := e.Complaint()
		if err != nil {
			return "", ""
		}
		extra = "Category " + c.Category + ", channel " + string(c.Channel) + ", language " + c.Language
		if c.DesiredOutcome != "" {
			return c.Description + "\n\nWants: " + c.DesiredOutcome, extra
		}
		return c.Description, extra
	case event.Assessed:
		var a event.Assessment
		if json.Unmarshal(e.Data, &a) == nil {
			return "", fmt.Sprintf("Severity %s, priority %d", a.Severity, a.Priority)
		}
	case event.Assigned:
		var a event.Assignment
		if json.Unmarshal(e.Data, &a) == nil {
			extra = "To " + a.Queue
			if a.Rule != "" {
				extra += " (rule " + a.Rule + ")"
			}
			return "", extra
		}
	case event.Escalated:
		var x event.Escalation
		if json.Unmarshal(e.Data, &x) == nil {
			return x.Text, fmt.Sprintf("Level %d", x.Level)
		}
	case event.Closed:
		var c event.Closure
		if json.Unmarshal(e.Data, &c) == nil {
			switch {
			case c.CustomerAccepted == nil:
			case *c.CustomerAccepted:
				extra = "The customer accepted"
			default:
				extra = "The customer did not accept"
			}
			if c.RootCause != "" {
				if extra != "" {
					extra += "; "
				}
				extra += "root cause: " + rootcause.Label(c.RootCause)
			}
			return c.Text, extra
		}
	case event.SatisfactionRated:
		var x event.Rating
		if json.Unmarshal(e.Data, &x) == nil {
			return x.Comment, fmt.Sprintf("%d of 5 stars", x.Stars)
		}
	default:
		var t event.Text
		if json.Unmarshal(e.Data, &t) == nil {
			return t.Text, ""
		}
	}
	return "", ""
}

// MaxText bounds what a person writes in one action.
const MaxText = 4000

// build reads an action's form into its event payload.
func build(typ event.Type, f func(string) string) (any, string) {
	text := strings.TrimSpace(textsafe.Clean(f("text")))
	if len([]rune(text)) > MaxText {
		return nil, fmt.Sprintf("The text is longer than %d characters.", MaxText)
	}
	need := func() (any, string) {
		if text == "" {
			return nil, "Please write the text first."
		}
		return event.Text{Text: text}, ""
	}
	switch typ {
	case event.Acknowledged, event.InvestigationBegan:
		return nil, ""
	case event.Assessed:
		p, err := strconv.Atoi(f("priority"))
		a := event.Assessment{Severity: event.Severity(f("severity")), Priority: p}
		if err != nil || a.Validate() != nil {
			return nil, "Choose a severity and a priority."
		}
		return a, ""
	case event.Assigned:
		q := strings.TrimSpace(f("queue"))
		if q == "" || len(q) > 80 || !textsafe.IsClean(q) || strings.ContainsAny(q, " \t") {
			return nil, "Name the queue: a branch id, team:<id> or escalations."
		}
		return event.Assignment{Queue: q}, ""
	case event.Escalated:
		if text == "" {
			return nil, "Say why the case is escalated."
		}
		return event.Escalation{Text: text}, ""
	case event.Closed:
		// Staff closing a case say why it happened (ISO 10002 9.7).
		c := event.Closure{Text: text, RootCause: f("cause")}
		if c.RootCause == "other" {
			c.RootCause = rootcause.Other(f("cause_other"))
		}
		if c.RootCause == "" || rootcause.Validate(c.RootCause) != nil {
			return nil, "Choose the root cause (or \"other\" and describe it)."
		}
		switch f("accepted") {
		case "yes":
			t := true
			c.CustomerAccepted = &t
		case "no":
			n := false
			c.CustomerAccepted = &n
		}
		return c, ""
	}
	return need()
}

func (h *Handler) handleAction(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	name := r.PathValue("action")
	i := slices.IndexFunc(consoleActions, func(a struct {
		name string
		typ  event.Type
	}) bool {
		return a.name == name
	})
	if i < 0 {
		h.render(w, r, http.StatusNotFound, "error", h.errView(r, "There is no such action."))
		return
	}
	typ := consoleActions[i].typ
	id := r.PathValue("id")
	unlock := h.lock(id)
	defer unlock()
	l, err := h.load(r, wh, id)
	if err != nil {
		h.notFoundOr(w, r, err)
		return
	}
	refuse := func(status int, msg string) {
		v, err := h.caseView(r, wh, l)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		v.Error = msg
		for _, k := range []string{"text", "queue", "cause", "cause_other"} {
			v.Input[name+"."+k] = r.PostForm.Get(k)
		}
		h.render(w, r, status, "case", v)
	}
	if !roleCan(wh, typ) {
		refuse(http.StatusForbidden, "Your role does not allow this action.")
		return
	}
	// Someone acted since the page was shown: if this action no longer
	// fits, say who did what instead of recording it.
	seen, _ := strconv.ParseInt(r.PostForm.Get("seq"), 10, 64)
	if err := lifecycle.Allowed(l.c.State, typ); err != nil {
		msg := "This action is not possible now: " + lifecycleMessage(err) + "."
		if by := after(l.events, seen); by != "" {
			msg = "Someone acted on this case while you had it open (" + by + "), so your action was not recorded: " + lifecycleMessage(err) + "."
		}
		refuse(http.StatusConflict, msg)
		return
	}
	data, bad := build(typ, r.PostForm.Get)
	if bad != "" {
		refuse(http.StatusUnprocessableEntity, bad)
		return
	}
	if err := h.push(r, wh, l, typ, data); err != nil {
		var rj *rejected
		if errors.As(err, &rj) {
			refuse(http.StatusConflict, "The server refused this action: "+rj.reason+".")
			return
		}
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"case/"+id+"?done="+name, http.StatusSeeOther)
}

func lifecycleMessage(err error) string {
	var le *lifecycle.Error
	if errors.As(err, &le) {
		return le.Message
	}
	return "refused"
}

// after names who did what after seq, "" when nothing happened.
func after(evs []storage.StoredEvent, seq int64) string {
	if seq <= 0 {
		return ""
	}
	var parts []string
	for _, e := range evs {
		if e.Seq > seq {
			who := e.Event.Actor.ID
			if who == "" {
				who = string(e.Event.Actor.Kind)
			}
			parts = append(parts, who+": "+strings.ReplaceAll(string(e.Event.Type), "_", " "))
		}
	}
	return strings.Join(parts, ", ")
}

type rejected struct{ reason string }

func (r *rejected) Error() string { return "rejected: " + r.reason }

// push records one event through the admission rules, as a terminal
// would: through the console's device for the case's branch, under a
// staff session on that device covering this console sign-in.
func (h *Handler) push(r *http.Request, wh *who, l *loaded, typ event.Type, data any) error {
	ctx := r.Context()
	dev, err := h.store.ConsoleDevice(ctx, l.c.Branch)
	if err != nil {
		return err
	}
	ss := storage.Session{ID: wh.sess.ID + "@" + l.c.Branch, DeviceID: dev.ID, StaffID: wh.acct.ID,
		StartedAt: wh.sess.StartedAt, ExpiresAt: wh.sess.ExpiresAt}
	if err := h.store.StartSession(ctx, ss); err != nil && storage.ErrorCode(err) != storage.Conflict {
		return err
	}
	var raw json.RawMessage
	if data != nil {
		if raw, err = json.Marshal(data); err != nil {
			return err
		}
	}
	for _, e := range l.events {
		h.clock.Observe(e.Event.At)
	}
	at := h.clock.Now()
	if typ == event.Responded {
		// The decision says until when the customer may answer, from the
		// server's SLA rules, as a terminal's does (the server refuses a
		// shorter period than configured).
		var d event.Decision
		if err := json.Unmarshal(raw, &d); err != nil {
			return err
		}
		within := h.opts.AcceptWithin
		if within <= 0 {
			within = lifecycle.DefaultAcceptWithin
		}
		d.AnswerBy = at.Time().Add(within)
		if raw, err = json.Marshal(d); err != nil {
			return err
		}
	}
	e := event.Event{ID: uid.NewAt(at.Time()), ComplaintID: l.c.ID, Type: typ, Actor: event.Actor{Kind: event.ActorStaff, ID: wh.acct.ID},
		At: at, Branch: l.c.Branch, Data: raw}
	// The whole lifecycle, not just the transition table: the case as
	// folded from its log must take this event (e.g. no close before the
	// customer's time to answer a decision has passed, unless they
	// accepted), or the server would store an event every node refuses to
	// apply and the person would be told it was done.
	evs := make([]event.Event, 0, len(l.events))
	for _, se := range l.events {
		evs = append(evs, se.Event)
	}
	if c, err := lifecycle.Fold(evs); err == nil {
		if err := lifecycle.Apply(&c, e); err != nil {
			return &rejected{reason: lifecycleMessage(err)}
		}
	}
	// One push at a time per device: its sequence is the next after the
	// last it handled.
	h.devMu.Lock()
	defer h.devMu.Unlock()
	d, err := h.store.Device(ctx, dev.ID)
	if err != nil {
		return err
	}
	res, err := h.store.Push(ctx, dev.ID, []wire.DeviceEvent{{Seq: d.AckedSeq + 1, Event: e}})
	if err != nil {
		return err
	}
	if len(res.Rejected) > 0 {
		h.log.Info("console action refused", "complaint", l.c.ID, "type", typ, "reason", res.Rejected[0].Reason)
		return &rejected{reason: res.Rejected[0].Reason}
	}
	h.log.Info("console action", "complaint", l.c.ID, "type", typ, "staff", wh.acct.ID)
	return nil
}

// roleCan is the role rule the terminals apply (staff.Can).
func roleCan(wh *who, t event.Type) bool {
	return staffCan(wh.acct.Role, t)
}

type auditView struct {
	baseView
	Entries []storage.AuditEntry
}

func (h *Handler) handleAudit(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	es, err := h.store.ConsoleAudit(r.Context(), 500)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "audit", auditView{baseView: h.baseFor(r, wh, "Audit trail"), Entries: es})
}
