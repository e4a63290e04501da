package tracking

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"ombud/server/storage"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/trackcode"
)

// loaded is one case as the page sees it: the folded case (shared, read
// only) and what this request looked up beside it.
type loaded struct {
	row    storage.Complaint
	f      *folded
	c      lifecycle.Case // a copy of f.c
	events []event.Event  // f.events
	all    []event.Event  // f.all
	branch string         // display name
	next   NextStep
}

// errUnknown is any code that does not lead to a complaint: malformed,
// unknown, or stored without a usable Filed event. All look the same to
// the customer.
var errUnknown = errors.New("no such complaint")

// errBusy: the budget of failed look-ups over all clients is spent (a scan
// of the code space is under way); every look-up waits for it to refill.
var errBusy = errors.New("too many failed look-ups: try again in a minute")

// parseCode classifies what a customer typed: a canonical code, a typo
// (worth telling), or errUnknown (not worth distinguishing).
func parseCode(s string) (trackcode.Code, error) {
	code, err := trackcode.Parse(s)
	switch {
	case errors.Is(err, trackcode.ErrTypo):
		return "", trackcode.ErrTypo
	case err != nil:
		return "", errUnknown
	}
	return code, nil
}

// load reads the case with this canonical code: its row and the version
// of its events from the store, on every call, and the folded events from
// the cache when that version is the one held (see cache.go).
func (h *Handler) load(ctx context.Context, code trackcode.Code) (*loaded, error) {
	if !h.misses.Peek("") {
		return nil, errBusy
	}
	row, version, err := h.store.ComplaintHead(ctx, string(code))
	if storage.ErrorCode(err) == storage.NotFound {
		h.misses.Allow("")
		return nil, errUnknown
	}
	if err != nil {
		return nil, fmt.Errorf("look up complaint: %w", err)
	}
	f := h.cases.get(row.ID, version)
	if f == nil {
		if f, err = h.fold(ctx, row); err != nil {
			return nil, err
		}
		h.cases.put(row.ID, f)
	}
	l := &loaded{row: row, f: f, c: f.c, events: f.events, all: f.all, branch: row.Branch}
	if h.branches != nil {
		if b, err := h.branches.Branch(ctx, row.Branch); err == nil && b.Name != "" {
			l.branch = b.Name
		} else if err != nil {
			h.logger.Warn("branch name", "branch", row.Branch, "err", err)
		}
	}
	if l.next, err = h.deadlines.NextStep(ctx, &l.c); err != nil {
		// The date is a courtesy: the page still says where the case stands.
		h.logger.Warn("next step", "complaint", row.ID, "err", err)
		l.next = NextStep{}
	}
	return l, nil
}

// fold reads and folds every event of the complaint in row.
func (h *Handler) fold(ctx context.Context, row storage.Complaint) (*folded, error) {
	stored, err := h.store.ComplaintEvents(ctx, row.ID)
	if err != nil {
		return nil, fmt.Errorf("read events of %s: %w", row.ID, err)
	}
	// The version of what was read, which may be newer than the head's.
	f := &folded{version: storage.VersionOf(stored), all: make([]event.Event, len(stored))}
	for i := range stored {
		f.all[i] = stored[i].Event
	}
	f.c, err = lifecycle.Fold(f.all)
	if errors.Is(err, lifecycle.ErrNotFiled) {
		return nil, errUnknown
	}
	if err != nil {
		return nil, fmt.Errorf("fold %s: %w", row.ID, err)
	}
	// Shared by every request: an action applying events to its copy of
	// the case must not append into this one's backing array.
	f.c.Rejected = slices.Clip(f.c.Rejected)
	// Only events that were applied: one the fold refused (a concurrent
	// action that lost) would show the customer something that did not
	// happen.
	refused := make(map[string]bool, len(f.c.Rejected))
	for _, r := range f.c.Rejected {
		refused[r.EventID] = true
	}
	sorted := make([]event.Event, 0, len(f.all))
	seen := map[string]bool{}
	for _, e := range f.all {
		if lifecycle.Public(e.Type) && !refused[e.ID] && !seen[e.ID] && e.ComplaintID == row.ID {
			seen[e.ID] = true
			sorted = append(sorted, e)
		}
	}
	sortEvents(sorted)
	f.events = sorted
	return f, nil
}

