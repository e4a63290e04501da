package console

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"ombud/server/storage"
	"ombud/shared/lifecycle"
	"ombud/shared/staff"
	"ombud/shared/uid"
)

// Saved views: a person names the queue page's current filters, finds them
// listed on the queue page, opens one (the page with those filters) and
// deletes their own. A supervisor or above may share a view with one of
// their teams; its members see it listed and open it, but only its owner
// deletes it. A view holds filters only: opening one shows what the
// filters select within the opener's own scope, never more.

// viewFilters are the queue page's filters a view keeps, in a fixed order.
var viewFilters = []string{"state", "queue", "branch", "category", "priority", "from", "to"}

// viewQuery is the query string of the filters shown, without empty ones
// or ones the queue page would ignore.
func viewQuery(shown map[string]string) string {
	q := url.Values{}
	for _, k := range viewFilters {
		v := shown[k]
		switch k {
		case "priority":
			if _, err := strconv.Atoi(v); err != nil {
				v = ""
			}
		case "state":
			if v != "open" && v != "all" && !slices.Contains(lifecycle.States(), lifecycle.State(v)) {
				v = ""
			}
		case "from", "to":
			if _, err := time.Parse("2006-01-02", v); err != nil {
				v = ""
			}
		}
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

// viewItem is a saved view as the queue page lists it.
type viewItem struct {
	storage.SavedView
	Mine bool
}

// views lists the views a person sees.
func (h *Handler) views(r *http.Request, wh *who) ([]viewItem, error) {
	vs, err := h.store.Views(r.Context(), wh.acct.ID, wh.acct.Teams)
	if err != nil {
		return nil, err
	}
	out := make([]viewItem, len(vs))
	for i, v := range vs {
		out[i] = viewItem{SavedView: v, Mine: v.StaffID == wh.acct.ID}
	}
	return out, nil
}

// mayOpen reports whether the person may open v: their own, or shared
// with a team they are in.
func mayOpen(wh *who, v storage.SavedView) bool {
	return v.StaffID == wh.acct.ID || (v.Team != "" && slices.Contains(wh.acct.Teams, v.Team))
}

// handleViewSave saves the filters posted (the queue page's, as a query
// string) under a name.
func (h *Handler) handleViewSave(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	f := r.PostForm
	name := strings.TrimSpace(f.Get("name"))
	// The filters are read back as the queue page reads them, so only
	// known filters with usable values are kept.
	fr := &http.Request{URL: &url.URL{RawQuery: f.Get("query")}}
	_, shown := filterOf(fr, wh.scope)
	v := storage.SavedView{ID: uid.New(), StaffID: wh.acct.ID, Name: name, Query: viewQuery(shown), CreatedAt: h.opts.Now()}
	if team := f.Get("team"); team != "" {
		if !wh.acct.Role.AtLeast(staff.Supervisor) || !slices.Contains(wh.acct.Teams, team) {
			h.render(w, r, http.StatusForbidden, "error", h.errView(r, "Only a supervisor may share a view, and only with one of their teams."))
			return
		}
		v.Team = team
	}
	if err := h.store.SaveView(r.Context(), v); err != nil {
		if c := storage.ErrorCode(err); c == storage.Invalid || c == storage.Conflict {
			h.render(w, r, http.StatusUnprocessableEntity, "error", h.errView(r, "The view was not saved: "+storage.ErrorMessage(err)+"."))
			return
		}
		h.fail(w, r, err)
		return
	}
	detail := fmt.Sprintf("saved view %q (%s)", v.Name, v.Query)
	if v.Team != "" {
		detail += ", shared with team " + v.Team
	}
	h.audit(r, wh.acct.ID, "view_save", detail)
	http.Redirect(w, r, Prefix+"?"+v.Query, http.StatusSeeOther)
}

// viewOf reads the view named in the path if the person may open it; a
// view they may not open is "not found", as one that does not exist.
func (h *Handler) viewOf(w http.ResponseWriter, r *http.Request, wh *who) (storage.SavedView, bool) {
	v, err := h.store.View(r.Context(), r.PathValue("view"))
	if err == nil && !mayOpen(wh, v) {
		err = storage.Errorf(storage.NotFound, "no such view")
	}
	if err != nil {
		if storage.ErrorCode(err) == storage.NotFound {
			h.render(w, r, http.StatusNotFound, "error", h.errView(r, "There is no such saved view."))
		} else {
			h.fail(w, r, err)
		}
		return v, false
	}
	return v, true
}

// handleViewOpen shows the queue page with the view's filters.
func (h *Handler) handleViewOpen(w http.ResponseWriter, r *http.Request) {
	if v, ok := h.viewOf(w, r, whoOf(r)); ok {
		http.Redirect(w, r, Prefix+"?"+v.Query, http.StatusSeeOther)
	}
}

// handleViewDelete deletes one of the person's own views.
func (h *Handler) handleViewDelete(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	v, ok := h.viewOf(w, r, wh)
	if !ok {
		return
	}
	if err := h.store.DeleteView(r.Context(), v.ID, wh.acct.ID); err != nil {
		if storage.ErrorCode(err) == storage.NotFound {
			// Shared with them, not theirs.
			h.render(w, r, http.StatusForbidden, "error", h.errView(r, "Only the person who saved a view may delete it."))
			return
		}
		h.fail(w, r, err)
		return
	}
	h.audit(r, wh.acct.ID, "view_delete", fmt.Sprintf("deleted view %q", v.Name))
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}
