package kpi

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// MaxFacts bounds the facts one figure reads (percentiles, backlog).
const MaxFacts = 200_000

// Period is a span of whole filing days: a week (Monday to Sunday), a
// month or a quarter.
type Period struct {
	Kind     string    // "week", "month" or "quarter"
	From, To time.Time // first and last day, midnight in the location
}

// Kinds of period.
var Kinds = []string{"week", "month", "quarter"}

// PeriodOf is the period of kind that holds day (in day's location). An
// unknown kind is a month.
func PeriodOf(kind string, day time.Time) Period {
	y, m, d := day.Date()
	loc := day.Location()
	switch kind {
	case "week":
		start := time.Date(y, m, d, 0, 0, 0, 0, loc)
		start = start.AddDate(0, 0, -((int(start.Weekday()) + 6) % 7))
		return Period{Kind: kind, From: start, To: start.AddDate(0, 0, 6)}
	case "quarter":
		qm := time.Month((int(m)-1)/3*3 + 1)
		start := time.Date(y, qm, 1, 0, 0, 0, 0, loc)
		return Period{Kind: kind, From: start, To: start.AddDate(0, 3, -1)}
	default:
		start := time.Date(y, m, 1, 0, 0, 0, 0, loc)
		return Period{Kind: "month", From: start, To: start.AddDate(0, 1, -1)}
	}
}

// Prev is the period before p.
func (p Period) Prev() Period { return PeriodOf(p.Kind, p.From.AddDate(0, 0, -1)) }

// Next is the period after p.
func (p Period) Next() Period { return PeriodOf(p.Kind, p.To.AddDate(0, 0, 1)) }

// End is the first instant after p.
func (p Period) End() time.Time { return p.To.AddDate(0, 0, 1) }

// Label names p for people: "2026-W48", "2026-11", "2026-Q4".
func (p Period) Label() string {
	switch p.Kind {
	case "week":
		y, w := p.From.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	case "quarter":
		return fmt.Sprintf("%d-Q%d", p.From.Year(), (int(p.From.Month())-1)/3+1)
	}
	return p.From.Format("2006-01")
}

// Short names p in few characters, for a chart's axis: "W48", "Nov 26",
// "Q4 26".
func (p Period) Short() string {
	switch p.Kind {
	case "week":
		_, w := p.From.ISOWeek()
		return fmt.Sprintf("W%02d", w)
	case "quarter":
		return fmt.Sprintf("Q%d %02d", (int(p.From.Month())-1)/3+1, p.From.Year()%100)
	}
	return p.From.Format("Jan 06")
}

// In is q limited to p's days.
func (q Query) In(p Period) Query {
	q.From, q.To = p.From.Format(DayLayout), p.To.Format(DayLayout)
	return q
}

// Ratio is a share: Num of Den.
type Ratio struct{ Num, Den int64 }

// Valid reports whether the share is defined.
func (r Ratio) Valid() bool { return r.Den > 0 }

// Value is the share from 0 to 1 (0 when undefined).
func (r Ratio) Value() float64 {
	if r.Den == 0 {
		return 0
	}
	return float64(r.Num) / float64(r.Den)
}

// String is a percentage with one decimal, "—" when undefined.
func (r Ratio) String() string {
	if r.Den == 0 {
		return "—"
	}
	return strconv.FormatFloat(100*r.Value(), 'f', 1, 64) + " %"
}

// Duration is a time to act, shown in days, hours and minutes.
type Duration struct {
	D  time.Duration
	OK bool // false: no case to measure
}

func (d Duration) String() string {
	if !d.OK {
		return "—"
	}
	switch v := d.D; {
	case v >= 48*time.Hour:
		return strconv.FormatFloat(v.Hours()/24, 'f', 1, 64) + " days"
	case v >= time.Hour:
		return strconv.FormatFloat(v.Hours(), 'f', 1, 64) + " h"
	default:
		return strconv.Itoa(int(v/time.Minute)) + " min"
	}
}

// AgeBucket is one bar of the backlog ageing histogram.
type AgeBucket struct {
	Label string
	Max   time.Duration // upper bound (exclusive); 0 for the last bucket
	Count int64
}

