package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"ombud/server/storage"
	"ombud/shared/event"
	"ombud/shared/uid"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

func mustPush(tb testing.TB, s storage.Store, d storage.Device, batch []wire.DeviceEvent) hub.PushResult {
	tb.Helper()
	res, err := s.Push(context.Background(), d.ID, batch)
	if err != nil {
		tb.Fatalf("push %d events from %s: %v", len(batch), d.ID, err)
	}
	return res
}

func testPushIsIdempotent(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	d := MustDevice(t, s, "A")
	batch := BatchOf(t, d, SeqRange(1, 8)...)
	if got := mustPush(t, s, d, batch); got.AckedSeq != 8 || got.Stored != 8 || got.Duplicates != 0 || len(got.Rejected) != 0 {
		t.Fatalf("first push = %+v, want acked 8, stored 8", got)
	}
	before := MustStats(t, s)
	if got := mustPush(t, s, d, batch[2:]); got.AckedSeq != 8 || got.Stored != 0 || got.Duplicates != 6 {
		t.Fatalf("resend = %+v, want acked 8, 6 duplicates", got)
	}
	if after := MustStats(t, s); after != before {
		t.Fatalf("stats after resend = %+v, want %+v", after, before)
	}
	if dev, _ := s.Device(context.Background(), d.ID); dev.AckedSeq != 8 {
		t.Fatalf("device acked = %d, want 8", dev.AckedSeq)
	}

	// The same ids at the same seqs with other content: the device's
	// outbox changed since it sent them. Refused with their own code, not
	// acknowledged as duplicates, and the stored events stay as they were.
	altered := slices.Clone(batch[3:5])
	altered[0].Event.At++
	altered[1].Event.Data = []byte(`{"id":"someone else's"}`)
	got := mustPush(t, s, d, altered)
	if got.AckedSeq != 8 || got.Stored != 0 || got.Duplicates != 0 || len(got.Rejected) != 2 {
		t.Fatalf("altered resend = %+v, want 2 rejections", got)
	}
	for _, r := range got.Rejected {
		if r.Code != wire.CloseAltered {
			t.Errorf("altered resend: seq %d refused with %v, want %v", r.Seq, r.Code, wire.CloseAltered)
		}
	}
	if after := MustStats(t, s); after != before {
		t.Fatalf("stats after altered resend = %+v, want %+v", after, before)
	}
	for _, want := range batch[3:5] {
		evs, err := s.ComplaintEvents(context.Background(), want.Event.ComplaintID)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(evs, func(se storage.StoredEvent) bool { return se.Event.ID == want.Event.ID })
		if i < 0 || evs[i].Event.At != want.Event.At || string(evs[i].Event.Data) != string(want.Event.Data) {
			t.Errorf("after the altered resend, event %s is not the one first stored", want.Event.ID)
		}
	}
}

