package faulttest_test

import (
	"context"
	"sync"
	"testing"

	"ombud/server/storage/sqlite"
	"ombud/sync/client"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

// cutOnReject is the server's storage with one fault: right after the first
// push holding a rejection has committed, before the hub can send its
// push_reject, the connection is cut. This is the window in which a device
// that took server_hello.device_seq as an acknowledgement used to lose the
// rejected event (docs/SYNC.md section 6).
type cutOnReject struct {
	*sqlite.Store
	once sync.Once
	cut  func()
	hits int
}

func (s *cutOnReject) Push(ctx context.Context, deviceID string, batch []wire.DeviceEvent) (hub.PushResult, error) {
	res, err := s.Store.Push(ctx, deviceID, batch)
	if err == nil && len(res.Rejected) > 0 {
		s.once.Do(func() {
			s.hits++
			s.cut()
		})
	}
	return res, err
}

// TestRejectionSurvivesDropAfterCommit: a push holding a forbidden event
// commits, and the connection drops before the push_reject reaches the
// device. After the reconnect the device resends from its lowest
// unacknowledged seq, gets the same push_reject, and quarantines the event;
// everything else is on the server exactly once.
func TestRejectionSurvivesDropAfterCommit(t *testing.T) {
	t.Parallel()
	var proxy *chaosProxy
	wrapped := &cutOnReject{cut: func() { proxy.CutAll() }}
	srv := MustServer(t, func(c *hub.Config) {
		wrapped.Store = c.Log.(*sqlite.Store)
		c.Log = wrapped
	})
	proxy = MustChaosProxy(t, srv.http.Listener.Addr().String(), chaosConfig{Seed: 1})
	k := MustKiosk(t, srv.st, "north", proxy.URL())
	k.file(t, 2)
	k.fileForbidden(t)
	k.file(t, 2)
	k.run(t)
	waitFor(t, "kiosk drained", k.drained)

	if wrapped.hits != 1 || srv.upgrades.Load() < 2 {
		t.Fatalf("cut after the rejecting commit %d times, %d connections; want 1 cut and a reconnect", wrapped.hits, srv.upgrades.Load())
	}
	checkExactlyOnce(t, readDB(t, srv.path), []*kiosk{k})
	checkOutboxes(t, []*kiosk{k})
	q, err := k.st.Quarantined(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].Seq != 3 || q[0].Code != int(wire.CloseForbiddenEvent) {
		t.Fatalf("quarantine = %+v, want seq 3 with 4003", q)
	}
}

// TestChaos: several kiosks of two branches file complaints (and a few for
// a branch they do not belong to) through a proxy that cuts connections at
// random byte offsets, delays chunks, reorders websocket messages within a
// connection and replays held ones into the device's next connection. The
// clients must never give up (every ordering fault is 4500, reconnect), and
// once the faults stop: every complaint on the server exactly once, every
// outbox empty, only the forbidden events quarantined, and every device's
// fold of every complaint of its branch equal to the server's.
func TestChaos(t *testing.T) {
	t.Parallel()
	devices := scaled(4, 8)
	perDevice := scaled(120, 1500)
	srv := MustServer(t)
	proxy := MustChaosProxy(t, srv.http.Listener.Addr().String(), chaosConfig{
		Seed:    20240601,
		CutProb: 0.6, CutMin: 100, CutMax: 80 << 10,
		DelayProb: 0.05, DelayMax: 3e6, // 3 ms
		HoldProb: 0.15, HoldMax: 20e6, // 20 ms
		ReplayProb: 0.8,
	})
	proxy.faults.Store(true)

	kiosks := make([]*kiosk, devices)
	results := make([]chan error, devices)
	for i := range kiosks {
		branch := []string{"north", "south"}[i%2]
		kiosks[i] = MustKiosk(t, srv.st, branch, proxy.URL(), func(c *client.Config) { c.MaxBatch = 25 })
		k := kiosks[i]
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		results[i] = make(chan error, 1)
		go func(done chan<- error) { done <- k.client.Run(ctx) }(results[i])
	}
	var wg sync.WaitGroup
	for _, k := range kiosks {
		wg.Go(func() {
			for j := 0; j < perDevice; j += 40 {
				k.file(t, min(40, perDevice-j))
				k.fileForbidden(t)
			}
		})
	}
	wg.Wait()
	// Keep misbehaving until every kind of fault has happened a few times.
	// Faults need traffic: a fast client may have sent everything before
	// enough happened, so keep filing (a few complaints per look) until then.
	round := 0
	waitFor(t, "faults injected", func() bool {
		if proxy.cuts.Load() >= 5 && proxy.holds.Load() >= 5 {
			return true
		}
		kiosks[round%len(kiosks)].file(t, 2)
		round++
		return false
	})
	proxy.faults.Store(false)
	proxy.CutAll() // connections drawn with a cut offset start afresh
	for i, k := range kiosks {
		waitFor(t, "kiosk "+k.device.ID+" drained", func() bool {
			select {
			case err := <-results[i]:
				t.Fatalf("kiosk %s: Run returned %v during chaos; it must keep reconnecting", k.device.ID, err)
			default:
			}
			return k.drained()
		})
	}
	t.Logf("chaos: %d connections, %d cut, %d messages held back, %d replayed into a later connection, %d delayed; hub: %+v",
		proxy.accepted.Load(), proxy.cuts.Load(), proxy.holds.Load(), proxy.replays.Load(), proxy.delays.Load(), srv.hub.Load().Stats())
	checkExactlyOnce(t, readDB(t, srv.path), kiosks)
	checkOutboxes(t, kiosks)
	checkConvergence(t, srv.st, kiosks)
}
