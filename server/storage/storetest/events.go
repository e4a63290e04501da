package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"ombud/server/admit"
	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/device"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

func testPushRoundTripsEvents(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	d := MustDevice(t, s, "A")
	batch := BatchOf(t, d, 1, 2)
	mustPush(t, s, d, batch)
	got := AllEvents(t, s, wire.BranchScope("A"))
	if len(got) != 2 {
		t.Fatalf("got %d events, want 2", len(got))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i].Event, batch[i].Event) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i].Event, batch[i].Event)
		}
	}
}

func testEventsAfterKeepsBranchesApart(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	a, b := MustDevice(t, s, "A"), MustDevice(t, s, "B")
	mustPush(t, s, a, BatchOf(t, a, SeqRange(1, 10)...))
	mustPush(t, s, b, BatchOf(t, b, SeqRange(1, 6)...))
	mustPush(t, s, a, BatchOf(t, a, SeqRange(11, 15)...))

	for _, tt := range []struct {
		scope string
		want  int
	}{
		{wire.BranchScope("A"), 15},
		{wire.BranchScope("B"), 6},
		{wire.BranchScope("C"), 0},
		{"", 21},
	} {
		t.Run(fmt.Sprintf("%q", tt.scope), func(t *testing.T) {
			got := AllEvents(t, s, tt.scope)
			if len(got) != tt.want {
				t.Fatalf("got %d events, want %d", len(got), tt.want)
			}
			for _, e := range got {
				if tt.scope != "" && wire.BranchScope(e.Event.Branch) != tt.scope {
					t.Fatalf("scope %q returned event %s of branch %q", tt.scope, e.Event.ID, e.Event.Branch)
				}
			}
		})
	}
	// An empty or unknown scope is refused, never read as "everything": a
	// forgotten field must not leak another branch's complaints.
	for _, scope := range []string{"", "A", "branch:", "team:", "queue:A", "all"} {
		_, err := s.EventsAfter(context.Background(), scope, 0, 10)
		wantCode(t, err, storage.Invalid)
	}
	_, err := s.EventsAfter(context.Background(), wire.BranchScope("A"), 0, 0)
	wantCode(t, err, storage.Invalid)
}

// testEventsAfterPagingWhilePushing pages through the log while several
// devices push: a cursor must see every event exactly once, in order,
// which holds only if global sequences are given in commit order.
func testEventsAfterPagingWhilePushing(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	const devices, batches, perBatch = 4, 10, 25
	devs := make([]storage.Device, devices)
	for i := range devs {
		devs[i] = MustDevice(t, s, []string{"A", "B"}[i%2])
	}
	ctx := context.Background()

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		sent = map[string]bool{}
		errs = make(chan error, devices)
	)
	for _, d := range devs {
		var all [][]wire.DeviceEvent
		for i := range batches {
			all = append(all, BatchOf(t, d, SeqRange(int64(i*perBatch+1), int64((i+1)*perBatch))...))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range all {
				if _, err := s.Push(ctx, d.ID, b); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, de := range b {
					sent[de.Event.ID] = true
				}
				mu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	seen := map[string]bool{}
	var after int64
	finished := false
	// A bound against hanging, not a speed test: -race on a loaded 2-core
	// machine (and PostgreSQL beside it) needs room.
	for deadline := time.Now().Add(90 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatal("paging did not catch up before the deadline")
		}
		page, err := s.AllEventsAfter(ctx, after, 13)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if e.Seq <= after {
				t.Fatalf("global seq %d after cursor %d", e.Seq, after)
			}
			if seen[e.Event.ID] {
				t.Fatalf("event %s returned twice", e.Event.ID)
			}
			seen[e.Event.ID] = true
			after = e.Seq
		}
		if len(page) == 0 {
			if finished {
				break
			}
			// Writers done: one more full pass from the cursor picks up the rest.
			select {
			case <-done:
				finished = true
			case err := <-errs:
				t.Fatal(err)
			default:
			}
		}
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if len(seen) != devices*batches*perBatch || !reflect.DeepEqual(seen, sent) {
		t.Fatalf("saw %d events, sent %d", len(seen), len(sent))
	}
}

func testEnrolmentIsOneTimeUnderConcurrency(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	if err := s.CreateBranch(ctx, "A", "Alpha"); err != nil {
		t.Fatal(err)
	}
	code, now := Hash("one-time"), time.Now()
	if err := s.CreateEnrolment(ctx, storage.Enrolment{Branch: "A", CodeHash: code, ExpiresAt: now.Add(time.Minute), Role: device.Staff}); err != nil {
		t.Fatal(err)
	}
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.RedeemEnrolment(ctx, code, now, fmt.Sprintf("racer-%d", i), Hash("cred"))
		})
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch storage.ErrorCode(err) {
		case "":
			wins++
		case storage.Conflict:
		default:
			t.Errorf("racer %d: %v, want success or conflict", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d redemptions won, want exactly 1", wins)
	}
	if st := MustStats(t, s); st.Devices != 1 {
		t.Fatalf("devices = %d, want 1", st.Devices)
	}
}

