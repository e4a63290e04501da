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
