package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/uid"
)

// mustOpenRedacting opens the store at path as a customer kiosk does.
func mustOpenRedacting(tb testing.TB, path string) *store.Store {
	tb.Helper()
	st, err := store.OpenWith(context.Background(), path, nil, projection(),
		store.Options{BusyTimeout: 50 * time.Millisecond, RedactAcknowledged: true})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// words is what a customer typed in one complaint, each piece unique to
// it, so finding its bytes in a file can only mean this complaint.
type words struct{ description, outcome, name, email string }

func newWords() words {
	m := strings.ReplaceAll(uid.New(), "-", "")
	return words{
		description: "My card was swallowed by the machine " + m,
		outcome:     "Send a new card quickly " + m,
		name:        "Ana Marker " + m[20:],
		email:       "ana." + m[20:] + "@example.org",
	}
}

func (w words) all() []string { return []string{w.description, w.outcome, w.name, w.email} }

// filingOf is newFiling with w's words.
func filingOf(tb testing.TB, id store.Identity, w words) (complaint.Complaint, event.Event) {
	tb.Helper()
	c, _ := newFiling(tb, id, true)
	c.Description, c.DesiredOutcome = w.description, w.outcome
	c.Contact.Name, c.Contact.Email = w.name, w.email
	e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: id.DeviceID}, clock.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return c, e
}

