package admit_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"ombud/server/admit"
	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/staff"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// t0 is the clock of every event unless a case says otherwise.
var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func stamp(t time.Time) hlc.Timestamp { return hlc.Timestamp(uint64(t.UnixMilli()) << 16) }

// filed makes a valid Filed event of branch by device dev-1, tracking code
// from its prefix "K7Q".
func filed(tb testing.TB, branch string) event.Event {
	tb.Helper()
	code, err := trackcode.Generate("K7Q")
	if err != nil {
		tb.Fatal(err)
	}
	c := complaint.Complaint{
		ID: uid.New(), Code: string(code), Branch: branch, Device: "dev-1", Channel: complaint.ChannelKiosk,
		Category: "billing", Description: "charged twice", Language: "en", FiledAt: t0,
	}
	e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: "dev-1"}, stamp(t0))
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// note makes a NoteAdded event on complaintID of branch by staff member who.
func note(complaintID, branch, who string) event.Event {
	data, _ := json.Marshal(event.Text{Text: "called the customer"})
	return event.Event{ID: uid.New(), ComplaintID: complaintID, Type: event.NoteAdded,
		Actor: event.Actor{Kind: event.ActorStaff, ID: who}, At: stamp(t0), Branch: branch, Data: data}
}

func with(e event.Event, edit func(*event.Event)) event.Event {
	edit(&e)
	return e
}

// view is an empty log for device dev-1 of branch north, with agent "ann"
// and supervisor "sam" of north and agent "olga" of south.
func view() *admit.View {
	return &admit.View{
		Device: admit.Device{ID: "dev-1", Branch: "north", Role: device.Staff, Prefix: "K7Q",
			EnrolledAt: t0.Add(-30 * 24 * time.Hour)},
		ReceivedAt:   t0.Add(time.Second),
		PrefixOwners: map[string]string{"K7Q": "dev-1", "M2X": "dev-2"},
		Sessions:     map[string][]admit.Session{},
		Queues:       map[string]storage.QueueMark{},
		Slots:        map[int64]admit.Slot{},
		Stored:       map[string]bool{},
		Branches:     map[string]string{},
		Filed:        map[string]bool{},
		Codes:        map[string]bool{},
		Staff: map[string]admit.Account{
			"ann":  {Branch: "north", Role: staff.Agent},
			"sam":  {Branch: "north", Role: staff.Supervisor},
			"olga": {Branch: "south", Role: staff.Agent},
		},
	}
}

func numbered(events ...event.Event) []wire.DeviceEvent {
	out := make([]wire.DeviceEvent, len(events))
	for i, e := range events {
		out[i] = wire.DeviceEvent{Seq: int64(i + 1), Event: e}
	}
	return out
}