func testEnrolmentRefusals(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	if err := s.CreateBranch(ctx, "A", "Alpha"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := s.CreateEnrolment(ctx, storage.Enrolment{Branch: "A", CodeHash: Hash("expired"), ExpiresAt: now, Role: device.Staff}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEnrolment(ctx, storage.Enrolment{Branch: "A", CodeHash: Hash("good"), ExpiresAt: now.Add(time.Minute), Role: device.Staff}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemEnrolment(ctx, Hash("good"), now, "taken", Hash("c")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEnrolment(ctx, storage.Enrolment{Branch: "A", CodeHash: Hash("second"), ExpiresAt: now.Add(time.Minute), Role: device.Staff}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		code   string
		device string
		want   storage.Code
	}{
		{"unknown code", "nope", "d1", storage.NotFound},
		{"expired code", "expired", "d1", storage.Expired},
		{"used code", "good", "d1", storage.Conflict},
		{"device id taken", "second", "taken", storage.Conflict},
		{"no device id", "second", "", storage.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.RedeemEnrolment(ctx, Hash(tt.code), now, tt.device, Hash("c"))
			wantCode(t, err, tt.want)
		})
	}
	// The failed redemption of "second" left it unspent.
	if _, err := s.RedeemEnrolment(ctx, Hash("second"), now, "d2", Hash("c")); err != nil {
		t.Fatalf("redeem after a failed attempt: %v", err)
	}
	wantCode(t, s.CreateEnrolment(ctx, storage.Enrolment{Branch: "nowhere", CodeHash: Hash("x"), ExpiresAt: now.Add(time.Minute), Role: device.Staff}), storage.NotFound)
	wantCode(t, s.CreateEnrolment(ctx, storage.Enrolment{Branch: "A", CodeHash: Hash("second"), ExpiresAt: now.Add(time.Minute), Role: device.Staff}), storage.Conflict)
	wantCode(t, s.CreateBranch(ctx, "A", "again"), storage.Conflict)
}

func testRevokedDeviceIsReported(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	d := MustDevice(t, s, "A")
	ctx := context.Background()
	got, err := s.Device(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Revoked() || got.Branch != "A" || got.Prefix != d.Prefix || string(got.CredentialHash) != string(d.CredentialHash) {
		t.Fatalf("device = %+v, want %+v", got, d)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	if err := s.RevokeDevice(ctx, d.ID, at); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeDevice(ctx, d.ID, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err = s.Device(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Revoked() || !got.RevokedAt.Equal(at) {
		t.Fatalf("revoked at = %v, want %v (the first revocation)", got.RevokedAt, at)
	}
	_, err = s.Push(ctx, d.ID, BatchOf(t, d, 1))
	wantCode(t, err, storage.Revoked)
	if !errors.Is(err, hub.ErrDeviceRevoked) {
		t.Fatalf("push from a revoked device = %v, want hub.ErrDeviceRevoked", err)
	}
	if _, err := s.Resume(ctx, d.ID, hub.Hello{At: time.Now()}); !errors.Is(err, hub.ErrDeviceRevoked) {
		t.Fatalf("resume of a revoked device = %v, want hub.ErrDeviceRevoked", err)
	}
	wantCode(t, s.RevokeDevice(ctx, "nobody", at), storage.NotFound)
	_, err = s.Device(ctx, "nobody")
	wantCode(t, err, storage.NotFound)
}

func testPrefixesAreUniqueAcrossEnrolments(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	if err := s.CreateBranch(ctx, "A", "Alpha"); err != nil {
		t.Fatal(err)
	}
	const n, workers = 1000, 4
	now := time.Now()
	prefixes := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				code := Hash(fmt.Sprintf("prefix-code-%d", i))
				if err := s.CreateEnrolment(ctx, storage.Enrolment{Branch: "A", CodeHash: code, ExpiresAt: now.Add(time.Hour), Role: device.Staff}); err != nil {
					errs <- err
					return
				}
				d, err := s.RedeemEnrolment(ctx, code, now, fmt.Sprintf("p-%d", i), Hash("c"))
				if err != nil {
					errs <- err
					return
				}
				prefixes[i] = d.Prefix
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i, p := range prefixes {
		if j, ok := seen[p]; ok {
			t.Fatalf("devices %d and %d share prefix %q", j, i, p)
		}
		seen[p] = i
	}
}

func testDataSurvivesReopen(t *testing.T, h Harness) {
	path := h.New(t)
	ctx := context.Background()
	s := h.Open(t, path, admit.Policy{})
	d := MustDevice(t, s, "A")
	batch := BatchOf(t, d, 1, 2, 3, 4)
	mustPush(t, s, d, batch[:3])
	// Seq 4 rejected (it names another branch): the ack passes it, and the
	// rejection must survive the restart.
	batch[3].Event.Branch = "B"
	checkRejections(t, mustPush(t, s, d, batch[3:]).Rejected, []wire.PushReject{{Seq: 4, EventID: batch[3].Event.ID, Code: wire.CloseForbiddenEvent}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = h.Open(t, path, admit.Policy{})
	got, err := s.Device(ctx, d.ID)
	if err != nil || got.AckedSeq != 4 || got.Prefix != d.Prefix {
		t.Fatalf("device after reopen = %+v, %v", got, err)
	}
	if evs := AllEvents(t, s, wire.BranchScope("A")); len(evs) != 3 {
		t.Fatalf("%d events after reopen, want 3", len(evs))
	}
	c, _ := batch[0].Event.Complaint()
	row, err := s.ComplaintByCode(ctx, c.Code)
	if err != nil {
		t.Fatal(err)
	}
	want := storage.Complaint{ID: c.ID, Code: c.Code, Branch: "A", Category: c.Category, FiledAt: c.FiledAt, FiledEventID: batch[0].Event.ID}
	if row != want {
		t.Fatalf("complaint = %+v, want %+v", row, want)
	}
	// A resend after the restart gets the same answers; the next seq goes on.
	if res := mustPush(t, s, d, batch); res.AckedSeq != 4 || res.Duplicates != 3 || len(res.Rejected) != 1 {
		t.Fatalf("resend after reopen = %+v, want acked 4, 3 duplicates, 1 rejection", res)
	}
	if res := mustPush(t, s, d, BatchOf(t, d, 5)); res.AckedSeq != 5 || res.Stored != 1 {
		t.Fatalf("push 5 after reopen = %+v, want acked 5", res)
	}
	// The next enrolment does not reuse a prefix given before the restart.
	if d2 := MustDevice(t, s, "A"); d2.Prefix == d.Prefix {
		t.Fatalf("prefix %q given twice", d.Prefix)
	}
}

func testComplaintByCodeNotFound(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	_, err := s.ComplaintByCode(context.Background(), "K7QM4XRT9B2C")
	wantCode(t, err, storage.NotFound)
	if !errors.Is(err, complaint.ErrNotFound) {
		t.Fatalf("error %v is not complaint.ErrNotFound", err)
	}
}
