package sla_test

import (
	"testing"
	"time"

	"ombud/shared/sla"
)

func TestBusinessDeadline(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	eod := func(y int, m time.Month, d int, loc *time.Location) time.Time {
		return time.Date(y, m, d, 23, 59, 59, 0, loc)
	}
	for _, tc := range []struct {
		name string
		from time.Time
		days int
		loc  *time.Location
		want time.Time
	}{
		{"Friday + 2 is Tuesday", time.Date(2025, 3, 7, 10, 0, 0, 0, time.UTC), 2, time.UTC, eod(2025, 3, 11, time.UTC)},
		{"Monday + 2 is Wednesday", time.Date(2025, 3, 10, 10, 0, 0, 0, time.UTC), 2, time.UTC, eod(2025, 3, 12, time.UTC)},
		{"Saturday + 1 is Monday", time.Date(2025, 3, 8, 10, 0, 0, 0, time.UTC), 1, time.UTC, eod(2025, 3, 10, time.UTC)},
		{"Sunday + 2 is Tuesday", time.Date(2025, 3, 9, 10, 0, 0, 0, time.UTC), 2, time.UTC, eod(2025, 3, 11, time.UTC)},
		{"0 days is today", time.Date(2025, 3, 8, 10, 0, 0, 0, time.UTC), 0, time.UTC, eod(2025, 3, 8, time.UTC)},
		{"Friday + 5 is next Friday", time.Date(2025, 3, 7, 10, 0, 0, 0, time.UTC), 5, time.UTC, eod(2025, 3, 14, time.UTC)},
		{"across a month end", time.Date(2025, 1, 30, 9, 0, 0, 0, time.UTC), 2, time.UTC, eod(2025, 2, 3, time.UTC)},
		{"across a year end", time.Date(2025, 12, 31, 9, 0, 0, 0, time.UTC), 1, time.UTC, eod(2026, 1, 1, time.UTC)},
		{"Thursday + 15 is three weeks on", time.Date(2025, 3, 6, 9, 0, 0, 0, time.UTC), 15, time.UTC, eod(2025, 3, 27, time.UTC)},
		// 23:30 UTC on Friday is already Saturday in Paris: the count starts there.
		{"branch time zone decides the day", time.Date(2025, 3, 7, 23, 30, 0, 0, time.UTC), 1, paris, eod(2025, 3, 10, paris)},
		{"same instant in UTC", time.Date(2025, 3, 7, 23, 30, 0, 0, time.UTC), 1, time.UTC, eod(2025, 3, 10, time.UTC)},
		{"Thursday 23:30 UTC is Friday in Paris", time.Date(2025, 3, 6, 23, 30, 0, 0, time.UTC), 1, paris, eod(2025, 3, 10, paris)},
		// Clocks go forward on Sunday 30 March 2025 in Paris.
		{"across a DST change", time.Date(2025, 3, 28, 12, 0, 0, 0, paris), 1, paris, eod(2025, 3, 31, paris)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sla.BusinessDeadline(tc.from, tc.days, tc.loc)
			if !got.Equal(tc.want) || got.Location() != tc.loc {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
