package console

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"ombud/server/kpi"
)

// The improvement page (ISO 10002 9.4) and its export (9.1, 9.5): the
// figures of package kpi for a period and the branches the person may see,
// the previous period beside them, trends and charts drawn on the server.
// The rules live in package kpi; this file reads the request, checks the
// scope and renders.

// improveFilter is a request's choice of period and scope.
type improveFilter struct {
	Period kpi.Period
	Query  kpi.Query
	F      map[string]string // the form's values, for links and the form
}

// badFilter is a request's mistake, in words for the person; scope is
// true for a branch outside their scope (403, not 400).
type badFilter struct {
	msg   string
	scope bool
}

func (b *badFilter) Error() string { return b.msg }

// status is the HTTP status of a filter's error.
func filterStatus(err error) int {
	if b, ok := errors.AsType[*badFilter](err); ok && b.scope {
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

const maxFilterLen = 64

// improveFilterOf reads kind, date, branch, category and channel; the
// scope is the person's (all branches, or their home and added ones).
func (h *Handler) improveFilterOf(r *http.Request, wh *who) (improveFilter, error) {
	loc := h.opts.Location
	if loc == nil {
		loc = time.Local
	}
	q := r.URL.Query()
	f := improveFilter{F: map[string]string{}}
	kind := q.Get("period")
	if !slices.Contains(kpi.Kinds, kind) {
		kind = "month"
	}
	day := h.opts.Now().In(loc)
	if d := q.Get("date"); d != "" {
		t, err := time.ParseInLocation(kpi.DayLayout, d, loc)
		if err != nil {
			return f, &badFilter{msg: "The date must be a day such as 2026-03-31."}
		}
		day = t
	}
	f.Period = kpi.PeriodOf(kind, day)
	f.F["period"], f.F["date"] = kind, f.Period.From.Format(kpi.DayLayout)
	sc := wh.scope
	f.Query = kpi.Query{All: sc.All, Branches: sc.Branches}
	for _, k := range []string{"branch", "category", "channel"} {
		v := strings.TrimSpace(q.Get(k))
		if len(v) > maxFilterLen {
			return f, &badFilter{msg: "The " + k + " is too long."}
		}
		f.F[k] = v
	}
	if b := f.F["branch"]; b != "" {
		if !sc.All && !slices.Contains(sc.Branches, b) {
			return f, &badFilter{msg: "Your account does not cover that branch.", scope: true}
		}
		f.Query.All, f.Query.Branches = false, []string{b}
	}
	f.Query.Category, f.Query.Channel = f.F["category"], f.F["channel"]
	return f, nil
}

// link is the page's query string with the filter and the given changes.
func (f improveFilter) link(change map[string]string) string {
	v := make(map[string]string, len(f.F))
	for k, x := range f.F {
		v[k] = x
	}
	for k, x := range change {
		v[k] = x
	}
	keys := []string{"period", "date", "branch", "category", "channel", "format", "what"}
	var parts []string
	for _, k := range keys {
		if v[k] != "" {
			parts = append(parts, k+"="+url.QueryEscape(v[k]))
		}
	}
	return "?" + strings.Join(parts, "&")
}

type figureRow struct {
	ID, Name, Cur, Prev string
}

type improveView struct {
	baseView
	F                    map[string]string
	Kinds                []string
	Scope                string
	Period, Prev         kpi.Period
	PrevLink, NextLink   string
	Rows                 []figureRow
	Stars                []figureRow
	Trend                []kpi.TrendPoint
	Weekly               kpi.CategoryWeeks
	Backlog              []kpi.AgeBucket
	BacklogTotal         int64
	Volume, SLA, Ageing  kpi.Chart
	VolumeText, SLAText  string
	AgeingText           string
	ExportCSV, ExportFig string
	ExportJSON           string
}

// improveReader is the figures' storage: both backends have it.
func (h *Handler) improveReader() (kpi.Reader, bool) {
	r, ok := h.store.(kpi.Reader)
	return r, ok
}

func (h *Handler) handleImprove(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	kr, ok := h.improveReader()
	if !ok {
		h.render(w, r, http.StatusNotFound, "error", h.errView(r, "The improvement figures are not available on this database yet."))
		return
	}
	f, err := h.improveFilterOf(r, wh)
	if err != nil {
		h.render(w, r, filterStatus(err), "error", h.errView(r, err.Error()))
		return
	}
	ctx := r.Context()
	now := h.opts.Now()
	cur, err := kpi.Compute(ctx, kr, f.Query, f.Period, now)
	if err == nil {
		var prev kpi.Figures
		if prev, err = kpi.Compute(ctx, kr, f.Query, f.Period.Prev(), now); err == nil {
			v := improveView{baseView: h.baseFor(r, wh, "Improvement"), F: f.F, Kinds: kpi.Kinds,
				Period: f.Period, Prev: f.Period.Prev(),
				PrevLink:   f.link(map[string]string{"date": f.Period.Prev().From.Format(kpi.DayLayout)}),
				NextLink:   f.link(map[string]string{"date": f.Period.Next().From.Format(kpi.DayLayout)}),
				ExportCSV:  "/console/improve/export" + f.link(map[string]string{"what": "cases", "format": "csv"}),
				ExportJSON: "/console/improve/export" + f.link(map[string]string{"what": "cases", "format": "json"}),
				ExportFig:  "/console/improve/export" + f.link(map[string]string{"what": "figures", "format": "json"}),
			}
			v.Scope = scopeText(f.Query)
			v.Rows, v.Stars = figureRows(cur, prev)
			v.Backlog, v.BacklogTotal = cur.Backlog, cur.BacklogTotal
			if err = h.improveCharts(r, kr, f, &v); err == nil {
				h.render(w, r, http.StatusOK, "improve", v)
				return
			}
		}
	}
	if errors.Is(err, kpi.ErrTooMany) {
		h.render(w, r, http.StatusBadRequest, "error", h.errView(r, "There are more cases than this view can show at once: choose a shorter period or fewer branches."))
		return
	}
	h.fail(w, r, err)
}

func scopeText(q kpi.Query) string {
	s := "all branches"
	if !q.All {
		s = "branch " + strings.Join(q.Branches, ", ")
		if len(q.Branches) > 1 {
			s = "branches " + strings.Join(q.Branches, ", ")
		}
	}
	if q.Category != "" {
		s += ", category " + q.Category
	}
	if q.Channel != "" {
		s += ", channel " + q.Channel
	}
	return s
}

func figureRows(c, p kpi.Figures) (rows, stars []figureRow) {
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	mean := func(f kpi.Figures) string {
		if f.Rated == 0 {
			return "—"
		}
		return strconv.FormatFloat(f.StarsMean, 'f', 2, 64) + " of 5"
	}
	rows = []figureRow{
		{"received", "Complaints received", n(c.Received), n(p.Received)},
		{"ack-median", "Time to acknowledge, median", c.AckMedian.String(), p.AckMedian.String()},
		{"ack-p90", "Time to acknowledge, 90th percentile", c.AckP90.String(), p.AckP90.String()},
		{"ack-sla", "Acknowledged within the SLA", c.AckSLA.String(), p.AckSLA.String()},
		{"respond-median", "Time to respond, median", c.RespondMedian.String(), p.RespondMedian.String()},
		{"respond-p90", "Time to respond, 90th percentile", c.RespondP90.String(), p.RespondP90.String()},
		{"respond-sla", "Responded within the SLA", c.RespondSLA.String(), p.RespondSLA.String()},
		{"escalated", "Escalated", n(c.Escalated) + " (" + c.EscalationRate.String() + ")", n(p.Escalated) + " (" + p.EscalationRate.String() + ")"},
		{"reopen", "Reopened, of closed", c.ReopenRate.String(), p.ReopenRate.String()},
		{"not-satisfied", "Not satisfied, of closed", c.NotSatisfiedRate.String(), p.NotSatisfiedRate.String()},
		{"rated", "Rated by the customer, of closed", c.ResponseRate.String(), p.ResponseRate.String()},
		{"stars-mean", "Satisfaction, mean", mean(c), mean(p)},
		{"backlog", "Open at the end of the period", n(c.BacklogTotal), n(p.BacklogTotal)},
	}
	for i := 4; i >= 0; i-- {
		label := strconv.Itoa(i+1) + " star"
		if i > 0 {
			label += "s"
		}
		stars = append(stars, figureRow{ID: "stars-" + strconv.Itoa(i+1), Name: label, Cur: n(c.Stars[i]), Prev: n(p.Stars[i])})
	}
	return rows, stars
}

// improveCharts reads the trend and the weekly volumes and lays out the
// three charts with their summaries.
func (h *Handler) improveCharts(r *http.Request, kr kpi.Reader, f improveFilter, v *improveView) error {
	ctx := r.Context()
	trend, err := kpi.Trend(ctx, kr, f.Query, f.Period, 12)
	if err != nil {
		return err
	}
	v.Trend = trend
	labels := make([]string, len(trend))
	shares := make([]kpi.Ratio, len(trend))
	for i, t := range trend {
		labels[i], shares[i] = t.Period.Short(), t.RespondOnTime()
	}
	v.SLA = kpi.Percent(labels, shares)
	last := trend[len(trend)-1]
	v.SLAText = fmt.Sprintf("Responses given on time: %s in %s, %s in %s.", last.RespondOnTime(), last.Period.Label(),
		trend[len(trend)-2].RespondOnTime(), trend[len(trend)-2].Period.Label())
	if lo, ok := lowest(trend); ok {
		v.SLAText += fmt.Sprintf(" Lowest over the 12 %ss: %s in %s.", f.Period.Kind, lo.RespondOnTime(), lo.Period.Label())
	}

	end := f.Period.To
	if now := h.opts.Now(); now.Before(end) {
		end = now
	}
	weeks, err := kpi.WeeklyByCategory(ctx, kr, f.Query, end, 12)
	if err != nil {
		return err
	}
	v.Weekly = weeks
	wl := make([]string, len(weeks.Weeks))
	for i, p := range weeks.Weeks {
		wl[i] = p.From.Format("01-02")
	}
	v.Volume = kpi.Stacked(wl, weeks.Categories, weeks.Counts)
	var total, lastWeek int64
	for ci := range weeks.Categories {
		for wi, c := range weeks.Counts[ci] {
			total += c
			if wi == len(weeks.Weeks)-1 {
				lastWeek += c
			}
		}
	}
	v.VolumeText = fmt.Sprintf("%d complaints in the 12 weeks to %s, %d in the last week.", total, weeks.Weeks[len(weeks.Weeks)-1].To.Format(kpi.DayLayout), lastWeek)
	if len(weeks.Categories) > 0 {
		var top int64
		for _, c := range weeks.Counts[0] {
			top += c
		}
		v.VolumeText += fmt.Sprintf(" Most were about %s (%d).", weeks.Categories[0], top)
	}

	al := make([]string, len(v.Backlog))
	av := make([]int64, len(v.Backlog))
	var old int64
	for i, b := range v.Backlog {
		al[i], av[i] = b.Label, b.Count
		if b.Max == 0 || b.Max > 7*24*time.Hour {
			old += b.Count
		}
	}
	v.Ageing = kpi.Bars(al, av)
	v.AgeingText = fmt.Sprintf("%d open cases at the end of the period; %d of them a week old or more.", v.BacklogTotal, old)
	return nil
}

func lowest(trend []kpi.TrendPoint) (kpi.TrendPoint, bool) {
	var lo kpi.TrendPoint
	found := false
	for _, t := range trend {
		r := t.RespondOnTime()
		if r.Valid() && (!found || r.Value() < lo.RespondOnTime().Value()) {
			lo, found = t, true
		}
	}
	return lo, found
}

// exportColumns are the case list's columns (docs/API.md documents them).
var exportColumns = []string{"code", "branch", "category", "channel", "state", "filed_at", "acknowledged_at",
	"responded_at", "closed_at", "ack_sla", "respond_sla", "ack_due", "respond_due", "escalated", "reopened",
	"not_satisfied", "stars"}

// exportCase is one case of the export: the figures' fact, without the
// complaint's text or the customer's contact details.
type exportCase struct {
	Code           string     `json:"code"`
	Branch         string     `json:"branch"`
	Category       string     `json:"category"`
	Channel        string     `json:"channel"`
	State          string     `json:"state"`
	FiledAt        time.Time  `json:"filed_at"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	RespondedAt    *time.Time `json:"responded_at"`
	ClosedAt       *time.Time `json:"closed_at"`
	AckSLA         string     `json:"ack_sla"`
	RespondSLA     string     `json:"respond_sla"`
	AckDue         *time.Time `json:"ack_due"`
	RespondDue     *time.Time `json:"respond_due"`
	Escalated      bool       `json:"escalated"`
	Reopened       bool       `json:"reopened"`
	NotSatisfied   bool       `json:"not_satisfied"`
	Stars          int        `json:"stars"`
}

func judgement(j int) string {
	switch j {
	case kpi.OnTime:
		return "on_time"
	case kpi.Late:
		return "late"
	}
	return "pending"
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func caseOf(f kpi.Fact) exportCase {
	return exportCase{Code: f.Code, Branch: f.Branch, Category: f.Category, Channel: f.Channel, State: string(f.State),
		FiledAt: f.FiledAt, AcknowledgedAt: optTime(f.AcknowledgedAt), RespondedAt: optTime(f.RespondedAt),
		ClosedAt: optTime(f.ClosedAt), AckSLA: judgement(f.AckSLA), RespondSLA: judgement(f.RespondSLA),
		AckDue: optTime(f.AckDue), RespondDue: optTime(f.RespondDue), Escalated: f.Escalated,
		Reopened: f.Reopened, NotSatisfied: f.NotSatisfied, Stars: f.Stars}
}

// csvCell keeps a cell from being read as a formula by a spreadsheet.
func csvCell(s string) string {
	if s != "" && strings.ContainsAny(s[:1], "=+-@\t\r") {
		return "'" + s
	}
	return s
}

func (h *Handler) handleImproveExport(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	kr, ok := h.improveReader()
	if !ok {
		h.render(w, r, http.StatusNotFound, "error", h.errView(r, "The improvement figures are not available on this database yet."))
		return
	}
	f, err := h.improveFilterOf(r, wh)
	if err != nil {
		h.render(w, r, filterStatus(err), "error", h.errView(r, err.Error()))
		return
	}
	what, format := r.URL.Query().Get("what"), r.URL.Query().Get("format")
	if what == "" {
		what = "figures"
	}
	if format == "" {
		format = "csv"
	}
	if (what != "cases" && what != "figures") || (format != "csv" && format != "json") {
		h.render(w, r, http.StatusBadRequest, "error", h.errView(r, "Export what=cases or what=figures, as format=csv or format=json."))
		return
	}
	ctx := r.Context()
	name := "ombud-" + what + "-" + f.Period.Label()
	var body []byte
	switch what {
	case "cases":
		facts, err := kr.Facts(ctx, f.Query.In(f.Period), kpi.MaxFacts)
		if err != nil {
			h.exportFailed(w, r, err)
			return
		}
		if format == "json" {
			rows := make([]exportCase, len(facts))
			for i, x := range facts {
				rows[i] = caseOf(x)
			}
			body, err = json.MarshalIndent(map[string]any{"period": f.Period.Label(), "scope": scopeText(f.Query), "cases": rows}, "", " ")
		} else {
			body, err = casesCSV(facts)
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.audit(r, wh.acct.ID, "export", fmt.Sprintf("%d cases of %s, %s, as %s", len(facts), f.Period.Label(), scopeText(f.Query), format))
	case "figures":
		cur, err := kpi.Compute(ctx, kr, f.Query, f.Period, h.opts.Now())
		if err != nil {
			h.exportFailed(w, r, err)
			return
		}
		prev, err := kpi.Compute(ctx, kr, f.Query, f.Period.Prev(), h.opts.Now())
		if err != nil {
			h.exportFailed(w, r, err)
			return
		}
		rows, stars := figureRows(cur, prev)
		rows = append(rows, stars...)
		if format == "json" {
			type fig struct {
				ID       string `json:"id"`
				Name     string `json:"name"`
				Value    string `json:"value"`
				Previous string `json:"previous"`
			}
			out := make([]fig, len(rows))
			for i, x := range rows {
				out[i] = fig{x.ID, x.Name, x.Cur, x.Prev}
			}
			body, err = json.MarshalIndent(map[string]any{"period": f.Period.Label(), "previous": f.Period.Prev().Label(),
				"scope": scopeText(f.Query), "figures": out}, "", " ")
		} else {
			var b strings.Builder
			cw := csv.NewWriter(&b)
			cw.Write([]string{"id", "name", f.Period.Label(), f.Period.Prev().Label()})
			for _, x := range rows {
				cw.Write([]string{x.ID, x.Name, csvCell(x.Cur), csvCell(x.Prev)})
			}
			cw.Flush()
			body, err = []byte(b.String()), cw.Error()
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.audit(r, wh.acct.ID, "export", fmt.Sprintf("figures of %s, %s, as %s", f.Period.Label(), scopeText(f.Query), format))
	}
	ct := "text/csv; charset=utf-8"
	if format == "json" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.`+format+`"`)
	w.Write(body)
}

func (h *Handler) exportFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, kpi.ErrTooMany) {
		h.render(w, r, http.StatusBadRequest, "error", h.errView(r, "There are more cases than one export holds: choose a shorter period or fewer branches."))
		return
	}
	h.fail(w, r, err)
}

func casesCSV(facts []kpi.Fact) ([]byte, error) {
	var b strings.Builder
	cw := csv.NewWriter(&b)
	cw.Write(exportColumns)
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, f := range facts {
		cw.Write([]string{csvCell(f.Code), csvCell(f.Branch), csvCell(f.Category), csvCell(f.Channel), string(f.State),
			ts(f.FiledAt), ts(f.AcknowledgedAt), ts(f.RespondedAt), ts(f.ClosedAt),
			judgement(f.AckSLA), judgement(f.RespondSLA), ts(f.AckDue), ts(f.RespondDue),
			strconv.FormatBool(f.Escalated), strconv.FormatBool(f.Reopened), strconv.FormatBool(f.NotSatisfied),
			strconv.Itoa(f.Stars)})
	}
	cw.Flush()
	return []byte(b.String()), cw.Error()
}
