package faulttest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"ombud/kiosk/filing"
	"ombud/sync/client"
)

// A complaint as people write them: a few sentences, some 600 bytes on the
// wire once filed. The number keeps each one distinct.
func realisticDraft(i int) filing.Draft {
	return filing.Draft{Category: "billing", Language: "en", Description: fmt.Sprintf(
		"Complaint %d. I was charged twice for the same transfer on my current account and the branch "+
			"told me the second charge would be refunded within three days. It has now been two weeks, "+
			"nobody called me back, and the app still shows both charges. I have asked at the counter "+
			"twice and was told to wait again. I would like the money back and an explanation of why "+
			"this happened, in writing, before the end of the month.", i)}
}

// fileBacklog files n complaints on k while it is offline, as a branch does
// during a day without its line.
func (k *kiosk) fileBacklog(tb testing.TB, n int) {
	tb.Helper()
	for i := range n {
		f, err := k.filing.File(context.Background(), realisticDraft(i))
		if err != nil {
			tb.Fatalf("file %d: %v", i, err)
		}
		k.mu.Lock()
		k.filed = append(k.filed, f.Complaint)
		k.mu.Unlock()
	}
}

// cutLink is the link of the brief: every connection dropped after a random
// 4-256 KB (or 4-32 KB), with the delay and jitter of a mobile line. The
// rate is higher in CI than a real 4G back-up line so the test takes
// seconds; BenchmarkCatchUpCuttingLink runs the real line.
func cutLink(seed uint64, cutMax int64, rate int, delay time.Duration) linkConfig {
	return linkConfig{Seed: seed, Rate: rate, Delay: delay, Jitter: delay / 2, CutMin: 4 << 10, CutMax: cutMax}
}

// TestCatchUpThroughCuttingLink: a kiosk that was offline for a day comes
// back on a link that drops every connection after a few kilobytes. With
// the production backoff and nothing tuned, the whole backlog arrives by
// itself, exactly once, through dozens of cut connections, and while it
// struggles staff can see why.
func TestCatchUpThroughCuttingLink(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cutMax int64
	}{
		{"cuts every 4-256 KB", 256 << 10},
		{"cuts every 4-32 KB", 32 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := scaled(600, 5000)
			srv := MustServer(t)
			link := MustLinkProxy(t, srv.http.Listener.Addr().String(), cutLink(uint64(tc.cutMax), tc.cutMax, 4<<20, 2*time.Millisecond))
			k := MustKiosk(t, srv.st, "north", link.URL(), func(c *client.Config) {
				c.Backoff = client.Backoff{} // production: 1 s base, 60 s cap
				c.Scopes = nil               // a customer kiosk receives nothing
			})
			k.fileBacklog(t, n)
			start := time.Now()
			k.run(t)
			waitForWithin(t, "the backlog through the cutting link", 5*time.Minute, func() bool {
				st := k.client.Status()
				if st.State == client.GaveUp {
					t.Fatalf("the client gave up: %s", st.LastError)
				}
				return st.Pending == 0 && st.State == client.Online
			})
			took := time.Since(start)
			checkExactlyOnce(t, readDB(t, srv.path), []*kiosk{k})
			checkOutboxes(t, []*kiosk{k})
			if link.cuts.Load() < 3 {
				t.Fatalf("only %d connections were cut: the link did not test anything", link.cuts.Load())
			}
			t.Logf("%d complaints through %d connections (%d cut) in %v; %d bytes carried, %d events resent",
				n, link.accepted.Load(), link.cuts.Load(), took.Round(time.Millisecond), link.carried.Load(), srv.hub.Load().Stats().Duplicates)
		})
	}
}

