package cases_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/kiosk/store/signin"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/staff"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
)

// db is a kiosk database as the staff terminal opens it: the store with
// the case projection, the case queue on it, and the staff accounts.
type db struct {
	*store.Store
	*cases.Queue
	*signin.Accounts
}

// Changes is the store's commit feed (the queue forwards the same).
func (d db) Changes() (<-chan struct{}, func()) { return d.Store.Changes() }

// MustOpen opens a database on a fresh file in tb's temp dir and closes it
// at the end of the test. The busy timeout is short so lock tests are quick.
func MustOpen(tb testing.TB) (db, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "kiosk.db")
	return MustOpenPath(tb, path), path
}

// MustOpenPath opens the database at path and closes it at the end of the
// test.
func MustOpenPath(tb testing.TB, path string) db {
	tb.Helper()
	return mustOpenWith(tb, path, cases.Options{})
}

// mustOpenWith opens the database at path with a projection made of opts.
func mustOpenWith(tb testing.TB, path string, opts cases.Options) db {
	tb.Helper()
	p := cases.NewProjection(opts)
	st, err := store.OpenWith(context.Background(), path, nil, p, store.Options{BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return db{Store: st, Queue: cases.New(st, p), Accounts: signin.New(st)}
}

// mustIdentity reads the store's identity.
func mustIdentity(tb testing.TB, st db) store.Identity {
	tb.Helper()
	id, err := st.Identity(context.Background())
	if err != nil {
		tb.Fatalf("identity: %v", err)
	}
	return id
}

var clock = hlc.New(nil)

// newFiling makes a valid complaint and its filed event, as the filing
// service would, with contact details when contact is true.
func newFiling(tb testing.TB, id store.Identity, contact bool) (complaint.Complaint, event.Event) {
	tb.Helper()
	code, err := trackcode.Generate(id.Prefix)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := complaint.Complaint{
		ID: uid.New(), Code: string(code), Branch: "Main", Device: id.DeviceID,
		Channel: complaint.ChannelKiosk, Category: "billing",
		Description: "Charged twice for one order.", DesiredOutcome: "Refund", Language: "en",
		FiledAt: now,
	}
	if contact {
		c.Contact = &complaint.Contact{Name: "Ana", Email: "ana@example.org",
			ConsentAt: now.Add(-time.Minute), NoticeVersion: "2024-1"}
	}
	e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: id.DeviceID}, clock.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return c, e
}

func mustFile(tb testing.TB, st db, c complaint.Complaint, e event.Event) {
	tb.Helper()
	if err := st.File(context.Background(), c, e); err != nil {
		tb.Fatalf("file: %v", err)
	}
}

// remoteFiling makes a complaint filed at another device of the branch, as
// it arrives downstream.
func remoteFiling(tb testing.TB) (complaint.Complaint, event.Event) {
	tb.Helper()
	other := store.Identity{DeviceID: uid.New(), Prefix: "R7Q"}
	return newFiling(tb, other, true)
}

// rawDB opens a second, independent handle on the database file, as another
// process would.
func rawDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// testDirectory is branch Main's staff directory at version, with one
// account.
func testDirectory(tb testing.TB, version int64) staff.Directory {
	tb.Helper()
	hash, err := staff.HashPINWith("493817", staff.TestCost)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UTC()
	return staff.Directory{Branch: "Main", Version: version, IssuedAt: now, Accounts: []staff.Account{
		{ID: "ana", Name: "Ana Lima", Role: staff.Agent, Branch: "Main", PINHash: hash, UpdatedAt: now},
	}}
}