func sortEvents(es []event.Event) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && event.Less(&es[j], &es[j-1]); j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// view is what every template gets. Strings are plain text: html/template
// escapes them.
type view struct {
	Lang, Title, Message string
	Langs                []langLink
	CSS                  string
	// Lookup form. Typed is the code as typed, given back on the typo page.
	Typo  bool
	Typed string

	// Case page.
	Code, CodeDisplay, Branch   string
	StatusTitle, Status         string
	Next, NextBasis, NextTeam   string
	Timeline                    []entry
	Done, Error                 string
	ErrorFor                    string // the action whose form shows Error
	CanInfo, CanAnswer, CanRate bool
	Rated                       string
	Redacted                    string // why the personal data is gone, once it is
	ShowRecourse                bool
	Forms                       map[string]form
	Input                       map[string]string
	// Kept is what the customer typed into a form the page no longer
	// offers (the case closed while their page was open): shown read-only
	// so they never lose it.
	Kept                        string
	MaxInfo, MaxReason, MaxNote int
	Stars                       []int
	words                       func(key string, args ...any) string
}

type langLink struct {
	Tag, Name, Href string
	Current         bool
}

type entry struct {
	When, Title, Text string
	Customer          bool
}

type form struct {
	Action, Nonce, Token string
}

// T translates in the view's language: {{.T "key"}} in templates.
func (v *view) T(key string, args ...any) string { return v.words(key, args...) }

func (h *Handler) lang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l != "" && h.words.Has(l) {
		return l
	}
	// The form's hidden lang, only once the handler has parsed the body
	// (bounded): reading it here would read an unbounded one.
	if l := r.PostForm.Get("lang"); l != "" && h.words.Has(l) {
		return l
	}
	return h.words.Negotiate(r.Header.Get("Accept-Language"))
}

// caseLang is the language of a case's page: the one asked for (?lang, the
// form's lang), else the one the complaint was filed in, else the
// browser's. The complaint's language comes before Accept-Language: the
// customer chose it at the kiosk, the phone's settings may well be
// someone else's choice (a work phone, a child's), and the receipt's QR
// link stays short (no ?lang, so its code fits an 80x24 kiosk screen).
// The page's language links switch it.
func (h *Handler) caseLang(r *http.Request, c *lifecycle.Case) string {
	if l := r.URL.Query().Get("lang"); l != "" && h.words.Has(l) {
		return l
	}
	if l := r.PostForm.Get("lang"); l != "" && h.words.Has(l) {
		return l
	}
	if l := c.Complaint.Language; l != "" && h.words.Has(l) {
		return l
	}
	return h.words.Negotiate(r.Header.Get("Accept-Language"))
}

func (h *Handler) baseView(lang, title, msg string) *view {
	v := &view{Lang: lang, Title: title, Message: msg, CSS: PathCSS,
		words: func(k string, a ...any) string { return h.words.T(lang, k, a...) }}
	for _, t := range h.words.Tags() {
		// Relative to the current page, and only lang: the switch is
		// remembered in the URL, no cookie needed.
		v.Langs = append(v.Langs, langLink{Tag: t, Name: h.words.Name(t), Href: "?lang=" + url.QueryEscape(t), Current: t == lang})
	}
	return v
}