// AgeBounds are the backlog histogram's buckets.
var AgeBounds = []struct {
	Label string
	Max   time.Duration
}{
	{"under 1 day", 24 * time.Hour},
	{"1–3 days", 72 * time.Hour},
	{"3–7 days", 7 * 24 * time.Hour},
	{"7–14 days", 14 * 24 * time.Hour},
	{"14–30 days", 30 * 24 * time.Hour},
	{"30 days or more", 0},
}

// Figures are the monitoring figures (9.4) of one period and scope.
type Figures struct {
	Period Period
	DayCounts
	AckMedian, AckP90         Duration
	RespondMedian, RespondP90 Duration
	// AckSLA and RespondSLA: targets met on time of those met, plus those
	// not met whose deadline had passed at AsOf (they are late already).
	AckSLA, RespondSLA Ratio
	EscalationRate     Ratio // of received
	ReopenRate         Ratio // of closed
	NotSatisfiedRate   Ratio // of closed
	ResponseRate       Ratio // ratings of closed cases
	StarsMean          float64
	// Backlog is open cases in scope (filed any day) by age at AsOf.
	Backlog      []AgeBucket
	BacklogTotal int64
	AsOf         time.Time
}

// Compute computes p's figures for q's scope; asOf is now (the backlog is
// taken at the earlier of now and p's end).
func Compute(ctx context.Context, r Reader, q Query, p Period, now time.Time) (Figures, error) {
	f := Figures{Period: p, AsOf: now}
	if end := p.End(); end.Before(now) {
		f.AsOf = end
	}
	qp := q.In(p)
	days, err := r.DayRows(ctx, qp)
	if err != nil {
		return f, err
	}
	for _, d := range days {
		f.DayCounts.Add(d.DayCounts, 1)
	}
	facts, err := r.Facts(ctx, qp, MaxFacts)
	if err != nil {
		return f, err
	}
	var ack, resp []time.Duration
	var ackOverdue, respOverdue int64
	for _, x := range facts {
		if !x.AcknowledgedAt.IsZero() {
			ack = append(ack, x.AcknowledgedAt.Sub(x.FiledAt))
		}
		if !x.RespondedAt.IsZero() {
			resp = append(resp, x.RespondedAt.Sub(x.FiledAt))
		}
		if x.AckSLA == NotJudged && !x.AckDue.IsZero() && x.AckDue.Before(f.AsOf) {
			ackOverdue++
		}
		if x.RespondSLA == NotJudged && !x.RespondDue.IsZero() && x.RespondDue.Before(f.AsOf) {
			respOverdue++
		}
	}
	f.AckMedian, f.AckP90 = quantile(ack, 0.5), quantile(ack, 0.9)
	f.RespondMedian, f.RespondP90 = quantile(resp, 0.5), quantile(resp, 0.9)
	c := f.DayCounts
	f.AckSLA = Ratio{c.AckOnTime, c.AckOnTime + c.AckLate + ackOverdue}
	f.RespondSLA = Ratio{c.RespOnTime, c.RespOnTime + c.RespLate + respOverdue}
	f.EscalationRate = Ratio{c.Escalated, c.Received}
	f.ReopenRate = Ratio{c.Reopened, c.Closed}
	f.NotSatisfiedRate = Ratio{c.NotSatisfied, c.Closed}
	f.ResponseRate = Ratio{c.Rated, c.Closed}
	if c.Rated > 0 {
		f.StarsMean = float64(c.StarsSum) / float64(c.Rated)
	}
	open, err := r.OpenFacts(ctx, q, f.AsOf, MaxFacts)
	if err != nil {
		return f, err
	}
	f.Backlog = make([]AgeBucket, len(AgeBounds))
	for i, b := range AgeBounds {
		f.Backlog[i] = AgeBucket{Label: b.Label, Max: b.Max}
	}
	for _, x := range open {
		age := f.AsOf.Sub(x.FiledAt)
		i := 0
		for i < len(AgeBounds)-1 && age >= AgeBounds[i].Max {
			i++
		}
		f.Backlog[i].Count++
		f.BacklogTotal++
	}
	return f, nil
}

