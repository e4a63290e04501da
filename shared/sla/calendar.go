package sla

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Horizon bounds how far AddBusiness looks for open time. A calendar that
// passed validation is open every week, so only a target far larger than any
// real SLA (or a run of holidays longer than the horizon) can reach it; the
// bound turns such a mistake into an error instead of a loop.
const Horizon = 3 * 366 // days

// ErrBeyondHorizon is returned when a deadline lies more than Horizon days
// after its start.
var ErrBeyondHorizon = errors.New("sla: not enough open time within the horizon")

// Hours is a week of opening hours in local time, each day a list of
// "HH:MM-HH:MM" intervals ("09:00-12:30", "13:30-17:00"). A day with no
// intervals is closed. "24:00" may end an interval: open until midnight.
type Hours struct {
	Mon []string `json:"mon"`
	Tue []string `json:"tue"`
	Wed []string `json:"wed"`
	Thu []string `json:"thu"`
	Fri []string `json:"fri"`
	Sat []string `json:"sat"`
	Sun []string `json:"sun"`
}

// days lists the week in time.Weekday order with each day's JSON name, so
// error messages and paths use the names people wrote.
func (h Hours) days() [7]struct {
	name  string
	hours []string
} {
	return [7]struct {
		name  string
		hours []string
	}{
		{"sun", h.Sun}, {"mon", h.Mon}, {"tue", h.Tue}, {"wed", h.Wed},
		{"thu", h.Thu}, {"fri", h.Fri}, {"sat", h.Sat},
	}
}

// Holiday is a date on which a calendar keeps other hours than its week says:
// closed all day when Hours is empty, otherwise open only during Hours (a
// half day before a holiday, say).
type Holiday struct {
	Date  string   `json:"date"` // YYYY-MM-DD, in the calendar's zone
	Name  string   `json:"name"` // for people reading the file
	Hours []string `json:"hours"`
}

// span is an opening interval as minutes after local midnight; to may be
// 1440 (midnight at the end of the day).
type span struct{ from, to int }

// civil is a date on the wall calendar, with no zone: holidays are dates,
// not instants.
type civil struct {
	y int
	m time.Month
	d int
}

// window is an opening interval as instants.
type window struct{ from, to time.Time }

// Calendar says when a branch is open: a time zone, weekly hours and
// holidays. Business time is real elapsed time inside opening hours, so an
// interval that spans a DST change counts the hours that actually passed.
// A Calendar is immutable and safe for concurrent use.
type Calendar struct {
	name string
	loc  *time.Location
	week [7][]span        // by time.Weekday
	days map[civil][]span // holidays and special days; empty means closed
}

// Name is the calendar's name in the configuration (a branch id, "default").
func (c *Calendar) Name() string { return c.name }

// Location is the calendar's time zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// NewCalendar builds a calendar from a time zone name (IANA, e.g.
// "Europe/Paris"), weekly hours and holidays. It refuses what Parse refuses:
// an unknown zone, malformed or overlapping hours, a week with no open time,
// bad or repeated holiday dates.
func NewCalendar(name, timeZone string, hours Hours, holidays []Holiday) (*Calendar, error) {
	week, p := buildWeek(hours)
	if p != nil {
		return nil, fmt.Errorf("sla: calendar %q: %s", name, p.msg)
	}
	days := make(map[civil][]span, len(holidays))
	for _, h := range holidays {
		date, spans, p := buildHoliday(h)
		if p != nil {
			return nil, fmt.Errorf("sla: calendar %q: %s", name, p.msg)
		}
		if _, dup := days[date]; dup {
			return nil, fmt.Errorf("sla: calendar %q: %s is listed twice", name, h.Date)
		}
		days[date] = spans
	}
	c, p := newCalendar(name, timeZone, week, days)
	if p != nil {
		return nil, fmt.Errorf("sla: calendar %q: %s", name, p.msg)
	}
	return c, nil
}

// problem is a validation failure at a path relative to the thing being
// validated; Parse turns the path into a line number.
type problem struct {
	path []string
	msg  string
}

func problemf(path []string, format string, args ...any) *problem {
	return &problem{path: path, msg: fmt.Sprintf(format, args...)}
}

func newCalendar(name, timeZone string, week [7][]span, days map[civil][]span) (*Calendar, *problem) {
	// "Local" would make deadlines depend on the host the server runs on, and
	// an empty name silently means UTC: both are mistakes in a config file.
	if timeZone == "" {
		return nil, problemf([]string{"time_zone"}, "calendar %q needs a time_zone, such as \"Europe/Paris\"", name)
	}
	if timeZone == "Local" {
		return nil, problemf([]string{"time_zone"}, "calendar %q: time_zone \"Local\" depends on the server's host; name the zone, such as \"Europe/Paris\"", name)
	}
	loc, err := time.LoadLocation(timeZone)
	if err != nil {
		return nil, problemf([]string{"time_zone"}, "calendar %q: unknown time zone %q (use an IANA name such as \"Europe/Paris\")", name, timeZone)
	}
	open := false
	for _, d := range week {
		open = open || len(d) > 0
	}
	if !open {
		// Holidays are finite, so only the week can promise that a deadline
		// always exists.
		return nil, problemf([]string{"hours"}, "calendar %q is never open: give opening hours for at least one day of the week", name)
	}
	return &Calendar{name: name, loc: loc, week: week, days: days}, nil
}