// caseView builds the page for l, without its forms' fields (see
// addForms). done is the action just confirmed, if any.
func (h *Handler) caseView(lang, done string, l *loaded, now time.Time) *view {
	T := func(k string, a ...any) string { return h.words.T(lang, k, a...) }
	c := &l.c
	v := h.baseView(lang, T("page.title"), "")
	v.Code, v.CodeDisplay, v.Branch = c.Code, trackcode.Code(c.Code).String(), l.branch
	v.MaxInfo, v.MaxReason, v.MaxNote = MaxInfo, MaxReason, MaxComment
	v.Stars = []int{5, 4, 3, 2, 1}
	v.Input = map[string]string{}

	s := statusOf(c)
	v.StatusTitle, v.Status = T("status."+s+".title"), T("status."+s)
	switch {
	case s == "received" && !l.next.Due.IsZero() && l.next.Kind == StepAcknowledge:
		v.Status = T("status.received", "date", h.words.Date(lang, l.next.Due.In(h.loc)))
	case s == "received":
		v.Status = T("status.received.nodate")
	case s == "closed" && c.CustomerAccepted != nil && *c.CustomerAccepted:
		v.Status = T("status.closed.accepted")
	case c.ReopenCount > 0 && c.State.Open() && s != "responded":
		v.Status = T("status.reopened")
	}
	if !l.next.Due.IsZero() {
		date := h.words.Date(lang, l.next.Due.In(h.loc))
		if now.After(l.next.Due) && l.next.Kind != StepClose {
			v.Next = T("next.overdue", "date", date)
		} else {
			v.Next = T("next."+string(l.next.Kind), "date", date)
		}
		v.NextBasis = T("next.basis." + string(l.next.Basis))
		if l.next.Team != "" {
			v.NextTeam = T("next.team", "team", l.next.Team)
		}
	}
	v.Timeline = l.f.entries(h, lang, l.branch)
	f := flagsOf(c)
	v.CanInfo, v.CanAnswer, v.CanRate = f.info, f.answer, f.rate
	if c.Rating != nil {
		v.Rated = T("rate.done", "stars", c.Rating.Stars)
	}
	v.ShowRecourse = c.State == lifecycle.Responded || c.State == lifecycle.Closed
	if r := c.Redaction; r != nil {
		if r.Reason == event.RedactRetention && r.Months > 0 {
			v.Redacted = T("redacted.retention", "months", r.Months)
		} else {
			v.Redacted = T("redacted.erasure")
		}
	}
	v.Forms = map[string]form{}
	for _, a := range actions {
		if a.name == done { // only our own words: nothing from the URL is echoed
			v.Done = T("done." + a.name)
		}
	}
	return v
}

// addForms gives v's forms fresh nonces and tokens made at now.
func (h *Handler) addForms(v *view, now time.Time) {
	for _, a := range actions {
		nonce := h.newNonce(now)
		v.Forms[a.name] = form{Action: PathPage + v.Code + "/" + a.name, Nonce: nonce, Token: h.formToken(v.Code, a.name, nonce, now)}
	}
}

// pageShape renders the case page for k into a shape: the view with
// sentinels for the forms' fields.
func (h *Handler) pageShape(l *loaded, k shapeKey, now time.Time) *shape {
	v := h.caseView(k.lang, k.done, l, now)
	for i, a := range actions {
		v.Forms[a.name] = form{Action: PathPage + v.Code + "/" + a.name, Nonce: h.sentinel(i, false), Token: h.sentinel(i, true)}
	}
	var buf bytes.Buffer
	if err := h.pages.ExecuteTemplate(&buf, "page", v); err != nil {
		h.logger.Error("render", "template", "page", "err", err)
		return nil
	}
	return h.cut(buf.Bytes())
}

// statusOf names the status shown: the lifecycle state, except that
// waiting on the customer overrides it (that is what they must act on).
func statusOf(c *lifecycle.Case) string {
	if c.WaitingOnCustomer && c.State.Open() {
		return "waiting"
	}
	return string(c.State)
}

type flags struct{ info, answer, rate bool }

// flagsOf says which actions the page offers. lifecycle.Allowed is the
// rule; the rating is offered once per case (see actRate).
func flagsOf(c *lifecycle.Case) flags {
	return flags{
		info:   lifecycle.Allowed(c.State, event.InfoProvided) == nil,
		answer: c.State == lifecycle.Responded,
		rate:   lifecycle.Allowed(c.State, event.SatisfactionRated) == nil && c.Rating == nil,
	}
}

