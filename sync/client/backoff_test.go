package client_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"ombud/sync/client"
)

func TestBackoffFullJitterBounds(t *testing.T) {
	b := client.Backoff{Base: time.Second, Cap: 60 * time.Second}
	r := rand.New(rand.NewPCG(1, 2))
	for attempt, ceil := range []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60} {
		ceil *= time.Second
		var lo, hi time.Duration = ceil, 0
		for range 2000 {
			d := b.Delay(attempt, r)
			if d < 0 || d > ceil {
				t.Fatalf("attempt %d: delay %v outside [0, %v]", attempt, d, ceil)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		// Full jitter uses the whole interval, not a band near its top.
		if lo > ceil/10 || hi < ceil*9/10 {
			t.Errorf("attempt %d: delays span [%v, %v], want most of [0, %v]", attempt, lo, hi, ceil)
		}
	}
	// Large attempt numbers stay at the cap, without overflow.
	if d := b.Delay(1000, r); d < 0 || d > time.Minute {
		t.Errorf("attempt 1000: delay %v outside [0, 1m]", d)
	}
	// The zero value is the production policy.
	if d := (client.Backoff{}).Delay(0, r); d < 0 || d > time.Second {
		t.Errorf("zero Backoff, attempt 0: delay %v outside [0, 1s]", d)
	}
}

func TestBackoffShutdownDelay(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		if d := (client.Backoff{}).ShutdownDelay(r); d < time.Second || d > 10*time.Second {
			t.Fatalf("shutdown delay %v outside [1s, 10s]", d)
		}
	}
}

// Same seed, same delays: the policy is a pure function of its inputs.
func TestBackoffDeterministic(t *testing.T) {
	b := client.Backoff{}
	r1, r2 := rand.New(rand.NewPCG(5, 6)), rand.New(rand.NewPCG(5, 6))
	for attempt := range 10 {
		if d1, d2 := b.Delay(attempt, r1), b.Delay(attempt, r2); d1 != d2 {
			t.Fatalf("attempt %d: %v != %v with the same seed", attempt, d1, d2)
		}
	}
}

func TestQuickDelay(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var most time.Duration
	for range 1000 {
		d := (client.Backoff{}).QuickDelay(r)
		if d < 0 || d > client.DefaultBackoffBase/20 {
			t.Fatalf("QuickDelay = %v, want within [0, %v]", d, client.DefaultBackoffBase/20)
		}
		most = max(most, d)
	}
	if most < client.DefaultBackoffBase/40 {
		t.Fatalf("QuickDelay never above %v in 1000 draws: not jittered over its range", most)
	}
	if d := (client.Backoff{Quick: time.Millisecond}).QuickDelay(r); d > time.Millisecond {
		t.Fatalf("QuickDelay with Quick 1ms = %v", d)
	}
}
