// Package deliverytest gives the outbound packages' tests (delivery,
// notify, webhook) a real server store with a branch, a staff terminal and
// its agent, so they file complaints and record staff steps through the
// same Push the sync hub uses. For tests only.
package deliverytest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"ombud/server/admit"
	"ombud/server/notify"
	"ombud/server/storage"
	"ombud/server/storage/postgres"
	"ombud/server/storage/postgres/pgtest"
	"ombud/server/storage/sqlite"
	"ombud/server/webhook"
	"ombud/shared/complaint"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	staffacct "ombud/shared/staff"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// Staff is the agent every staff event names.
var Staff = event.Actor{Kind: event.ActorStaff, ID: "agent-1"}

// Store is what the outbound packages need of the server's storage.
type Store interface {
	storage.Store
	notify.Store
	webhook.Store
}

// Backend is a storage backend the tests can run on.
type Backend struct {
	Name string
	// New returns the location of a fresh database, removed at cleanup.
	New func(tb testing.TB) string
	// Open opens the database at loc.
	Open func(ctx context.Context, loc string, policy admit.Policy) (Store, error)
}

// SQLite is the embedded default: a file in the test's temp dir.
var SQLite = Backend{
	Name: "sqlite",
	New:  func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "server.db") },
	Open: func(ctx context.Context, path string, policy admit.Policy) (Store, error) {
		return sqlite.OpenWith(ctx, path, sqlite.Options{Admission: policy})
	},
}

// Postgres is a fresh schema on the test PostgreSQL (package pgtest: a test
// without one is skipped, or fails under CI=true).
var Postgres = Backend{
	Name: "postgres",
	New:  pgtest.DSN,
	Open: func(ctx context.Context, dsn string, policy admit.Policy) (Store, error) {
		return postgres.OpenWith(ctx, dsn, postgres.Options{Admission: policy})
	},
}

// Backends are every backend, for tests that run on each.
var Backends = []Backend{SQLite, Postgres}

// Env is one branch's staff terminal pushing into a real database.
type Env struct {
	tb      testing.TB
	backend Backend
	Path    string // the database's location
	Store   Store
	Dev     storage.Device
	seq     int64
	clock   *hlc.Clock
}

// New is NewOn(tb, SQLite).
func New(tb testing.TB) *Env { return NewOn(tb, SQLite) }

// NewOn opens a store on a fresh database of backend b, with branch
// "main", a staff terminal and its agent. The store is closed at cleanup
// (whichever is open then).
func NewOn(tb testing.TB, b Backend) *Env {
	tb.Helper()
	v := &Env{tb: tb, backend: b, Path: b.New(tb), clock: hlc.New(nil)}
	v.open()
	tb.Cleanup(func() {
		if v.Store != nil {
			v.Store.Close()
		}
	})
	ctx := context.Background()
	if err := v.Store.CreateBranch(ctx, "main", "Main Street"); err != nil {
		tb.Fatal(err)
	}
	code := sha256.Sum256([]byte("code"))
	if err := v.Store.CreateEnrolment(ctx, storage.Enrolment{Branch: "main", CodeHash: code[:], ExpiresAt: time.Now().Add(time.Hour), Role: device.Staff}); err != nil {
		tb.Fatal(err)
	}
	cred := sha256.Sum256([]byte("cred"))
	var err error
	if v.Dev, err = v.Store.RedeemEnrolment(ctx, code[:], time.Now(), "terminal-1", cred[:]); err != nil {
		tb.Fatal(err)
	}
	pin, err := staffacct.HashPINWith("482913", staffacct.TestCost)
	if err != nil {
		tb.Fatal(err)
	}
	if err := v.Store.CreateStaff(ctx, staffacct.Account{ID: Staff.ID, Name: "Agent One", Role: staffacct.Supervisor, Branch: "main", PINHash: pin}); err != nil {
		tb.Fatal(err)
	}
	return v
}

