package tracking

import (
	"errors"
	"net/http"
	"time"

	"ombud/server/httpapi"
	"ombud/shared/trackcode"
)

// The JSON API (docs/API.md): the page's content for apps and integrators,
// with the same rules (public events only, no personal data, the same
// neutral 404, the same rate limit).

type apiStatus struct {
	Code              string     `json:"code"`
	Language          string     `json:"language"`
	State             string     `json:"state"`
	WaitingOnCustomer bool       `json:"waiting_on_customer"`
	StatusTitle       string     `json:"status_title"`
	Status            string     `json:"status"`
	Branch            string     `json:"branch"`
	NextStep          *apiNext   `json:"next_step"`
	Timeline          []apiEntry `json:"timeline"`
	CanAddInfo        bool       `json:"can_add_info"`
	CanAccept         bool       `json:"can_accept"`
	CanRefuse         bool       `json:"can_refuse"`
	CanRate           bool       `json:"can_rate"`
	Rating            *apiRating `json:"rating"`
}

type apiNext struct {
	Kind  StepKind `json:"kind"`
	Due   string   `json:"due"` // RFC 3339, end of the due day in the branch's zone
	Basis Basis    `json:"basis"`
	Team  string   `json:"team,omitempty"`
	Text  string   `json:"text"`
}

type apiEntry struct {
	At    string `json:"at"` // RFC 3339
	Type  string `json:"type"`
	By    string `json:"by"` // "customer" or "organisation": never a person
	Title string `json:"title"`
	Text  string `json:"text,omitempty"`
}

type apiRating struct {
	Stars int `json:"stars"`
}

// handleAPI is GET /api/v1/track/{code}.
func (h *Handler) handleAPI(w http.ResponseWriter, r *http.Request) {
	lang := h.lang(r)
	code, err := parseCode(r.PathValue("code"))
	if errors.Is(err, trackcode.ErrTypo) {
		h.apiError(w, r, httpapi.CodeCheckCode, h.words.T(lang, "lookup.typo"))
		return
	}
	var l *loaded
	if err == nil {
		l, err = h.load(r.Context(), code)
	}
	switch {
	case errors.Is(err, errUnknown):
		h.apiNotFound(w, r)
		return
	case errors.Is(err, errBusy):
		h.tooMany(w, r, true, time.Minute)
		return
	case err != nil:
		h.logger.Error("tracking api failed", "err", err)
		h.apiError(w, r, httpapi.CodeUnavailable, h.words.T(lang, "error.unavailable"))
		return
	}
	lang = h.caseLang(r, &l.c)
	v := h.caseView(lang, doneOf(r), l, h.now())
	c := &l.c
	out := apiStatus{
		Code: c.Code, Language: lang, State: string(c.State), WaitingOnCustomer: c.WaitingOnCustomer && c.State.Open(),
		StatusTitle: v.StatusTitle, Status: v.Status, Branch: l.branch, Timeline: []apiEntry{},
		CanAddInfo: v.CanInfo, CanAccept: v.CanAnswer, CanRefuse: v.CanAnswer, CanRate: v.CanRate,
	}
	if !l.next.Due.IsZero() {
		out.NextStep = &apiNext{Kind: l.next.Kind, Due: l.next.Due.In(h.loc).Format(timeFormat), Basis: l.next.Basis, Team: l.next.Team, Text: v.Next}
	}
	if c.Rating != nil {
		out.Rating = &apiRating{Stars: c.Rating.Stars}
	}
	for i, e := range l.events {
		by := "organisation"
		if v.Timeline[i].Customer {
			by = "customer"
		}
		out.Timeline = append(out.Timeline, apiEntry{At: e.At.Time().In(h.loc).Format(timeFormat), Type: string(e.Type),
			By: by, Title: v.Timeline[i].Title, Text: v.Timeline[i].Text})
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

const timeFormat = "2006-01-02T15:04:05Z07:00"

// apiNotFound is the one answer for malformed and unknown codes.
func (h *Handler) apiNotFound(w http.ResponseWriter, r *http.Request) {
	h.apiError(w, r, httpapi.CodeNotFound, h.words.T(h.lang(r), "notfound.body"))
}

// apiError answers in the server's JSON error format, in the customer's
// language. Nothing is logged for it: refusals are counted where they
// happen, and the path holds the code.
func (h *Handler) apiError(w http.ResponseWriter, r *http.Request, code httpapi.Code, msg string) {
	httpapi.WriteError(w, r, nil, &httpapi.Error{Code: code, Message: msg})
}
