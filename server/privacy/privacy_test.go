package privacy_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"ombud/server/cases"
	"ombud/server/privacy"
	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/shared/complaint"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/retention"
	"ombud/shared/staff"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// world is a real SQLite store with a staff terminal that files and closes
// cases, and the case engine's projection.
type world struct {
	st    *sqlite.Store
	dev   storage.Device
	seq   int64
	clock *hlc.Clock
	eng   *cases.Engine
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateBranch(ctx, "main", "Main"); err != nil {
		t.Fatal(err)
	}
	hash, err := staff.HashPINWith("482913", staff.Cost{MemoryKiB: 64, Passes: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateStaff(ctx, staff.Account{ID: "ann", Name: "Ann", Role: staff.Agent, Branch: "main", PINHash: hash}); err != nil {
		t.Fatal(err)
	}
	code := []byte(uid.New())
	if err := st.CreateEnrolment(ctx, storage.Enrolment{Branch: "main", CodeHash: code, ExpiresAt: time.Now().Add(time.Hour), Role: device.Staff}); err != nil {
		t.Fatal(err)
	}
	d, err := st.RedeemEnrolment(ctx, code, time.Now(), "term-1", []byte("cred"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := cases.New(cases.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return &world{st: st, dev: d, clock: hlc.New(nil), eng: eng}
}

// closedCase files a case of category with contact details and takes it to
// closure; it returns the complaint and when it was closed.
func (w *world) closedCase(t *testing.T, category string) (complaint.Complaint, time.Time) {
	t.Helper()
	ctx := context.Background()
	tc, err := trackcode.Generate(w.dev.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	c := complaint.Complaint{ID: uid.New(), Code: string(tc), Branch: "main", Device: w.dev.ID, Channel: complaint.ChannelKiosk,
		Category: category, Description: "words of " + category, Language: "en", FiledAt: time.Now().UTC().Truncate(time.Millisecond),
		Contact: &complaint.Contact{Email: "x@example.org", ConsentAt: time.Now().UTC(), NoticeVersion: "kiosk-privacy-1/en"}}
	filed, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: w.dev.ID}, w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	batch := []wire.DeviceEvent{{Event: filed}}
	staffEv := func(typ event.Type, v any) {
		var data []byte
		if v != nil {
			data, _ = json.Marshal(v)
		}
		batch = append(batch, wire.DeviceEvent{Event: event.Event{ID: uid.New(), ComplaintID: c.ID, Type: typ,
			Actor: event.Actor{Kind: event.ActorStaff, ID: "ann"}, At: w.clock.Now(), Branch: "main", Data: data}})
	}
	staffEv(event.Acknowledged, nil)
	staffEv(event.Assessed, event.Assessment{Severity: event.SeverityLow, Priority: 3})
	staffEv(event.Responded, event.Text{Text: "answer for " + category})
	yes := true
	staffEv(event.Closed, event.Closure{CustomerAccepted: &yes, Text: "closing words"})
	for i := range batch {
		w.seq++
		batch[i].Seq = w.seq
	}
	if res, err := w.st.Push(ctx, w.dev.ID, batch); err != nil || res.Stored != len(batch) {
		t.Fatalf("push: %+v, %v", res, err)
	}
	if err := w.eng.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	row, err := w.st.Case(ctx, c.ID)
	if err != nil || row.State != "closed" {
		t.Fatalf("case = %+v, %v", row, err)
	}
	return c, row.ClosedAt
}

func redactions(t *testing.T, st *sqlite.Store, id string) int {
	t.Helper()
	evs, err := st.ComplaintEvents(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Event.Type == event.Redacted {
			n++
		}
	}
	return n
}

// TestRetentionTick: each case is redacted once its category's period has
// run out, exactly once, and a held case never.
func TestRetentionTick(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	billing, closed := w.closedCase(t, "billing") // 24 months
	cards, _ := w.closedCase(t, "cards")          // the default, 12
	heldCase, _ := w.closedCase(t, "cards")
	if err := w.st.SetHold(ctx, storage.Hold{ComplaintID: heldCase.ID, Reason: "court order", SetBy: "sup", SetAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	policy := retention.Policy{DefaultMonths: 12, Categories: map[string]int{"billing": 24}}
	svc := privacy.New(privacy.Config{Store: w.st, Policy: policy, Ledger: privacy.OpenLedger(t.TempDir())})

	for _, step := range []struct {
		at             time.Time
		n              int
		billing, cards int
	}{
		{closed.AddDate(0, 11, 27), 0, 0, 0},
		{closed.AddDate(0, 12, 1), 1, 0, 1},
		{closed.AddDate(0, 13, 0), 0, 0, 1}, // once
		{closed.AddDate(0, 24, 1), 1, 1, 1},
		{closed.AddDate(0, 30, 0), 0, 1, 1},
	} {
		n, err := svc.RetentionTick(ctx, step.at)
		if err != nil || n != step.n {
			t.Fatalf("tick at %s: %d, %v; want %d", step.at, n, err, step.n)
		}
		if err := w.eng.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		if b, c, h := redactions(t, w.st, billing.ID), redactions(t, w.st, cards.ID), redactions(t, w.st, heldCase.ID); b != step.billing || c != step.cards || h != 0 {
			t.Fatalf("at %s: redactions billing %d cards %d held %d; want %d %d 0", step.at, b, c, h, step.billing, step.cards)
		}
	}
	// The redacted events name the rule applied.
	evs, _ := w.st.ComplaintEvents(ctx, billing.ID)
	last := evs[len(evs)-1].Event
	var r event.Redaction
	if err := json.Unmarshal(last.Data, &r); err != nil || r.Policy != "retention: 24 months after closure (category billing)" || r.Months != 24 || last.Actor.ID != "retention" {
		t.Fatalf("redaction = %+v %s, %v", last.Actor, last.Data, err)
	}
	// A redacted case keeps its figures.
	row, err := w.st.Case(ctx, billing.ID)
	if err != nil || row.State != "closed" || row.Category != "billing" || !row.ClosedAt.Equal(closed) {
		t.Fatalf("case after redaction = %+v, %v", row, err)
	}
	rep, err := w.st.AuditVerify(ctx, nil)
	if err != nil || rep.Break != nil {
		t.Fatalf("audit verify: %+v, %v", rep, err)
	}
}
