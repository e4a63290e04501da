package cases_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ombud/server/admit"
	"ombud/server/cases"
	"ombud/server/dispatch"
	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/shared/complaint"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/sla"
	staffacct "ombud/shared/staff"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

const dispatchConfig = `{
  "queues": [{"id": "safety"}, {"id": "billing"}, {"id": "office"}, {"id": "escalations"}],
  "rules": [
    {"name": "fraud words", "when": {"words": ["fraud"]}, "queue": "team:safety"},
    {"name": "critical", "when": {"severity": ["critical"]}, "queue": "team:office"},
    {"name": "billing category", "when": {"category": ["billing"]}, "queue": "team:billing"}
  ]
}`

const slaConfig = `{
  "calendars": {"default": {"time_zone": "Europe/Paris", "hours": {
    "mon": ["09:00-17:00"], "tue": ["09:00-17:00"], "wed": ["09:00-17:00"],
    "thu": ["09:00-17:00"], "fri": ["09:00-17:00"]}}},
  "policies": [{"acknowledge": "16h", "respond": "80h"}]
}`

var paris = mustZone("Europe/Paris")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// at is a wall time in Paris, March 2026 (before the DST change on the 29th).
// 6 March 2026 is a Friday.
func at(day, hour, minute int) time.Time {
	return time.Date(2026, 3, day, hour, minute, 0, 0, paris)
}

// fakeClock is the engine's injected wall clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// env is one branch's device pushing into a real SQLite store, and the
// case engine on top.
type env struct {
	t      testing.TB
	path   string
	store  *sqlite.Store
	dev    storage.Device
	seq    int64
	clock  *fakeClock
	rules  *dispatch.Rules
	sla    *sla.Config
	routes atomic.Int64 // calls of Config.Dispatch: one per routing decision
}

func newEnv(t testing.TB) *env {
	t.Helper()
	rules, err := dispatch.Parse([]byte(dispatchConfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := sla.Parse([]byte(slaConfig))
	if err != nil {
		t.Fatal(err)
	}
	v := &env{t: t, path: filepath.Join(t.TempDir(), "ombud.db"), clock: &fakeClock{now: at(6, 16, 0)}, rules: rules, sla: cfg}
	v.open()
	t.Cleanup(func() { v.store.Close() })
	ctx := context.Background()
	if err := v.store.CreateBranch(ctx, "north", "North"); err != nil {
		t.Fatal(err)
	}
	code := sha256.Sum256([]byte("code"))
	if err := v.store.CreateEnrolment(ctx, storage.Enrolment{Branch: "north", CodeHash: code[:], ExpiresAt: time.Now().Add(time.Hour), Role: device.Staff}); err != nil {
		t.Fatal(err)
	}
	cred := sha256.Sum256([]byte("cred"))
	if v.dev, err = v.store.RedeemEnrolment(ctx, code[:], time.Now(), "kiosk-1", cred[:]); err != nil {
		t.Fatal(err)
	}
	// Push takes staff events only from an account of the device's branch.
	pin, err := staffacct.HashPINWith("482913", staffacct.TestCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.store.CreateStaff(ctx, staffacct.Account{ID: staff.ID, Name: "Staff One", Role: staffacct.Supervisor, Branch: "north", PINHash: pin}); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *env) open() {
	v.t.Helper()
	// The scenarios are dated months back on the fake clock, so the bound
	// on offline staff actions (measured on the real clock) is lifted.
	s, err := sqlite.OpenWith(context.Background(), v.path, sqlite.Options{Admission: admit.Policy{MaxOffline: 100 * 365 * 24 * time.Hour}})
	if err != nil {
		v.t.Fatal(err)
	}
	v.store = s
}

// reopen closes the store and opens the file again: a server restart.
func (v *env) reopen() {
	v.t.Helper()
	if err := v.store.Close(); err != nil {
		v.t.Fatal(err)
	}
	v.open()
}

func (v *env) config() cases.Config {
	return cases.Config{
		Store: v.store,
		Dispatch: func() *dispatch.Rules {
			v.routes.Add(1)
			return v.rules
		},
		SLA:             v.sla,
		EscalationQueue: "team:escalations",
		Now:             v.clock.Now,
		PageSize:        3, // several pages even in small tests
	}
}

func (v *env) engine(edit ...func(*cases.Config)) *cases.Engine {
	v.t.Helper()
	cfg := v.config()
	for _, f := range edit {
		f(&cfg)
	}
	e, err := cases.New(cfg)
	if err != nil {
		v.t.Fatal(err)
	}
	return e
}

// push stores events as the sync hub does, and fails on any rejection.
func (v *env) push(events ...event.Event) {
	v.t.Helper()
	batch := make([]wire.DeviceEvent, len(events))
	for i, e := range events {
		v.seq++
		batch[i] = wire.DeviceEvent{Seq: v.seq, Event: e}
	}
	res, err := v.store.Push(context.Background(), v.dev.ID, batch)
	if err != nil {
		v.t.Fatal(err)
	}
	if len(res.Rejected) > 0 {
		v.t.Fatalf("push rejected: %+v", res.Rejected)
	}
}

// file pushes a Filed event and returns the complaint id.
func (v *env) file(when time.Time, category, description string) string {
	v.t.Helper()
	code, err := trackcode.Generate(v.dev.Prefix)
	if err != nil {
		v.t.Fatal(err)
	}
	c := complaint.Complaint{
		ID: uid.NewAt(when), Code: string(code), Branch: v.dev.Branch, Device: v.dev.ID,
		Channel: complaint.ChannelKiosk, Category: category, Description: description,
		Language: "en", FiledAt: when.UTC(),
	}
	e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: v.dev.ID}, stampAt(when))
	if err != nil {
		v.t.Fatal(err)
	}
	v.push(e)
	return c.ID
}

var staff = event.Actor{Kind: event.ActorStaff, ID: "staff-1"}

// staffEvent makes an event a staff terminal would push.
func (v *env) staffEvent(complaintID string, typ event.Type, when time.Time, data any) event.Event {
	v.t.Helper()
	var raw json.RawMessage
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			v.t.Fatal(err)
		}
		raw = b
	}
	return event.Event{
		ID: uid.NewAt(when), ComplaintID: complaintID, Type: typ, Actor: staff,
		At: stampAt(when), Branch: v.dev.Branch, Data: raw,
	}
}

