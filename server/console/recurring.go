package console

import (
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"ombud/server/kpi"
	"ombud/server/recurring"
	"ombud/server/storage"
	"ombud/shared/event"
)

// The recurring problems (ISO 10002 9.2): complaints of the period and
// the one before, grouped by what they say (package server/recurring),
// with the supervisors' remembered merges, splits and dismissals applied;
// a group growing faster than its baseline is flagged.

// maxRecurring bounds the complaints one page groups (per period).
const maxRecurring = 3000

type recurringRow struct {
	Anchor    string // the complaint id decisions name the group by
	Sample    string // a complaint's words
	Terms     string
	Language  string
	Cur, Prev int
	Branches  int
	Growing   bool
	Members   []memberRow
}

type memberRow struct{ ID, Code string }

type recurringView struct {
	baseView
	F            map[string]string
	Kinds        []string
	Period, Prev kpi.Period
	Back         string
	Groups       []recurringRow
	Others       []recurringRow // for the merge form
	Dismissed    int
	Growing      int
	Error        string
}

func (h *Handler) handleRecurring(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	kr, ok := h.improveReader()
	st, ok2 := h.store.(storage.Improve)
	if !ok || !ok2 {
		h.render(w, r, http.StatusNotFound, "error", h.errView(r, "The improvement figures are not available on this database yet."))
		return
	}
	f, err := h.improveFilterOf(r, wh)
	if err != nil {
		h.render(w, r, filterStatus(err), "error", h.errView(r, err.Error()))
		return
	}
	ctx := r.Context()
	v := recurringView{baseView: h.baseFor(r, wh, "Recurring problems"), F: f.F, Kinds: kpi.Kinds,
		Period: f.Period, Prev: f.Period.Prev(), Back: f.link(nil)}
	prevFacts, err := kr.Facts(ctx, f.Query.In(f.Period.Prev()), maxRecurring)
	var curFacts []kpi.Fact
	if err == nil {
		curFacts, err = kr.Facts(ctx, f.Query.In(f.Period), maxRecurring)
	}
	if errors.Is(err, kpi.ErrTooMany) {
		h.render(w, r, http.StatusOK, "error", h.errView(r, "Too many complaints to group at once: choose a shorter period or fewer branches."))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	type info struct {
		fact kpi.Fact
		text string
		cur  bool
	}
	byID := map[string]info{}
	var docs []recurring.Doc
	for i, facts := range [][]kpi.Fact{prevFacts, curFacts} {
		for _, fa := range facts {
			evs, err := h.store.ComplaintEvents(ctx, fa.ComplaintID)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			var c struct{ Description, Language string }
			for _, e := range evs {
				if e.Event.Type == event.Filed {
					if cp, err := e.Event.Complaint(); err == nil {
						c.Description, c.Language = cp.Description, cp.Language
					}
					break
				}
			}
			if strings.TrimSpace(c.Description) == "" {
				continue // redacted, or nothing said
			}
			byID[fa.ComplaintID] = info{fact: fa, text: c.Description, cur: i == 1}
			docs = append(docs, recurring.Doc{ID: fa.ComplaintID, Language: c.Language, Text: c.Description})
		}
	}
	decisions, err := st.RecurringDecisions(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	applied := recurring.Apply(recurring.Cluster(docs, 0), decisions)
	v.Dismissed = len(applied.Dismissed)
	for _, g := range applied.Groups {
		row := recurringRow{Language: g.Language, Terms: strings.Join(g.Terms, ", ")}
		branches := map[string]bool{}
		for _, id := range g.Members {
			in := byID[id]
			if in.cur {
				row.Cur++
				branches[in.fact.Branch] = true
				if row.Sample == "" {
					row.Sample, row.Anchor = in.text, id
				}
				row.Members = append(row.Members, memberRow{ID: id, Code: in.fact.Code})
			} else {
				row.Prev++
			}
		}
		row.Branches = len(branches)
		if row.Cur < 2 {
			continue // said once is not recurring
		}
		if r := []rune(row.Sample); len(r) > 140 {
			row.Sample = string(r[:140]) + "…"
		}
		// Growing faster than its baseline: at least three, and at
		// least twice the period before.
		row.Growing = row.Cur >= 3 && row.Cur >= 2*row.Prev
		if row.Growing {
			v.Growing++
		}
		v.Groups = append(v.Groups, row)
	}
	sort.SliceStable(v.Groups, func(i, j int) bool { return v.Groups[i].Cur > v.Groups[j].Cur })
	if len(v.Groups) > 50 {
		v.Groups = v.Groups[:50]
	}
	v.Others = v.Groups
	h.render(w, r, http.StatusOK, "recurring", v)
}

func (h *Handler) handleRecurringDecide(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	st, ok := h.store.(storage.Improve)
	kind := r.PathValue("kind")
	if !ok || (kind != "dismiss" && kind != "merge" && kind != "split") {
		h.render(w, r, http.StatusNotFound, "error", h.errView(r, "There is no such page."))
		return
	}
	d := storage.RecurringDecision{Kind: kind, Complaint: r.PostForm.Get("complaint"), ActorID: wh.acct.ID, At: h.opts.Now()}
	if kind == "merge" {
		d.Into = r.PostForm.Get("into")
	}
	// Decisions name complaints the person may see.
	ids := []string{d.Complaint}
	if kind == "merge" {
		ids = append(ids, d.Into)
	}
	for _, id := range ids {
		if _, err := h.load(r, wh, id); err != nil {
			h.render(w, r, http.StatusNotFound, "error", h.errView(r, "There is no such complaint among those you may see."))
			return
		}
	}
	if err := st.AddRecurringDecision(r.Context(), d); err != nil {
		if storage.ErrorCode(err) == storage.Invalid {
			h.render(w, r, http.StatusUnprocessableEntity, "error", h.errView(r, "Choose the groups first."))
			return
		}
		h.fail(w, r, err)
		return
	}
	h.audit(r, wh.acct.ID, "recurring_"+kind, "recurring group of complaint "+d.Complaint+(map[bool]string{true: " into " + d.Into}[d.Into != ""]))
	back := r.PostForm.Get("back")
	if !strings.HasPrefix(back, "?") {
		back = ""
	}
	if _, err := url.ParseQuery(strings.TrimPrefix(back, "?")); err != nil {
		back = ""
	}
	http.Redirect(w, r, Prefix+"recurring"+back, http.StatusSeeOther)
}