// testPushRejectsPerEvent: every rule of docs/SYNC.md section 6 rejects only
// its own event, the rest of the push is stored, the ack passes the rejected
// seqs, and a resend gets the same answers without storing anything.
func testPushRejectsPerEvent(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	a, b := MustDevice(t, s, "A"), MustDevice(t, s, "B")
	aFiled := BatchOf(t, a, 1)
	mustPush(t, s, a, aFiled)
	bFiled := BatchOf(t, b, 1)
	mustPush(t, s, b, bFiled)
	bComplaint := bFiled[0].Event.ComplaintID

	lyingBranch := NoteEvent(a, bComplaint) // says branch A, names B's complaint
	honestOther := NoteEvent(b, bComplaint) // says branch B
	reusedCode := FiledEvent(t, a)
	{
		c, _ := reusedCode.Complaint()
		old, _ := aFiled[0].Event.Complaint()
		c.Code = old.Code
		reusedCode, _ = event.NewFiled(c, reusedCode.Actor, reusedCode.At)
	}
	badData := FiledEvent(t, a)
	badData.Data = []byte(`{"id":1}`)
	otherBranchFiled := FiledEvent(t, b) // a Filed event for branch B pushed by A
	good := func() event.Event { return NoteEvent(a, aFiled[0].Event.ComplaintID) }

	batch := []wire.DeviceEvent{
		{Seq: 2, Event: good()},
		{Seq: 3, Event: lyingBranch},
		{Seq: 4, Event: honestOther},
		{Seq: 5, Event: aFiled[0].Event}, // stored under seq 1 already
		{Seq: 6, Event: reusedCode},
		{Seq: 7, Event: badData},
		{Seq: 8, Event: otherBranchFiled},
		{Seq: 9, Event: good()},
	}
	want := []wire.PushReject{
		{Seq: 3, EventID: lyingBranch.ID, Code: wire.CloseForbiddenEvent},
		{Seq: 4, EventID: honestOther.ID, Code: wire.CloseForbiddenEvent},
		{Seq: 5, EventID: aFiled[0].Event.ID, Code: wire.CloseConflict},
		{Seq: 6, EventID: reusedCode.ID, Code: wire.CloseInvalidEvent},
		{Seq: 7, EventID: badData.ID, Code: wire.CloseInvalidEvent},
		{Seq: 8, EventID: otherBranchFiled.ID, Code: wire.CloseForbiddenEvent},
	}
	before := MustStats(t, s)
	got := mustPush(t, s, a, batch)
	if got.AckedSeq != 9 || got.Stored != 2 || got.Duplicates != 0 {
		t.Fatalf("push = %+v, want acked 9, stored 2", got)
	}
	checkRejections(t, got.Rejected, want)
	after := MustStats(t, s)
	if after.Events != before.Events+2 || after.Complaints != before.Complaints {
		t.Fatalf("stats = %+v, want 2 more events than %+v and no new complaint", after, before)
	}

	// The resend: the same answers, nothing stored, no loop.
	again := mustPush(t, s, a, batch)
	if again.AckedSeq != 9 || again.Stored != 0 || again.Duplicates != 2 {
		t.Fatalf("resend = %+v, want acked 9, 2 duplicates", again)
	}
	if !slices.Equal(again.Rejected, got.Rejected) {
		t.Fatalf("resend rejections = %+v, want %+v", again.Rejected, got.Rejected)
	}
	if st := MustStats(t, s); st != after {
		t.Fatalf("stats after resend = %+v, want %+v", st, after)
	}
	// Another event at a rejected seq is a conflict, not a new answer.
	other := []wire.DeviceEvent{{Seq: 3, Event: good()}}
	checkRejections(t, mustPush(t, s, a, other).Rejected, []wire.PushReject{{Seq: 3, EventID: other[0].Event.ID, Code: wire.CloseConflict}})

	// B's scope holds none of A's attempts on its complaint.
	for _, e := range AllEvents(t, s, wire.BranchScope("B")) {
		if e.Event.ID != bFiled[0].Event.ID {
			t.Fatalf("branch B holds event %s from device A", e.Event.ID)
		}
	}
}

func checkRejections(tb testing.TB, got, want []wire.PushReject) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("rejections = %+v, want %d: %+v", got, len(want), want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Seq != w.Seq || g.EventID != w.EventID || g.Code != w.Code {
			tb.Errorf("rejection %d = %+v, want seq %d event %s code %d", i, g, w.Seq, w.EventID, w.Code)
		}
		if g.Reason == "" || len(g.Reason) > 123 {
			tb.Errorf("rejection %d reason %q: want 1-123 bytes", i, g.Reason)
		}
	}
}

func testPushRefusals(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	d := MustDevice(t, s, "A")
	revoked := MustDevice(t, s, "A")
	ctx := context.Background()
	if err := s.RevokeDevice(ctx, revoked.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	mustPush(t, s, d, BatchOf(t, d, 1, 2))
	before := MustStats(t, s)

	_, err := s.Push(ctx, d.ID, BatchOf(t, d, 4, 5))
	wantCode(t, err, storage.Invalid)
	if !errors.Is(err, hub.ErrGap) {
		t.Fatalf("gap error = %v, want ErrGap", err)
	}
	for _, tt := range []struct {
		name   string
		device string
		batch  []wire.DeviceEvent
		want   storage.Code
	}{
		{"unknown device", "nobody", BatchOf(t, d, 1), storage.NotFound},
		{"revoked device", revoked.ID, BatchOf(t, d, 1), storage.Revoked},
		{"empty", d.ID, nil, storage.Invalid},
		{"not contiguous", d.ID, BatchOf(t, d, 3, 5), storage.Invalid},
		{"seq zero", d.ID, BatchOf(t, d, 0), storage.Invalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Push(ctx, tt.device, tt.batch)
			wantCode(t, err, tt.want)
		})
	}
	if after := MustStats(t, s); after != before {
		t.Fatalf("stats = %+v after refused pushes, want %+v", after, before)
	}
}