func buildWeek(h Hours) ([7][]span, *problem) {
	var week [7][]span
	for wd, d := range h.days() {
		spans, i, msg := parseSpans(d.hours)
		if msg != "" {
			return week, problemf([]string{"hours", d.name, strconv.Itoa(i)}, "%s: %s", d.name, msg)
		}
		week[wd] = spans
	}
	return week, nil
}

func buildHoliday(h Holiday) (civil, []span, *problem) {
	t, err := time.Parse(time.DateOnly, h.Date)
	if err != nil {
		return civil{}, nil, problemf([]string{"date"}, "holiday date %q is not a date like 2026-12-25", h.Date)
	}
	spans, i, msg := parseSpans(h.Hours)
	if msg != "" {
		return civil{}, nil, problemf([]string{"hours", strconv.Itoa(i)}, "holiday %s: %s", h.Date, msg)
	}
	if spans == nil {
		spans = []span{} // present in the map and empty: closed all day
	}
	y, m, d := t.Date()
	return civil{y, m, d}, spans, nil
}

// parseSpans reads one day's intervals and returns them sorted. On failure it
// returns the index of the offending interval and the reason.
func parseSpans(list []string) ([]span, int, string) {
	type indexed struct {
		span
		i int
	}
	var out []indexed
	for i, s := range list {
		from, to, ok := strings.Cut(s, "-")
		if !ok {
			return nil, i, fmt.Sprintf("%q is not an interval like \"09:00-17:00\"", s)
		}
		f, okf := parseClock(strings.TrimSpace(from))
		t, okt := parseClock(strings.TrimSpace(to))
		if !okf || !okt || f == 24*60 {
			return nil, i, fmt.Sprintf("%q is not an interval like \"09:00-17:00\" (times are HH:MM from 00:00 to 24:00)", s)
		}
		if t <= f {
			return nil, i, fmt.Sprintf("%q does not end after it starts", s)
		}
		out = append(out, indexed{span{f, t}, i})
	}
	slices.SortStableFunc(out, func(a, b indexed) int { return a.from - b.from })
	spans := make([]span, 0, len(out))
	for k, s := range out {
		if k > 0 && s.from < out[k-1].to {
			return nil, s.i, fmt.Sprintf("%q overlaps %q", list[s.i], list[out[k-1].i])
		}
		spans = append(spans, s.span)
	}
	if len(spans) == 0 {
		return nil, 0, ""
	}
	return spans, 0, ""
}

// parseClock reads "HH:MM" as minutes after midnight; "24:00" is allowed.
func parseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || s[0] == '+' || s[0] == '-' || s[3] == '+' || s[3] == '-' {
		return 0, false
	}
	if h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

// windows appends the opening intervals of the local date y-m-d (d may
// overflow: it is normalised) to buf. Each instant comes from time.Date in
// the calendar's zone, never from adding 24h, so days of 23 or 25 hours keep
// their wall-clock hours.
func (c *Calendar) windows(buf []window, y int, m time.Month, d int) []window {
	// Date arithmetic in UTC: civil dates have no DST.
	date := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	y, m, d = date.Date()
	spans, special := c.days[civil{y, m, d}]
	if !special {
		spans = c.week[date.Weekday()]
	}
	var prev time.Time
	for _, s := range spans {
		from := time.Date(y, m, d, 0, s.from, 0, 0, c.loc)
		to := time.Date(y, m, d, 0, s.to, 0, 0, c.loc)
		// A bound inside a DST gap is moved by time.Date and may then
		// overlap its neighbour or collapse; never count time twice.
		if from.Before(prev) {
			from = prev
		}
		if !to.After(from) {
			continue
		}
		buf = append(buf, window{from, to})
		prev = to
	}
	return buf
}

// AddBusiness returns the earliest instant at which d of open time has
// elapsed since start; closed time (nights, weekends, holidays, lunch) does
// not count. A start inside closed time counts from the next opening. d == 0
// returns start. It fails when d is negative or the instant lies beyond
// Horizon days.
func (c *Calendar) AddBusiness(start time.Time, d time.Duration) (time.Time, error) {
	if d < 0 {
		return time.Time{}, fmt.Errorf("sla: negative business duration %s", d)
	}
	if d == 0 {
		return start, nil
	}
	y, m, day := start.In(c.loc).Date()
	var buf []window
	for i := 0; i <= Horizon; i++ {
		buf = c.windows(buf[:0], y, m, day+i)
		for _, w := range buf {
			if !w.to.After(start) {
				continue
			}
			from := w.from
			if from.Before(start) {
				from = start
			}
			avail := w.to.Sub(from)
			if d <= avail {
				return from.Add(d), nil
			}
			d -= avail
		}
	}
	return time.Time{}, fmt.Errorf("%w: calendar %q, %s after %s", ErrBeyondHorizon, c.name, d, start.Format(time.RFC3339))
}

// BusinessBetween returns the open time in [a, b); zero when b is not after a.
func (c *Calendar) BusinessBetween(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	ya, ma, da := a.In(c.loc).Date()
	yb, mb, db := b.In(c.loc).Date()
	days := int(time.Date(yb, mb, db, 0, 0, 0, 0, time.UTC).Sub(time.Date(ya, ma, da, 0, 0, 0, 0, time.UTC)) / (24 * time.Hour))
	var total time.Duration
	var buf []window
	for i := 0; i <= days; i++ {
		buf = c.windows(buf[:0], ya, ma, da+i)
		for _, w := range buf {
			from, to := w.from, w.to
			if from.Before(a) {
				from = a
			}
			if to.After(b) {
				to = b
			}
			if to.After(from) {
				total += to.Sub(from)
			}
		}
	}
	return total
}