// quantile is the nearest-rank q-quantile of ds (sorted in place).
func quantile(ds []time.Duration, q float64) Duration {
	if len(ds) == 0 {
		return Duration{}
	}
	slices.Sort(ds)
	rank := int(float64(len(ds))*q+0.999999999) - 1 // ceil(n*q) - 1
	rank = min(max(rank, 0), len(ds)-1)
	return Duration{D: ds[rank], OK: true}
}

// TrendPoint is one period's counts.
type TrendPoint struct {
	Period Period
	DayCounts
}

// Satisfied is the share of the period's ratings with 4 or 5 stars.
func (t TrendPoint) Satisfied() Ratio {
	return Ratio{t.Stars[3] + t.Stars[4], t.Rated}
}

// MeanStars is the mean rating, "—" without ratings.
func (t TrendPoint) MeanStars() string {
	if t.Rated == 0 {
		return "—"
	}
	return strconv.FormatFloat(float64(t.StarsSum)/float64(t.Rated), 'f', 1, 64)
}

// RespondOnTime is the share of the period's responses given on time.
func (t TrendPoint) RespondOnTime() Ratio {
	return Ratio{t.RespOnTime, t.RespOnTime + t.RespLate}
}

// Trend is the counts of the n periods ending with p, oldest first, read
// in one pass over the day rows.
func Trend(ctx context.Context, r Reader, q Query, p Period, n int) ([]TrendPoint, error) {
	pts := make([]TrendPoint, n)
	cur := p
	for i := n - 1; i >= 0; i-- {
		pts[i].Period = cur
		cur = cur.Prev()
	}
	q.From, q.To = pts[0].Period.From.Format(DayLayout), p.To.Format(DayLayout)
	days, err := r.DayRows(ctx, q)
	if err != nil {
		return nil, err
	}
	i := 0
	for _, d := range days {
		for i < n && d.Day > pts[i].Period.To.Format(DayLayout) {
			i++
		}
		if i == n {
			break
		}
		pts[i].Add(d.DayCounts, 1)
	}
	return pts, nil
}

// CategoryWeeks is complaints received per week and category over the n
// weeks ending with the week of last.
type CategoryWeeks struct {
	Weeks      []Period
	Categories []string  // by total, largest first
	Counts     [][]int64 // Counts[category][week]
}

// WeeklyByCategory reads CategoryWeeks.
func WeeklyByCategory(ctx context.Context, r Reader, q Query, last time.Time, n int) (CategoryWeeks, error) {
	var cw CategoryWeeks
	w := PeriodOf("week", last)
	cw.Weeks = make([]Period, n)
	for i := n - 1; i >= 0; i-- {
		cw.Weeks[i] = w
		w = w.Prev()
	}
	q.From, q.To = cw.Weeks[0].From.Format(DayLayout), cw.Weeks[n-1].To.Format(DayLayout)
	days, err := r.DayRows(ctx, q)
	if err != nil {
		return cw, err
	}
	idx := map[string]int{}
	var counts [][]int64
	var totals []int64
	var cats []string
	for _, d := range days {
		ci, ok := idx[d.Category]
		if !ok {
			ci = len(cats)
			idx[d.Category] = ci
			cats = append(cats, d.Category)
			counts = append(counts, make([]int64, n))
			totals = append(totals, 0)
		}
		for wi := range cw.Weeks {
			if d.Day <= cw.Weeks[wi].To.Format(DayLayout) {
				counts[ci][wi] += d.Received
				totals[ci] += d.Received
				break
			}
		}
	}
	order := make([]int, len(cats))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if totals[a] != totals[b] {
			if totals[a] > totals[b] {
				return -1
			}
			return 1
		}
		if cats[a] < cats[b] {
			return -1
		}
		return 1
	})
	for _, i := range order {
		cw.Categories = append(cw.Categories, cats[i])
		cw.Counts = append(cw.Counts, counts[i])
	}
	return cw, nil
}