// TestDecide: one rule a case, each judged as the second event of a push
// after a stored Filed event of north. The verdicts are what docs/SYNC.md
// section 6 promises.
func TestDecide(t *testing.T) {
	ours := filed(t, "north")
	theirs := filed(t, "south")
	cid := ours.ComplaintID
	reopen := with(note(cid, "north", "ann"), func(e *event.Event) { e.Type = event.Reopened; e.Data = nil })
	tests := []struct {
		name   string
		edit   func(v *admit.View)
		second event.Event
		want   admit.Decision
	}{
		{"a staff note on our complaint", nil, note(cid, "north", "ann"), stored(admit.AttestOffline)},
		{"a note before its complaint arrives", nil, note(uid.New(), "north", "ann"), stored(admit.AttestOffline)},
		{"another branch in the event", nil, note(cid, "south", "ann"),
			reject(wire.CloseForbiddenEvent, "event is for another branch than the device's")},
		{"another branch's complaint, lying about its branch", func(v *admit.View) { v.Branches[theirs.ComplaintID] = "south" },
			note(theirs.ComplaintID, "north", "ann"), reject(wire.CloseForbiddenEvent, "complaint belongs to another branch")},
		{"a filing for another branch", nil, with(theirs, func(e *event.Event) { e.Branch = "north" }),
			reject(wire.CloseForbiddenEvent, "filed complaint is for another branch than the device's")},
		{"a device speaking for itself beyond filing", nil,
			with(note(cid, "north", "ann"), func(e *event.Event) { e.Actor = event.Actor{Kind: event.ActorDevice, ID: "dev-1"} }),
			reject(wire.CloseForbiddenEvent, "only a signed-in staff member may record this from a device")},
		{"a device claiming to be the customer", nil,
			with(note(cid, "north", "ann"), func(e *event.Event) { e.Actor = event.Actor{Kind: event.ActorCustomer} }),
			reject(wire.CloseForbiddenEvent, "only a signed-in staff member may record this from a device")},
		{"an unknown staff account", nil, note(cid, "north", "ghost"), reject(wire.CloseForbiddenEvent, "unknown staff account")},
		{"a staff account of another branch", nil, note(cid, "north", "olga"), reject(wire.CloseForbiddenEvent, "staff account of another branch")},
		{"an account revoked after the push arrived", func(v *admit.View) {
			v.Staff["ann"] = admit.Account{Branch: "north", Role: staff.Agent, RevokedAt: v.ReceivedAt.Add(time.Millisecond)}
		}, note(cid, "north", "ann"), stored(admit.AttestOffline)},
		{"an account revoked before the push arrived", func(v *admit.View) {
			v.Staff["ann"] = admit.Account{Branch: "north", Role: staff.Agent, RevokedAt: v.ReceivedAt}
		}, note(cid, "north", "ann"), reject(wire.CloseForbiddenEvent, "staff account revoked")},
		{"a revoked account's action dated before the revocation", func(v *admit.View) {
			v.Staff["ann"] = admit.Account{Branch: "north", Role: staff.Agent, RevokedAt: t0}
		}, with(note(cid, "north", "ann"), func(e *event.Event) { e.At = stamp(t0.Add(-24 * time.Hour)) }),
			reject(wire.CloseForbiddenEvent, "staff account revoked")},
		{"a clock reading at the bound", nil, with(note(cid, "north", "ann"), func(e *event.Event) { e.At = stamp(t0.Add(time.Second + hlc.MaxAhead)) }),
			stored(admit.AttestOffline)},
		{"a clock reading past the bound", nil, with(note(cid, "north", "ann"), func(e *event.Event) { e.At = stamp(t0.Add(time.Second + hlc.MaxAhead + time.Millisecond)) }),
			reject(wire.CloseInvalidEvent, "event clock reading is ahead of the server's: set the device's clock")},
		{"a clock reading five years ahead", nil, with(note(cid, "north", "ann"), func(e *event.Event) { e.At = stamp(t0.AddDate(5, 0, 0)) }),
			reject(wire.CloseInvalidEvent, "event clock reading is ahead of the server's: set the device's clock")},
		{"a filing under another device's prefix", nil, withPrefix(t, filed(t, "north"), "M2X", t0),
			reject(wire.CloseInvalidEvent, "tracking code bears another device's prefix")},
		{"a filing under an unheld prefix, after enrolment", nil, withPrefix(t, filed(t, "north"), "ZZ9", t0),
			reject(wire.CloseInvalidEvent, "tracking code bears another device's prefix")},
		{"a filing from before enrolment, under the random prefix it had then", nil,
			withPrefix(t, filed(t, "north"), "ZZ9", t0.Add(-60*24*time.Hour)), stored(admit.AttestDevice)},
		{"a kiosk's filing", func(v *admit.View) { v.Device.Role = device.Kiosk }, filed(t, "north"), stored(admit.AttestDevice)},
		{"a decision giving the customer the configured time", func(v *admit.View) { v.AcceptWithin = 14 * 24 * time.Hour },
			decision(note(cid, "north", "ann"), 14*24*time.Hour), stored(admit.AttestOffline)},
		{"a decision shortening the customer's time to answer", func(v *admit.View) { v.AcceptWithin = 14 * 24 * time.Hour },
			decision(note(cid, "north", "ann"), time.Hour),
			reject(wire.CloseInvalidEvent, "decision gives the customer less than the 336h0m0s the server's rules give to answer it")},
		{"a decision written without a date (the default period)", func(v *admit.View) { v.AcceptWithin = 14 * 24 * time.Hour },
			with(note(cid, "north", "ann"), func(e *event.Event) { e.Type = event.Responded }), stored(admit.AttestOffline)},
		{"a kiosk speaking for staff", func(v *admit.View) { v.Device.Role = device.Kiosk }, note(cid, "north", "ann"),
			reject(wire.CloseForbiddenEvent, "a customer kiosk may only file complaints")},
		{"a kiosk filing in a staff member's name", func(v *admit.View) { v.Device.Role = device.Kiosk },
			with(filed(t, "north"), func(e *event.Event) { e.Actor = event.Actor{Kind: event.ActorStaff, ID: "ann"} }),
			reject(wire.CloseForbiddenEvent, "a customer kiosk may only file complaints")},
		{"a staff terminal recording a redaction", nil,
			with(note(cid, "north", "ann"), func(e *event.Event) { e.Type, e.Data = event.Redacted, []byte(`{"reason":"erasure","policy":"x"}`) }),
			reject(wire.CloseForbiddenEvent, "only the server records a redaction")},
		{"a device with no role", func(v *admit.View) { v.Device.Role = "" }, filed(t, "north"),
			reject(wire.CloseForbiddenEvent, "the device has no role")},
		// A team terminal (at head office, branch hq) works the cases in
		// its teams' queues, from any branch, by its teams' staff.
		{"a team terminal on a case in its team", teamTerminal(cid, "team:fraud"), note(cid, "north", "fiona"), stored(admit.AttestOffline)},
		{"a team terminal on a case in another team", teamTerminal(cid, "team:billing"), note(cid, "north", "fiona"),
			reject(wire.CloseForbiddenEvent, "case is not in the queue of a team this terminal serves")},
		{"a team terminal on a case in its branch's queue", teamTerminal(cid, "branch:north"), note(cid, "north", "fiona"),
			reject(wire.CloseForbiddenEvent, "case is not in the queue of a team this terminal serves")},
		{"a team terminal on a case the server does not hold", teamTerminal(cid, "team:fraud"), note(uid.New(), "north", "fiona"),
			reject(wire.CloseForbiddenEvent, "a team terminal acts only on cases the server holds")},
		{"a team terminal lying about the case's branch", teamTerminal(cid, "team:fraud"), note(cid, "hq", "fiona"),
			reject(wire.CloseForbiddenEvent, "event is for another branch than the complaint's")},
		{"a team terminal naming branch staff", teamTerminal(cid, "team:fraud"), note(cid, "north", "ann"),
			reject(wire.CloseForbiddenEvent, "staff account not in the case's team")},
		{"a team terminal filing", teamTerminal(cid, "team:fraud"), filed(t, "north"),
			reject(wire.CloseForbiddenEvent, "a team terminal does not file complaints")},
		{"a team terminal sending a case back to its branch", teamTerminal(cid, "team:fraud"),
			with(note(cid, "north", "fiona"), func(e *event.Event) { e.Type, e.Data = event.Assigned, []byte(`{"queue":"branch:north"}`) }),
			stored(admit.AttestOffline)},
		// Text the device did not clean is refused, not cleaned: the
		// server's copy must be the device's.
		{"a note with an escape sequence", nil, with(note(cid, "north", "ann"), func(e *event.Event) {
			e.Data, _ = json.Marshal(event.Text{Text: "see \x1b]8;;http://evil.example\x1b\\here"})
		}), reject(wire.CloseInvalidEvent, "event text holds control or invisible format characters")},
		{"a message with a zero-width space", nil, with(note(cid, "north", "ann"), func(e *event.Event) {
			e.Type, e.Data = event.MessageSent, []byte(`{"text":"re\u200bfund"}`)
		}), reject(wire.CloseInvalidEvent, "event text holds control or invisible format characters")},
		{"a filing whose description hides a bidi override", nil, refiled(t, func(c *complaint.Complaint) { c.Description = "invoice \u202egnp.exe" }),
			reject(wire.CloseInvalidEvent, "filed complaint text holds control or invisible format characters")},
		{"a filing with contact details and no consent", nil, refiled(t, func(c *complaint.Complaint) {
			c.Contact = &complaint.Contact{Name: "Ann", Email: "ann@example.org"}
		}), reject(wire.CloseInvalidEvent, "filed complaint text holds control or invisible format characters")},
		{"a filing with emoji and accents", nil, refiled(t, func(c *complaint.Complaint) { c.Description = "Très déçu 👩\u200d💻" }),
			stored(admit.AttestDevice)},
		// Attribution: inside a confirmed sign-in of that person on this
		// device, give or take the clocks' bound; else offline, refused
		// once older than the server allows.
		{"an action inside a confirmed session", func(v *admit.View) {
			v.Sessions["ann"] = []admit.Session{{ID: "s1", Start: t0.Add(-time.Hour), End: t0.Add(-time.Minute)}, {ID: "s2", Start: t0.Add(-time.Minute), End: t0.Add(time.Hour)}}
		}, note(cid, "north", "ann"), stored(admit.AttestSession + "s2")},
		{"an action just after its session ended", func(v *admit.View) {
			v.Sessions["ann"] = []admit.Session{{ID: "s1", Start: t0.Add(-time.Hour), End: t0.Add(-hlc.MaxAhead)}}
		}, note(cid, "north", "ann"), stored(admit.AttestSession + "s1")},
		{"an action long after its session ended", func(v *admit.View) {
			v.Sessions["ann"] = []admit.Session{{ID: "s1", Start: t0.Add(-time.Hour), End: t0.Add(-hlc.MaxAhead - time.Millisecond)}}
		}, note(cid, "north", "ann"), stored(admit.AttestOffline)},
		{"an action just after a sign-out", func(v *admit.View) {
			v.Sessions["ann"] = []admit.Session{{ID: "s1", Start: t0.Add(-time.Hour), End: t0.Add(-admit.SignOutSlack), SignedOut: true}}
		}, note(cid, "north", "ann"), stored(admit.AttestSession + "s1")},
		{"an action a minute after a sign-out: offline, not the ended session", func(v *admit.View) {
			v.Sessions["ann"] = []admit.Session{{ID: "s1", Start: t0.Add(-time.Hour), End: t0.Add(-time.Minute), SignedOut: true}}
		}, note(cid, "north", "ann"), stored(admit.AttestOffline)},
		{"another person's session does not cover", func(v *admit.View) {
			v.Sessions["sam"] = []admit.Session{{ID: "s3", Start: t0.Add(-time.Hour), End: t0.Add(time.Hour)}}
		}, note(cid, "north", "ann"), stored(admit.AttestOffline)},
		{"offline, within the bound", func(v *admit.View) { v.MaxOffline = 72 * time.Hour },
			with(note(cid, "north", "ann"), func(e *event.Event) { e.At = stamp(t0.Add(-71 * time.Hour)) }), stored(admit.AttestOffline)},
		{"offline, past the bound", func(v *admit.View) { v.MaxOffline = 72 * time.Hour },
			with(note(cid, "north", "ann"), func(e *event.Event) { e.At = stamp(t0.Add(-73 * time.Hour)) }),
			reject(wire.CloseForbiddenEvent, "recorded while signed in offline longer ago than the server allows: sign in while online")},
		{"a confirmed session needs no bound", func(v *admit.View) {
			v.MaxOffline = time.Hour
			v.Sessions["ann"] = []admit.Session{{ID: "s4", Start: t0.Add(-10 * time.Hour), End: t0.Add(-8 * time.Hour)}}
		}, with(note(cid, "north", "ann"), func(e *event.Event) { e.At = stamp(t0.Add(-9 * time.Hour)) }), stored(admit.AttestSession + "s4")},
		{"an agent reopening", nil, reopen, reject(wire.CloseForbiddenEvent, staff.Why(staff.Agent, event.Reopened))},
		{"a supervisor reopening", nil, with(reopen, func(e *event.Event) { e.Actor.ID = "sam" }), stored(admit.AttestOffline)},
		{"an event without a type", nil, with(note(cid, "north", "ann"), func(e *event.Event) { e.Type = "" }),
			reject(wire.CloseInvalidEvent, "event lacks id, complaint id, type, branch or actor")},
		{"a clock reading out of range", nil, with(note(cid, "north", "ann"), func(e *event.Event) { e.At = 1 << 63 }),
			reject(wire.CloseInvalidEvent, "event clock reading out of range")},
		{"a filing whose data is no complaint", nil, with(filed(t, "north"), func(e *event.Event) { e.Data = []byte(`{"id":1}`) }),
			reject(wire.CloseInvalidEvent, "filed event data is not a complaint")},
		{"a complaint filed twice", nil, with(filed(t, "north"), func(e *event.Event) {
			c, _ := e.Complaint()
			c.ID, e.ComplaintID = cid, cid
			*e, _ = event.NewFiled(c, e.Actor, e.At)
		}), reject(wire.CloseInvalidEvent, "complaint is already filed")},
		{"a tracking code already used", func(v *admit.View) {
			c, _ := ours.Complaint()
			v.Codes[c.Code] = true
		}, with(filed(t, "north"), func(e *event.Event) {
			c, _ := e.Complaint()
			o, _ := ours.Complaint()
			c.Code = o.Code
			*e, _ = event.NewFiled(c, e.Actor, e.At)
		}), reject(wire.CloseInvalidEvent, "tracking code already used by another complaint")},
		{"an event id stored under another seq", nil, ours, reject(wire.CloseConflict, "event id already stored under another device seq")},
		{"the event its slot holds: a duplicate", func(v *admit.View) {
			v.Slots[2] = admit.Slot{Kind: admit.SlotStored, EventID: "held"}
		}, with(note(cid, "north", "ann"), func(e *event.Event) { e.ID = "held" }), admit.Decision{Verdict: admit.Duplicate}},
		{"the event an alias slot holds: a duplicate", func(v *admit.View) {
			v.Slots[2] = admit.Slot{Kind: admit.SlotAlias, EventID: "held"}
		}, with(note(cid, "north", "ann"), func(e *event.Event) { e.ID = "held" }), admit.Decision{Verdict: admit.Duplicate}},
		{"the event its slot holds, read back: a duplicate", func(v *admit.View) {
			held := with(note(cid, "north", "ann"), func(e *event.Event) { e.ID = "held" })
			v.Slots[2] = admit.Slot{Kind: admit.SlotStored, EventID: "held", Held: &held}
		}, with(note(cid, "north", "ann"), func(e *event.Event) { e.ID = "held" }), admit.Decision{Verdict: admit.Duplicate}},
		{"the event its slot holds, data spaced otherwise: a duplicate", func(v *admit.View) {
			held := with(note(cid, "north", "ann"), func(e *event.Event) { e.ID = "held" })
			v.Slots[2] = admit.Slot{Kind: admit.SlotStored, EventID: "held", Held: &held}
		}, with(note(cid, "north", "ann"), func(e *event.Event) { e.ID, e.Data = "held", json.RawMessage(`{ "text" : "called the customer" }`) }),
			admit.Decision{Verdict: admit.Duplicate}},
		{"its slot's event id with other data: altered", func(v *admit.View) {
			held := with(note(cid, "north", "ann"), func(e *event.Event) { e.ID = "held" })
			v.Slots[2] = admit.Slot{Kind: admit.SlotStored, EventID: "held", Held: &held}
		}, with(note(cid, "north", "ann"), func(e *event.Event) { e.ID, e.Data = "held", json.RawMessage(`{"text":"never called"}`) }),
			admit.Decision{Verdict: admit.Reject, Code: wire.CloseAltered, Reason: "device seq already holds this event id with other content"}},
		{"its slot's event id with another clock: altered", func(v *admit.View) {
			held := with(note(cid, "north", "ann"), func(e *event.Event) { e.ID = "held" })
			v.Slots[2] = admit.Slot{Kind: admit.SlotStored, EventID: "held", Held: &held}
		}, with(note(cid, "north", "ann"), func(e *event.Event) { e.ID, e.At = "held", e.At+1 }),
			admit.Decision{Verdict: admit.Reject, Code: wire.CloseAltered, Reason: "device seq already holds this event id with other content"}},
		{"another event at a held slot", func(v *admit.View) {
			v.Slots[2] = admit.Slot{Kind: admit.SlotStored, EventID: "held"}
		}, note(cid, "north", "ann"), admit.Decision{Verdict: admit.Reject, Code: wire.CloseConflict, Reason: "device seq already holds another event"}},
		{"a rejection resent: the same answer, not recorded again", func(v *admit.View) {
			v.Slots[2] = admit.Slot{Kind: admit.SlotRejected, EventID: "held", Code: wire.CloseForbiddenEvent, Reason: "unknown staff account"}
		}, with(note(cid, "north", "ann"), func(e *event.Event) { e.ID = "held" }),
			admit.Decision{Verdict: admit.Reject, Code: wire.CloseForbiddenEvent, Reason: "unknown staff account"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := view()
			v.Stored[ours.ID], v.Filed[cid], v.Branches[cid] = true, true, "north"
			v.Slots[1] = admit.Slot{Kind: admit.SlotStored, EventID: ours.ID}
			if tt.edit != nil {
				tt.edit(v)
			}
			got := admit.Prepare(numbered(ours, tt.second)).Decide(v)
			if want := (admit.Decision{Verdict: admit.Duplicate}); got[0] != want {
				t.Errorf("first event = %+v, want %+v", got[0], want)
			}
			if got[1] != tt.want {
				t.Errorf("decision = %+v, want %+v", got[1], tt.want)
			}
		})
	}
}