func (v *env) act(complaintID string, typ event.Type, when time.Time, data any) {
	v.t.Helper()
	v.push(v.staffEvent(complaintID, typ, when, data))
}

func stampAt(t time.Time) hlc.Timestamp { return hlc.Make(t.UnixMilli(), 0) }

func mustCatchUp(tb testing.TB, e *cases.Engine) {
	tb.Helper()
	if err := e.CatchUp(context.Background()); err != nil {
		tb.Fatalf("catch up: %v", err)
	}
}

func mustTick(tb testing.TB, e *cases.Engine, now time.Time) {
	tb.Helper()
	if err := e.Tick(context.Background(), now); err != nil {
		tb.Fatalf("tick at %v: %v", now, err)
	}
}

func (v *env) row(e *cases.Engine, id string) cases.Row {
	v.t.Helper()
	r, err := e.Case(context.Background(), id)
	if err != nil {
		v.t.Fatalf("case %s: %v", id, err)
	}
	return r
}

// eventsOf returns the stored events of a complaint of type typ.
func (v *env) eventsOf(id string, typ event.Type) []event.Event {
	v.t.Helper()
	stored, err := v.store.ComplaintEvents(context.Background(), id)
	if err != nil {
		v.t.Fatal(err)
	}
	var out []event.Event
	for _, se := range stored {
		if se.Event.Type == typ {
			out = append(out, se.Event)
		}
	}
	return out
}

// allRows pages through the whole projection.
func (v *env) allRows() []cases.Row {
	v.t.Helper()
	var out []cases.Row
	for after := ""; ; {
		page, err := v.store.CasesAfter(context.Background(), after, 2)
		if err != nil {
			v.t.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].ComplaintID
	}
}

func decode[T any](tb testing.TB, e event.Event) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal(e.Data, &v); err != nil {
		tb.Fatalf("decode %s data %s: %v", e.Type, e.Data, err)
	}
	return v
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func fmtTimes(ts ...time.Time) string {
	s := ""
	for _, t := range ts {
		if t.IsZero() {
			s += " -"
			continue
		}
		s += " " + t.In(paris).Format("Mon 2 Jan 15:04")
	}
	return s
}
