package admit_test

import (
	"slices"
	"testing"
	"time"

	"ombud/server/admit"
	"ombud/server/storage"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/staff"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// FuzzDecide builds a batch and a log from the fuzzer's bytes (event types,
// branches, actors, complaints, reused ids and codes, taken slots, revoked
// accounts) and checks what must hold whatever the input:
//   - every stored event is of the device's branch, and so is its complaint
//     as far as the log or the batch knows;
//   - a device speaks for itself only to file; every other stored event
//     names a staff account of the branch, not revoked beyond the grace,
//     whose role may record it;
//   - no event id is stored twice, nor a complaint filed twice, nor a
//     tracking code used twice;
//   - a duplicate is only ever the event its slot holds, and a held slot is
//     never stored over;
//   - a customer kiosk never gets anything stored but its own filings, and
//     a team terminal no filing;
//   - no stored event is dated beyond the server's clock (hlc.MaxAhead),
//     and no filing bears another device's tracking-code prefix.
func FuzzDecide(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte{3, 3, 3, 3, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 7, 7})
	f.Add([]byte{255, 128, 64, 32, 16, 8, 4, 2, 1, 0, 9, 99, 199, 77, 5, 41})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &reader{in: in}
		v := view()
		held := []event.Event{filed(t, "north"), filed(t, "south")}
		for _, e := range held {
			v.Stored[e.ID], v.Filed[e.ComplaintID], v.Branches[e.ComplaintID] = true, true, e.Branch
			c, _ := e.Complaint()
			v.Codes[c.Code] = true
		}
		v.Device.Role = []device.Role{device.Kiosk, device.Staff, device.Team, ""}[r.next()%4]
		if v.Device.Role == device.Team {
			v.Device.Teams = []string{"fraud"}
			v.Staff["fiona"] = admit.Account{Branch: "hq", Teams: []string{"fraud"}, Role: staff.Agent}
			// One held complaint in the team's queue, the other in its branch's.
			v.Queues[held[0].ComplaintID] = storage.QueueMark{Queue: "team:fraud", EventID: "a1"}
			v.Queues[held[1].ComplaintID] = storage.QueueMark{Queue: "branch:south", EventID: "a2"}
		}
		if r.next()%2 == 1 {
			v.MaxOffline = time.Duration(r.next()) * time.Hour
		}
		if r.next()%2 == 1 {
			v.Sessions["sam"] = []admit.Session{{ID: "s1", Start: t0.Add(-time.Duration(r.next()) * time.Hour), End: t0}}
		}
		if r.next()%2 == 1 {
			// Revoked some seconds either side of the push's arrival.
			v.Staff["ann"] = admit.Account{Branch: "north", Role: staff.Agent, RevokedAt: v.ReceivedAt.Add(time.Duration(int(r.next())-128) * time.Second)}
		}
		n := 1 + int(r.next())%12
		var batch []wire.DeviceEvent
		for i := range n {
			seq := int64(i + 1)
			e := r.event(t, held, batch)
			batch = append(batch, wire.DeviceEvent{Seq: seq, Event: e})
			switch r.next() % 6 {
			case 0:
				v.Slots[seq] = admit.Slot{Kind: admit.SlotStored, EventID: e.ID}
			case 1:
				v.Slots[seq] = admit.Slot{Kind: admit.SlotStored, EventID: uid.New()}
			case 2:
				v.Slots[seq] = admit.Slot{Kind: admit.SlotRejected, EventID: e.ID, Code: wire.CloseInvalidEvent, Reason: "x"}
			}
		}
		b := admit.Prepare(batch)
		got := b.Decide(v)
		if len(got) != len(batch) {
			t.Fatalf("%d decisions for %d events", len(got), len(batch))
		}
		ids, complaints, codes := map[string]bool{}, map[string]bool{}, map[string]bool{}
		branchOf := map[string]string{}
		for k, b := range v.Branches {
			branchOf[k] = b
		}
		for i, d := range got {
			de := batch[i]
			e := de.Event
			slot, taken := v.Slots[de.Seq]
			switch d.Verdict {
			case admit.Duplicate:
				if !taken || slot.EventID != e.ID || slot.Kind == admit.SlotRejected {
					t.Fatalf("event %d: duplicate, but its slot holds %+v", i, slot)
				}
				continue
			case admit.Reject:
				if !d.Code.IsRejectCode() || d.Reason == "" || len(d.Reason) > wire.MaxReasonBytes {
					t.Fatalf("event %d: rejection %+v", i, d)
				}
				continue
			}
			if taken {
				t.Fatalf("event %d stored over slot %+v", i, slot)
			}
			if b, ok := branchOf[e.ComplaintID]; ok && b != e.Branch {
				t.Fatalf("event %d of branch %q stored on a complaint of %q", i, e.Branch, b)
			}
			if v.Device.Role != device.Team && e.Branch != "north" {
				t.Fatalf("event %d of branch %q stored for a north device", i, e.Branch)
			}
			branchOf[e.ComplaintID] = e.Branch
			if v.Stored[e.ID] || ids[e.ID] {
				t.Fatalf("event id %s stored twice", e.ID)
			}
			if hlc.Ahead(e.At, v.ReceivedAt) {
				t.Fatalf("event %d dated %v stored at %v", i, e.At, v.ReceivedAt)
			}
			switch v.Device.Role {
			case device.Kiosk:
				if e.Type != event.Filed || e.Actor.Kind != event.ActorDevice {
					t.Fatalf("a kiosk's event %d (%s by %+v) stored", i, e.Type, e.Actor)
				}
			case device.Staff:
			case device.Team:
				q := v.Queues[e.ComplaintID].Queue
				if e.Type == event.Filed || q != "team:fraud" {
					t.Fatalf("a team terminal's event %d (%s) stored on a case in %q", i, e.Type, q)
				}
			default:
				t.Fatalf("event %d stored for a %q device", i, v.Device.Role)
			}
			ids[e.ID] = true
			if e.Type == event.Filed {
				c := b.Filed(i)
				if c == nil || v.Filed[c.ID] || complaints[c.ID] || v.Codes[c.Code] || codes[c.Code] {
					t.Fatalf("event %d: filing %+v stored twice or without a complaint", i, c)
				}
				complaints[c.ID], codes[c.Code] = true, true
				if p := c.Code[:trackcode.PrefixLen]; p != v.Device.Prefix {
					if _, held := v.PrefixOwners[p]; held || !c.FiledAt.Before(v.Device.EnrolledAt) {
						t.Fatalf("event %d: a filing under prefix %s stored for a device of prefix %s", i, p, v.Device.Prefix)
					}
				}
				if e.Actor.Kind == event.ActorDevice {
					continue
				}
			}
			a, ok := v.Staff[e.Actor.ID]
			inPlace := a.Branch == "north"
			if v.Device.Role == device.Team {
				inPlace = slices.Contains(a.Teams, "fraud")
			}
			switch {
			case e.Actor.Kind != event.ActorStaff || !ok:
				t.Fatalf("event %d (%s) stored with actor %+v", i, e.Type, e.Actor)
			case !inPlace || !staff.Can(a.Role, e.Type):
				t.Fatalf("event %d (%s) stored for account %+v", i, e.Type, a)
			case !a.RevokedAt.IsZero() && !v.ReceivedAt.Before(a.RevokedAt):
				t.Fatalf("event %d stored for an account revoked at %v, received at %v", i, a.RevokedAt, v.ReceivedAt)
			}
			switch {
			case d.Attest == admit.AttestOffline:
				if v.MaxOffline > 0 && e.At.Time().Before(v.ReceivedAt.Add(-v.MaxOffline)) {
					t.Fatalf("event %d dated %v stored as offline beyond %v", i, e.At, v.MaxOffline)
				}
			case d.Attest == admit.AttestSession+"s1":
				if e.Actor.ID != "sam" {
					t.Fatalf("event %d by %s attributed to sam's session", i, e.Actor.ID)
				}
			default:
				t.Fatalf("staff event %d attested %q", i, d.Attest)
			}
		}
	})
}