// refiled is a new filing of north whose complaint edit changes.
func refiled(tb testing.TB, edit func(*complaint.Complaint)) event.Event {
	tb.Helper()
	e := filed(tb, "north")
	c, _ := e.Complaint()
	edit(&c)
	out, err := event.NewFiled(c, e.Actor, e.At)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// withPrefix refiles e's complaint under a code with prefix p, filed at.
func withPrefix(tb testing.TB, e event.Event, p string, at time.Time) event.Event {
	tb.Helper()
	code, err := trackcode.Generate(p)
	if err != nil {
		tb.Fatal(err)
	}
	c, _ := e.Complaint()
	c.Code, c.FiledAt = string(code), at
	out, err := event.NewFiled(c, e.Actor, e.At)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// teamTerminal makes the device a team terminal of head office for team
// fraud, with complaint cid queued to queue and fiona of the fraud team.
func teamTerminal(cid, queue string) func(*admit.View) {
	return func(v *admit.View) {
		v.Device = admit.Device{ID: "dev-9", Branch: "hq", Role: device.Team, Teams: []string{"fraud"}, Prefix: "T3M"}
		v.Queues[cid] = storage.QueueMark{Queue: queue, At: stamp(t0.Add(-time.Hour)), EventID: "a1"}
		v.Staff["fiona"] = admit.Account{Branch: "hq", Teams: []string{"fraud"}, Role: staff.Agent}
	}
}

func stored(attest string) admit.Decision {
	return admit.Decision{Verdict: admit.Store, Attest: attest}
}

func reject(code wire.CloseCode, reason string) admit.Decision {
	return admit.Decision{Verdict: admit.Reject, Code: code, Reason: reason, Record: true}
}

// TestDecideSeesEarlierEventsOfTheBatch: an event sees the batch's earlier
// stored events as stored, and never the rejected ones.
func TestDecideSeesEarlierEventsOfTheBatch(t *testing.T) {
	a := filed(t, "north")
	forbidden := with(filed(t, "north"), func(e *event.Event) { e.Actor = event.Actor{Kind: event.ActorCustomer} })
	batch := numbered(
		a,
		a,                                   // the same event twice: its id is now stored
		note(a.ComplaintID, "north", "ann"), // on a complaint filed earlier in the batch
		forbidden,
		note(forbidden.ComplaintID, "south", "ann"), // the complaint was never stored, the branch still wrong
		with(filed(t, "north"), func(e *event.Event) { // another complaint with a's code
			c, _ := e.Complaint()
			ca, _ := a.Complaint()
			c.Code = ca.Code
			*e, _ = event.NewFiled(c, e.Actor, e.At)
		}),
	)
	got := admit.Prepare(batch).Decide(view())
	want := []admit.Verdict{admit.Store, admit.Reject, admit.Store, admit.Reject, admit.Reject, admit.Reject}
	for i := range want {
		if got[i].Verdict != want[i] {
			t.Errorf("event %d: %+v, want verdict %d", i+1, got[i], want[i])
		}
	}
	if got[1].Code != wire.CloseConflict || got[5].Reason != "tracking code already used by another complaint" {
		t.Errorf("decisions = %+v", got)
	}
}

// TestKeys: what the storage must look up for a batch, each key once.
func TestKeys(t *testing.T) {
	a := filed(t, "north")
	n1, n2 := note(a.ComplaintID, "north", "ann"), note(a.ComplaintID, "north", "sam")
	n3 := note(a.ComplaintID, "north", "ann")
	b := admit.Prepare([]wire.DeviceEvent{{Seq: 7, Event: a}, {Seq: 8, Event: n1}, {Seq: 9, Event: n2}, {Seq: 10, Event: n3}})
	k := b.Keys()
	c, _ := a.Complaint()
	switch {
	case k.FirstSeq != 7 || k.LastSeq != 10:
		t.Errorf("seqs %d..%d, want 7..10", k.FirstSeq, k.LastSeq)
	case !slices.Equal(k.EventIDs, []string{a.ID, n1.ID, n2.ID, n3.ID}):
		t.Errorf("event ids %v", k.EventIDs)
	case !slices.Equal(k.ComplaintIDs, []string{a.ComplaintID}):
		t.Errorf("complaint ids %v", k.ComplaintIDs)
	case !slices.Equal(k.FiledIDs, []string{c.ID}) || !slices.Equal(k.Codes, []string{c.Code}):
		t.Errorf("filed %v codes %v", k.FiledIDs, k.Codes)
	case !slices.Equal(k.StaffIDs, []string{"ann", "sam"}):
		t.Errorf("staff %v", k.StaffIDs)
	case !slices.Equal(k.Prefixes, []string{"K7Q"}):
		t.Errorf("prefixes %v", k.Prefixes)
	}
	if b.Filed(0) == nil || b.Filed(0).Code != c.Code || b.Filed(1) != nil {
		t.Errorf("Filed(0) = %v, Filed(1) = %v", b.Filed(0), b.Filed(1))
	}
}

// decision turns e into a staff decision giving the customer within to
// answer.
func decision(e event.Event, within time.Duration) event.Event {
	e.Type = event.Responded
	b, err := json.Marshal(event.Decision{Text: "No fault.", AnswerBy: e.At.Time().Add(within)})
	if err != nil {
		panic(err)
	}
	e.Data = b
	return e
}

// TestDecideConsole: the web console's device for branch north acts for
// the signed-in person within their console scope (home branch, the
// branches their scope adds, their teams' queues), only under a session,
// and files nothing.
func TestDecideConsole(t *testing.T) {
	cid := uid.New()
	console := func(queue string) *admit.View {
		v := view()
		v.Device = admit.Device{ID: "console.north", Branch: "north", Role: device.Console, Prefix: "console:north"}
		v.Branches[cid] = "north"
		v.Queues[cid] = storage.QueueMark{Queue: queue, At: stamp(t0.Add(-time.Hour)), EventID: "a1"}
		v.Staff["rita"] = admit.Account{Branch: "hq", Branches: []string{"north", "east"}, Role: staff.Manager}
		v.Staff["all"] = admit.Account{Branch: "hq", Branches: []string{"*"}, Role: staff.Administrator}
		v.Staff["fiona"] = admit.Account{Branch: "hq", Teams: []string{"fraud"}, Role: staff.Agent}
		for _, who := range []string{"ann", "olga", "rita", "all", "fiona", "sam"} {
			v.Sessions[who] = []admit.Session{{ID: "c-" + who + "@north", Start: t0.Add(-time.Hour), End: t0.Add(time.Hour)}}
		}
		return v
	}
	reopen := func(who string) event.Event {
		return with(note(cid, "north", who), func(e *event.Event) { e.Type, e.Data = event.Reopened, []byte(`{"text":"again"}`) })
	}
	tests := []struct {
		name  string
		queue string
		edit  func(*admit.View)
		e     event.Event
		want  admit.Decision
	}{
		{"an agent of the branch", "branch:north", nil, note(cid, "north", "ann"), stored(admit.AttestSession + "c-ann@north")},
		{"a manager whose scope adds the branch", "branch:north", nil, note(cid, "north", "rita"), stored(admit.AttestSession + "c-rita@north")},
		{"an administrator over every branch", "branch:north", nil, note(cid, "north", "all"), stored(admit.AttestSession + "c-all@north")},
		{"a team member on a case in the team's queue", "team:fraud", nil, note(cid, "north", "fiona"), stored(admit.AttestSession + "c-fiona@north")},
		{"a team member on a case in the branch's queue", "branch:north", nil, note(cid, "north", "fiona"),
			reject(wire.CloseForbiddenEvent, "case outside the staff account's scope")},
		{"an agent of another branch", "branch:north", nil, note(cid, "north", "olga"),
			reject(wire.CloseForbiddenEvent, "case outside the staff account's scope")},
		{"without a session", "branch:north", func(v *admit.View) { delete(v.Sessions, "ann") }, note(cid, "north", "ann"),
			reject(wire.CloseForbiddenEvent, "no console sign-in covers this action: sign in again")},
		{"an agent reopening", "branch:north", nil, reopen("ann"), reject(wire.CloseForbiddenEvent, "only a supervisor may do this")},
		{"a supervisor reopening", "branch:north", nil, reopen("sam"), stored(admit.AttestSession + "c-sam@north")},
		{"a case the server does not hold", "branch:north", nil, note(uid.New(), "north", "ann"),
			reject(wire.CloseForbiddenEvent, "the web console acts only on cases the server holds")},
		{"another branch's case through this device", "branch:north", func(v *admit.View) { v.Branches[cid] = "south" }, note(cid, "north", "all"),
			reject(wire.CloseForbiddenEvent, "complaint belongs to another branch")},
		{"filing", "branch:north", nil, with(filed(t, "north"), func(e *event.Event) { e.Actor = event.Actor{Kind: event.ActorStaff, ID: "ann"} }),
			reject(wire.CloseForbiddenEvent, "the web console does not file complaints")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := console(tc.queue)
			if tc.edit != nil {
				tc.edit(v)
			}
			got := admit.Prepare(numbered(tc.e)).Decide(v)[0]
			got.Record = false
			want := tc.want
			want.Record = false
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
	if !admit.ConsoleCovers(admit.Account{Branch: "north"}, "north", "") || admit.ConsoleCovers(admit.Account{Branch: "north", Teams: []string{"fraud"}}, "south", "team:") {
		t.Error("ConsoleCovers: home branch not covered, or an empty team id matched")
	}
}
