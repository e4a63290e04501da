package tracking

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/textsafe"
)

// act is one customer action: its form's name and what it makes.
type act struct {
	name string
	// build checks the form and returns the events' types and payloads, in
	// order, or a message key (and its args) for a plain refusal.
	build func(h *Handler, l *loaded, form url.Values) ([]draft, *refusal)
}

type draft struct {
	typ  event.Type
	data any
}

type refusal struct {
	status int
	key    string
	args   []any
}

var actions = []act{
	{name: "info", build: actInfo},
	{name: "accept", build: actAccept},
	{name: "reject", build: actReject},
	{name: "rate", build: actRate},
}

// Limits on what a customer adds to one case in a day: anyone holding the
// code can post, and each post lands in the staff's queue and in every
// terminal's database. A customer with more to say in one day writes to
// the branch; the page says so.
const (
	MaxInfoPerDay      = 5
	MaxInfoCharsPerDay = 2 * MaxInfo
)

// actInfo adds information: InfoProvided, which also ends a pause of the
// SLA clock (lifecycle: WaitingOnCustomer becomes false).
func actInfo(h *Handler, l *loaded, f url.Values) ([]draft, *refusal) {
	if r := allowed(&l.c, event.InfoProvided); r != nil {
		return nil, r
	}
	text, r := cleanText(f.Get("text"), MaxInfo, true, "error.empty")
	if r != nil {
		return nil, r
	}
	posts, chars := 0, utf8.RuneCountInString(text)
	since := h.now().Add(-24 * time.Hour)
	for _, e := range l.all {
		if e.Type != event.InfoProvided || e.Actor.Kind != event.ActorCustomer || e.At.Time().Before(since) {
			continue
		}
		posts++
		var t event.Text
		if json.Unmarshal(e.Data, &t) == nil {
			chars += utf8.RuneCountInString(t.Text)
		}
	}
	if posts >= MaxInfoPerDay || chars > MaxInfoCharsPerDay {
		return nil, &refusal{status: http.StatusTooManyRequests, key: "error.info.limit", args: []any{"posts", MaxInfoPerDay}}
	}
	return []draft{{event.InfoProvided, event.Text{Text: text}}}, nil
}

// actAccept closes the case with the customer's acceptance (8.9).
func actAccept(_ *Handler, l *loaded, _ url.Values) ([]draft, *refusal) {
	if l.c.State != lifecycle.Responded {
		return nil, notAllowed()
	}
	yes := true
	return []draft{{event.Closed, event.Closure{CustomerAccepted: &yes}}}, nil
}

// actReject records that the customer is not satisfied (8.8, 8.9): the
// case is closed with the refusal recorded, reopened with their reason,
// and escalated so someone senior reviews it. The lifecycle only reopens a
// closed case, hence three events; they are appended together, so there is
// never a closed-and-not-reopened case.
func actReject(_ *Handler, l *loaded, f url.Values) ([]draft, *refusal) {
	if l.c.State != lifecycle.Responded {
		return nil, notAllowed()
	}
	reason, r := cleanText(f.Get("reason"), MaxReason, true, "error.reason.empty")
	if r != nil {
		return nil, r
	}
	no := false
	return []draft{
		{event.Closed, event.Closure{CustomerAccepted: &no}},
		{event.Reopened, event.Text{Text: reason}},
		{event.Escalated, event.Escalation{Text: "customer not satisfied with the response: " + reason}},
	}, nil
}

// actRate records the customer's satisfaction (9.3), once per case: the
// first rating is the one about the handling they just saw, a second
// would let anyone holding the code overwrite it, and the KPI counts one
// rating per case. A later change of mind is for the recourse, not the
// stars.
func actRate(_ *Handler, l *loaded, f url.Values) ([]draft, *refusal) {
	if r := allowed(&l.c, event.SatisfactionRated); r != nil {
		return nil, r
	}
	if l.c.Rating != nil {
		return nil, &refusal{status: http.StatusConflict, key: "error.already_rated"}
	}
	stars, err := strconv.Atoi(f.Get("stars"))
	if err != nil || stars < event.MinStars || stars > event.MaxStars {
		return nil, &refusal{status: http.StatusUnprocessableEntity, key: "error.stars"}
	}
	comment, r := cleanText(f.Get("comment"), MaxComment, false, "")
	if r != nil {
		return nil, r
	}
	return []draft{{event.SatisfactionRated, event.Rating{Stars: stars, Comment: comment}}}, nil
}

func allowed(c *lifecycle.Case, t event.Type) *refusal {
	if lifecycle.Allowed(c.State, t) != nil {
		return notAllowed()
	}
	return nil
}

func notAllowed() *refusal {
	return &refusal{status: http.StatusConflict, key: "error.not_allowed"}
}

