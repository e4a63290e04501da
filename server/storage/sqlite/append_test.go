package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/shared/complaint"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// customerEvent makes an event as the tracking page would: actor customer,
// no device.
func customerEvent(filed event.Event, typ event.Type, text string) event.Event {
	data, _ := json.Marshal(event.Text{Text: text})
	return event.Event{
		ID: uid.New(), ComplaintID: filed.ComplaintID, Type: typ,
		Actor: event.Actor{Kind: event.ActorCustomer}, At: clock.Now(),
		Branch: filed.Branch, Data: data,
	}
}

// mustPushFiled files a complaint from d at device seq and returns its event.
func mustPushFiled(tb testing.TB, s storage.Store, d storage.Device, seq int64) event.Event {
	tb.Helper()
	filed := filedEvent(tb, d)
	res, err := s.Push(context.Background(), d.ID, []wire.DeviceEvent{{Seq: seq, Event: filed}})
	if err != nil || res.Stored != 1 {
		tb.Fatalf("push filed: %+v, %v", res, err)
	}
	return filed
}

func TestAppendStreamsToTheComplaintsBranch(t *testing.T) {
	s := MustOpen(t)
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
	evs := allEvents(t, s, wire.BranchScope("A"))
	if n := len(evs); n != 2 || evs[1].Event.ID != info.ID || evs[1].Seq != got[0].Seq {
		t.Fatalf("branch A events = %+v, want the filed event then %s", evs, info.ID)
	}
	if e := evs[1].Event; e.Actor.Kind != event.ActorCustomer || string(e.Data) != string(info.Data) || e.At != info.At {
		t.Errorf("streamed event = %+v, want %+v", e, info)
	}
	for _, se := range allEvents(t, s, wire.BranchScope("B")) {
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

func TestAppendIsIdempotentByEventID(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	d := MustDevice(t, s, "A")
	filed := mustPushFiled(t, s, d, 1)
	first := customerEvent(filed, event.InfoProvided, "first")
	stored, err := s.Append(ctx, []event.Event{first})
	if err != nil {
		t.Fatal(err)
	}
	before := mustStats(t, s)

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
	if after := mustStats(t, s); after.Events != before.Events+1 {
		t.Errorf("events %d -> %d, want one more", before.Events, after.Events)
	}
}

func TestAppendRefusalsStoreNothing(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	d := MustDevice(t, s, "A")
	MustDevice(t, s, "B")
	filed := mustPushFiled(t, s, d, 1)
	good := customerEvent(filed, event.InfoProvided, "fine")
	before := mustStats(t, s)

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
	if after := mustStats(t, s); after.Events != before.Events {
		t.Errorf("events %d -> %d after refusals, want none stored", before.Events, after.Events)
	}
}

func TestAppendLeavesDeviceNumberingAlone(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	d := MustDevice(t, s, "A")
	filed := mustPushFiled(t, s, d, 1)
	server, err := s.Append(ctx, []event.Event{customerEvent(filed, event.InfoProvided, "x")})
	if err != nil {
		t.Fatal(err)
	}
	// The device's next push continues at 2; the server event took no slot.
	res, err := s.Push(ctx, d.ID, []wire.DeviceEvent{{Seq: 2, Event: noteEvent(d, filed.ComplaintID)}})
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

// TestUpgradeToServerEventsKeepsTheLog builds a database at schema 2 with
// events in it (and a sequence that had run ahead, as after archiving),
// opens it with the current code, and checks that the rebuilt events table
// keeps every event, its sequence and the counter.
func TestUpgradeToServerEventsKeepsTheLog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", sqlite.DSN(path, false))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := sqlite.MigrateTo(ctx, db, 2); err != nil {
		t.Fatal(err)
	}
	// The same rows Push would write, by hand, since the current code can
	// only write the current schema.
	const code = "ABC000000000" // the projection does not re-check codes
	complaintID, eventID := uid.New(), uid.New()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO branches (id, name, created_at) VALUES ('A', 'Branch A', 1)`, nil},
		{`INSERT INTO devices (id, branch_id, credential_hash, prefix, enrolled_at) VALUES ('dev', 'A', x'00', 'ABC', 1)`, nil},
		{`INSERT INTO events (seq, id, device_id, device_seq, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at)
			VALUES (7, ?, 'dev', 1, ?, 'A', 'filed', 'device', 'dev', 5, NULL, 1)`, []any{eventID, complaintID}},
		{`INSERT INTO complaints (id, code, branch, category, filed_at, filed_event_id) VALUES (?, ?, 'A', 'billing', 1, ?)`, []any{complaintID, code, eventID}},
		{`UPDATE sqlite_sequence SET seq = 41 WHERE name = 'events'`, nil},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := MustOpenPath(t, path)
	evs := allEvents(t, s, wire.BranchScope("A"))
	if len(evs) != 1 || evs[0].Seq != 7 || evs[0].Event.ID != eventID {
		t.Fatalf("events after upgrade = %+v", evs)
	}
	got, err := s.Append(ctx, []event.Event{{ID: uid.New(), ComplaintID: complaintID, Type: event.InfoProvided,
		Actor: event.Actor{Kind: event.ActorCustomer}, At: clock.Now(), Branch: "A"}})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Seq != 42 {
		t.Errorf("first sequence after upgrade = %d, want 42 (never reuse a sequence)", got[0].Seq)
	}
	// Foreign keys are back on for the writer after the migration.
	if _, err := sqlite.WriterDB(s).ExecContext(ctx, `INSERT INTO complaints (id, code, branch, category, filed_at, filed_event_id)
		VALUES ('x', 'y', 'A', 'c', 1, 'no such event')`); err == nil {
		t.Error("a complaint referencing a missing event was accepted: foreign keys are off")
	}
}

// TestUpgradeToDeviceRoles: devices enrolled before roles become customer
// kiosks, the least privileged role; one that had recorded staff actions
// is listed for the operator to review until its role is set; a clock
// reading far past its storage time is brought down to the bound.
func TestUpgradeToDeviceRoles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", sqlite.DSN(path, false))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := sqlite.MigrateTo(ctx, db, 6); err != nil {
		t.Fatal(err)
	}
	stored := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	farAhead := int64(hlc.Make(stored.AddDate(5, 0, 0).UnixMilli(), 0))
	honest := int64(hlc.Make(stored.Add(-time.Minute).UnixMilli(), 3))
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO branches (id, name, created_at) VALUES ('A', 'Branch A', 1)`, nil},
		{`INSERT INTO devices (id, branch_id, credential_hash, prefix, enrolled_at) VALUES ('kiosk', 'A', x'00', 'ABC', 1), ('desk', 'A', x'01', 'ABD', 1)`, nil},
		{`INSERT INTO events (id, device_id, device_seq, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at)
			VALUES ('e1', 'kiosk', 1, 'c1', 'A', 'filed', 'device', 'kiosk', ?, NULL, ?),
			       ('e2', 'desk', 1, 'c1', 'A', 'note_added', 'staff', 'ann', ?, NULL, ?)`,
			[]any{honest, stored.UnixNano(), farAhead, stored.UnixNano()}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := MustOpenPath(t, path)
	for _, id := range []string{"kiosk", "desk"} {
		if d, err := s.Device(ctx, id); err != nil || d.Role != device.Kiosk {
			t.Errorf("device %s after the upgrade: %+v, %v; want a kiosk", id, d, err)
		}
	}
	if ids, err := s.DevicesToReview(ctx); err != nil || !slices.Equal(ids, []string{"desk"}) {
		t.Fatalf("devices to review = %v, %v; want [desk]", ids, err)
	}
	evs := allEvents(t, s, wire.BranchScope("A"))
	want := map[string]hlc.Timestamp{"e1": hlc.Timestamp(honest), "e2": hlc.Make(stored.Add(hlc.MaxAhead).UnixMilli(), 0)}
	for _, e := range evs {
		if e.Event.At != want[e.Event.ID] {
			t.Errorf("event %s at %v, want %v", e.Event.ID, e.Event.At, want[e.Event.ID])
		}
	}
	if err := s.SetDeviceRole(ctx, "desk", device.Staff, nil); err != nil {
		t.Fatal(err)
	}
	if ids, err := s.DevicesToReview(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("after the operator set its role: %v, %v", ids, err)
	}
}