// TestStatusSaysLinkUnstable: on a link that drops every connection before
// a push gets through, staff see "link unstable, N waiting" once the backlog
// has waited StallAfter (the wait is simulated by dating the backlog back:
// the test does not sleep two minutes).
func TestStatusSaysLinkUnstable(t *testing.T) {
	t.Parallel()
	srv := MustServer(t)
	// 1,200 bytes: the upgrade and the hellos pass, no push ever does.
	link := MustLinkProxy(t, srv.http.Listener.Addr().String(), linkConfig{Seed: 7, CutMin: 1200, CutMax: 1201})
	k := MustKiosk(t, srv.st, "north", link.URL(), func(c *client.Config) { c.Scopes = nil })
	k.fileBacklog(t, 20)
	k.run(t)
	waitFor(t, "connections dropping mid-push", func() bool { return k.client.Status().Drops >= 2 })
	st := k.client.Status()
	if st.Pending != 20 || st.WaitingSince.IsZero() {
		t.Fatalf("status %+v: want 20 pending, waiting since the backlog began", st)
	}
	if got := st.Summary(time.Now()); strings.Contains(got, "unstable") {
		t.Fatalf("after a few seconds: %q; unstable is for a backlog stuck %v", got, client.StallAfter)
	}
	later := st.WaitingSince.Add(client.StallAfter + 5*time.Minute)
	if got, want := st.Summary(later), "link unstable, 20 waiting for 7 minutes"; got != want {
		t.Fatalf("Summary = %q, want %q", got, want)
	}
}

// waitForWithin is waitFor with its own deadline, for a wait that is long by
// design (a backlog through a slow link), not a condition that should hold
// at once.
func waitForWithin(tb testing.TB, what string, limit time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		<-tick.C
	}
}

// BenchmarkCatchUpCuttingLink measures the brief's figure: a backlog through
// a mobile line that drops every connection after 4-256 KB (and 4-32 KB),
// against the same line without drops. goodput_share is the time without
// drops over the time with them: the share of the link's goodput the
// catch-up achieves (1 is as fast as an unbroken link). Run with
// -benchtime Nx for N draws of the cuts; OMBUD_FAULT_SCALE=full for the
// 2,000-complaint backlog. events_resent counts events the server already
// held (their acks were lost with a connection); bytes_vs_clean is what the
// link carried against the same backlog without drops.
//
//	OMBUD_FAULT_SCALE=full go test -run '^$' -bench CatchUpCuttingLink -benchtime 3x -timeout 1h ./sync/faulttest/
func BenchmarkCatchUpCuttingLink(b *testing.B) {
	n := scaled(500, 2000)
	const rate, delay = 256 << 10, 30 * time.Millisecond // about 2 Mbit/s, 60-90 ms round trips
	run := func(b *testing.B, cfg linkConfig) (time.Duration, *linkProxy, int64) {
		srv := MustServer(b)
		link := MustLinkProxy(b, srv.http.Listener.Addr().String(), cfg)
		k := MustKiosk(b, srv.st, "north", link.URL(), func(c *client.Config) {
			c.Backoff, c.Scopes = client.Backoff{}, nil
		})
		k.fileBacklog(b, n)
		start := time.Now()
		stop := k.run(b)
		waitForWithin(b, "the backlog", 30*time.Minute, func() bool {
			st := k.client.Status()
			return st.Pending == 0 && st.State == client.Online
		})
		took := time.Since(start)
		stop()
		checkExactlyOnce(b, readDB(b, srv.path), []*kiosk{k})
		return took, link, srv.hub.Load().Stats().Duplicates
	}
	for _, cutMax := range []int64{256 << 10, 32 << 10} {
		b.Run(fmt.Sprintf("cuts_4-%dKB", cutMax>>10), func(b *testing.B) {
			// Each iteration is another draw of the cuts (-benchtime 3x: three);
			// the figures are over all of them.
			var clean, cut time.Duration
			var conns, resent, cleanBytes, cutBytes int64
			for i := range b.N {
				c, cl, _ := run(b, cutLink(uint64(i), 0, rate, delay))
				d, link, dup := run(b, cutLink(uint64(1000*i)+uint64(cutMax), cutMax, rate, delay))
				clean, cut, conns, resent = clean+c, cut+d, conns+link.accepted.Load(), resent+dup
				cleanBytes, cutBytes = cleanBytes+cl.carried.Load(), cutBytes+link.carried.Load()
			}
			runs := float64(b.N)
			b.ReportMetric(runs*float64(n)/clean.Seconds(), "clean_complaints/s")
			b.ReportMetric(runs*float64(n)/cut.Seconds(), "cut_complaints/s")
			b.ReportMetric(clean.Seconds()/cut.Seconds(), "goodput_share")
			b.ReportMetric(float64(conns)/runs, "connections")
			b.ReportMetric(float64(resent)/runs, "events_resent")
			b.ReportMetric(float64(cutBytes)/float64(cleanBytes), "bytes_vs_clean")
		})
	}
}
