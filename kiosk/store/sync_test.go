package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"ombud/kiosk/store"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/client"
)

// remoteFiling makes a complaint filed at another device of the branch, as
// it arrives downstream.
func remoteFiling(tb testing.TB) (complaint.Complaint, event.Event) {
	tb.Helper()
	other := store.Identity{DeviceID: uid.New(), Prefix: "R7Q"}
	return newFiling(tb, other, true)
}

func mustHighestSeq(tb testing.TB, st *store.Store) int64 {
	tb.Helper()
	seq, err := st.HighestSeq(context.Background())
	if err != nil {
		tb.Fatalf("highest seq: %v", err)
	}
	return seq
}

func outboxSeqs(tb testing.TB, st *store.Store) []int64 {
	tb.Helper()
	out, err := st.OutboxAfter(context.Background(), 0, 1000)
	if err != nil {
		tb.Fatal(err)
	}
	var seqs []int64
	for _, o := range out {
		seqs = append(seqs, o.Seq)
	}
	return seqs
}

func TestHighestSeqSurvivesAckAndReopen(t *testing.T) {
	ctx := context.Background()
	st, path := MustOpen(t)
	if got := mustHighestSeq(t, st); got != 0 {
		t.Errorf("fresh store: got %d, want 0", got)
	}
	id := mustIdentity(t, st)
	var filed []event.Event
	for range 3 {
		c, e := newFiling(t, id, false)
		mustFile(t, st, c, e)
		filed = append(filed, e)
	}
	if got := mustHighestSeq(t, st); got != 3 {
		t.Errorf("after 3 filings: got %d, want 3", got)
	}
	if err := st.AckOutbox(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if got, want := outboxSeqs(t, st), []int64{3}; !reflect.DeepEqual(got, want) {
		t.Errorf("outbox after ack 2: got %v, want %v", got, want)
	}
	if err := st.AckOutbox(ctx, 10); err != nil { // past the end: harmless
		t.Fatal(err)
	}
	if n, err := st.OutboxCount(ctx); n != 0 || err != nil {
		t.Errorf("outbox count after ack: got %d, %v, want 0", n, err)
	}
	// Events are the audit trail: acknowledging never removes them.
	for _, e := range filed {
		if evs, err := st.Events(ctx, e.ComplaintID); err != nil || len(evs) != 1 {
			t.Errorf("events of %s after ack: got %d, %v, want 1", e.ComplaintID, len(evs), err)
		}
	}
	if got := mustHighestSeq(t, st); got != 3 {
		t.Errorf("after ack: got %d, want 3 (never goes back)", got)
	}
	st.Close()

	st = MustOpenPath(t, path)
	if got := mustHighestSeq(t, st); got != 3 {
		t.Errorf("after reopen: got %d, want 3", got)
	}
	c, e := newFiling(t, id, false)
	mustFile(t, st, c, e)
	if got, want := outboxSeqs(t, st), []int64{4}; !reflect.DeepEqual(got, want) {
		t.Errorf("next filing: got seqs %v, want %v (numbers never reused)", got, want)
	}
}

func TestQuarantine(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	id := mustIdentity(t, st)
	var filed []event.Event
	for range 3 {
		c, e := newFiling(t, id, false)
		mustFile(t, st, c, e)
		filed = append(filed, e)
	}
	if q, err := st.Quarantined(ctx); err != nil || len(q) != 0 {
		t.Fatalf("fresh quarantine: got %v, %v, want empty", q, err)
	}
	if err := st.Quarantine(ctx, 2, filed[1].ID, 4003, "branch outside the device's scope"); err != nil {
		t.Fatal(err)
	}
	if got, want := outboxSeqs(t, st), []int64{1, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("outbox: got %v, want %v", got, want)
	}
	// A resent push gets the same rejection: quarantining again is harmless.
	if err := st.Quarantine(ctx, 2, filed[1].ID, 4003, "again"); err != nil {
		t.Errorf("quarantine again: %v", err)
	}
	if err := st.Quarantine(ctx, 99, "0190d7e4-7c1a-7b2e-8d3f-1234567890ab", 4006, "never assigned"); !errors.Is(err, client.ErrNotInOutbox) {
		t.Errorf("unknown seq: got %v, want ErrNotInOutbox", err)
	}
	if err := st.AckOutbox(ctx, 3); err != nil {
		t.Fatal(err)
	}
	// A rejection that arrives after an acknowledgement overtook it is
	// still recorded, against the event, which the log keeps.
	if err := st.Quarantine(ctx, 1, filed[0].ID, 4004, "acked already"); err != nil {
		t.Errorf("rejection after its ack: %v", err)
	}
	q, err := st.Quarantined(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 2 || q[0].Seq != 1 || q[0].Event.ID != filed[0].ID || q[0].Code != 4004 {
		t.Fatalf("quarantined: got %+v, want the late rejection of seq 1 and seq 2", q)
	}
	got := q[1]
	if got.Seq != 2 || got.Code != 4003 || got.Reason != "branch outside the device's scope" ||
		!reflect.DeepEqual(got.Event, filed[1]) || time.Since(got.At) > time.Minute {
		t.Errorf("quarantined: got %+v, want seq 2, code 4003, event %s", got, filed[1].ID)
	}
	// The event itself stays in the log.
	if evs, err := st.Events(ctx, filed[1].ComplaintID); err != nil || len(evs) != 1 {
		t.Errorf("events of the quarantined complaint: got %d, %v, want 1", len(evs), err)
	}
}

func TestApplyRemote(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	id := mustIdentity(t, st)
	const scope = "branch:Main"

	own, ownEvent := newFiling(t, id, false)
	mustFile(t, st, own, ownEvent)
	remote, remoteEvent := remoteFiling(t)
	note := event.Event{ID: uid.New(), ComplaintID: remote.ID, Type: event.NoteAdded,
		Actor: event.Actor{Kind: event.ActorStaff, ID: "s1"}, At: clock.Now(), Branch: "Main",
		Data: json.RawMessage(`{"text":"called back"}`)}

	if err := st.ApplyRemote(ctx, scope, 5, 10, nil); !errors.Is(err, client.ErrCursorMismatch) {
		t.Fatalf("from 5 on a new scope: got %v, want ErrCursorMismatch", err)
	} else if ce := (*client.CursorError)(nil); !errors.As(err, &ce) || ce.Stored != 0 || ce.From != 5 || ce.Scope != scope {
		t.Errorf("cursor error: got %+v, want scope %q stored 0 from 5", ce, scope)
	}

	// Our own event comes back through the branch scope, next to the others.
	if err := st.ApplyRemote(ctx, scope, 0, 7, []event.Event{ownEvent, remoteEvent, note}); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Complaint(ctx, remote.ID); err != nil || !reflect.DeepEqual(got, remote) {
		t.Errorf("remote complaint: got %+v, %v, want %+v", got, err, remote)
	}
	if got, err := st.Complaint(ctx, own.ID); err != nil || !reflect.DeepEqual(got, own) {
		t.Errorf("own complaint: got %+v, %v, want unchanged %+v", got, err, own)
	}
	evs, err := st.Events(ctx, remote.ID)
	if err != nil || !reflect.DeepEqual(evs, []event.Event{remoteEvent, note}) {
		t.Errorf("remote events: got %+v, %v, want filed and note", evs, err)
	}

	// The same events again (a replay after a lost ack) change nothing but
	// the cursor; an empty batch only advances it.
	if err := st.ApplyRemote(ctx, scope, 7, 9, []event.Event{remoteEvent, note}); err != nil {
		t.Fatal(err)
	}
	if err := st.ApplyRemote(ctx, scope, 9, 12, nil); err != nil {
		t.Fatal(err)
	}
	if evs, _ := st.Events(ctx, remote.ID); len(evs) != 2 {
		t.Errorf("remote events after replay: got %d, want 2", len(evs))
	}
	if n, _ := st.Count(ctx); n != 2 {
		t.Errorf("complaints: got %d, want 2", n)
	}
	if err := st.ApplyRemote(ctx, scope, 7, 15, nil); !errors.Is(err, client.ErrCursorMismatch) {
		t.Errorf("stale from: got %v, want ErrCursorMismatch", err)
	}
	if err := st.ApplyRemote(ctx, "team:billing", 0, 3, nil); err != nil {
		t.Fatal(err)
	}
	got, err := st.Cursors(ctx)
	if want := map[string]int64{scope: 12, "team:billing": 3}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("cursors: got %v, %v, want %v", got, err, want)
	}
}

// A complaint whose tracking code another complaint holds keeps its event
// (the audit trail) but gets no row, and the batch still applies: refusing it
// would stop the scope for good.
func TestApplyRemoteCodeClash(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	first, firstEvent := remoteFiling(t)
	second, _ := remoteFiling(t)
	second.Code = first.Code
	secondEvent, err := event.NewFiled(second, firstEvent.Actor, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.ApplyRemote(ctx, "branch:Main", 0, 2, []event.Event{firstEvent, secondEvent}); err != nil {
		t.Fatal(err)
	}
	if c, err := st.ByCode(ctx, trackcode.Code(first.Code)); err != nil || c.ID != first.ID {
		t.Errorf("by code: got %s, %v, want the first complaint %s", c.ID, err, first.ID)
	}
	if _, err := st.Complaint(ctx, second.ID); !errors.Is(err, complaint.ErrNotFound) {
		t.Errorf("clashing complaint: got %v, want ErrNotFound", err)
	}
	if evs, err := st.Events(ctx, second.ID); err != nil || len(evs) != 1 {
		t.Errorf("clashing complaint's event: got %d, %v, want kept", len(evs), err)
	}
}

// Crash-resume: a batch is stored with its cursor or not at all, also across
// a close and reopen.
func TestApplyRemoteAllOrNothing(t *testing.T) {
	ctx := context.Background()
	st, path := MustOpen(t)
	const scope = "branch:Main"
	good, goodEvent := remoteFiling(t)
	if err := st.ApplyRemote(ctx, scope, 0, 3, []event.Event{goodEvent}); err != nil {
		t.Fatal(err)
	}

	// The second event fails the events table's CHECK after the first one
	// was inserted: the whole batch rolls back.
	later, laterEvent := remoteFiling(t)
	bad := event.Event{ID: uid.New(), ComplaintID: later.ID, Type: event.NoteAdded,
		Actor: event.Actor{Kind: event.ActorStaff}, At: clock.Now(), Branch: "Main",
		Data: json.RawMessage(`{not json`)}
	if err := st.ApplyRemote(ctx, scope, 3, 8, []event.Event{laterEvent, bad}); err == nil {
		t.Fatal("batch with invalid event data: got nil error")
	}
	// A cancelled context (the connection went) also writes nothing.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := st.ApplyRemote(cancelled, scope, 3, 8, []event.Event{laterEvent}); err == nil {
		t.Fatal("cancelled context: got nil error")
	}
	st.Close()

	st = MustOpenPath(t, path)
	if got, _ := st.Cursors(ctx); got[scope] != 3 {
		t.Errorf("cursor after failed batch and reopen: got %d, want 3", got[scope])
	}
	if _, err := st.Complaint(ctx, later.ID); !errors.Is(err, complaint.ErrNotFound) {
		t.Errorf("complaint of the failed batch: got %v, want ErrNotFound", err)
	}
	if evs, _ := st.Events(ctx, later.ID); len(evs) != 0 {
		t.Errorf("events of the failed batch: got %d, want 0", len(evs))
	}
	if got, err := st.Complaint(ctx, good.ID); err != nil || !reflect.DeepEqual(got, good) {
		t.Errorf("complaint of the applied batch: got %+v, %v", got, err)
	}
	// The resend from the stored cursor applies.
	if err := st.ApplyRemote(ctx, scope, 3, 8, []event.Event{laterEvent}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = MustOpenPath(t, path)
	if got, _ := st.Cursors(ctx); got[scope] != 8 {
		t.Errorf("cursor after resend and reopen: got %d, want 8", got[scope])
	}
	if _, err := st.Complaint(ctx, later.ID); err != nil {
		t.Errorf("complaint after resend and reopen: %v", err)
	}
}

func TestSyncStatus(t *testing.T) {
	ctx := context.Background()
	st, path := MustOpen(t)
	if got, err := st.LoadSyncStatus(ctx); err != nil || got != (client.SavedStatus{}) {
		t.Errorf("never saved: got %+v, %v, want zero", got, err)
	}
	want := client.SavedStatus{
		State: "gave up", LastSuccess: time.UnixMilli(1_700_000_000_123).UTC(),
		LastError: "revoked: ask staff to re-enrol this kiosk", CloseCode: 4002,
		UpdatedAt: time.UnixMilli(1_700_000_100_000).UTC(),
	}
	if err := st.SaveSyncStatus(ctx, want); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = MustOpenPath(t, path)
	if got, err := st.LoadSyncStatus(ctx); err != nil || got != want {
		t.Errorf("after reopen: got %+v, %v, want %+v", got, err, want)
	}
	// Clearing the error and the success time really clears them.
	if err := st.SaveSyncStatus(ctx, client.SavedStatus{State: "online"}); err != nil {
		t.Fatal(err)
	}
	got, err := st.LoadSyncStatus(ctx)
	if err != nil || got.State != "online" || got.LastError != "" || got.CloseCode != 0 ||
		!got.LastSuccess.IsZero() || time.Since(got.UpdatedAt) > time.Minute {
		t.Errorf("second save: got %+v, %v, want online, no error, UpdatedAt now", got, err)
	}
}
