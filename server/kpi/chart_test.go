package kpi_test

import (
	"testing"
	"time"

	"ombud/server/kpi"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/lifecycle"
)

func TestChartGeometry(t *testing.T) {
	c := kpi.Stacked([]string{"W1", "W2"}, []string{"cards", "billing"}, [][]int64{{4, 0}, {2, 1}})
	if c.Max != 10 {
		t.Errorf("scale max = %d, want 10 (6 rounded up)", c.Max)
	}
	if len(c.Rects) != 3 {
		t.Fatalf("rects = %d, want 3 (a zero segment draws nothing)", len(c.Rects))
	}
	// The week with 4 cards and 2 billing is stacked: billing sits on cards,
	// and the heights are in proportion.
	cards, billing := c.Rects[0], c.Rects[1]
	if billing.Y+billing.H != cards.Y || cards.H != 2*billing.H {
		t.Errorf("stack: cards %+v, billing %+v", cards, billing)
	}
	if cards.Title != "W1, cards: 4" || len(c.Legend) != 2 || c.Legend[1].Label != "billing" {
		t.Errorf("titles or legend: %+v %+v", cards, c.Legend)
	}
	var labels []string
	for _, y := range c.YTicks {
		labels = append(labels, y.Label)
	}
	if len(labels) != 3 || labels[1] != "5" {
		t.Errorf("y ticks = %v, want 0 5 10", labels)
	}
	p := kpi.Percent([]string{"a", "b", "c"}, []kpi.Ratio{{Num: 1, Den: 2}, {}, {Num: 1, Den: 1}})
	if len(p.Dots) != 2 || p.Dots[0].Label != "a: 50.0 %" {
		t.Errorf("an undefined share must leave a gap: %+v", p.Dots)
	}
}

func TestNotSatisfied(t *testing.T) {
	no, yes := false, true
	closed := hlc.Make(time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC).UnixMilli(), 0)
	for _, c := range []struct {
		name     string
		accepted *bool
		stars    int
		want     bool
	}{
		{"refused at closure", &no, 0, true},
		{"accepted, rated 2", &yes, 2, true},
		{"accepted, rated 3", &yes, 3, false},
		{"no answer, not rated", nil, 0, false},
	} {
		cs := lifecycle.Case{ID: "c", FiledAt: closed - 1000, ClosedAt: closed, CustomerAccepted: c.accepted}
		if c.stars > 0 {
			cs.Rating = &event.Rating{Stars: c.stars}
		}
		if got := kpi.FactOf(cs, nil, 1, nil, time.UTC).NotSatisfied; got != c.want {
			t.Errorf("%s: not satisfied = %v, want %v", c.name, got, c.want)
		}
	}
}
