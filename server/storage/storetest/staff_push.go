package storetest

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"ombud/server/admit"
	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/staff"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// staffEventAt makes an event of type typ on complaintID by staff member
// id, stamped at (to the millisecond).
func staffEventAt(d storage.Device, complaintID string, typ event.Type, id string, at time.Time) event.Event {
	data, _ := json.Marshal(event.Text{Text: "checked with the customer"})
	return event.Event{
		ID: uid.New(), ComplaintID: complaintID, Type: typ,
		Actor: event.Actor{Kind: event.ActorStaff, ID: id}, At: hlc.Make(at.UnixMilli(), 0),
		Branch: d.Branch, Data: data,
	}
}

// actedBy relabels e's actor.
func actedBy(e event.Event, kind event.ActorKind, id string) event.Event {
	e.Actor = event.Actor{Kind: kind, ID: id}
	return e
}

// testPushChecksStaffActor: an event by staff is stored only when its
// account exists, is of the device's branch, was not revoked (beyond the
// grace) before the event, and its role may record it; each refusal is
// 4003 for that event alone, and a resend gets the same answers even after
// the accounts change.
func testPushChecksStaffActor(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	a := MustDevice(t, s, "A") // with agent staff-a
	MustDevice(t, s, "B")      // with agent staff-b
	MustCreateStaff(t, s, "sup-a", "A", staff.Supervisor)
	MustCreateStaff(t, s, "gone", "A", staff.Agent)
	revokedAt := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	if err := s.RevokeStaff(ctx, "gone", revokedAt); err != nil {
		t.Fatal(err)
	}
	filed := BatchOf(t, a, 1)
	mustPush(t, s, a, filed)
	cid := filed[0].Event.ComplaintID
	now := time.Now()

	// Staff file a complaint for a walk-in customer.
	byStaff := FiledEvent(t, a)
	{
		c, err := byStaff.Complaint()
		if err != nil {
			t.Fatal(err)
		}
		c.Channel = complaint.ChannelStaff
		if byStaff, err = event.NewFiled(c, event.Actor{Kind: event.ActorStaff, ID: StaffOf("A")}, Clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	type step struct {
		e      event.Event
		reason string // "" stored
	}
	steps := []step{
		{staffEventAt(a, cid, event.NoteAdded, "nobody", now), "unknown staff account"},
		{staffEventAt(a, cid, event.NoteAdded, StaffOf("B"), now), "staff account of another branch"},
		{staffEventAt(a, cid, event.NoteAdded, "Staff-A", now), "unknown staff account"}, // ids are exact
		{staffEventAt(a, cid, event.NoteAdded, "", now), "unknown staff account"},
		// Not claiming to be staff does not skip the checks.
		{actedBy(staffEventAt(a, cid, event.Reopened, "", now), event.ActorDevice, a.ID), "only a signed-in staff member may record this from a device"},
		{actedBy(staffEventAt(a, cid, event.Acknowledged, "", now), event.ActorSystem, "dispatch"), "only a signed-in staff member may record this from a device"},
		{actedBy(staffEventAt(a, cid, event.SatisfactionRated, "", now), event.ActorCustomer, ""), "only a signed-in staff member may record this from a device"},
		{staffEventAt(a, cid, event.Acknowledged, StaffOf("A"), now), ""},
		{staffEventAt(a, cid, event.Reopened, StaffOf("A"), now), staff.Why(staff.Agent, event.Reopened)},
		{staffEventAt(a, cid, event.Reopened, "sup-a", now), ""},
		// Revoked before the push arrived: refused whatever the event's own
		// clock says, so backdating an action to before the revocation
		// gets nothing through.
		{staffEventAt(a, cid, event.NoteAdded, "gone", revokedAt.Add(-time.Hour)), "staff account revoked"},
		{staffEventAt(a, cid, event.NoteAdded, "gone", revokedAt.Add(-time.Millisecond)), "staff account revoked"},
		{staffEventAt(a, cid, event.NoteAdded, "gone", now), "staff account revoked"},
		{byStaff, ""},
	}
	var (
		batch   []wire.DeviceEvent
		want    []wire.PushReject
		stored  int
		storeID = map[string]bool{}
	)
	for i, st := range steps {
		seq := int64(2 + i)
		batch = append(batch, wire.DeviceEvent{Seq: seq, Event: st.e})
		if st.reason == "" {
			stored++
			storeID[st.e.ID] = true
			continue
		}
		want = append(want, wire.PushReject{Seq: seq, EventID: st.e.ID, Code: wire.CloseForbiddenEvent, Reason: st.reason})
	}
	got := mustPush(t, s, a, batch)
	last := batch[len(batch)-1].Seq
	if got.AckedSeq != last || got.Stored != stored || got.Duplicates != 0 {
		t.Fatalf("push = %+v, want acked %d, stored %d", got, last, stored)
	}
	if !slices.Equal(got.Rejected, want) {
		t.Fatalf("rejections:\n got %+v\nwant %+v", got.Rejected, want)
	}
	for _, e := range AllEvents(t, s, wire.BranchScope("A")) {
		if e.Event.Actor.Kind == event.ActorStaff && !storeID[e.Event.ID] {
			t.Errorf("stored refused event %s by %q", e.Event.ID, e.Event.Actor.ID)
		}
		delete(storeID, e.Event.ID)
	}
	if len(storeID) != 0 {
		t.Errorf("accepted events not stored: %v", storeID)
	}
	if _, err := s.ComplaintByCode(ctx, mustCode(t, byStaff)); err != nil {
		t.Errorf("complaint filed by staff not in the projection: %v", err)
	}

	// The accounts change; the resend still gets the first answers.
	MustCreateStaff(t, s, "nobody", "A", staff.Supervisor)
	if err := s.RevokeStaff(ctx, StaffOf("A"), now.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	again := mustPush(t, s, a, batch)
	if again.AckedSeq != last || again.Stored != 0 || again.Duplicates != stored {
		t.Fatalf("resend = %+v, want acked %d, %d duplicates", again, last, stored)
	}
	if !slices.Equal(again.Rejected, want) {
		t.Fatalf("resend rejections:\n got %+v\nwant %+v", again.Rejected, want)
	}
	// New events see the new accounts.
	next := []wire.DeviceEvent{
		{Seq: last + 1, Event: staffEventAt(a, cid, event.NoteAdded, "nobody", time.Now())},
		{Seq: last + 2, Event: staffEventAt(a, cid, event.NoteAdded, StaffOf("A"), time.Now())},
	}
	res := mustPush(t, s, a, next)
	if res.Stored != 1 || len(res.Rejected) != 1 || res.Rejected[0].Seq != last+2 || res.Rejected[0].Reason != "staff account revoked" {
		t.Fatalf("push after the changes = %+v, want the first stored and the second refused as revoked", res)
	}
}

func mustCode(tb testing.TB, e event.Event) string {
	tb.Helper()
	c, err := e.Complaint()
	if err != nil {
		tb.Fatal(err)
	}
	return c.Code
}

// testPushAttributesStaffActions: a staff action dated inside a sign-in the
// server confirmed on the device is kept with that session's id; one with
// no session is kept as offline, unless older than the policy allows; a
// kiosk-style filing by the device is the device's. What each event was
// kept as is in the log for the audit trail.
func testPushAttributesStaffActions(t *testing.T, h Harness) {
	s := h.Open(t, h.New(t), admit.Policy{MaxOffline: 24 * time.Hour})
	ctx := context.Background()
	a := MustDevice(t, s, "A")
	now := time.Now()
	if err := s.StartSession(ctx, storage.Session{ID: "sess-1", DeviceID: a.ID, StaffID: StaffOf("A"),
		StartedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.EndSession(ctx, a.ID, "sess-1", now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.EndSession(ctx, "another-device", "sess-1", now); storage.ErrorCode(err) != storage.NotFound {
		t.Fatalf("ending another device's session = %v, want NotFound", err)
	}
	filed := BatchOf(t, a, 1)[0].Event
	cid := filed.ComplaintID
	inSession := staffEventAt(a, cid, event.NoteAdded, StaffOf("A"), now.Add(-90*time.Minute))
	afterSignOut := staffEventAt(a, cid, event.NoteAdded, StaffOf("A"), now.Add(-30*time.Minute))
	tooOld := staffEventAt(a, cid, event.NoteAdded, StaffOf("A"), now.Add(-25*time.Hour))
	res := mustPush(t, s, a, []wire.DeviceEvent{{Seq: 1, Event: filed}, {Seq: 2, Event: inSession}, {Seq: 3, Event: afterSignOut}, {Seq: 4, Event: tooOld}})
	if res.Stored != 3 || len(res.Rejected) != 1 || res.Rejected[0].Seq != 4 || res.Rejected[0].Code != wire.CloseForbiddenEvent {
		t.Fatalf("push = %+v, want 3 stored and the 25-hour-old offline action refused", res)
	}
	want := map[string]string{filed.ID: "device", inSession.ID: "session:sess-1", afterSignOut.ID: "offline"}
	act, err := s.DeviceActivity(ctx, a.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]string)
	for _, p := range act.Events {
		got[p.Event.ID] = p.Attest
	}
	for id, attest := range want {
		if got[id] != attest {
			t.Errorf("event %s kept as %q, want %q", id, got[id], attest)
		}
	}
}

func testSignInFailures(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	MustDevice(t, s, "A")
	id := StaffOf("A")
	if n, last, err := s.SignInFailures(ctx, id); err != nil || n != 0 || !last.IsZero() {
		t.Fatalf("no failures yet = %d, %v, %v", n, last, err)
	}
	at := time.Now().Truncate(time.Millisecond)
	for want := 1; want <= 3; want++ {
		if n, err := s.RecordSignInFailure(ctx, id, at); err != nil || n != want {
			t.Fatalf("failure %d recorded as %d, %v", want, n, err)
		}
	}
	if n, last, err := s.SignInFailures(ctx, id); err != nil || n != 3 || !last.Equal(at) {
		t.Fatalf("failures = %d at %v, %v; want 3 at %v", n, last, err, at)
	}
	if err := s.ClearSignInFailures(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s.SignInFailures(ctx, id); n != 0 {
		t.Fatalf("after clearing: %d failures", n)
	}
	if _, err := s.RecordSignInFailure(ctx, "nobody", at); storage.ErrorCode(err) != storage.NotFound {
		t.Fatalf("failure of an unknown account = %v, want NotFound", err)
	}
}
