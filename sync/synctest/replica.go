package synctest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"ombud/shared/event"
	"ombud/shared/uid"
	"ombud/sync/client"
)

// TestReplica checks that the devices open opens keep client.Replica's
// promises (docs/SYNC.md section 7): a batch and its scope's cursor are
// stored in one commit or not at all, a batch that does not start at the
// cursor writes nothing, events are stored once however often they
// arrive, a crash resumes exactly from the last commit, and all of it
// under concurrent use with the outbox.
func TestReplica(t *testing.T, open DeviceOpener) {
	t.Run("Empty", func(t *testing.T) { testReplicaEmpty(t, open) })
	t.Run("ApplyMovesTheCursor", func(t *testing.T) { testReplicaApply(t, open) })
	t.Run("WrongFromWritesNothing", func(t *testing.T) { testReplicaWrongFrom(t, open) })
	t.Run("ReapplyIsIdempotent", func(t *testing.T) { testReplicaReapply(t, open) })
	t.Run("OwnEventsComeBack", func(t *testing.T) { testReplicaOwnEvents(t, open) })
	t.Run("ScopesAreApart", func(t *testing.T) { testReplicaScopes(t, open) })
	t.Run("CrashResumesFromTheLastCommit", func(t *testing.T) { testReplicaCrash(t, open) })
	t.Run("Concurrent", func(t *testing.T) { testReplicaConcurrent(t, open) })
}

// remoteCase is a complaint filed at another device with n notes after
// its Filed event: how a branch's cases arrive downstream.
func remoteCase(tb testing.TB, notes int) []event.Event {
	tb.Helper()
	filed := devFiled(tb, uid.New())
	evs := []event.Event{filed}
	for range notes {
		evs = append(evs, devNote(tb, filed.ComplaintID, "called the customer back"))
	}
	return evs
}

func mustApplyRemote(tb testing.TB, d Device, scope string, from, next int64, events []event.Event) {
	tb.Helper()
	if err := d.Store.ApplyRemote(context.Background(), scope, from, next, events); err != nil {
		tb.Fatalf("apply %s (%d, %d]: %v", scope, from, next, err)
	}
}

// wantMismatch checks err is the cursor mismatch of scope at stored, for a
// batch from from.
func wantMismatch(tb testing.TB, err error, scope string, stored, from int64) {
	tb.Helper()
	if !errors.Is(err, client.ErrCursorMismatch) {
		tb.Fatalf("batch of %s from %d with the cursor at %d: got %v, want ErrCursorMismatch", scope, from, stored, err)
	}
	var ce *client.CursorError
	if !errors.As(err, &ce) || ce.Scope != scope || ce.Stored != stored || ce.From != from {
		tb.Errorf("cursor error: got %+v, want scope %q stored %d from %d", ce, scope, stored, from)
	}
}

func testReplicaEmpty(t *testing.T, open DeviceOpener) {
	d, _ := openDevice(t, open)
	wantCursors(t, d, nil)
}

func testReplicaApply(t *testing.T, open DeviceOpener) {
	d, _ := openDevice(t, open)
	a, b := remoteCase(t, 2), remoteCase(t, 0)
	mustApplyRemote(t, d, deviceScope, 0, 7, append(append([]event.Event(nil), a...), b...))
	wantCursors(t, d, map[string]int64{deviceScope: 7})
	wantHeld(t, d, a[0].ComplaintID, a...)
	wantHeld(t, d, b[0].ComplaintID, b...)
	// An empty batch only moves the cursor: the server looked further and
	// found nothing for this scope.
	mustApplyRemote(t, d, deviceScope, 7, 9, nil)
	wantCursors(t, d, map[string]int64{deviceScope: 9})
	// A later event of a case already held.
	later := devNote(t, a[0].ComplaintID, "refunded")
	mustApplyRemote(t, d, deviceScope, 9, 12, []event.Event{later})
	wantCursors(t, d, map[string]int64{deviceScope: 12})
	wantHeld(t, d, a[0].ComplaintID, append(a, later)...)
}

func testReplicaWrongFrom(t *testing.T, open DeviceOpener) {
	ctx := context.Background()
	d, _ := openDevice(t, open)
	first, second := remoteCase(t, 1), remoteCase(t, 1)

	// A new scope's cursor is 0.
	wantMismatch(t, d.Store.ApplyRemote(ctx, deviceScope, 5, 10, first), deviceScope, 0, 5)
	wantCursors(t, d, nil)
	wantHeld(t, d, first[0].ComplaintID)

	mustApplyRemote(t, d, deviceScope, 0, 3, first)
	for _, from := range []int64{1, 5} { // a replayed batch, and one after a lost batch
		wantMismatch(t, d.Store.ApplyRemote(ctx, deviceScope, from, 8, second), deviceScope, 3, from)
		wantCursors(t, d, map[string]int64{deviceScope: 3})
		wantHeld(t, d, second[0].ComplaintID)
	}
	wantHeld(t, d, first[0].ComplaintID, first...)
	mustApplyRemote(t, d, deviceScope, 3, 8, second)
	wantCursors(t, d, map[string]int64{deviceScope: 8})
	wantHeld(t, d, second[0].ComplaintID, second...)
}

// testReplicaReapply: a batch replayed after a lost events_ack, or events
// sent again in a later batch, are stored once; only the cursor moves.
func testReplicaReapply(t *testing.T, open DeviceOpener) {
	d, _ := openDevice(t, open)
	evs := remoteCase(t, 2)
	mustApplyRemote(t, d, deviceScope, 0, 3, evs)
	mustApplyRemote(t, d, deviceScope, 3, 6, evs)
	mustApplyRemote(t, d, deviceScope, 6, 8, evs[1:])
	wantCursors(t, d, map[string]int64{deviceScope: 8})
	wantHeld(t, d, evs[0].ComplaintID, evs...)
}