func testRevokedSince(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	old, recent, live := MustDevice(t, s, "A"), MustDevice(t, s, "A"), MustDevice(t, s, "A")
	_ = live
	t0 := time.Now()
	if err := s.RevokeDevice(ctx, old.ID, t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeDevice(ctx, recent.ID, t0); err != nil {
		t.Fatal(err)
	}
	got, err := s.RevokedSince(ctx, t0.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{recent.ID}) {
		t.Fatalf("RevokedSince = %v, want [%s]", got, recent.ID)
	}
}

// testConcurrentPushesShareCommits: pushes from many devices at once are
// grouped into shared transactions, yet each stays atomic and answered on
// its own: a push that fails (a gap) stores nothing and fails alone, and
// two events of one group that clash (the same event id from two devices)
// are decided in order, one stored and one rejected.
func testConcurrentPushesShareCommits(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	const devices = 16
	devs := make([]storage.Device, devices)
	for i := range devs {
		devs[i] = MustDevice(t, s, "A")
	}
	// A note on a complaint no one filed yet: either device may send it
	// first, and the other then meets a conflict (a filing would be refused
	// for its prefix when the other device is judged first).
	shared := NoteEvent(devs[0], uid.New())
	gapped := devs[devices-1]
	type answer struct {
		res hub.PushResult
		err error
	}
	answers := make([]answer, devices)
	start := make(chan struct{})
	done := make(chan int)
	for i, d := range devs {
		go func() {
			batch := BatchOf(t, d, SeqRange(1, 20)...)
			switch {
			case d.ID == gapped.ID:
				batch = BatchOf(t, d, SeqRange(5, 20)...)
			case i < 2:
				batch[19].Event = shared // devices 0 and 1 both push it
			}
			<-start
			res, err := s.Push(ctx, d.ID, batch)
			answers[i] = answer{res, err}
			done <- i
		}()
	}
	close(start)
	for range devs {
		<-done
	}
	rejected := 0
	for i, a := range answers {
		d := devs[i]
		if d.ID == gapped.ID {
			if !errors.Is(a.err, hub.ErrGap) {
				t.Fatalf("gapped push: err = %v, want ErrGap", a.err)
			}
			if dev, _ := s.Device(ctx, d.ID); dev.AckedSeq != 0 {
				t.Fatalf("gapped device acked = %d, want 0", dev.AckedSeq)
			}
			continue
		}
		if a.err != nil {
			t.Fatalf("push from device %d: %v", i, a.err)
		}
		if a.res.AckedSeq != 20 || a.res.Stored+len(a.res.Rejected) != 20 {
			t.Fatalf("push from device %d = %+v, want acked 20, 20 stored or rejected", i, a.res)
		}
		for _, r := range a.res.Rejected {
			if r.Seq != 20 || r.Code != wire.CloseConflict {
				t.Fatalf("device %d rejection = %+v, want seq 20 conflict", i, r)
			}
			rejected++
		}
	}
	if rejected != 1 {
		t.Fatalf("rejections of the shared event = %d, want 1", rejected)
	}
	if got, want := len(AllEvents(t, s, "")), (devices-1)*20-1; got != want {
		t.Fatalf("stored events = %d, want %d", got, want)
	}
}

// testCommitFeed: the store tells its subscribers the scope of what each
// commit stored (a push, an append), after the commit, so a reader woken
// by it finds the events; a push that stored nothing tells nobody; a
// cancelled subscription hears nothing more.
func testCommitFeed(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	a, b := MustDevice(t, s, "A"), MustDevice(t, s, "B")
	type heard struct {
		scopes []string
		seen   int // events of the scope readable when told
	}
	var got []heard
	cancel := s.OnCommit(func(scopes []string) {
		page, err := s.EventsAfter(ctx, scopes[0], 0, storage.MaxPage)
		if err != nil {
			t.Error(err)
		}
		got = append(got, heard{scopes, len(page)})
	})
	aFiled := BatchOf(t, a, 1, 2)
	mustPush(t, s, a, aFiled)
	mustPush(t, s, b, BatchOf(t, b, 1))
	mustPush(t, s, a, aFiled) // duplicates only
	lying := BatchOf(t, a, 3)
	lying[0].Event.Branch = "B"
	mustPush(t, s, a, lying) // rejected only
	if _, err := s.Append(ctx, []event.Event{customerEvent(aFiled[0].Event, event.InfoProvided, "more")}); err != nil {
		t.Fatal(err)
	}
	cancel()
	mustPush(t, s, b, BatchOf(t, b, 2))

	want := []heard{
		{[]string{wire.BranchScope("A")}, 2},
		{[]string{wire.BranchScope("B")}, 1},
		{[]string{wire.BranchScope("A")}, 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("feed = %+v, want %+v", got, want)
	}
}