// onDisk returns the bytes of the database and its WAL as they are in the
// files now: what whoever takes the device could read.
func onDisk(tb testing.TB, path string) []byte {
	tb.Helper()
	var all []byte
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			tb.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// assertOnDisk checks that each text is (or is not) in the files, as it
// was typed and lower-cased (the search index's form).
func assertOnDisk(tb testing.TB, path string, want bool, texts ...string) {
	tb.Helper()
	disk := onDisk(tb, path)
	for _, text := range texts {
		got := bytes.Contains(disk, []byte(text)) || bytes.Contains(disk, []byte(strings.ToLower(text)))
		if got != want {
			tb.Errorf("%q in kiosk.db and kiosk.db-wal: got %v, want %v", text, got, want)
		}
	}
}

// A customer kiosk forgets a customer's words once the server has them:
// the database and its WAL hold them until the acknowledgement and never
// after it, while the rest of the complaint, its event and sync state stay.
func TestRedactOnAck(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kiosk.db")
	st := mustOpenRedacting(t, path)
	id := mustIdentity(t, st)
	sent, waiting := newWords(), newWords()
	c1, e1 := filingOf(t, id, sent)
	mustFile(t, st, c1, e1)
	c2, e2 := filingOf(t, id, waiting)
	mustFile(t, st, c2, e2)

	assertOnDisk(t, path, true, append(sent.all(), waiting.all()...)...)

	if err := st.AckOutbox(ctx, 1); err != nil {
		t.Fatal(err)
	}
	assertOnDisk(t, path, false, sent.all()...)
	assertOnDisk(t, path, true, waiting.all()...) // not sent yet

	got, err := st.Complaint(ctx, c1.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := c1
	want.Description, want.DesiredOutcome, want.Contact = "", "", nil
	if got != want {
		t.Errorf("redacted complaint:\n got %+v\nwant %+v", got, want)
	}
	evs, err := st.Events(ctx, c1.ID)
	if err != nil || len(evs) != 1 || evs[0].ID != e1.ID || evs[0].Type != event.Filed {
		t.Fatalf("events after redaction: %+v, %v; want the Filed event %s", evs, err, e1.ID)
	}
	inEvent, err := evs[0].Complaint()
	if err != nil || inEvent != want {
		t.Errorf("complaint in the redacted event:\n got %+v, %v\nwant %+v", inEvent, err, want)
	}
	if seq := mustHighestSeq(t, st); seq != 2 {
		t.Errorf("highest seq %d, want 2", seq)
	}
	// The case is still there for a staff view, without the words.
	q := cases.New(st, nil)
	rows, err := q.Cases(ctx, cases.Filter{})
	if err != nil || len(rows) != 2 {
		t.Fatalf("cases: %d, %v; want 2", len(rows), err)
	}
	for _, r := range rows {
		if r.ComplaintID == c1.ID && r.Summary != "" {
			t.Errorf("the redacted case's summary is %q", r.Summary)
		}
	}
	// A rejection that overtakes nothing still finds the event by its id.
	if err := st.Quarantine(ctx, 1, e1.ID, 4003, "refused"); err != nil {
		t.Fatalf("quarantine by event id after redaction: %v", err)
	}

	// The rest is redacted when its turn comes; a repeated ack is harmless.
	if err := st.AckOutbox(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := st.AckOutbox(ctx, 2); err != nil {
		t.Fatal(err)
	}
	assertOnDisk(t, path, false, waiting.all()...)
}

// A staff terminal's store keeps the text of what it sent: its queue
// shows it.
func TestNoRedactionByDefault(t *testing.T) {
	ctx := context.Background()
	st, path := MustOpen(t)
	w := newWords()
	c, e := filingOf(t, mustIdentity(t, st), w)
	mustFile(t, st, c, e)
	if err := st.AckOutbox(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Complaint(ctx, c.ID); err != nil || got.Description != w.description || got.Contact == nil {
		t.Errorf("after the ack: %+v, %v; want it whole", got, err)
	}
	assertOnDisk(t, path, true, w.description)
}

// A kiosk upgraded to redaction forgets what it sent before: RedactSent
// finds the complaints it filed that left the outbox, and leaves those
// still waiting and those the server refused.
func TestRedactSent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kiosk.db")
	old := MustOpenPath(t, path)
	id := mustIdentity(t, old)
	var sent []words
	for range 3 {
		w := newWords()
		c, e := filingOf(t, id, w)
		mustFile(t, old, c, e)
		sent = append(sent, w)
	}
	refused, waiting := newWords(), newWords()
	cr, er := filingOf(t, id, refused)
	mustFile(t, old, cr, er)
	cw, ew := filingOf(t, id, waiting)
	mustFile(t, old, cw, ew)
	if err := old.Quarantine(ctx, 4, er.ID, 4006, "invalid"); err != nil {
		t.Fatal(err)
	}
	if err := old.AckOutbox(ctx, 3); err != nil {
		t.Fatal(err)
	}
	// Another device's complaint (a staff terminal's database) is not ours.
	other, oe := remoteFiling(t)
	if err := old.ApplyRemote(ctx, "branch:Main", 0, 1, []event.Event{oe}); err != nil {
		t.Fatal(err)
	}
	old.Close()

	st := mustOpenRedacting(t, path)
	n, err := st.RedactSent(ctx)
	if err != nil || n != 3 {
		t.Fatalf("RedactSent = %d, %v; want 3", n, err)
	}
	for _, w := range sent {
		assertOnDisk(t, path, false, w.all()...)
	}
	assertOnDisk(t, path, true, refused.description, waiting.description, other.Description)
	if n, err := st.RedactSent(ctx); err != nil || n != 0 {
		t.Errorf("RedactSent again = %d, %v; want 0", n, err)
	}
}

// Forget deletes whole complaints (events, row, case) and their bytes, but
// never one with an event the server does not hold yet or refused.
func TestForget(t *testing.T) {
	ctx := context.Background()
	st, path := MustOpen(t)
	id := mustIdentity(t, st)
	gone, unsent, refused := newWords(), newWords(), newWords()
	cg, eg := filingOf(t, id, gone)
	mustFile(t, st, cg, eg)
	cr, er := filingOf(t, id, refused)
	mustFile(t, st, cr, er)
	cu, eu := filingOf(t, id, unsent)
	mustFile(t, st, cu, eu)
	if err := st.Quarantine(ctx, 2, er.ID, 4003, "forbidden"); err != nil {
		t.Fatal(err)
	}
	if err := st.AckOutbox(ctx, 1); err != nil {
		t.Fatal(err)
	}

	changes, cancel := st.Changes()
	defer cancel()
	forgotten, err := st.Forget(ctx, func(tx store.Tx) ([]string, error) {
		return []string{cg.ID, cr.ID, cu.ID, uid.New()}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(forgotten) != 1 || forgotten[0] != cg.ID {
		t.Fatalf("forgotten %v, want only %s", forgotten, cg.ID)
	}
	select {
	case <-changes:
	default:
		t.Error("no change signalled")
	}
	if _, err := st.Complaint(ctx, cg.ID); !errors.Is(err, complaint.ErrNotFound) {
		t.Errorf("forgotten complaint: %v, want ErrNotFound", err)
	}
	if evs, err := st.Events(ctx, cg.ID); err != nil || len(evs) != 0 {
		t.Errorf("forgotten complaint's events: %v, %v", evs, err)
	}
	if _, err := cases.New(st, nil).CaseDetail(ctx, cg.ID); !errors.Is(err, cases.ErrNoCase) {
		t.Errorf("forgotten case: %v, want ErrNoCase", err)
	}
	assertOnDisk(t, path, false, gone.all()...)
	assertOnDisk(t, path, true, refused.description, unsent.description)
	for _, id := range []string{cr.ID, cu.ID} {
		if _, err := st.Complaint(ctx, id); err != nil {
			t.Errorf("kept complaint %s: %v", id, err)
		}
	}
	// A pick that fails rolls everything back.
	boom := errors.New("boom")
	if _, err := st.Forget(ctx, func(store.Tx) ([]string, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("failing pick: %v", err)
	}
}

// The database's files are the owner's alone, whatever the umask: new
// ones are made so, and existing ones others could read are tightened.
func TestFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kiosk.db")
	st := MustOpenPath(t, path)
	c, e := newFiling(t, mustIdentity(t, st), true)
	mustFile(t, st, c, e)
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s: mode %#o, want 0600", filepath.Base(p), perm)
		}
	}
	st.Close()

	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	MustOpenPath(t, path)
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s after reopening: mode %#o, want 0600", filepath.Base(p), perm)
		}
	}
}
