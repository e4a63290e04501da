package console

import (
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"ombud/server/storage"
)

// FuzzImproveFilter: whatever a request's query holds, the filter never
// widens the person's scope (a branch outside it is refused, one inside it
// is the only branch asked for), keeps filters within their length, and
// always names a whole period.
func FuzzImproveFilter(f *testing.F) {
	f.Add("month", "2026-03-31", "main", "cards", "kiosk")
	f.Add("week", "", "", "", "")
	f.Add("quarter", "31-12-2026", "north", "<b>", "staff")
	f.Add("year", "2026-02-30", "*", "", "")
	h := &Handler{opts: Options{Now: func() time.Time { return time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC) }, Location: time.UTC}}
	wh := &who{scope: storage.Scope{Branches: []string{"main", "south"}}}
	f.Fuzz(func(t *testing.T, period, date, branch, category, channel string) {
		q := url.Values{"period": {period}, "date": {date}, "branch": {branch}, "category": {category}, "channel": {channel}}
		r := httptest.NewRequest("GET", "/console/improve?"+q.Encode(), nil)
		flt, err := h.improveFilterOf(r, wh)
		if err != nil {
			if _, ok := err.(*badFilter); !ok {
				t.Fatalf("error %T %v, want a *badFilter", err, err)
			}
			return
		}
		if flt.Query.All {
			t.Fatal("a filter widened the scope to all branches")
		}
		for _, b := range flt.Query.Branches {
			if !slices.Contains(wh.scope.Branches, b) {
				t.Fatalf("branch %q outside the scope was let through", b)
			}
		}
		if len(flt.Query.Category) > maxFilterLen || len(flt.Query.Channel) > maxFilterLen {
			t.Fatal("a filter over the length limit was let through")
		}
		if flt.Period.From.After(flt.Period.To) || flt.Period.Label() == "" {
			t.Fatalf("period %+v", flt.Period)
		}
	})
}