// entryOf turns a public event into a timeline line. Texts are shown as
// written; html/template escapes them. The actor is never named: "us" or
// "you".
func (h *Handler) entryOf(lang, branch string, e *event.Event) entry {
	T := func(k string, a ...any) string { return h.words.T(lang, k, a...) }
	en := entry{When: h.words.DateTime(lang, e.At.Time().In(h.loc)), Title: T("event." + string(e.Type)), Customer: e.Actor.Kind == event.ActorCustomer}
	text := func() string {
		var t event.Text
		if json.Unmarshal(e.Data, &t) != nil {
			return ""
		}
		return t.Text
	}
	switch e.Type {
	case event.Filed:
		// Only where and when: the complaint's own text may hold
		// personal data and stays with staff.
		en.Title = T("event.filed", "branch", branch)
		en.Customer = true // the customer filed it, whichever device recorded it
	case event.MessageSent, event.InfoRequested, event.Responded:
		// Written by staff FOR the customer: the message, the question, the
		// decision (ISO 10002 8.8). Only these texts are public.
		en.Text = text()
	case event.InfoProvided:
		// The customer's own words may hold personal data, and anyone with
		// a lost receipt can open this page: say that they added
		// information, never what (staff see it).
		if e.Actor.Kind != event.ActorCustomer {
			en.Text = text()
		}
	case event.Closed:
		// The closing note staff write is for the customer: the close form
		// says "Public: the customer sees this on the tracking page". A
		// reopening's reason is the customer's own words and stays inside,
		// as added information does.
		var cl event.Closure
		_ = json.Unmarshal(e.Data, &cl)
		if e.Actor.Kind == event.ActorStaff {
			en.Text = cl.Text
		}
		if e.Actor.Kind == event.ActorSystem {
			en.Title = T("event.closed.expired")
		}
		if cl.CustomerAccepted != nil {
			en.Title = T("event.closed.refused")
			if *cl.CustomerAccepted {
				en.Title = T("event.closed.accepted")
			}
		}
	case event.SatisfactionRated:
		// The stars only: the comment is feedback for the organisation.
		var rt event.Rating
		_ = json.Unmarshal(e.Data, &rt)
		en.Title = T("event.satisfaction_rated", "stars", rt.Stars)
	}
	return en
}

// render executes a template into a buffer first, so a template error
// becomes a clean 500 rather than half a page.
func (h *Handler) render(w http.ResponseWriter, status int, name string, v *view) {
	buf := getBuffer()
	defer putBuffer(buf)
	if err := h.pages.ExecuteTemplate(buf, name, v); err != nil {
		h.logger.Error("render", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeHTML(w, status, buf)
}

// writeHTML sends a rendered page.
func writeHTML(w http.ResponseWriter, status int, buf *bytes.Buffer) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// Case pages hold a customer's case: never stored by a browser or a
	// proxy. The other pages are cheap and small: the same rule for all.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// notFound is THE answer for a malformed or unknown code, on every route:
// one body, one status, nothing echoed, so nobody can tell the two apart.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	lang := h.lang(r)
	v := h.baseView(lang, h.words.T(lang, "notfound.title"), h.words.T(lang, "notfound.body"))
	h.render(w, http.StatusNotFound, "lookup", v)
}

// typo answers a code whose check character does not match, with the code
// as typed back in the field: the customer corrects one symbol instead of
// retyping twelve. Only a code of the right shape gets here, so echoing it
// tells nothing about which codes exist (html/template escapes it).
func (h *Handler) typo(w http.ResponseWriter, r *http.Request, typed string) {
	lang := h.lang(r)
	v := h.baseView(lang, h.words.T(lang, "lookup.title"), h.words.T(lang, "lookup.typo"))
	v.Typo = true
	if rs := []rune(strings.TrimSpace(typed)); len(rs) <= 40 {
		v.Typed = string(rs)
	}
	h.render(w, http.StatusBadRequest, "lookup", v)
}

func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	h.logger.Error("tracking page failed", "method", r.Method, "err", err)
	lang := h.lang(r)
	v := h.baseView(lang, h.words.T(lang, "page.title"), h.words.T(lang, "error.unavailable"))
	h.render(w, http.StatusServiceUnavailable, "lookup", v)
}

