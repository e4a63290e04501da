package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
)

// MustOpen opens a store on a fresh file in tb's temp dir and closes it at
// the end of the test. The busy timeout is short so lock tests are quick.
func MustOpen(tb testing.TB) (*store.Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "kiosk.db")
	return MustOpenPath(tb, path), path
}

// projection is what every program opens the store with: the staff queue's
// case rows, kept with the log.
func projection() store.Projection { return cases.NewProjection(cases.Options{}) }

// MustOpenPath opens the store at path and closes it at the end of the test.
func MustOpenPath(tb testing.TB, path string) *store.Store {
	tb.Helper()
	st, err := store.OpenWith(context.Background(), path, nil, projection(), store.Options{BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// mustIdentity reads the store's identity.
func mustIdentity(tb testing.TB, st *store.Store) store.Identity {
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

func mustFile(tb testing.TB, st *store.Store, c complaint.Complaint, e event.Event) {
	tb.Helper()
	if err := st.File(context.Background(), c, e); err != nil {
		tb.Fatalf("file: %v", err)
	}
}

func TestFileThenRead(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	id := mustIdentity(t, st)

	var filed []event.Event
	for i := range 3 {
		c, e := newFiling(t, id, i == 1)
		mustFile(t, st, c, e)
		filed = append(filed, e)

		got, err := st.Complaint(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("Complaint: got %+v, want %+v", got, c)
		}
		byCode, err := st.ByCode(ctx, trackcode.Code(c.Code))
		if err != nil || byCode.ID != c.ID {
			t.Errorf("ByCode: got %q, %v, want %q", byCode.ID, err, c.ID)
		}
		evs, err := st.Events(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || !reflect.DeepEqual(evs[0], e) {
			t.Fatalf("Events: got %+v, want [%+v]", evs, e)
		}
		inEvent, err := evs[0].Complaint()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(inEvent, got) {
			t.Errorf("complaint in event: got %+v, want %+v", inEvent, got)
		}
		if ok, err := st.CodeExists(ctx, trackcode.Code(c.Code)); !ok || err != nil {
			t.Errorf("CodeExists(%s): got %v, %v, want true", c.Code, ok, err)
		}
	}

	out, err := st.OutboxAfter(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 {
		t.Fatalf("outbox: got %d entries, want 3", len(out))
	}
	for i, o := range out {
		if o.Seq != int64(i+1) || !reflect.DeepEqual(o.Event, filed[i]) {
			t.Errorf("outbox[%d]: got seq %d event %s, want seq %d event %s", i, o.Seq, o.Event.ID, i+1, filed[i].ID)
		}
	}
	if out, err := st.OutboxAfter(ctx, 1, 1); err != nil || len(out) != 1 || out[0].Seq != 2 {
		t.Errorf("OutboxAfter(1, 1): got %+v, %v, want seq 2 only", out, err)
	}
	if out, err := st.OutboxAfter(ctx, 3, 10); err != nil || len(out) != 0 {
		t.Errorf("OutboxAfter(3): got %d entries, %v, want none", len(out), err)
	}
	if n, err := st.OutboxCount(ctx); n != 3 || err != nil {
		t.Errorf("OutboxCount: got %d, %v, want 3", n, err)
	}
	if n, err := st.Count(ctx); n != 3 || err != nil {
		t.Errorf("Count: got %d, %v, want 3", n, err)
	}
	if _, err := st.Complaint(ctx, uid.New()); !errors.Is(err, complaint.ErrNotFound) {
		t.Errorf("unknown id: got %v, want ErrNotFound", err)
	}
	if _, err := st.ByCode(ctx, "000000000000"); !errors.Is(err, complaint.ErrNotFound) {
		t.Errorf("unknown code: got %v, want ErrNotFound", err)
	}
	if ok, err := st.CodeExists(ctx, "000000000000"); ok || err != nil {
		t.Errorf("CodeExists(unknown): got %v, %v, want false", ok, err)
	}
}

// assertEmpty fails unless no complaint, event or outbox entry is stored.
func assertEmpty(tb testing.TB, st *store.Store, wantComplaints int) {
	tb.Helper()
	ctx := context.Background()
	if n, err := st.Count(ctx); n != wantComplaints || err != nil {
		tb.Errorf("complaints: got %d, %v, want %d", n, err, wantComplaints)
	}
	if n, err := st.OutboxCount(ctx); n != wantComplaints || err != nil {
		tb.Errorf("outbox: got %d, %v, want %d", n, err, wantComplaints)
	}
}

func TestFileIsAtomic(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	id := mustIdentity(t, st)
	c1, e1 := newFiling(t, id, false)
	mustFile(t, st, c1, e1)

	// The second complaint is new, but its event reuses the first event's id:
	// the event insert fails after the complaint insert succeeded.
	c2, e2 := newFiling(t, id, true)
	e2.ID = e1.ID
	err := st.File(ctx, c2, e2)
	if err == nil {
		t.Fatal("File with a duplicate event id: got nil error")
	}
	if errors.Is(err, store.ErrCodeTaken) || store.Unavailable(err) {
		t.Errorf("duplicate event id: got %v, want a plain constraint error", err)
	}
	if _, err := st.Complaint(ctx, c2.ID); !errors.Is(err, complaint.ErrNotFound) {
		t.Errorf("complaint of failed filing: got %v, want ErrNotFound (rolled back)", err)
	}
	assertEmpty(t, st, 1)
}

func TestFileCodeTaken(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	id := mustIdentity(t, st)
	c1, e1 := newFiling(t, id, false)
	mustFile(t, st, c1, e1)

	c2, _ := newFiling(t, id, false)
	c2.Code = c1.Code
	e2, err := event.NewFiled(c2, e1.Actor, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.File(ctx, c2, e2); !errors.Is(err, store.ErrCodeTaken) {
		t.Fatalf("same code: got %v, want ErrCodeTaken", err)
	}
	assertEmpty(t, st, 1)
}

func TestFileRefusesMismatchedEvent(t *testing.T) {
	st, _ := MustOpen(t)
	id := mustIdentity(t, st)
	c, e := newFiling(t, id, false)
	e.ComplaintID = uid.New()
	if err := st.File(context.Background(), c, e); err == nil {
		t.Fatal("event for another complaint: got nil error")
	}
	assertEmpty(t, st, 0)
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kiosk.db")
	st, err := store.Open(ctx, path, nil, projection())
	if err != nil {
		t.Fatal(err)
	}
	id := mustIdentity(t, st)
	if !trackcode.ValidPrefix(id.Prefix) || !uid.Valid(id.DeviceID) {
		t.Fatalf("identity: got %+v, want a valid prefix and device id", id)
	}
	c, e := newFiling(t, id, true)
	mustFile(t, st, c, e)
	if err := st.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	st = MustOpenPath(t, path)
	if got := mustIdentity(t, st); got != id {
		t.Errorf("identity after reopen: got %+v, want %+v", got, id)
	}
	got, err := st.Complaint(ctx, c.ID)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Errorf("complaint after reopen: got %+v, %v, want %+v", got, err, c)
	}
	out, err := st.OutboxAfter(ctx, 0, 10)
	if err != nil || len(out) != 1 || out[0].Seq != 1 || out[0].Event.ID != e.ID {
		t.Errorf("outbox after reopen: got %+v, %v, want seq 1 event %s", out, err, e.ID)
	}
}

func TestSetPrefix(t *testing.T) {
	ctx := context.Background()
	st, path := MustOpen(t)
	before := mustIdentity(t, st)
	if err := st.SetPrefix(ctx, "K7Q"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "K7", "K7QM", "k7q", "IOU"} {
		if err := st.SetPrefix(ctx, bad); err == nil {
			t.Errorf("SetPrefix(%q): got nil error", bad)
		}
	}
	st.Close()
	got := mustIdentity(t, MustOpenPath(t, path))
	if want := (store.Identity{DeviceID: before.DeviceID, Prefix: "K7Q", CreatedAt: before.CreatedAt}); got != want {
		t.Errorf("identity: got %+v, want %+v", got, want)
	}
}

func TestSettings(t *testing.T) {
	st, _ := MustOpen(t)
	got, err := st.Settings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := store.Settings{JournalMode: "wal", Synchronous: 2, ForeignKeys: true, BusyTimeout: 50 * time.Millisecond, SecureDelete: true}
	if got != want {
		t.Errorf("settings: got %+v, want %+v", got, want)
	}
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

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	st, path := MustOpen(t)
	st.Close()
	db := rawDB(t, path)
	var versions int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if versions != store.SchemaVersion() {
		t.Fatalf("schema_migrations: got %d rows, want %d", versions, store.SchemaVersion())
	}
	next := store.SchemaVersion() + 1
	if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at)
		VALUES (?, 'from_the_future.sql', 0)`, next); err != nil {
		t.Fatal(err)
	}
	db.Close()

	_, err := store.Open(ctx, path, nil, projection())
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("open newer schema: got %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprint(next)) {
		t.Errorf("error %q does not name version %d", err, next)
	}
}

func TestLockedIsUnavailable(t *testing.T) {
	ctx := context.Background()
	st, path := MustOpen(t)
	id := mustIdentity(t, st)

	// Another process holds the write lock, mid-transaction.
	other := rawDB(t, path)
	tx, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, complaint_id, type, actor_kind, at, branch)
		VALUES (?, ?, 'note_added', 'system', 1, 'Main')`, uid.New(), uid.New()); err != nil {
		t.Fatal(err)
	}

	c, e := newFiling(t, id, false)
	err = st.File(ctx, c, e)
	if !store.Unavailable(err) {
		t.Fatalf("file while locked: got %v, want an Unavailable error", err)
	}
	// Readers are not blocked by a writer under WAL.
	if _, err := st.Identity(ctx); err != nil {
		t.Errorf("identity while locked: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	mustFile(t, st, c, e)
	assertEmpty(t, st, 1)
}

func TestUnavailableClassifies(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("x"), false},
		{"code taken", store.ErrCodeTaken, false},
		{"context", context.Canceled, false},
	} {
		if got := store.Unavailable(tc.err); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestOpenRefusesMemory(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file::memory:"} {
		if st, err := store.Open(context.Background(), p, nil, projection()); err == nil {
			st.Close()
			t.Errorf("Open(%q): got nil error", p)
		}
	}
}

func TestPathWithURIChars(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%d")
	path := filepath.Join(dir, "kiosk.db")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	st := MustOpenPath(t, path)
	mustIdentity(t, st)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		t.Errorf("database not at %s: %v", path, err)
	}
}

func TestFileRefusesClockOverflow(t *testing.T) {
	st, _ := MustOpen(t)
	c, e := newFiling(t, mustIdentity(t, st), false)
	e.At = hlc.Timestamp(1 << 63)
	if err := st.File(context.Background(), c, e); err == nil {
		t.Fatal("hlc timestamp with the top bit set: got nil error")
	}
	assertEmpty(t, st, 0)
}

// Concurrent filings queue for the one writer connection instead of failing
// with SQLITE_BUSY, and get distinct, gapless sequence numbers.
func TestConcurrentFilings(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	id := mustIdentity(t, st)
	const n = 20
	errs := make(chan error, n)
	for range n {
		c, e := newFiling(t, id, false)
		go func() { errs <- st.File(ctx, c, e) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("file: %v", err)
		}
	}
	out, err := st.OutboxAfter(ctx, 0, 100)
	if err != nil || len(out) != n {
		t.Fatalf("outbox: got %d, %v, want %d", len(out), err, n)
	}
	for i, o := range out {
		if o.Seq != int64(i+1) {
			t.Errorf("outbox[%d]: got seq %d, want %d", i, o.Seq, i+1)
		}
	}
}