func (v *Env) open() {
	v.tb.Helper()
	s, err := v.backend.Open(context.Background(), v.Path, admit.Policy{MaxOffline: 24 * time.Hour})
	if err != nil {
		v.tb.Fatal(err)
	}
	v.Store = s
}

// Close closes the store: the server stops.
func (v *Env) Close() {
	v.tb.Helper()
	if err := v.Store.Close(); err != nil {
		v.tb.Fatal(err)
	}
	v.Store = nil
}

// Reopen opens the database again: the server restarts.
func (v *Env) Reopen() {
	v.tb.Helper()
	if v.Store != nil {
		v.Close()
	}
	v.open()
}

// Push stores events as the sync hub does and fails on any rejection.
func (v *Env) Push(events ...event.Event) {
	v.tb.Helper()
	batch := make([]wire.DeviceEvent, len(events))
	for i, e := range events {
		v.seq++
		batch[i] = wire.DeviceEvent{Seq: v.seq, Event: e}
	}
	res, err := v.Store.Push(context.Background(), v.Dev.ID, batch)
	if err != nil {
		v.tb.Fatal(err)
	}
	if len(res.Rejected) > 0 {
		v.tb.Fatalf("push rejected: %+v", res.Rejected)
	}
}

// Contact is a customer's details with consent.
func Contact(email, phone string) *complaint.Contact {
	return &complaint.Contact{
		Name: "Ana Lima", Email: email, Phone: phone, ConsentAt: time.Now().Add(-time.Minute).UTC(), NoticeVersion: "2026-1",
	}
}

// File files a complaint in lang with the contact (nil: none) and returns
// it.
func (v *Env) File(lang, description string, contact *complaint.Contact) complaint.Complaint {
	v.tb.Helper()
	code, err := trackcode.Generate(v.Dev.Prefix)
	if err != nil {
		v.tb.Fatal(err)
	}
	now := time.Now()
	c := complaint.Complaint{
		ID: uid.NewAt(now), Code: string(code), Branch: v.Dev.Branch, Device: v.Dev.ID,
		Channel: complaint.ChannelKiosk, Category: "billing", Description: description,
		DesiredOutcome: "Refund the fee.", Contact: contact, Language: lang, FiledAt: now.UTC(),
	}
	e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: v.Dev.ID}, v.clock.Now())
	if err != nil {
		v.tb.Fatal(err)
	}
	v.Push(e)
	return c
}

// Step makes a staff event on complaint id (not stored: see Act).
func (v *Env) Step(id string, typ event.Type, data any) event.Event {
	v.tb.Helper()
	var raw json.RawMessage
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			v.tb.Fatal(err)
		}
		raw = b
	}
	return event.Event{ID: uid.New(), ComplaintID: id, Type: typ, Actor: Staff, At: v.clock.Now(), Branch: v.Dev.Branch, Data: raw}
}

// Act stores staff steps on complaint id and returns them.
func (v *Env) Act(id string, steps ...Action) []event.Event {
	v.tb.Helper()
	var es []event.Event
	for _, s := range steps {
		es = append(es, v.Step(id, s.Type, s.Data))
	}
	v.Push(es...)
	return es
}

// Action is one staff step.
type Action struct {
	Type event.Type
	Data any
}

// ToAnswer are the steps from receipt to a recorded answer.
func ToAnswer(answer string) []Action {
	return []Action{
		{event.Acknowledged, nil},
		{event.Assessed, event.Assessment{Severity: event.SeverityMedium, Priority: 3}},
		{event.Responded, event.Text{Text: answer}},
	}
}

// WaitFor polls cond until it holds or 20 s pass.
func WaitFor(tb testing.TB, what string, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s; last: %s", what, state)
		}
		<-tick.C
	}
}

// Accepted records the customer's acceptance on a closure: staff may close
// a decided case before the customer's answer period ends only with it
// (lifecycle, ISO 10002 8.9).
func Accepted() *bool { yes := true; return &yes }