// reader hands out the fuzzer's bytes, then zeros.
type reader struct {
	in []byte
	at int
}

func (r *reader) next() byte {
	if r.at >= len(r.in) {
		return 0
	}
	r.at++
	return r.in[r.at-1]
}

func (r *reader) pick(options ...string) string { return options[int(r.next())%len(options)] }

// event makes one event from the next bytes: a filing or a staff action,
// on a complaint held by the log, filed earlier in the batch or unknown,
// with any branch and actor, sometimes reusing an earlier id or code.
func (r *reader) event(tb testing.TB, held []event.Event, batch []wire.DeviceEvent) event.Event {
	var e event.Event
	switch r.next() % 5 {
	case 0, 1:
		e = filed(tb, r.pick("north", "north", "south"))
		switch r.next() % 4 { // another prefix, before or after enrolment
		case 1:
			e = withPrefix(tb, e, r.pick("M2X", "ZZ9"), t0)
		case 2:
			e = withPrefix(tb, e, r.pick("M2X", "ZZ9"), t0.AddDate(0, -2, 0))
		}
		if len(batch) > 0 && r.next()%4 == 0 { // another complaint's code
			c, _ := e.Complaint()
			prev, err := batch[int(r.next())%len(batch)].Event.Complaint()
			if err == nil {
				c.Code = prev.Code
				e, _ = event.NewFiled(c, e.Actor, e.At)
			}
		}
	default:
		cid := uid.New()
		switch r.next() % 3 {
		case 0:
			cid = held[int(r.next())%len(held)].ComplaintID
		case 1:
			if len(batch) > 0 {
				cid = batch[int(r.next())%len(batch)].Event.ComplaintID
			}
		}
		e = note(cid, r.pick("north", "north", "south", ""), r.pick("ann", "sam", "olga", "ghost", "fiona"))
		e.Type = event.Type(r.pick(string(event.NoteAdded), string(event.Reopened), string(event.Acknowledged)))
	}
	e.Actor.Kind = event.ActorKind(r.pick(string(e.Actor.Kind), string(event.ActorStaff), string(event.ActorDevice), string(event.ActorCustomer), string(event.ActorSystem)))
	if e.Actor.Kind == event.ActorStaff && e.Actor.ID == "dev-1" {
		e.Actor.ID = r.pick("ann", "sam")
	}
	switch r.next() % 8 { // a clock reading near or past the bound, or absurd
	case 1:
		e.At = stamp(t0.Add(time.Second + hlc.MaxAhead - time.Duration(r.next())*time.Millisecond + 128*time.Millisecond))
	case 2:
		e.At = hlc.Timestamp(1<<63 - 1 - uint64(r.next()))
	}
	if len(batch) > 0 && r.next()%7 == 0 { // an id already in the batch
		e.ID = batch[int(r.next())%len(batch)].Event.ID
	}
	return e
}
