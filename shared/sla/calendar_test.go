package sla_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
	_ "time/tzdata" // tests must not depend on the host's zoneinfo

	"ombud/shared/sla"
)

// MustLocation loads an IANA zone or stops the test.
func MustLocation(tb testing.TB, name string) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		tb.Fatal(err)
	}
	return loc
}

// MustCalendar builds a calendar or stops the test.
func MustCalendar(tb testing.TB, name, zone string, hours sla.Hours, holidays ...sla.Holiday) *sla.Calendar {
	tb.Helper()
	c, err := sla.NewCalendar(name, zone, hours, holidays)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// At reads "2006-01-02 15:04" as wall time in loc.
func At(tb testing.TB, loc *time.Location, s string) time.Time {
	tb.Helper()
	t, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func weekdays(hours ...string) sla.Hours {
	return sla.Hours{Mon: hours, Tue: hours, Wed: hours, Thu: hours, Fri: hours}
}

func everyDay(hours ...string) sla.Hours {
	return sla.Hours{Mon: hours, Tue: hours, Wed: hours, Thu: hours, Fri: hours, Sat: hours, Sun: hours}
}

// Paris office: a lunch break, closed on 1 May and Christmas, a half day on
// Christmas Eve.
func parisOffice(tb testing.TB) *sla.Calendar {
	return MustCalendar(tb, "paris", "Europe/Paris", weekdays("09:00-12:30", "13:30-17:00"),
		sla.Holiday{Date: "2026-05-01", Name: "Fête du travail"},
		sla.Holiday{Date: "2026-12-24", Name: "Veille de Noël", Hours: []string{"09:00-12:00"}},
		sla.Holiday{Date: "2026-12-25", Name: "Noël"},
	)
}

func TestAddBusiness(t *testing.T) {
	paris := MustLocation(t, "Europe/Paris")
	ny := MustLocation(t, "America/New_York")
	office := parisOffice(t)
	parisAllDay := MustCalendar(t, "paris-24", "Europe/Paris", everyDay("00:00-24:00"))
	parisNight := MustCalendar(t, "paris-night", "Europe/Paris", sla.Hours{Sun: []string{"01:00-04:00"}, Mon: []string{"01:00-04:00"}})
	nyOffice := MustCalendar(t, "ny", "America/New_York", weekdays("09:00-17:00"))
	nyAllDay := MustCalendar(t, "ny-24", "America/New_York", everyDay("00:00-24:00"))

	tests := []struct {
		name  string
		cal   *sla.Calendar
		start time.Time
		d     time.Duration
		want  time.Time
	}{
		{"inside hours", office, At(t, paris, "2026-03-24 10:00"), 2 * time.Hour, At(t, paris, "2026-03-24 12:00")},
		{"over lunch", office, At(t, paris, "2026-03-24 11:30"), 2 * time.Hour, At(t, paris, "2026-03-24 14:30")},
		{"starting at lunch", office, At(t, paris, "2026-03-24 12:45"), time.Hour, At(t, paris, "2026-03-24 14:30")},
		{"before opening", office, At(t, paris, "2026-03-24 07:00"), time.Hour, At(t, paris, "2026-03-24 10:00")},
		{"after closing", office, At(t, paris, "2026-03-24 18:00"), time.Hour, At(t, paris, "2026-03-25 10:00")},
		{"just after midnight", office, At(t, paris, "2026-03-25 00:01"), time.Hour, At(t, paris, "2026-03-25 10:00")},
		{"ends at closing, not next opening", office, At(t, paris, "2026-03-24 16:00"), time.Hour, At(t, paris, "2026-03-24 17:00")},
		{"zero from closed time", office, At(t, paris, "2026-03-24 20:00"), 0, At(t, paris, "2026-03-24 20:00")},
		{"two full days", office, At(t, paris, "2026-03-23 09:00"), 14 * time.Hour, At(t, paris, "2026-03-24 17:00")},
		// The weekend of the spring-forward Sunday: Monday's hours are in CEST.
		{"friday evening to monday", office, At(t, paris, "2026-03-27 16:00"), 2 * time.Hour, At(t, paris, "2026-03-30 10:00")},
		{"from saturday", office, At(t, paris, "2026-03-28 11:00"), time.Hour, At(t, paris, "2026-03-30 10:00")},
		{"across a holiday", office, At(t, paris, "2026-04-30 16:00"), 2 * time.Hour, At(t, paris, "2026-05-04 10:00")},
		{"half day then holiday", office, At(t, paris, "2026-12-24 11:00"), 2 * time.Hour, At(t, paris, "2026-12-28 10:00")},
		// Business time is elapsed time: the 23-hour Sunday gives 23 hours.
		{"paris spring forward, 24h", parisAllDay, At(t, paris, "2026-03-28 12:00"), 24 * time.Hour, At(t, paris, "2026-03-29 13:00")},
		{"paris fall back, 24h", parisAllDay, At(t, paris, "2026-10-24 12:00"), 24 * time.Hour, At(t, paris, "2026-10-25 11:00")},
		// 01:00-04:00 holds two hours when 02:00 becomes 03:00, four when 03:00 becomes 02:00.
		{"paris spring forward, night shift", parisNight, At(t, paris, "2026-03-29 00:00"), 2*time.Hour + 30*time.Minute, At(t, paris, "2026-03-30 01:30")},
		{"paris fall back, night shift", parisNight, At(t, paris, "2026-10-25 00:00"), 4 * time.Hour, At(t, paris, "2026-10-25 04:00")},
		{"new york spring forward, 24h", nyAllDay, At(t, ny, "2026-03-08 00:00"), 23 * time.Hour, At(t, ny, "2026-03-09 00:00")},
		{"new york fall back, 24h", nyAllDay, At(t, ny, "2026-11-01 00:00"), 25 * time.Hour, At(t, ny, "2026-11-02 00:00")},
		{"new york friday to monday over spring forward", nyOffice, At(t, ny, "2026-03-06 16:00"), 2 * time.Hour, At(t, ny, "2026-03-09 10:00")},
		{"new york friday to monday over fall back", nyOffice, At(t, ny, "2026-10-30 16:00"), 2 * time.Hour, At(t, ny, "2026-11-02 10:00")},
		// One instant, two branches: 15:00 UTC is 16:00 in Paris (CET) and
		// 11:00 in New York (EDT already).
		{"same instant, paris", office, time.Date(2026, 3, 24, 15, 0, 0, 0, time.UTC), 2 * time.Hour, At(t, paris, "2026-03-25 10:00")},
		{"same instant, new york", nyOffice, time.Date(2026, 3, 24, 15, 0, 0, 0, time.UTC), 2 * time.Hour, At(t, ny, "2026-03-24 13:00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cal.AddBusiness(tt.start, tt.d)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("AddBusiness(%s, %s) = %s, want %s", tt.start, tt.d, got.In(tt.want.Location()), tt.want)
			}
			// The same case read backwards.
			if back := tt.cal.BusinessBetween(tt.start, got); back != tt.d {
				t.Errorf("BusinessBetween(%s, %s) = %s, want %s", tt.start, got, back, tt.d)
			}
		})
	}
}

func TestBusinessBetween(t *testing.T) {
	paris := MustLocation(t, "Europe/Paris")
	ny := MustLocation(t, "America/New_York")
	office := parisOffice(t)
	parisAllDay := MustCalendar(t, "paris-24", "Europe/Paris", everyDay("00:00-24:00"))
	parisNight := MustCalendar(t, "paris-night", "Europe/Paris", sla.Hours{Sun: []string{"01:00-04:00"}})
	nyAllDay := MustCalendar(t, "ny-24", "America/New_York", everyDay("00:00-24:00"))

	tests := []struct {
		name string
		cal  *sla.Calendar
		a, b time.Time
		want time.Duration
	}{
		{"a working day", office, At(t, paris, "2026-03-24 00:00"), At(t, paris, "2026-03-25 00:00"), 7 * time.Hour},
		{"a week", office, At(t, paris, "2026-03-23 00:00"), At(t, paris, "2026-03-30 00:00"), 35 * time.Hour},
		{"week with a holiday", office, At(t, paris, "2026-04-27 00:00"), At(t, paris, "2026-05-04 00:00"), 28 * time.Hour},
		{"christmas week", office, At(t, paris, "2026-12-21 00:00"), At(t, paris, "2026-12-28 00:00"), 3*7*time.Hour + 3*time.Hour},
		{"inside lunch", office, At(t, paris, "2026-03-24 12:40"), At(t, paris, "2026-03-24 13:20"), 0},
		{"weekend", office, At(t, paris, "2026-03-27 17:00"), At(t, paris, "2026-03-30 09:00"), 0},
		{"reversed", office, At(t, paris, "2026-03-25 00:00"), At(t, paris, "2026-03-24 00:00"), 0},
		{"paris spring-forward day", parisAllDay, At(t, paris, "2026-03-29 00:00"), At(t, paris, "2026-03-30 00:00"), 23 * time.Hour},
		{"paris fall-back day", parisAllDay, At(t, paris, "2026-10-25 00:00"), At(t, paris, "2026-10-26 00:00"), 25 * time.Hour},
		{"paris night across the gap", parisNight, At(t, paris, "2026-03-29 00:00"), At(t, paris, "2026-03-30 00:00"), 2 * time.Hour},
		{"paris night across the repeat", parisNight, At(t, paris, "2026-10-25 00:00"), At(t, paris, "2026-10-26 00:00"), 4 * time.Hour},
		{"new york spring-forward day", nyAllDay, At(t, ny, "2026-03-08 00:00"), At(t, ny, "2026-03-09 00:00"), 23 * time.Hour},
		{"new york fall-back day", nyAllDay, At(t, ny, "2026-11-01 00:00"), At(t, ny, "2026-11-02 00:00"), 25 * time.Hour},
		{"instants in another zone", office, time.Date(2026, 3, 24, 8, 0, 0, 0, time.UTC), time.Date(2026, 3, 24, 12, 0, 0, 0, time.UTC), 3*time.Hour + 30*time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cal.BusinessBetween(tt.a, tt.b); got != tt.want {
				t.Errorf("BusinessBetween(%s, %s) = %s, want %s", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestAddBusinessHorizon(t *testing.T) {
	// Open one minute a week: a year of business time is out of reach.
	c := MustCalendar(t, "rare", "UTC", sla.Hours{Mon: []string{"09:00-09:01"}})
	_, err := c.AddBusiness(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 1000*time.Hour)
	if got, want := errors.Is(err, sla.ErrBeyondHorizon), true; got != want {
		t.Errorf("errors.Is(%v, ErrBeyondHorizon) = %v, want %v", err, got, want)
	}
	if _, err := c.AddBusiness(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), -time.Hour); err == nil {
		t.Error("AddBusiness with a negative duration: got no error, want one")
	}
}

// TestCalendarProperties checks, on random instants across a whole year
// (DST days included) and on calendars with lunch breaks, holidays, 24-hour
// days and a bound inside the DST gap, that AddBusiness and BusinessBetween
// agree and are monotonic.
func TestCalendarProperties(t *testing.T) {
	cals := []*sla.Calendar{
		parisOffice(t),
		MustCalendar(t, "ny-24", "America/New_York", everyDay("00:00-24:00")),
		MustCalendar(t, "paris-gap", "Europe/Paris", everyDay("01:30-02:30", "02:45-03:15", "22:00-24:00")),
		MustCalendar(t, "auckland", "Pacific/Auckland", sla.Hours{Sat: []string{"10:00-14:00"}, Sun: []string{"02:00-03:30"}}),
	}
	rng := rand.New(rand.NewPCG(10002, 2026))
	year := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	instant := func() time.Time {
		// Whole minutes, so starts often fall exactly on opening and closing.
		return year.Add(time.Duration(rng.IntN(366*24*60)) * time.Minute)
	}
	for _, c := range cals {
		t.Run(c.Name(), func(t *testing.T) {
			for range 300 {
				a := instant()
				d1 := time.Duration(rng.IntN(60*60)) * time.Minute
				d2 := d1 + time.Duration(rng.IntN(20*60))*time.Minute
				b1, err1 := c.AddBusiness(a, d1)
				b2, err2 := c.AddBusiness(a, d2)
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				if got := c.BusinessBetween(a, b1); got != d1 {
					t.Fatalf("BusinessBetween(%s, AddBusiness(%s, %s)) = %s, want %s", a, a, d1, got, d1)
				}
				if b2.Before(b1) {
					t.Fatalf("AddBusiness(%s, %s) = %s is before AddBusiness(%s, %s) = %s", a, d2, b2, a, d1, b1)
				}
				// Splitting an interval splits its business time.
				m := instant()
				lo, hi := earliest(a, m, b2), latest(a, m, b2)
				mid := a // lo ≤ a ≤ hi
				whole := c.BusinessBetween(lo, hi)
				if got, want := c.BusinessBetween(lo, mid)+c.BusinessBetween(mid, hi), whole; got != want {
					t.Fatalf("split at %s of [%s, %s): got %s, want %s", mid, lo, hi, got, want)
				}
				// A later start never has more business time to the same end.
				if c.BusinessBetween(mid, hi) > whole {
					t.Fatalf("BusinessBetween(%s, %s) > BusinessBetween(%s, %s)", mid, hi, lo, hi)
				}
				// Going forward the business time between two instants lands
				// no later than the end, and exactly on it when the end is open.
				back, err := c.AddBusiness(lo, whole)
				if err != nil {
					t.Fatal(err)
				}
				if back.After(hi) {
					t.Fatalf("AddBusiness(%s, BusinessBetween(%s, %s)) = %s, after the end", lo, lo, hi, back)
				}
				if c.BusinessBetween(back, hi) != 0 {
					t.Fatalf("open time left between AddBusiness(%s, %s) = %s and %s", lo, whole, back, hi)
				}
			}
		})
	}
}

func earliest(ts ...time.Time) time.Time {
	m := ts[0]
	for _, t := range ts[1:] {
		if t.Before(m) {
			m = t
		}
	}
	return m
}

func latest(ts ...time.Time) time.Time {
	m := ts[0]
	for _, t := range ts[1:] {
		if t.After(m) {
			m = t
		}
	}
	return m
}
