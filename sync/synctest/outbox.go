package synctest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"ombud/shared/uid"
	"ombud/sync/client"
)

// TestOutbox checks that the devices open opens keep client.Outbox's
// promises (docs/SYNC.md section 6): sequences assigned 1, 2, 3... in
// order, read after any sequence, acknowledged exactly up to the ack,
// quarantined (also after an ack overtook the rejection), kept across a
// crash, and all of it under concurrent use.
func TestOutbox(t *testing.T, open DeviceOpener) {
	t.Run("Empty", func(t *testing.T) { testOutboxEmpty(t, open) })
	t.Run("ReadInOrderAfterASeq", func(t *testing.T) { testOutboxRead(t, open) })
	t.Run("AckForgetsOnlyUpToTheAck", func(t *testing.T) { testOutboxAck(t, open) })
	t.Run("Quarantine", func(t *testing.T) { testOutboxQuarantine(t, open) })
	t.Run("QuarantineAfterAck", func(t *testing.T) { testOutboxQuarantineAfterAck(t, open) })
	t.Run("QuarantinedInSeqOrder", func(t *testing.T) { testOutboxQuarantinedOrder(t, open) })
	t.Run("Reopen", func(t *testing.T) { testOutboxReopen(t, open) })
	t.Run("Concurrent", func(t *testing.T) { testOutboxConcurrent(t, open) })
}

func testOutboxEmpty(t *testing.T, open DeviceOpener) {
	d, _ := openDevice(t, open)
	if got := mustHighestSeq(t, d); got != 0 {
		t.Errorf("highest seq of a new device: got %d, want 0", got)
	}
	wantOutbox(t, d, nil)
	if q := mustQuarantined(t, d); len(q) != 0 {
		t.Errorf("quarantine of a new device: got %+v, want empty", q)
	}
}

func testOutboxRead(t *testing.T, open DeviceOpener) {
	ctx := context.Background()
	d, _ := openDevice(t, open)
	evs := mustEnqueue(t, d, 5)
	wantOutbox(t, d, evs, 1, 2, 3, 4, 5)
	if got := mustHighestSeq(t, d); got != 5 {
		t.Errorf("highest seq: got %d, want 5", got)
	}
	for _, tc := range []struct {
		after int64
		limit int
		want  []int64
	}{
		{0, 1, []int64{1}},
		{2, 2, []int64{3, 4}},
		{3, 10, []int64{4, 5}},
		{5, 10, []int64{}},
		{99, 10, []int64{}},
	} {
		got, err := d.Store.OutboxAfter(ctx, tc.after, tc.limit)
		if err != nil || !slices.Equal(outboxSeqs(got), tc.want) {
			t.Errorf("OutboxAfter(%d, %d): got seqs %v, %v, want %v", tc.after, tc.limit, outboxSeqs(got), err, tc.want)
			continue
		}
		for _, o := range got {
			if !reflect.DeepEqual(o.Event, evs[o.Seq-1]) {
				t.Errorf("OutboxAfter(%d, %d): seq %d holds event %s, want %s", tc.after, tc.limit, o.Seq, o.Event.ID, evs[o.Seq-1].ID)
			}
		}
	}
}

func testOutboxAck(t *testing.T, open DeviceOpener) {
	d, _ := openDevice(t, open)
	evs := mustEnqueue(t, d, 5)
	mustAckOutbox(t, d, 3)
	wantOutbox(t, d, evs, 4, 5)
	for _, upTo := range []int64{3, 1, 0} { // again, and below: harmless
		mustAckOutbox(t, d, upTo)
		wantOutbox(t, d, evs, 4, 5)
	}
	mustAckOutbox(t, d, 4)
	wantOutbox(t, d, evs, 5)
	mustAckOutbox(t, d, 99) // past the last entry: harmless
	wantOutbox(t, d, evs)
	if got := mustHighestSeq(t, d); got != 5 {
		t.Errorf("highest seq after every entry was acknowledged: got %d, want 5 (it never goes back)", got)
	}
	// The log is the audit trail: an acknowledgement never removes an event.
	for _, e := range evs {
		wantHeld(t, d, e.ComplaintID, e)
	}
	more := mustEnqueue(t, d, 1)
	wantOutbox(t, d, append(slices.Clone(evs), more...), 6)
}

