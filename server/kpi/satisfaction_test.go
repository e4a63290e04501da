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