// testReplicaOwnEvents: a staff terminal's own events come back through its
// branch scope. They are stored once and stay in the outbox until the
// server acknowledges them.
func testReplicaOwnEvents(t *testing.T, open DeviceOpener) {
	d, _ := openDevice(t, open)
	own := mustEnqueue(t, d, 2)
	other := remoteCase(t, 0)
	mustApplyRemote(t, d, deviceScope, 0, 4, []event.Event{own[0], other[0], own[1]})
	wantOutbox(t, d, own, 1, 2)
	if got := mustHighestSeq(t, d); got != 2 {
		t.Errorf("highest seq: got %d, want 2", got)
	}
	for _, e := range own {
		wantHeld(t, d, e.ComplaintID, e)
	}
	wantHeld(t, d, other[0].ComplaintID, other...)
}

func testReplicaScopes(t *testing.T, open DeviceOpener) {
	ctx := context.Background()
	d, _ := openDevice(t, open)
	const team = "team:billing"
	mustApplyRemote(t, d, deviceScope, 0, 3, remoteCase(t, 0))
	mustApplyRemote(t, d, team, 0, 5, remoteCase(t, 1))
	wantCursors(t, d, map[string]int64{deviceScope: 3, team: 5})
	wantMismatch(t, d.Store.ApplyRemote(ctx, team, 3, 9, nil), team, 5, 3)
	mustApplyRemote(t, d, deviceScope, 3, 4, nil)
	wantCursors(t, d, map[string]int64{deviceScope: 4, team: 5})
}

// testReplicaCrash: a batch is stored with its cursor or not at all, and a
// reopened device (the first abandoned, as a killed process leaves it)
// resumes from exactly the last commit.
func testReplicaCrash(t *testing.T, open DeviceOpener) {
	ctx := context.Background()
	d, dir := openDevice(t, open)
	first, second := remoteCase(t, 1), remoteCase(t, 2)
	mustApplyRemote(t, d, deviceScope, 0, 3, first)

	// A batch cut off by a cancelled context (the connection went) is
	// either stored with its cursor or not at all: the client resends
	// from whatever cursor is stored.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	applied := d.Store.ApplyRemote(cancelled, deviceScope, 3, 8, second) == nil
	stored := int64(3)
	if applied {
		stored = 8
	}
	wantMismatch(t, d.Store.ApplyRemote(ctx, deviceScope, 1, 8, second), deviceScope, stored, 1)

	d = open(t, dir)
	if applied {
		wantCursors(t, d, map[string]int64{deviceScope: 8})
		wantHeld(t, d, second[0].ComplaintID, second...)
	} else {
		wantCursors(t, d, map[string]int64{deviceScope: 3})
		wantHeld(t, d, second[0].ComplaintID)
		mustApplyRemote(t, d, deviceScope, 3, 8, second) // the resend from the stored cursor
	}
	wantHeld(t, d, first[0].ComplaintID, first...)

	d = open(t, dir)
	wantCursors(t, d, map[string]int64{deviceScope: 8})
	wantHeld(t, d, second[0].ComplaintID, second...)
}

// testReplicaConcurrent applies a stream of batches, as the client's
// applier does, while filings append to the outbox and the pusher reads and
// acknowledges it: each side ends as if it had been alone.
func testReplicaConcurrent(t *testing.T, open DeviceOpener) {
	const batches, filings = 20, 20
	ctx := deviceDeadline(t)
	d, _ := openDevice(t, open)

	var wg sync.WaitGroup
	var remote [][]event.Event
	for range batches {
		remote = append(remote, remoteCase(t, 2))
	}
	wg.Go(func() {
		for i, evs := range remote {
			if err := d.Store.ApplyRemote(ctx, deviceScope, int64(i*3), int64(i*3+3), evs); err != nil {
				t.Errorf("apply batch %d: %v", i, err)
				return
			}
			if _, err := d.Store.Cursors(ctx); err != nil {
				t.Errorf("cursors: %v", err)
				return
			}
		}
	})
	// The filer tells the pusher of each filing, as filing calls Notify.
	filed := make(chan event.Event, filings)
	wg.Go(func() {
		defer close(filed)
		device := uid.New()
		for range filings {
			e, err := devFiledEvent(device)
			if err == nil {
				err = d.Enqueue(ctx, e)
			}
			if err != nil {
				t.Errorf("enqueue: %v", err)
				return
			}
			filed <- e
		}
	})
	var own []event.Event
	wg.Go(func() {
		var acked int64
		drain := func() bool {
			for {
				page, err := d.Store.OutboxAfter(ctx, acked, 3)
				if err != nil {
					t.Errorf("outbox after %d: %v", acked, err)
					return false
				}
				if len(page) == 0 {
					return true
				}
				acked = page[len(page)-1].Seq
				if err := d.Store.AckOutbox(ctx, acked); err != nil {
					t.Errorf("ack %d: %v", acked, err)
					return false
				}
			}
		}
		for e := range filed {
			own = append(own, e)
			if !drain() {
				return
			}
		}
	})
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("gave up after %v", deviceWait)
	}
	wantCursors(t, d, map[string]int64{deviceScope: batches * 3})
	for _, evs := range remote {
		wantHeld(t, d, evs[0].ComplaintID, evs...)
	}
	if len(own) != filings {
		t.Fatalf("filed %d, want %d", len(own), filings)
	}
	for _, e := range own {
		wantHeld(t, d, e.ComplaintID, e)
	}
	wantOutbox(t, d, nil)
	if got := mustHighestSeq(t, d); got != filings {
		t.Errorf("highest seq: got %d, want %d", got, filings)
	}
}
