package hlc_test

import (
	"testing"
	"time"

	"ombud/shared/hlc"
)

func TestClockIsMonotonicWhenWallStepsBack(t *testing.T) {
	wall := time.UnixMilli(1_000_000)
	c := hlc.New(func() time.Time { return wall })
	a := c.Now()
	wall = wall.Add(-time.Hour) // NTP steps the clock back
	b := c.Now()
	if b <= a {
		t.Fatalf("after a backwards step got %v, want after %v", b, a)
	}
	if b.WallMS() != a.WallMS() || b.Logical() != a.Logical()+1 {
		t.Fatalf("got %v, want same ms with logical+1 of %v", b, a)
	}
}

func TestClockObserveOrdersAfterRemote(t *testing.T) {
	c := hlc.New(func() time.Time { return time.UnixMilli(5) })
	remote := hlc.Make(10_000, 7)
	c.Observe(remote)
	if got := c.Now(); got <= remote {
		t.Fatalf("got %v, want after observed %v", got, remote)
	}
}

func TestLogicalOverflowBorrowsNextMillisecond(t *testing.T) {
	c := hlc.New(func() time.Time { return time.UnixMilli(1) })
	c.Observe(hlc.Make(50, 0xFFFF))
	got := c.Now()
	if got.WallMS() != 51 || got.Logical() != 0 {
		t.Fatalf("got %v, want 51ms+0", got)
	}
}

func TestTimestampRoundTrip(t *testing.T) {
	ts := hlc.Make(1_764_201_600_123, 42)
	if ts.WallMS() != 1_764_201_600_123 || ts.Logical() != 42 {
		t.Fatalf("got %d+%d", ts.WallMS(), ts.Logical())
	}
	if got := ts.Time().UnixMilli(); got != 1_764_201_600_123 {
		t.Fatalf("Time() = %d", got)
	}
}

// TestObserveRefusesTheFarFuture: a reading more than MaxAhead past the
// wall clock is not folded in (else one forged event would stamp every
// later event of the fleet years ahead, or overflow the clock); one just
// inside the bound is.
func TestObserveRefusesTheFarFuture(t *testing.T) {
	wall := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	c := hlc.New(func() time.Time { return wall })
	for _, far := range []hlc.Timestamp{
		hlc.Make(wall.Add(5*365*24*time.Hour).UnixMilli(), 0),
		hlc.Make(wall.Add(hlc.MaxAhead+time.Millisecond).UnixMilli(), 0),
		hlc.Timestamp(1<<63 - 1),
		hlc.Timestamp(1<<64 - 1),
	} {
		if c.Observe(far) {
			t.Errorf("Observe(%v) = true, want refused", far)
		}
		if got := c.Now(); got.Time().After(wall.Add(time.Second)) {
			t.Fatalf("after observing %v the clock reads %v", far, got)
		}
	}
	near := hlc.Make(wall.Add(hlc.MaxAhead).UnixMilli(), 3)
	if !c.Observe(near) {
		t.Fatalf("Observe(%v) = false, want it folded in", near)
	}
	if got := c.Now(); got <= near {
		t.Fatalf("got %v, want after %v", got, near)
	}
	if !hlc.Ahead(hlc.Make(wall.Add(hlc.MaxAhead+time.Millisecond).UnixMilli(), 0), wall) || hlc.Ahead(near, wall) {
		t.Error("Ahead disagrees with MaxAhead")
	}
}
