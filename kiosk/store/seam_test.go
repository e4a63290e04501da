package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/shared/event"
	"ombud/shared/uid"
)

func TestOpenNeedsProjection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kiosk.db")
	if st, err := store.Open(context.Background(), path, nil, nil); err == nil {
		st.Close()
		t.Fatal("open without a projection: got nil error")
	}
}

// failing is the case projection with a switch that makes its transaction
// hooks fail, as a projection whose storage or code fails would.
type failing struct {
	*cases.Projection
	fail atomic.Bool
}

var errProjection = errors.New("projection failed")

func (f *failing) Logged(ctx context.Context, tx store.Tx, ids []string) error {
	if f.fail.Load() {
		return errProjection
	}
	return f.Projection.Logged(ctx, tx, ids)
}

func (f *failing) Unqueuing(ctx context.Context, tx store.Tx, first, last int64) error {
	if f.fail.Load() {
		return errProjection
	}
	return f.Projection.Unqueuing(ctx, tx, first, last)
}

// The projection runs inside the store's write transactions: when it fails,
// the write is not committed, so derived rows never lag the log or the
// outbox, and the store stays as it was.
func TestProjectionFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	p := &failing{Projection: cases.NewProjection(cases.Options{})}
	st, err := store.OpenWith(ctx, filepath.Join(t.TempDir(), "kiosk.db"), nil, p,
		store.Options{BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id := mustIdentity(t, st)
	var filed []event.Event
	for range 2 {
		c, e := newFiling(t, id, false)
		mustFile(t, st, c, e)
		filed = append(filed, e)
	}
	const scope = "branch:Main"
	_, remote := remoteFiling(t)
	if err := st.ApplyRemote(ctx, scope, 0, 1, []event.Event{remote}); err != nil {
		t.Fatal(err)
	}
	changes, cancel := st.Changes()
	defer cancel()

	p.fail.Store(true)
	c, e := newFiling(t, id, false)
	if err := st.File(ctx, c, e); !errors.Is(err, errProjection) {
		t.Errorf("file: got %v, want the projection's error", err)
	}
	_, later := remoteFiling(t)
	if err := st.ApplyRemote(ctx, scope, 1, 2, []event.Event{later}); !errors.Is(err, errProjection) {
		t.Errorf("apply: got %v, want the projection's error", err)
	}
	if err := st.AckOutbox(ctx, 1); !errors.Is(err, errProjection) {
		t.Errorf("ack: got %v, want the projection's error", err)
	}
	if err := st.Quarantine(ctx, 2, filed[1].ID, 4006, "invalid"); !errors.Is(err, errProjection) {
		t.Errorf("quarantine: got %v, want the projection's error", err)
	}
	note := event.Event{ID: uid.New(), ComplaintID: filed[0].ComplaintID, Type: event.NoteAdded,
		Actor: event.Actor{Kind: event.ActorStaff, ID: "ana"}, At: clock.Now(), Branch: "Main"}
	admitted := false
	err = st.Record(ctx, note, func(store.Tx) error { admitted = true; return nil })
	if !errors.Is(err, errProjection) || !admitted {
		t.Errorf("record: got %v (admitted %v), want the projection's error after admission", err, admitted)
	}
	noChange(t, changes)

	if n, err := st.Count(ctx); n != 3 || err != nil { // two filed here, one received
		t.Errorf("complaints: got %d, %v, want 3", n, err)
	}
	if got := outboxSeqs(t, st); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("outbox: got %v, want [1 2]", got)
	}
	if q, err := st.Quarantined(ctx); err != nil || len(q) != 0 {
		t.Errorf("quarantined: got %+v, %v, want none", q, err)
	}
	if got, err := st.Cursors(ctx); err != nil || got[scope] != 1 {
		t.Errorf("cursor: got %v, %v, want 1", got, err)
	}
	if evs, err := st.Events(ctx, later.ComplaintID); err != nil || len(evs) != 0 {
		t.Errorf("events of the batch not applied: got %d, %v, want none", len(evs), err)
	}
	if evs, err := st.Events(ctx, filed[0].ComplaintID); err != nil || len(evs) != 1 {
		t.Errorf("events of the case the note was not recorded on: got %d, %v, want its Filed event only", len(evs), err)
	}

	// Once the projection works again, so do the writes.
	p.fail.Store(false)
	mustFile(t, st, c, e)
	if err := st.AckOutbox(ctx, 1); err != nil {
		t.Fatal(err)
	}
}

// Record runs its admission inside the write transaction, and an admission
// refused writes nothing.
func TestRecordAdmits(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	c, filed := newFiling(t, mustIdentity(t, st), false)
	mustFile(t, st, c, filed)
	note := event.Event{ID: filed.ID, ComplaintID: c.ID, Type: event.NoteAdded,
		Actor: event.Actor{Kind: event.ActorStaff, ID: "ana"}, At: clock.Now(), Branch: "Main"}
	refused := errors.New("not now")
	var seen int
	err := st.Record(ctx, note, func(tx store.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE complaint_id = ?`, c.ID).Scan(&seen)
	})
	if err == nil || errors.Is(err, store.ErrUnavailable) || seen != 1 {
		t.Errorf("an event id already in the log: got %v (saw %d events), want a plain refusal", err, seen)
	}
	note.ID = uid.New()
	if err := st.Record(ctx, note, func(store.Tx) error { return refused }); err != refused {
		t.Errorf("refused admission: got %v, want the refusal as it is", err)
	}
	assertEmpty(t, st, 1)
	if err := st.Record(ctx, note, func(store.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := outboxSeqs(t, st); len(got) != 2 {
		t.Errorf("outbox after a recorded event: got %v, want 2 entries", got)
	}
	if evs, err := st.Events(ctx, c.ID); err != nil || len(evs) != 2 {
		t.Errorf("events: got %d, %v, want 2", len(evs), err)
	}
}

func noChange(tb testing.TB, ch <-chan struct{}) {
	tb.Helper()
	select {
	case <-ch:
		tb.Fatal("a change was signalled")
	default:
	}
}
