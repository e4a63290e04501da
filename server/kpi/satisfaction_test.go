package kpi

import "testing"

// TestSatisfactionOfAPeriod: the share of 4-5 star ratings and the mean,
// computed by hand for 1, 4, 5, 5 stars.
func TestSatisfactionOfAPeriod(t *testing.T) {
	var p TrendPoint
	for _, s := range []int{1, 4, 5, 5} {
		p.Add(Fact{Stars: s}.Counts(), 1)
	}
	if got := p.Satisfied(); got != (Ratio{3, 4}) || got.String() != "75.0 %" {
		t.Errorf("satisfied %v %q", got, got.String())
	}
	if got := p.MeanStars(); got != "3.8" {
		t.Errorf("mean %q, want 3.8", got)
	}
	if got := (TrendPoint{}).MeanStars(); got != "—" {
		t.Errorf("no ratings: %q", got)
	}
	c := Percent([]string{"a", "b"}, []Ratio{{3, 4}, {}})
	if len(c.Dots) != 1 {
		t.Errorf("an undefined share is drawn: %+v", c.Dots)
	}
}

// TestHeatOf: counts summed by branch and category, busiest first, the
// rest of the categories beyond the limit summed into "(other)".
func TestHeatOf(t *testing.T) {
	row := func(b, c string, n int64) DayRow {
		return DayRow{Day: "2026-05-01", Branch: b, Category: c, DayCounts: DayCounts{Received: n}}
	}
	rows := []DayRow{row("main", "cards", 3), row("north", "cards", 1), row("main", "fees", 1), row("main", "cards", 2)}
	for i := range MaxHeatCols + 1 {
		rows = append(rows, row("north", string(rune('a'+i)), 1))
	}
	h := HeatOf(rows)
	if len(h.Branches) != 2 || h.Branches[0] != "north" || h.Categories[0] != "cards" || len(h.Categories) != MaxHeatCols ||
		h.Categories[MaxHeatCols-1] != "(other)" {
		t.Fatalf("%+v", h)
	}
	// north: 9 single ones + 1 card = 10; main: 6.
	if h.Counts[1][0] != 5 || h.Counts[0][0] != 1 || h.Max != 5 {
		t.Errorf("counts %v max %d", h.Counts, h.Max)
	}
	var other int64
	for _, n := range h.Counts[0][1:] {
		other += n
	}
	if other != 9 {
		t.Errorf("north's other categories sum to %d, want 9", other)
	}
	if c := h.Chart(); len(c.Rects) != 2*MaxHeatCols || c.Rects[MaxHeatCols].Fill != heatPalette[4] {
		t.Errorf("chart %d rects, busiest %+v", len(c.Rects), c.Rects[MaxHeatCols])
	}
}
