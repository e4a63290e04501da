package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"ombud/server/delivery"
	"ombud/server/delivery/deliverytest"
	"ombud/server/storage"
	"ombud/shared/event"
)

func TestBackoffWait(t *testing.T) {
	b := delivery.Backoff{Base: time.Second, Max: 10 * time.Second, Attempts: 5}
	for _, tc := range []struct {
		n        int
		lo, full time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{4, 4 * time.Second, 8 * time.Second},
		{5, 5 * time.Second, 10 * time.Second}, // capped
		{60, 5 * time.Second, 10 * time.Second},
	} {
		if got := b.Wait(tc.n, func() float64 { return 0 }); got != tc.lo {
			t.Errorf("Wait(%d) with no jitter = %v, want %v", tc.n, got, tc.lo)
		}
		if got := b.Wait(tc.n, func() float64 { return 0.999999 }); got < tc.full-time.Millisecond || got > tc.full {
			t.Errorf("Wait(%d) at most jitter = %v, want about %v", tc.n, got, tc.full)
		}
	}
	if b.GiveUp(4) || !b.GiveUp(5) {
		t.Errorf("GiveUp(4), GiveUp(5) = %v, %v; want false, true", b.GiveUp(4), b.GiveUp(5))
	}
}

// clock is a settable wall clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// oneJobPerEvent plans a job of queue "test" per event.
func oneJobPerEvent(_ context.Context, page []storage.StoredEvent) ([]delivery.Job, error) {
	var jobs []delivery.Job
	for _, se := range page {
		jobs = append(jobs, delivery.Job{
			Queue: "test", Key: se.Event.ID + "/x", Channel: "x", Subject: "s", ComplaintID: se.Event.ComplaintID,
			EventID: se.Event.ID, Seq: se.Seq, Payload: []byte(`{}`), CreatedAt: time.Now(),
		})
	}
	return jobs, nil
}

func mustJobs(tb testing.TB, st delivery.Store, now time.Time) []delivery.Job {
	tb.Helper()
	jobs, err := st.Claim(context.Background(), "test", now, time.Minute, 100)
	if err != nil {
		tb.Fatal(err)
	}
	return jobs
}

// TestFollowerStartsAtTheEndAndQueuesOnce: a new follower ignores what was
// stored before it existed; each event is queued once, even when a page is
// planned again (a crash before the commit) or a stale follower commits.
func TestFollowerStartsAtTheEndAndQueuesOnce(t *testing.T) {
	for _, b := range deliverytest.Backends {
		t.Run(b.Name, func(t *testing.T) { testFollowerStartsAtTheEndAndQueuesOnce(t, b) })
	}
}

