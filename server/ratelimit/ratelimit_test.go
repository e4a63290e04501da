package ratelimit_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"ombud/server/ratelimit"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestBurstThenRefill(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	l := ratelimit.New(1, 3, 10, clk.now) // 1 a second, burst 3
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d refused within the burst", i+1)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != time.Second {
		t.Fatalf("fourth = %v, retry after %v; want refused, 1s", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("another key shares the first key's bucket")
	}
	clk.add(time.Second)
	if ok, _ := l.Allow("a"); !ok {
		t.Error("refused after a refill")
	}
}

// TestKeysAreBounded: the map never holds more than maxKeys buckets; a new
// key past it gets a bucket of its own (a random one is dropped), so a
// flood of addresses does not lock every new client out; the keys still
// held keep their state.
func TestKeysAreBounded(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	l := ratelimit.New(1, 1, 4, clk.now)
	for i := range 4 {
		l.Allow(fmt.Sprint(i))
	}
	// The map is full of empty buckets: each new key still gets its own.
	for _, k := range []string{"x", "y", "z"} {
		if ok, _ := l.Allow(k); !ok {
			t.Fatalf("new key %s refused while the map is full", k)
		}
		if ok, _ := l.Allow(k); ok {
			t.Fatalf("new key %s: second request in the same second allowed", k)
		}
	}
	if n := l.Len(); n != 4 {
		t.Fatalf("%d buckets held, want at most 4", n)
	}
	if !l.Peek("never-seen") {
		t.Error("Peek: a new key has no token")
	}
	if l.Peek("z") {
		t.Error("Peek: an empty bucket has a token")
	}
	if ok, _ := l.Allow("z"); ok {
		t.Error("Peek spent nothing, yet the empty bucket now allows")
	}
}
