package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"ombud/server/privacy"
	"ombud/server/storage"
)

// The privacy page (server/privacy): supervisors record a customer's
// request to erase their data, another supervisor approves it (the
// service refuses the one who recorded it: four eyes), legal holds are
// listed with their reasons, and a subject-access export is downloaded as
// JSON or a readable HTML page. The contact a person is found by is
// posted, never put in a URL (it would stay in logs and histories). Each
// action is in the privacy log (the service's) and the console's audit
// trail, which never holds the contact itself.

type privacyView struct {
	baseView
	Requests []storage.ErasureRequest
	Holds    []storage.Hold
	Notice   string
	Error    string
	Input    map[string]string
	// Available is false on a database without the privacy storage.
	Available bool
}

// privacyStore is the store's privacy tables, or nil.
func (h *Handler) privacyStore() storage.Privacy {
	p, _ := h.store.(storage.Privacy)
	return p
}

func (h *Handler) handlePrivacy(w http.ResponseWriter, r *http.Request) {
	v := privacyView{baseView: h.baseFor(r, whoOf(r), "Privacy"), Input: map[string]string{}}
	v.Notice = noticeOf(r)
	h.renderPrivacy(w, r, http.StatusOK, v)
}

func (h *Handler) renderPrivacy(w http.ResponseWriter, r *http.Request, status int, v privacyView) {
	if ps := h.privacyStore(); ps != nil && h.opts.Privacy != nil {
		var err error
		if v.Requests, err = ps.Erasures(r.Context()); err != nil {
			h.fail(w, r, err)
			return
		}
		if v.Holds, err = ps.Holds(r.Context()); err != nil {
			h.fail(w, r, err)
			return
		}
		v.Available = true
	}
	h.render(w, r, status, "privacy", v)
}

// subjectOf reads the form's kind and value.
func subjectOf(r *http.Request) (kind, value string) {
	return r.PostForm.Get("kind"), strings.TrimSpace(r.PostForm.Get("value"))
}

// privacyFailed answers a refusal of the service with the page and its
// reason: 403 for a person who may not (not a supervisor, or the one who
// recorded a request approving it), 404 for nobody found, 409 for a
// request closed already, 422 for bad input.
func (h *Handler) privacyFailed(w http.ResponseWriter, r *http.Request, v privacyView, err error) {
	status := 0
	switch {
	case errors.Is(err, privacy.ErrForbidden):
		status = http.StatusForbidden
		v.Error = "Refused: " + strings.TrimPrefix(err.Error(), privacy.ErrForbidden.Error()+": ") + "."
	default:
		switch storage.ErrorCode(err) {
		case storage.NotFound:
			status = http.StatusNotFound
		case storage.Conflict:
			status = http.StatusConflict
		case storage.Invalid:
			status = http.StatusUnprocessableEntity
		}
		v.Error = storage.ErrorMessage(err)
	}
	if status == 0 {
		h.fail(w, r, err)
		return
	}
	h.renderPrivacy(w, r, status, v)
}

func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request) bool {
	if h.opts.Privacy == nil || h.privacyStore() == nil {
		h.render(w, r, http.StatusNotImplemented, "error", h.errView(r, "Erasure and subject access are not available on this database yet."))
		return true
	}
	return false
}

func (h *Handler) handleErasureRequest(w http.ResponseWriter, r *http.Request) {
	if h.unavailable(w, r) {
		return
	}
	wh := whoOf(r)
	kind, value := subjectOf(r)
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	v := privacyView{baseView: h.baseFor(r, wh, "Privacy"), Input: map[string]string{"kind": kind, "value": value, "reason": reason}}
	if len(value) > 200 || len(reason) > 500 {
		v.Error = "The contact is at most 200 characters, the reason 500."
		h.renderPrivacy(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	req, err := h.opts.Privacy.RequestErasure(r.Context(), wh.acct.ID, kind, value, reason)
	if err != nil {
		h.privacyFailed(w, r, v, err)
		return
	}
	h.audit(r, wh.acct.ID, "erasure_request", fmt.Sprintf("recorded erasure request %s (%s, %d complaint(s)): another supervisor must approve it", req.ID, req.Subject, len(req.Complaints)))
	http.Redirect(w, r, Prefix+"privacy?done="+url.QueryEscape("recorded "+req.ID), http.StatusSeeOther)
}

func (h *Handler) handleErasureApprove(w http.ResponseWriter, r *http.Request) {
	if h.unavailable(w, r) {
		return
	}
	wh := whoOf(r)
	id := r.PathValue("id")
	v := privacyView{baseView: h.baseFor(r, wh, "Privacy"), Input: map[string]string{}}
	req, err := h.opts.Privacy.ApproveErasure(r.Context(), id, wh.acct.ID)
	if err != nil {
		if errors.Is(err, privacy.ErrForbidden) {
			h.audit(r, wh.acct.ID, "erasure_refused", "approval of "+id+" refused: "+err.Error())
		}
		h.privacyFailed(w, r, v, err)
		return
	}
	h.audit(r, wh.acct.ID, "erasure_approve", fmt.Sprintf("approved erasure request %s recorded by %s: %s", req.ID, req.RequestedBy, req.Outcome))
	http.Redirect(w, r, Prefix+"privacy?done="+url.QueryEscape("approved "+req.ID), http.StatusSeeOther)
}

// handleSubjectAccess answers the export as a download: JSON, or the
// readable HTML page.
func (h *Handler) handleSubjectAccess(w http.ResponseWriter, r *http.Request) {
	if h.unavailable(w, r) {
		return
	}
	wh := whoOf(r)
	kind, value := subjectOf(r)
	format := r.PostForm.Get("format")
	v := privacyView{baseView: h.baseFor(r, wh, "Privacy"), Input: map[string]string{"access-kind": kind, "access-value": value}}
	if format != "json" && format != "html" {
		v.Error = "Choose JSON or HTML."
		h.renderPrivacy(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	if len(value) > 200 {
		v.Error = "The contact is at most 200 characters."
		h.renderPrivacy(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	x, err := h.opts.Privacy.SubjectAccess(r.Context(), wh.acct.ID, kind, value)
	if err != nil {
		h.privacyFailed(w, r, v, err)
		return
	}
	// The audit trail names the subject by its key (a hashed contact),
	// never the address.
	h.audit(r, wh.acct.ID, "subject_access", fmt.Sprintf("exported %d complaint(s) of %s as %s", len(x.Cases), privacy.SubjectKey(kind, value), format))
	w.Header().Set("Content-Disposition", `attachment; filename="ombud-subject-access.`+format+`"`)
	if format == "json" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(x); err != nil {
			h.log.Error("subject access export", "err", err)
		}
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := x.WriteHTML(w); err != nil {
		h.log.Error("subject access export", "err", err)
	}
}
