package synctest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

// LogDevice is a device the harness enrolled for the Log suite.
type LogDevice struct {
	ID     string
	Branch string
	Prefix string // its tracking-code prefix
	// Staff is an account of the branch that may record notes, for the
	// staff events the suite pushes.
	Staff string
}

// LogHarness is what TestLog needs besides the Log itself: the log's own
// ways to enrol and revoke devices, which are not the hub's business.
type LogHarness struct {
	// Open returns a new, empty Log; the harness closes it at the test's
	// end.
	Open func(t *testing.T) hub.Log
	// Enrol enrols a device into branch (making the branch and a staff
	// account as needed).
	Enrol func(t *testing.T, log hub.Log, branch string) LogDevice
	// Revoke revokes a device now.
	Revoke func(t *testing.T, log hub.Log, deviceID string)
}

// TestLog checks that an implementation of hub.Log keeps docs/SYNC.md
// sections 6 and 7: idempotent pushes, contiguous acks and gaps, rejections
// remembered and repeated, scopes kept apart, cursors that page through
// every event once even while others commit, revoked devices refused, and
// the commit feed. Every storage backend of the server runs it.
func TestLog(t *testing.T, h LogHarness) {
	t.Run("push is idempotent", func(t *testing.T) { t.Parallel(); testIdempotentPush(t, h) })
	t.Run("a gap stores nothing", func(t *testing.T) { t.Parallel(); testGap(t, h) })
	t.Run("rejections are remembered", func(t *testing.T) { t.Parallel(); testRejections(t, h) })
	t.Run("scopes are kept apart", func(t *testing.T) { t.Parallel(); testScopes(t, h) })
	t.Run("cursor resumes while others push", func(t *testing.T) { t.Parallel(); testConcurrentPaging(t, h) })
	t.Run("revoked and unknown devices", func(t *testing.T) { t.Parallel(); testRevoked(t, h) })
	t.Run("commit feed", func(t *testing.T) { t.Parallel(); testFeed(t, h) })
}

var clock = hlc.New(nil)

