package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// customerEvent makes an event as the tracking page would: actor customer,
// no device.
func customerEvent(filed event.Event, typ event.Type, text string) event.Event {
	data, _ := json.Marshal(event.Text{Text: text})
	return event.Event{
		ID: uid.New(), ComplaintID: filed.ComplaintID, Type: typ,
		Actor: event.Actor{Kind: event.ActorCustomer}, At: Clock.Now(),
		Branch: filed.Branch, Data: data,
	}
}

// mustPushFiled files a complaint from d at device seq and returns its event.
func mustPushFiled(tb testing.TB, s storage.Store, d storage.Device, seq int64) event.Event {
	tb.Helper()
	filed := FiledEvent(tb, d)
	res, err := s.Push(context.Background(), d.ID, []wire.DeviceEvent{{Seq: seq, Event: filed}})
	if err != nil || res.Stored != 1 {
		tb.Fatalf("push filed: %+v, %v", res, err)
	}
	return filed
}

func testAppendStreamsToTheComplaintsBranch(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	a, b := MustDevice(t, s, "A"), MustDevice(t, s, "B")
	filed := mustPushFiled(t, s, a, 1)
	mustPushFiled(t, s, b, 1)

	info := customerEvent(filed, event.InfoProvided, "the receipt number is on the back")
	got, err := s.Append(ctx, []event.Event{info})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Event.ID != info.ID || got[0].Seq == 0 {
		t.Fatalf("append = %+v", got)
	}

	// Branch A's devices receive it after the Filed event, like any event.
	evs := AllEvents(t, s, wire.BranchScope("A"))
	if n := len(evs); n != 2 || evs[1].Event.ID != info.ID || evs[1].Seq != got[0].Seq {
		t.Fatalf("branch A events = %+v, want the filed event then %s", evs, info.ID)
	}
	if e := evs[1].Event; e.Actor.Kind != event.ActorCustomer || string(e.Data) != string(info.Data) || e.At != info.At {
		t.Errorf("streamed event = %+v, want %+v", e, info)
	}
	for _, se := range AllEvents(t, s, wire.BranchScope("B")) {
		if se.Event.ID == info.ID {
			t.Fatal("branch B received branch A's event")
		}
	}

	// ComplaintEvents holds the device's and the server's events, in order.
	ce, err := s.ComplaintEvents(ctx, filed.ComplaintID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ce) != 2 || ce[0].Event.ID != filed.ID || ce[1].Event.ID != info.ID {
		t.Fatalf("complaint events = %+v", ce)
	}
	if none, err := s.ComplaintEvents(ctx, uid.New()); err != nil || len(none) != 0 {
		t.Errorf("unknown complaint: %v, %v; want no events and no error", none, err)
	}
}

func testAppendIsIdempotentByEventID(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	d := MustDevice(t, s, "A")
	filed := mustPushFiled(t, s, d, 1)
	first := customerEvent(filed, event.InfoProvided, "first")
	stored, err := s.Append(ctx, []event.Event{first})
	if err != nil {
		t.Fatal(err)
	}
	before := MustStats(t, s)

	// A retry, and the same id twice in one batch beside a new event.
	again := first
	again.Data = json.RawMessage(`{"text":"changed on the way"}`)
	next := customerEvent(filed, event.InfoProvided, "second")
	got, err := s.Append(ctx, []event.Event{again, next, next})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Seq != stored[0].Seq || string(got[0].Event.Data) != string(first.Data) {
		t.Errorf("repeat = %+v, want the stored %+v", got[0], stored[0])
	}
	if got[1].Seq == 0 || got[2].Seq != got[1].Seq {
		t.Errorf("same id twice in a batch: seqs %d and %d, want one", got[1].Seq, got[2].Seq)
	}
	if after := MustStats(t, s); after.Events != before.Events+1 {
		t.Errorf("events %d -> %d, want one more", before.Events, after.Events)
	}
}

func testAppendRefusalsStoreNothing(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	d := MustDevice(t, s, "A")
	MustDevice(t, s, "B")
	filed := mustPushFiled(t, s, d, 1)
	good := customerEvent(filed, event.InfoProvided, "fine")
	before := MustStats(t, s)

	for _, tc := range []struct {
		name   string
		change func(*event.Event)
		want   storage.Code
	}{
		{"staff actor", func(e *event.Event) { e.Actor = event.Actor{Kind: event.ActorStaff, ID: "s1"} }, storage.Invalid},
		{"device actor", func(e *event.Event) { e.Actor = event.Actor{Kind: event.ActorDevice, ID: d.ID} }, storage.Invalid},
		{"filed", func(e *event.Event) { e.Type = event.Filed }, storage.Invalid},
		{"no id", func(e *event.Event) { e.ID = "" }, storage.Invalid},
		{"another branch", func(e *event.Event) { e.Branch = "B" }, storage.Invalid},
		{"unknown complaint", func(e *event.Event) { e.ComplaintID = uid.New() }, storage.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := customerEvent(filed, event.InfoProvided, "bad")
			tc.change(&bad)
			// The good event first: it must not be stored either.
			_, err := s.Append(ctx, []event.Event{good, bad})
			wantCode(t, err, tc.want)
			if tc.want == storage.NotFound && !errors.Is(err, complaint.ErrNotFound) {
				t.Errorf("error %v does not wrap complaint.ErrNotFound", err)
			}
		})
	}
	_, err := s.Append(ctx, nil)
	wantCode(t, err, storage.Invalid)
	if after := MustStats(t, s); after.Events != before.Events {
		t.Errorf("events %d -> %d after refusals, want none stored", before.Events, after.Events)
	}
}

func testAppendLeavesDeviceNumberingAlone(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	d := MustDevice(t, s, "A")
	filed := mustPushFiled(t, s, d, 1)
	server, err := s.Append(ctx, []event.Event{customerEvent(filed, event.InfoProvided, "x")})
	if err != nil {
		t.Fatal(err)
	}
	// The device's next push continues at 2; the server event took no slot.
	res, err := s.Push(ctx, d.ID, []wire.DeviceEvent{{Seq: 2, Event: NoteEvent(d, filed.ComplaintID)}})
	if err != nil || res.Stored != 1 || res.AckedSeq != 2 {
		t.Fatalf("push after append = %+v, %v", res, err)
	}
	// A device reusing a server event's id is refused, as any reused id.
	reuse := server[0].Event
	reuse.Actor = event.Actor{Kind: event.ActorStaff, ID: "s1"}
	res, err = s.Push(ctx, d.ID, []wire.DeviceEvent{{Seq: 3, Event: reuse}})
	if err != nil || len(res.Rejected) != 1 || res.Rejected[0].Code != wire.CloseConflict {
		t.Fatalf("push of a server event's id = %+v, %v; want a conflict", res, err)
	}
}