func testOutboxQuarantine(t *testing.T, open DeviceOpener) {
	ctx := context.Background()
	d, _ := openDevice(t, open)
	evs := mustEnqueue(t, d, 3)
	const reason = "branch outside the device's scope"
	if err := d.Store.Quarantine(ctx, 2, evs[1].ID, 4003, reason); err != nil {
		t.Fatal(err)
	}
	wantOutbox(t, d, evs, 1, 3)
	// A hole in the outbox is a quarantined entry; reads skip it.
	if got, err := d.Store.OutboxAfter(ctx, 1, 10); err != nil || !slices.Equal(outboxSeqs(got), []int64{3}) {
		t.Errorf("OutboxAfter(1) past the hole: got %v, %v, want [3]", outboxSeqs(got), err)
	}
	q := mustQuarantined(t, d)
	if len(q) != 1 {
		t.Fatalf("quarantined: got %d entries, want 1", len(q))
	}
	if got := q[0]; got.Seq != 2 || got.Code != 4003 || got.Reason != reason ||
		!reflect.DeepEqual(got.Event, evs[1]) || time.Since(got.At) > time.Minute || time.Until(got.At) > time.Minute {
		t.Errorf("quarantined: got %+v, want seq 2, code 4003, %q, event %s, quarantined now", got, reason, evs[1].ID)
	}
	// A resent push gets the same rejection again: harmless.
	if err := d.Store.Quarantine(ctx, 2, evs[1].ID, 4003, reason); err != nil {
		t.Errorf("quarantine again: %v", err)
	}
	if q := mustQuarantined(t, d); len(q) != 1 || q[0].Seq != 2 {
		t.Errorf("quarantined after the same rejection again: got %+v, want seq 2 once", q)
	}
	wantOutbox(t, d, evs, 1, 3)
	// A sequence and event the device never had.
	if err := d.Store.Quarantine(ctx, 99, uid.New(), 4006, "never assigned"); !errors.Is(err, client.ErrNotInOutbox) {
		t.Errorf("quarantine an unknown seq and event: got %v, want ErrNotInOutbox", err)
	}
	wantOutbox(t, d, evs, 1, 3)
	if q := mustQuarantined(t, d); len(q) != 1 {
		t.Errorf("quarantined after a refused quarantine: got %d entries, want 1", len(q))
	}
	if got := mustHighestSeq(t, d); got != 3 {
		t.Errorf("highest seq: got %d, want 3", got)
	}
	wantHeld(t, d, evs[1].ComplaintID, evs[1]) // the event stays in the log
}

// testOutboxQuarantineAfterAck is docs/SYNC.md section 6: a proxy that
// reorders a push_reject behind the push_ack that passes it makes the
// device forget the entry first; the rejection must still be quarantined,
// by the event id it names.
func testOutboxQuarantineAfterAck(t *testing.T, open DeviceOpener) {
	ctx := context.Background()
	d, _ := openDevice(t, open)
	evs := mustEnqueue(t, d, 3)
	mustAckOutbox(t, d, 3)
	if err := d.Store.Quarantine(ctx, 1, evs[0].ID, 4004, "acked already"); err != nil {
		t.Fatalf("rejection after its ack: %v", err)
	}
	q := mustQuarantined(t, d)
	if len(q) != 1 || q[0].Seq != 1 || q[0].Code != 4004 || q[0].Reason != "acked already" ||
		!reflect.DeepEqual(q[0].Event, evs[0]) {
		t.Fatalf("quarantined: got %+v, want seq 1 with event %s", q, evs[0].ID)
	}
	if err := d.Store.Quarantine(ctx, 1, evs[0].ID, 4004, "acked already"); err != nil {
		t.Errorf("quarantine again: %v", err)
	}
	if q := mustQuarantined(t, d); len(q) != 1 {
		t.Errorf("quarantined after the same rejection again: got %d entries, want 1", len(q))
	}
	wantOutbox(t, d, evs)
	// Acknowledged, and its event unknown here: nothing to quarantine.
	if err := d.Store.Quarantine(ctx, 2, uid.New(), 4004, "not ours"); !errors.Is(err, client.ErrNotInOutbox) {
		t.Errorf("quarantine an acknowledged seq with an unknown event: got %v, want ErrNotInOutbox", err)
	}
	if q := mustQuarantined(t, d); len(q) != 1 {
		t.Errorf("quarantined after a refused quarantine: got %d entries, want 1", len(q))
	}
}

func testOutboxQuarantinedOrder(t *testing.T, open DeviceOpener) {
	ctx := context.Background()
	d, _ := openDevice(t, open)
	evs := mustEnqueue(t, d, 4)
	for _, seq := range []int64{3, 1} {
		if err := d.Store.Quarantine(ctx, seq, evs[seq-1].ID, 4006, fmt.Sprintf("invalid %d", seq)); err != nil {
			t.Fatal(err)
		}
	}
	q := mustQuarantined(t, d)
	var got []int64
	for _, e := range q {
		got = append(got, e.Seq)
		if e.Event.ID != evs[e.Seq-1].ID || e.Reason != fmt.Sprintf("invalid %d", e.Seq) {
			t.Errorf("quarantined seq %d: got event %s, %q", e.Seq, e.Event.ID, e.Reason)
		}
	}
	if !slices.Equal(got, []int64{1, 3}) {
		t.Errorf("quarantined seqs: got %v, want [1 3]", got)
	}
	wantOutbox(t, d, evs, 2, 4)
}