// filedBy makes a valid Filed event for a new complaint of d's branch.
func filedBy(t *testing.T, d LogDevice) event.Event {
	t.Helper()
	code, err := trackcode.Generate(d.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	c := complaint.Complaint{
		ID: uid.New(), Code: string(code), Branch: d.Branch, Device: d.ID, Channel: complaint.ChannelKiosk,
		Category: "billing", Description: "charged twice for one transfer", Language: "en",
		FiledAt: time.Now().UTC().Truncate(time.Millisecond),
	}
	e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: d.ID}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// noteBy makes a staff note on complaintID, as d's staff member.
func noteBy(d LogDevice, complaintID string) event.Event {
	data, _ := json.Marshal(event.Text{Text: "called the customer back"})
	return event.Event{ID: uid.New(), ComplaintID: complaintID, Type: event.NoteAdded,
		Actor: event.Actor{Kind: event.ActorStaff, ID: d.Staff}, At: clock.Now(), Branch: d.Branch, Data: data}
}

// story makes n events from seq on: a filing, then notes on it.
func story(t *testing.T, d LogDevice, seq int64, n int) []wire.DeviceEvent {
	t.Helper()
	f := filedBy(t, d)
	out := []wire.DeviceEvent{{Seq: seq, Event: f}}
	for len(out) < n {
		out = append(out, wire.DeviceEvent{Seq: seq + int64(len(out)), Event: noteBy(d, f.ComplaintID)})
	}
	return out
}

func mustPush(t *testing.T, log hub.Log, d LogDevice, batch []wire.DeviceEvent) hub.PushResult {
	t.Helper()
	res, err := log.Push(context.Background(), d.ID, batch)
	if err != nil {
		t.Fatalf("push %d events from %s: %v", len(batch), d.ID, err)
	}
	return res
}

// readAll pages through scope with a small page and returns its events.
func readAll(t *testing.T, log hub.Log, scope string) []wire.ScopedEvent {
	t.Helper()
	var out []wire.ScopedEvent
	var after int64
	for {
		page, err := log.EventsAfter(context.Background(), scope, after, 7)
		if err != nil {
			t.Fatalf("events of %s after %d: %v", scope, after, err)
		}
		if len(page) == 0 {
			return out
		}
		for _, e := range page {
			if e.Seq <= after {
				t.Fatalf("scope %s: seq %d after cursor %d", scope, e.Seq, after)
			}
			after = e.Seq
		}
		out = append(out, page...)
	}
}

func testIdempotentPush(t *testing.T, h LogHarness) {
	log := h.Open(t)
	d := h.Enrol(t, log, "north")
	ctx := context.Background()
	batch := story(t, d, 1, 8)
	if got := mustPush(t, log, d, batch); got.AckedSeq != 8 || got.Stored != 8 || got.Duplicates != 0 || len(got.Rejected) != 0 {
		t.Fatalf("first push = %+v, want acked 8, 8 stored", got)
	}
	// A resend from the lowest unacknowledged entry after a reconnect: the
	// held ones are duplicates, the new one stored.
	resend := append(slices.Clone(batch[3:]), story(t, d, 9, 1)...)
	if got := mustPush(t, log, d, resend); got.AckedSeq != 9 || got.Stored != 1 || got.Duplicates != 5 {
		t.Fatalf("resend = %+v, want acked 9, 1 stored, 5 duplicates", got)
	}
	if acked, err := log.Resume(ctx, d.ID, hub.Hello{At: time.Now()}); err != nil || acked != 9 {
		t.Fatalf("Resume = %d, %v; want 9", acked, err)
	}
	got := readAll(t, log, wire.BranchScope("north"))
	if len(got) != 9 {
		t.Fatalf("scope holds %d events, want 9", len(got))
	}
	for i, e := range got[:8] {
		want, _ := json.Marshal(batch[i].Event)
		have, _ := json.Marshal(e.Event)
		if string(want) != string(have) {
			t.Fatalf("event %d read back as %s, pushed %s", i, have, want)
		}
	}
}

func testGap(t *testing.T, h LogHarness) {
	log := h.Open(t)
	d := h.Enrol(t, log, "north")
	mustPush(t, log, d, story(t, d, 1, 2))
	_, err := log.Push(context.Background(), d.ID, story(t, d, 4, 2))
	if !errors.Is(err, hub.ErrGap) {
		t.Fatalf("push after a gap = %v, want hub.ErrGap", err)
	}
	if n := len(readAll(t, log, wire.BranchScope("north"))); n != 2 {
		t.Fatalf("%d events after a refused push, want 2", n)
	}
	if acked, err := log.Resume(context.Background(), d.ID, hub.Hello{At: time.Now()}); err != nil || acked != 2 {
		t.Fatalf("Resume = %d, %v; want 2", acked, err)
	}
}

func testRejections(t *testing.T, h LogHarness) {
	log := h.Open(t)
	north, south := h.Enrol(t, log, "north"), h.Enrol(t, log, "south")
	mustPush(t, log, south, story(t, south, 1, 1))
	batch := story(t, north, 1, 4)
	lying := noteBy(north, batch[0].Event.ComplaintID)
	lying.Branch = "south" // outside the device's scope
	batch[2].Event = lying
	got := mustPush(t, log, north, batch)
	if got.AckedSeq != 4 || got.Stored != 3 || len(got.Rejected) != 1 {
		t.Fatalf("push = %+v, want acked 4, 3 stored, 1 rejected", got)
	}
	r := got.Rejected[0]
	if r.Seq != 3 || r.EventID != lying.ID || r.Code != wire.CloseForbiddenEvent || r.Reason == "" || len(r.Reason) > wire.MaxReasonBytes {
		t.Fatalf("rejection = %+v, want seq 3, forbidden, with a reason", r)
	}
	// The resend gets the same answers and stores nothing.
	again := mustPush(t, log, north, batch)
	if again.Stored != 0 || again.Duplicates != 3 || !slices.Equal(again.Rejected, got.Rejected) {
		t.Fatalf("resend = %+v, want 3 duplicates and the same rejection %+v", again, got.Rejected)
	}
	// Another event at the rejected seq conflicts; so does an id stored
	// under another seq.
	other := []wire.DeviceEvent{{Seq: 3, Event: noteBy(north, batch[0].Event.ComplaintID)}}
	if res := mustPush(t, log, north, other); len(res.Rejected) != 1 || res.Rejected[0].Code != wire.CloseConflict {
		t.Fatalf("another event at a rejected seq = %+v, want a conflict", res)
	}
	moved := []wire.DeviceEvent{{Seq: 5, Event: batch[0].Event}}
	if res := mustPush(t, log, north, moved); len(res.Rejected) != 1 || res.Rejected[0].Code != wire.CloseConflict || res.AckedSeq != 5 {
		t.Fatalf("a stored event under a new seq = %+v, want a conflict, acked 5", res)
	}
	for _, e := range readAll(t, log, wire.BranchScope("south")) {
		if e.Event.ID == lying.ID {
			t.Fatal("the rejected event reached branch south's scope")
		}
	}
}

func testScopes(t *testing.T, h LogHarness) {
	log := h.Open(t)
	north, south := h.Enrol(t, log, "north"), h.Enrol(t, log, "south")
	n1, s1 := story(t, north, 1, 3), story(t, south, 1, 2)
	mustPush(t, log, north, n1)
	mustPush(t, log, south, s1)
	mustPush(t, log, north, story(t, north, 4, 2))
	for scope, want := range map[string]int{wire.BranchScope("north"): 5, wire.BranchScope("south"): 2, wire.BranchScope("east"): 0} {
		got := readAll(t, log, scope)
		if len(got) != want {
			t.Errorf("scope %s holds %d events, want %d", scope, len(got), want)
		}
		for _, e := range got {
			if wire.BranchScope(e.Event.Branch) != scope {
				t.Errorf("scope %s returned an event of branch %s", scope, e.Event.Branch)
			}
		}
	}
	// An empty or unknown scope is an error, never "everything".
	for _, scope := range []string{"", "north", "branch:", "nosuchkind:north"} {
		if _, err := log.EventsAfter(context.Background(), scope, 0, 10); err == nil {
			t.Errorf("EventsAfter(%q) = nil error, want a refusal", scope)
		}
	}
}

// testConcurrentPaging pushes from several devices at once while a reader
// pages with its cursor: it must see every event exactly once, in global
// order, which holds only if sequences are given in commit order.
func testConcurrentPaging(t *testing.T, h LogHarness) {
	log := h.Open(t)
	const devices, pushes, perPush = 4, 8, 25
	devs := make([]LogDevice, devices)
	for i := range devs {
		devs[i] = h.Enrol(t, log, "north")
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		sent = map[string]bool{}
		errs = make(chan error, devices)
	)
	for _, d := range devs {
		batches := make([][]wire.DeviceEvent, pushes)
		for i := range batches {
			batches[i] = story(t, d, int64(i*perPush+1), perPush)
		}
		wg.Go(func() {
			for _, b := range batches {
				if _, err := log.Push(context.Background(), d.ID, b); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, de := range b {
					sent[de.Event.ID] = true
				}
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[string]bool{}
	var after int64
	scope := wire.BranchScope("north")
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		page, err := log.EventsAfter(context.Background(), scope, after, 13)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if e.Seq <= after || seen[e.Event.ID] {
				t.Fatalf("event %s (seq %d) seen twice or out of order after %d", e.Event.ID, e.Seq, after)
			}
			seen[e.Event.ID], after = true, e.Seq
		}
		if finished && len(page) == 0 {
			break
		}
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if len(seen) != devices*pushes*perPush || len(sent) != len(seen) {
		t.Fatalf("saw %d events, sent %d, want %d", len(seen), len(sent), devices*pushes*perPush)
	}
	for id := range sent {
		if !seen[id] {
			t.Fatalf("event %s sent but never seen by the cursor", id)
		}
	}
}

func testRevoked(t *testing.T, h LogHarness) {
	log := h.Open(t)
	ctx := context.Background()
	d, live := h.Enrol(t, log, "north"), h.Enrol(t, log, "north")
	mustPush(t, log, d, story(t, d, 1, 2))
	before := time.Now().Add(-time.Second)
	h.Revoke(t, log, d.ID)
	if _, err := log.Push(ctx, d.ID, story(t, d, 3, 1)); !errors.Is(err, hub.ErrDeviceRevoked) {
		t.Errorf("push from a revoked device = %v, want hub.ErrDeviceRevoked", err)
	}
	if _, err := log.Resume(ctx, d.ID, hub.Hello{At: time.Now()}); !errors.Is(err, hub.ErrDeviceRevoked) {
		t.Errorf("Resume of a revoked device = %v, want hub.ErrDeviceRevoked", err)
	}
	for _, id := range []string{"no-such-device", ""} {
		if _, err := log.Resume(ctx, id, hub.Hello{At: time.Now()}); !errors.Is(err, hub.ErrDeviceRevoked) {
			t.Errorf("Resume(%q) = %v, want hub.ErrDeviceRevoked", id, err)
		}
		if _, err := log.Push(ctx, id, story(t, d, 1, 1)); !errors.Is(err, hub.ErrDeviceRevoked) {
			t.Errorf("Push(%q) = %v, want hub.ErrDeviceRevoked", id, err)
		}
	}
	revoked, err := log.RevokedSince(ctx, before)
	if err != nil || !slices.Contains(revoked, d.ID) || slices.Contains(revoked, live.ID) {
		t.Errorf("RevokedSince = %v, %v; want %s and not %s", revoked, err, d.ID, live.ID)
	}
	if later, err := log.RevokedSince(ctx, time.Now().Add(time.Hour)); err != nil || len(later) != 0 {
		t.Errorf("RevokedSince(the future) = %v, %v; want none", later, err)
	}
	if n := len(readAll(t, log, wire.BranchScope("north"))); n != 2 {
		t.Errorf("%d events after the revoked push, want 2", n)
	}
}

// testFeed: the feed tells a subscriber each scope a commit stored into,
// after the commit (the events are readable), and nothing for a push that
// stored nothing; a cancelled subscription hears nothing more.
func testFeed(t *testing.T, h LogHarness) {
	log := h.Open(t)
	north, south := h.Enrol(t, log, "north"), h.Enrol(t, log, "south")
	var (
		mu    sync.Mutex
		heard []string
	)
	cancel := log.OnCommit(func(scopes []string) {
		for _, s := range scopes {
			page, err := log.EventsAfter(context.Background(), s, 0, 1000)
			mu.Lock()
			heard = append(heard, fmt.Sprintf("%s:%d:%v", s, len(page), err))
			mu.Unlock()
		}
	})
	n := story(t, north, 1, 2)
	mustPush(t, log, north, n)
	mustPush(t, log, south, story(t, south, 1, 1))
	mustPush(t, log, north, n) // duplicates only
	cancel()
	mustPush(t, log, north, story(t, north, 3, 1))
	mu.Lock()
	defer mu.Unlock()
	want := []string{"branch:north:2:<nil>", "branch:south:1:<nil>"}
	if !slices.Equal(heard, want) {
		t.Fatalf("feed = %v, want %v", heard, want)
	}
}