func testFollowerStartsAtTheEndAndQueuesOnce(t *testing.T, b deliverytest.Backend) {
	v := deliverytest.NewOn(t, b)
	ctx := context.Background()
	old := v.File("en", "Old complaint.", nil)
	f, err := delivery.NewFollower(delivery.FollowerConfig{Log: v.Store, Store: v.Store, Name: "test", Plan: oneJobPerEvent})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if jobs := mustJobs(t, v.Store, time.Now()); len(jobs) != 0 {
		t.Fatalf("a new follower queued %d jobs for events stored before it, want 0", len(jobs))
	}
	c := v.File("en", "New complaint.", nil)
	v.Act(c.ID, deliverytest.Action{Type: event.Acknowledged})
	cursor, err := v.Store.DeliveryCursor(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	page, err := v.Store.AllEventsAfter(ctx, cursor, 100)
	if err != nil {
		t.Fatal(err)
	}
	// Planned and committed again from the old cursor: refused whole.
	again, _ := oneJobPerEvent(ctx, page)
	if _, err := v.Store.Enqueue(ctx, "test", cursor, page[len(page)-1].Seq, again); storage.ErrorCode(err) != storage.Conflict {
		t.Errorf("Enqueue from a stale cursor = %v, want a conflict", err)
	}
	// The same jobs under the current cursor: stored once.
	now, _ := v.Store.DeliveryCursor(ctx, "test")
	if added, err := v.Store.Enqueue(ctx, "test", now, now, again); err != nil || added != 0 {
		t.Errorf("Enqueue of queued keys = %d, %v; want 0 added", added, err)
	}
	jobs := mustJobs(t, v.Store, time.Now())
	if len(jobs) != 2 {
		t.Fatalf("queued %d jobs, want 2 (the new filing and its acknowledgement)", len(jobs))
	}
	for _, j := range jobs {
		if j.ComplaintID == old.ID {
			t.Errorf("job for the old complaint: %+v", j)
		}
	}
}

// TestWorkerRetriesWithBackoffThenSends: a failing receiver is retried no
// sooner than the schedule says; each attempt is in the audit trail.
func TestWorkerRetriesWithBackoffThenSends(t *testing.T) {
	for _, b := range deliverytest.Backends {
		t.Run(b.Name, func(t *testing.T) { testWorkerRetriesWithBackoffThenSends(t, b) })
	}
}

func testWorkerRetriesWithBackoffThenSends(t *testing.T, b deliverytest.Backend) {
	v := deliverytest.NewOn(t, b)
	ctx := context.Background()
	clk := &clock{now: time.Now().Add(time.Second)} // after the jobs are made
	f, _ := delivery.NewFollower(delivery.FollowerConfig{Log: v.Store, Store: v.Store, Name: "test", Plan: oneJobPerEvent})
	f.CatchUp(ctx)
	c := v.File("en", "Charged twice.", nil)
	if err := f.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	calls := 0
	w, err := delivery.NewWorker(delivery.WorkerConfig{
		Store: v.Store, Queue: "test", Now: clk.Now,
		Backoff: delivery.Backoff{Base: time.Minute, Max: time.Hour, Attempts: 10},
		Send: func(ctx context.Context, j delivery.Job) error {
			calls++
			if calls <= 2 {
				return delivery.Temporary(503, "the receiver answered 503", time.Time{})
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	step := func(want int) {
		t.Helper()
		n, err := w.RunDue(ctx)
		if err != nil || n != want {
			t.Fatalf("RunDue = %d, %v; want %d attempts", n, err, want)
		}
	}
	step(1)
	step(0) // not due yet
	clk.Add(29 * time.Second)
	step(0) // the first wait is at least half the base
	clk.Add(31 * time.Second)
	step(1)
	clk.Add(2 * time.Minute)
	step(1)
	clk.Add(time.Hour)
	step(0) // sent: never again
	as, err := v.Store.Attempts(ctx, delivery.Filter{Queue: "test", ComplaintID: c.ID})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range as {
		got = append(got, fmt.Sprintf("%d %s %d", a.N, a.Outcome, a.Code))
	}
	if want := []string{"3 sent 0", "2 retry 503", "1 retry 503"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("audit trail = %q, want %q", got, want)
	}
	if as[0].Channel != "x" || as[0].Subject != "s" || as[0].EventID == "" {
		t.Errorf("audit row lacks the job's fields: %+v", as[0])
	}
}

// TestWorkerGivesUpAndHonoursPermanentSkipAndDefer: the other verdicts.
func TestWorkerGivesUpAndHonoursPermanentSkipAndDefer(t *testing.T) {
	for _, b := range deliverytest.Backends {
		t.Run(b.Name, func(t *testing.T) { testWorkerGivesUpAndHonoursPermanentSkipAndDefer(t, b) })
	}
}

func testWorkerGivesUpAndHonoursPermanentSkipAndDefer(t *testing.T, b deliverytest.Backend) {
	v := deliverytest.NewOn(t, b)
	ctx := context.Background()
	clk := &clock{now: time.Now().Add(time.Second)} // after the jobs are made
	f, _ := delivery.NewFollower(delivery.FollowerConfig{Log: v.Store, Store: v.Store, Name: "test", Plan: oneJobPerEvent})
	f.CatchUp(ctx)
	verdicts := map[string]error{}
	var ids []string
	for _, what := range []string{"broken", "refused", "skipped", "deferred"} {
		c := v.File("en", what, nil)
		ids = append(ids, c.ID)
		switch what {
		case "broken":
			verdicts[c.ID] = errors.New("connection reset")
		case "refused":
			verdicts[c.ID] = delivery.Permanent(550, "refused")
		case "skipped":
			verdicts[c.ID] = delivery.Skip("unsubscribed")
		case "deferred":
			verdicts[c.ID] = delivery.Defer(clk.Now().Add(time.Hour), "rate limit")
		}
	}
	if err := f.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	w, _ := delivery.NewWorker(delivery.WorkerConfig{
		Store: v.Store, Queue: "test", Now: clk.Now,
		Backoff: delivery.Backoff{Base: time.Second, Max: time.Second, Attempts: 3},
		Send:    func(ctx context.Context, j delivery.Job) error { return verdicts[j.ComplaintID] },
	})
	for range 5 {
		if _, err := w.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		clk.Add(2 * time.Second)
	}
	outcomes := func(id string) string {
		as, err := v.Store.Attempts(ctx, delivery.Filter{Queue: "test", ComplaintID: id})
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, a := range as {
			s = append(s, string(a.Outcome))
		}
		return fmt.Sprint(s)
	}
	for i, want := range []string{
		"[failed retry retry]", // three attempts, then given up
		"[failed]",             // a permanent refusal is not retried
		"[skipped]",
		"[deferred]", // held an hour, not counted, not failed
	} {
		if got := outcomes(ids[i]); got != want {
			t.Errorf("complaint %d: outcomes %s, want %s", i, got, want)
		}
	}
	clk.Add(time.Hour)
	delete(verdicts, ids[3])
	if _, err := w.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got := outcomes(ids[3]); got != "[sent deferred]" {
		t.Errorf("deferred job after the hour: %s, want sent", got)
	}
}

// TestInterruptedAttemptIsAuditedAndSentAgain: a worker that stops
// mid-attempt (a crash, a shutdown) records nothing; once its lease runs
// out the next claim says so in the audit trail and sends again, and a
// claim before then gets nothing.
func TestInterruptedAttemptIsAuditedAndSentAgain(t *testing.T) {
	for _, b := range deliverytest.Backends {
		t.Run(b.Name, func(t *testing.T) { testInterruptedAttemptIsAuditedAndSentAgain(t, b) })
	}
}

func testInterruptedAttemptIsAuditedAndSentAgain(t *testing.T, b deliverytest.Backend) {
	v := deliverytest.NewOn(t, b)
	ctx := context.Background()
	f, _ := delivery.NewFollower(delivery.FollowerConfig{Log: v.Store, Store: v.Store, Name: "test", Plan: oneJobPerEvent})
	f.CatchUp(ctx)
	c := v.File("en", "Charged twice.", nil)
	f.CatchUp(ctx)
	start := time.Now()
	if jobs, err := v.Store.Claim(ctx, "test", start, time.Minute, 10); err != nil || len(jobs) != 1 || jobs[0].Attempts != 0 {
		t.Fatalf("first claim = %+v, %v", jobs, err)
	}
	v.Reopen() // the server restarts; the attempt was never recorded
	if jobs := mustJobs(t, v.Store, start.Add(30*time.Second)); len(jobs) != 0 {
		t.Fatalf("claimed %d jobs while the lease holds, want 0", len(jobs))
	}
	jobs := mustJobs(t, v.Store, start.Add(61*time.Second))
	if len(jobs) != 1 || jobs[0].Attempts != 1 {
		t.Fatalf("claim after the lease = %+v, want the job with one attempt counted", jobs)
	}
	as, err := v.Store.Attempts(ctx, delivery.Filter{ComplaintID: c.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Outcome != delivery.Interrupted || as[0].N != 1 {
		t.Errorf("audit trail = %+v, want one interrupted attempt", as)
	}
}