// testOutboxReopen: what was committed is there after a crash (the first
// device is abandoned, not closed), and sequences go on from the highest.
func testOutboxReopen(t *testing.T, open DeviceOpener) {
	ctx := context.Background()
	d, dir := openDevice(t, open)
	evs := mustEnqueue(t, d, 4)
	mustAckOutbox(t, d, 2)
	if err := d.Store.Quarantine(ctx, 3, evs[2].ID, 4003, "forbidden"); err != nil {
		t.Fatal(err)
	}
	d = open(t, dir)
	wantOutbox(t, d, evs, 4)
	if q := mustQuarantined(t, d); len(q) != 1 || q[0].Seq != 3 || q[0].Event.ID != evs[2].ID {
		t.Errorf("quarantined after reopen: got %+v, want seq 3", q)
	}
	if got := mustHighestSeq(t, d); got != 4 {
		t.Errorf("highest seq after reopen: got %d, want 4", got)
	}
	mustAckOutbox(t, d, 4)
	d = open(t, dir)
	if got := mustHighestSeq(t, d); got != 4 {
		t.Errorf("highest seq of an empty outbox after reopen: got %d, want 4 (it never goes back)", got)
	}
	more := mustEnqueue(t, d, 1)
	wantOutbox(t, d, append(slices.Clone(evs), more...), 5)
}

// testOutboxConcurrent files from several goroutines while another reads
// and acknowledges as the client does, from just after its last ack: every
// read must be contiguous from there (an entry never shows before the one
// below it), and every event is read once, with seqs 1..n.
func testOutboxConcurrent(t *testing.T, open DeviceOpener) {
	const filers, each = 4, 10
	const n = filers * each
	ctx := deviceDeadline(t)
	d, _ := openDevice(t, open)

	// Filers wake the reader after each filing, as filing calls Notify:
	// one slot, never blocking.
	wake := make(chan struct{}, 1)
	var mu sync.Mutex
	enqueued := map[string]bool{}
	var filing sync.WaitGroup
	for range filers {
		filing.Go(func() {
			device := uid.New()
			for range each {
				e, err := devFiledEvent(device)
				if err == nil {
					err = d.Enqueue(ctx, e)
				}
				if err != nil {
					t.Errorf("enqueue: %v", err)
					return
				}
				mu.Lock()
				enqueued[e.ID] = true
				mu.Unlock()
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		})
	}
	defer filing.Wait() // a failing test still outlives its filers
	filed := make(chan struct{})
	go func() { filing.Wait(); close(filed) }()

	var acked int64
	read := map[string]int64{}
	// drain reads and acknowledges until the outbox is empty, and checks
	// every page is contiguous from just after the last ack.
	drain := func() {
		t.Helper()
		for {
			page, err := d.Store.OutboxAfter(ctx, acked, 7)
			if err != nil {
				t.Fatalf("outbox after %d: %v", acked, err)
			}
			if len(page) == 0 {
				return
			}
			for i, o := range page {
				if o.Seq != acked+int64(i)+1 {
					t.Fatalf("outbox after %d: got seqs %v, want contiguous from %d", acked, outboxSeqs(page), acked+1)
				}
				if seq, dup := read[o.Event.ID]; dup {
					t.Fatalf("event %s read at seq %d and %d", o.Event.ID, seq, o.Seq)
				}
				read[o.Event.ID] = o.Seq
			}
			acked = page[len(page)-1].Seq
			if err := d.Store.AckOutbox(ctx, acked); err != nil {
				t.Fatalf("ack %d: %v", acked, err)
			}
			if _, err := d.Store.OutboxCount(ctx); err != nil {
				t.Fatalf("count: %v", err)
			}
		}
	}
	for done := false; !done; {
		select {
		case <-wake:
		case <-filed:
			done = true // one more drain reads what the last filings left
		case <-ctx.Done():
			t.Fatalf("gave up after %v: read %d of %d events", deviceWait, len(read), n)
		}
		drain()
		if err := d.Store.SaveSyncStatus(ctx, client.SavedStatus{State: client.Online.String(), LastSuccess: time.Now()}); err != nil {
			t.Fatalf("save status: %v", err)
		}
	}
	if len(read) != n || acked != n {
		t.Errorf("read %d events up to seq %d, want %d up to %d", len(read), acked, n, n)
	}
	for id := range enqueued {
		if _, ok := read[id]; !ok {
			t.Errorf("event %s enqueued but never read from the outbox", id)
		}
	}
	if got := mustHighestSeq(t, d); got != n {
		t.Errorf("highest seq: got %d, want %d", got, n)
	}
	wantOutbox(t, d, nil)
}
