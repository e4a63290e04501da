package faulttest_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"ombud/sync/client"
)

// TestOfflineCatchUp: a kiosk files N complaints while the server is
// unreachable (the proxy refuses every connection). Filing stays fast (its
// p99 is logged, not asserted: timing is the machine's). When the network
// returns, the whole backlog arrives in one session (the hub sees exactly
// one connection), the kiosk goes Online with nothing pending, and it stays
// usable throughout: complaints filed during the catch-up succeed and
// arrive too.
func TestOfflineCatchUp(t *testing.T) {
	t.Parallel()
	n := scaled(1000, 10000)
	during := scaled(100, 500)
	srv := MustServer(t)
	proxy := MustChaosProxy(t, srv.http.Listener.Addr().String(), chaosConfig{Seed: 7})
	proxy.refuse.Store(true)
	k := MustKiosk(t, srv.st, "north", proxy.URL())
	k.run(t)

	took := k.file(t, n)
	if t.Failed() {
		t.FailNow()
	}
	waitFor(t, "the backlog counted as pending", func() bool { return k.client.Status().Pending == n })
	if st := k.client.Status(); st.State == client.Online {
		t.Fatalf("while unreachable: status %+v, want not online", st)
	}
	if got := srv.upgrades.Load(); got != 0 {
		t.Fatalf("%d connections reached the hub while unreachable", got)
	}
	t.Logf("filed %d offline: p50 %s, p99 %s, max %s", n, quantile(took, 0.5), quantile(took, 0.99), slices.Max(took))

	proxy.refuse.Store(false)
	var wg sync.WaitGroup
	var duringTook []time.Duration
	wg.Go(func() { duringTook = k.file(t, during) })
	var sawOnlineWithBacklog bool
	waitFor(t, "catch-up", func() bool {
		st := k.client.Status()
		if st.State == client.Online && st.Pending > during {
			sawOnlineWithBacklog = true
		}
		return st.State == client.Online && st.Pending == 0 && len(k.filedSnapshot()) == n+during
	})
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if got := srv.upgrades.Load(); got != 1 {
		t.Errorf("catch-up used %d connections, want 1 (no reconnects)", got)
	}
	if len(duringTook) > 0 {
		t.Logf("filed %d during catch-up (seen online with a backlog: %v): p99 %s", during, sawOnlineWithBacklog, quantile(duringTook, 0.99))
	}
	checkExactlyOnce(t, readDB(t, srv.path), []*kiosk{k})
	checkOutboxes(t, []*kiosk{k})
}

func (k *kiosk) filedSnapshot() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]string, len(k.filed))
	for i, c := range k.filed {
		out[i] = c.ID
	}
	return out
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*q))]
}
