package faulttest_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"ombud/sync/client"
	"ombud/sync/wire"
)

// TestRestartStampede: D devices are connected when the hub shuts down
// (4009) and a new one takes over the same storage. Each device waits
// Backoff.ShutdownDelay, as sync/client does after 4009, then reconnects.
// The reconnects must be spread out, not a stampede: no window of Base/10
// holds anywhere near half the fleet, and many windows are used. This is a
// statistical property of the jitter (uniform over [Base, 10·Base]), which
// holds with overwhelming probability, not a wall-clock threshold.
func TestRestartStampede(t *testing.T) {
	t.Parallel()
	d := scaled(200, 1000)
	backoff := client.Backoff{Base: 50 * time.Millisecond}
	srv := MustServer(t)
	devs := make([]rawDevice, d)
	for i := range devs {
		devs[i] = mustRawDevice(t, srv.st, "north")
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var mu sync.Mutex
	var reconnects []time.Time
	var failures []error
	fail := func(err error) {
		mu.Lock()
		failures = append(failures, err)
		mu.Unlock()
	}
	connected := make(chan struct{}, d)
	var wg sync.WaitGroup
	for i, dv := range devs {
		rnd := rand.New(rand.NewPCG(uint64(i), 42))
		wg.Go(func() {
			ws, err := dv.dial(ctx, srv.http.URL)
			if err != nil {
				fail(err)
				return
			}
			if _, err := dv.hello(ws, 0); err != nil {
				ws.Close()
				fail(err)
				return
			}
			connected <- struct{}{}
			ws.SetReadDeadline(time.Now().Add(waitTimeout))
			var err2 error
			for err2 == nil {
				_, _, err2 = ws.ReadMessage()
			}
			ws.Close()
			if code, _ := wire.CloseStatus(err2); code != wire.CloseShuttingDown {
				fail(err2)
				return
			}
			// The device's own wait, the behaviour under test.
			t := time.NewTimer(backoff.ShutdownDelay(rnd))
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
			mu.Lock()
			reconnects = append(reconnects, time.Now())
			mu.Unlock()
			ws, err = dv.dial(ctx, srv.http.URL)
			if err != nil {
				fail(err)
				return
			}
			defer ws.Close()
			if _, err := dv.hello(ws, 0); err != nil {
				fail(err)
			}
		})
	}
	for range d {
		select {
		case <-connected:
		case <-ctx.Done():
			t.Fatalf("devices did not connect: %v", failures)
		}
	}
	// The new hub takes requests before the old one closes its
	// connections, so the reconnect times are the devices' choice alone.
	old := srv.hub.Load()
	srv.hub.Store(srv.newHub())
	if err := old.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d devices failed, first: %v", len(failures), failures[0])
	}
	if len(reconnects) != d {
		t.Fatalf("%d reconnects, want %d", len(reconnects), d)
	}
	slices.SortFunc(reconnects, func(a, b time.Time) int { return a.Compare(b) })
	window := backoff.Base / 10
	// The largest count in any sliding window of Base/10.
	most, j := 0, 0
	for i := range reconnects {
		for reconnects[i].Sub(reconnects[j]) >= window {
			j++
		}
		most = max(most, i-j+1)
	}
	buckets := map[int64]int{}
	for _, at := range reconnects {
		buckets[int64(at.Sub(reconnects[0])/window)]++
	}
	spread := reconnects[len(reconnects)-1].Sub(reconnects[0])
	t.Logf("%d reconnects over %s; at most %d within %s; %d distinct windows of %s",
		d, spread, most, window, len(buckets), window)
	if most >= d/4 {
		t.Errorf("%d of %d devices reconnected within %s: a stampede", most, d, window)
	}
	if len(buckets) < 20 {
		t.Errorf("reconnects fell into %d windows of %s, want at least 20", len(buckets), window)
	}
	if spread < 3*backoff.Base {
		t.Errorf("reconnects spread over %s, want most of [Base, 10·Base] = [%s, %s]", spread, backoff.Base, 10*backoff.Base)
	}
}