// cleanText neutralises control and escape sequences (textsafe) and
// checks the length the customer was told, in characters.
func cleanText(s string, limit int, required bool, emptyKey string) (string, *refusal) {
	s = strings.TrimSpace(textsafe.Clean(s))
	if n := utf8.RuneCountInString(s); n > limit {
		return "", &refusal{status: http.StatusUnprocessableEntity, key: "error.too_long", args: []any{"limit", limit, "count", n}}
	}
	if required && s == "" {
		return "", &refusal{status: http.StatusUnprocessableEntity, key: emptyKey}
	}
	return s, nil
}

// action is the POST handler for a: same-origin and token checks, then,
// under the complaint's lock, the lifecycle check and one Append of every
// event the action makes. Success redirects (303) to the page with a
// confirmation; a refusal renders the page with a plain message and stores
// nothing.
func (h *Handler) action(a act) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			// Over maxForm (the page's own limits keep far below it) or
			// garbled: nobody using the page gets here.
			lang := h.lang(r)
			h.render(w, http.StatusRequestEntityTooLarge, "lookup",
				h.baseView(lang, h.words.T(lang, "page.title"), h.words.T(lang, "error.unavailable")))
			return
		}
		l, ok := h.loadFromPath(w, r)
		if !ok {
			return
		}
		lang := h.caseLang(r, &l.c)
		refuse := func(rf *refusal) {
			now := h.now()
			v := h.caseView(lang, doneOf(r), l, now)
			h.addForms(v, now)
			v.Error, v.ErrorFor = h.words.T(lang, rf.key, rf.args...), a.name
			// Give back what they typed, so a long text is not lost.
			for _, k := range []string{"text", "reason", "comment", "stars"} {
				v.Input[k] = r.PostForm.Get(k)
			}
			if !v.FormShown(a.name) {
				// The form is gone (the case closed while the page was
				// open): say so plainly and show the text where it can
				// be copied.
				for _, k := range []string{"reason", "text", "comment"} {
					if t := strings.TrimSpace(r.PostForm.Get(k)); t != "" {
						v.Kept = t
						break
					}
				}
				if rf.key == "error.not_allowed" && l.c.State == lifecycle.Closed {
					v.Error = h.words.T(lang, "error.closed", "date", h.words.Date(lang, l.c.ClosedAt.Time().In(h.loc)))
				}
			}
			h.render(w, rf.status, "page", v)
		}
		nonce := r.PostForm.Get("nonce")
		if !h.sameOrigin(r) || !h.checkToken(l.c.Code, a.name, nonce, r.PostForm.Get("token")) {
			h.logger.Info("form refused", "action", a.name, "complaint", l.c.ID)
			refuse(&refusal{status: http.StatusForbidden, key: "error.expired"})
			return
		}

		unlock := h.lock(l.c.ID)
		defer unlock()
		// Again under the lock: another request may have acted since.
		if l, ok = h.loadFromPath(w, r); !ok {
			return
		}
		done := func() {
			target := PathPage + l.c.Code + "?done=" + a.name
			if lg := r.PostForm.Get("lang"); h.words.Has(lg) {
				target += "&lang=" + url.QueryEscape(lg)
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
		}
		drafts, rf := a.build(h, l, r.PostForm)
		ids := h.eventIDs(nonce, max(len(drafts), 1))
		// This very form was handled already (a double click, a reload of
		// the POST): the same confirmation, nothing stored twice.
		if slices.ContainsFunc(l.all, func(e event.Event) bool { return e.ID == ids[0] }) {
			done()
			return
		}
		if rf != nil {
			refuse(rf)
			return
		}
		// After every event already in the log, even one stamped by a
		// device whose clock runs ahead: the fold orders by clock.
		for _, e := range l.all {
			h.clock.Observe(e.At)
		}
		evs := make([]event.Event, len(drafts))
		for i, d := range drafts {
			data, err := json.Marshal(d.data)
			if err != nil {
				h.unavailable(w, r, err)
				return
			}
			evs[i] = event.Event{ID: ids[i], ComplaintID: l.c.ID, Type: d.typ, Actor: event.Actor{Kind: event.ActorCustomer},
				At: h.clock.Now(), Branch: l.row.Branch, Data: data}
		}
		// The events must fold: checked before anything is stored.
		c := l.c
		for _, e := range evs {
			if err := lifecycle.Apply(&c, e); err != nil {
				var le *lifecycle.Error
				if errors.As(err, &le) && le.Code == lifecycle.NotAllowed {
					refuse(notAllowed())
					return
				}
				h.unavailable(w, r, err)
				return
			}
		}
		if _, err := h.store.Append(r.Context(), evs); err != nil {
			h.unavailable(w, r, err)
			return
		}
		h.logger.Info("customer action", "action", a.name, "complaint", l.c.ID, "events", len(evs))
		done()
	}
}

// sameOrigin refuses a POST a browser says came from elsewhere. The token
// is the real protection; this catches a token leaked with a page. With
// Referrer-Policy no-referrer browsers send "Origin: null" on form posts,
// so "null" and no Origin pass; Sec-Fetch-Site, sent regardless of the
// referrer policy by current browsers, must then not say cross-site.
func (h *Handler) sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" || o == "null" || h.origins[o] {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}