// handleLookup is GET /t: the form, or with ?code= the lookup. A found
// code redirects to its canonical page; malformed and unknown codes get
// the neutral 404 straight away (no redirect for one and not the other).
func (h *Handler) handleLookup(w http.ResponseWriter, r *http.Request) {
	raw, asked := r.URL.Query()["code"]
	if !asked {
		lang := h.lang(r)
		h.render(w, http.StatusOK, "lookup", h.baseView(lang, h.words.T(lang, "lookup.title"), h.words.T(lang, "lookup.help")))
		return
	}
	code, err := parseCode(raw[0])
	if errors.Is(err, trackcode.ErrTypo) {
		h.typo(w, r, raw[0])
		return
	}
	if err == nil {
		_, err = h.store.ComplaintByCode(r.Context(), string(code))
		if err != nil && storage.ErrorCode(err) != storage.NotFound {
			h.unavailable(w, r, err)
			return
		}
	}
	if err != nil {
		h.notFound(w, r)
		return
	}
	target := PathPage + string(code)
	if l := r.URL.Query().Get("lang"); h.words.Has(l) {
		target += "?lang=" + url.QueryEscape(l)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// handlePage is GET /t/{code}.
func (h *Handler) handlePage(w http.ResponseWriter, r *http.Request) {
	l, ok := h.loadFromPath(w, r)
	if !ok {
		return
	}
	now := h.now()
	k := shapeKey{lang: h.caseLang(r, &l.c), done: doneOf(r), branch: l.branch, next: l.next,
		overdue: !l.next.Due.IsZero() && now.After(l.next.Due)}
	s := l.f.shape(k, func() *shape { return h.pageShape(l, k, now) })
	if s == nil {
		v := h.caseView(k.lang, k.done, l, now)
		h.addForms(v, now)
		h.render(w, http.StatusOK, "page", v)
		return
	}
	buf := getBuffer()
	defer putBuffer(buf)
	h.fill(buf, s, l.c.Code, now)
	writeHTML(w, http.StatusOK, buf)
}

// doneOf is the action a redirect after a POST confirms: one of ours, or
// nothing (the URL is never echoed).
func doneOf(r *http.Request) string {
	d := r.URL.Query().Get("done")
	for _, a := range actions {
		if a.name == d {
			return d
		}
	}
	return ""
}

// loadFromPath loads the case named by the {code} path value, answering
// the request itself when there is none.
func (h *Handler) loadFromPath(w http.ResponseWriter, r *http.Request) (*loaded, bool) {
	code, err := parseCode(r.PathValue("code"))
	if errors.Is(err, trackcode.ErrTypo) {
		h.typo(w, r, r.PathValue("code"))
		return nil, false
	}
	var l *loaded
	if err == nil {
		l, err = h.load(r.Context(), code)
	}
	switch {
	case errors.Is(err, errUnknown):
		h.notFound(w, r)
		return nil, false
	case errors.Is(err, errBusy):
		h.tooMany(w, r, false, time.Minute)
		return nil, false
	case err != nil:
		h.unavailable(w, r, err)
		return nil, false
	}
	return l, true
}

// formArgs is what the "hidden" and "formerror" templates get.
type formArgs struct {
	Name, Lang string
	Form       form
	V          *view
}

// For gives one form's template arguments: {{template "hidden" (.For "info")}}.
func (v *view) For(name string) formArgs {
	return formArgs{Name: name, Lang: v.Lang, Form: v.Forms[name], V: v}
}

// Newest is the timeline newest first: on a phone the latest news (our
// answer, our question) is what the customer came for.
func (v *view) Newest() []entry {
	out := make([]entry, len(v.Timeline))
	for i, e := range v.Timeline {
		out[len(out)-1-i] = e
	}
	return out
}

// FormShown reports whether the page shows the form of action name; a
// refusal for a form that is gone (the case moved on) is shown at the top.
func (v *view) FormShown(name string) bool {
	switch name {
	case "info":
		return v.CanInfo
	case "accept", "reject":
		return v.CanAnswer
	case "rate":
		return v.CanRate
	}
	return false
}
