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

func TestKeysAreBounded(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	l := ratelimit.New(1, 1, 4, clk.now)
	for i := range 4 {
		l.Allow(fmt.Sprint(i))
	}
	// The map is full of empty buckets: new keys share the overflow bucket.
	if ok, _ := l.Allow("x"); !ok {
		t.Fatal("first overflow request refused")
	}
	if ok, _ := l.Allow("y"); ok {
		t.Error("overflow bucket not shared")
	}
	clk.add(time.Hour) // every bucket refills, so the sweep frees them
	if ok, _ := l.Allow("z"); !ok {
		t.Error("refused after the sweep")
	}
}
