package main

// `server backup` and `server restore` through the real program: a backup
// taken while a device pushes over a real websocket, restored into a fresh
// data directory, checked event by event, and served again to the same
// device's resend.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ombud/server/storage/sqlite"
	"ombud/server/tracking"
	"ombud/shared/event"
)

// runErr runs a subcommand and returns its error and output.
func runErr(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, noEnv, strings.NewReader(""), &out, &errOut)
	return out.String() + errOut.String(), err
}

// mustLogOf reads every event of the database at dir in global order and
// checks the order: strictly increasing sequences, each event id once.
func mustLogOf(t *testing.T, dir string) map[string]event.Event {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	byID := map[string]event.Event{}
	var after int64
	for {
		page, err := st.AllEventsAfter(context.Background(), after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return byID
		}
		for _, se := range page {
			if se.Seq <= after {
				t.Fatalf("sequence %d after %d: not strictly increasing", se.Seq, after)
			}
			after = se.Seq
			if _, dup := byID[se.Event.ID]; dup {
				t.Fatalf("event %s stored twice", se.Event.ID)
			}
			byID[se.Event.ID] = se.Event
		}
	}
}

// sameEvent compares what matters of an event as pushed and as stored.
func sameEvent(a, b event.Event) bool {
	return a.ID == b.ID && a.ComplaintID == b.ComplaintID && a.Type == b.Type && a.Branch == b.Branch &&
		a.Actor == b.Actor && a.At == b.At && bytes.Equal(a.Data, b.Data)
}

func TestE2EBackupWhileServingAndRestore(t *testing.T) {
	s := MustE2EServer(t, e2eDispatch, "")
	d := mustRawDevice(t, s, "kiosk")
	d.connect(nil)

	var pushed []event.Event // in device sequence order: pushed[i] has seq i+1
	push := func(n int) {
		batch := make([]event.Event, n)
		for i := range batch {
			batch[i] = d.filing("The cash machine kept my card")
		}
		if rejects, _ := d.push(batch...); len(rejects) != 0 {
			t.Fatalf("refused: %+v", rejects)
		}
		pushed = append(pushed, batch...)
	}
	for range 10 {
		push(20)
	}
	ackedBefore := len(pushed)

	// The backup runs while the device goes on pushing.
	file := filepath.Join(t.TempDir(), "ombud.backup")
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := runErr("backup", "--data", s.dir, "--to", file)
		done <- result{out, err}
	}()
	var res result
	for waiting := true; waiting; {
		push(5)
		select {
		case res = <-done:
			waiting = false
		default:
		}
	}
	if res.err != nil {
		t.Fatalf("backup: %v\n%s", res.err, res.out)
	}
	if !strings.Contains(res.out, "verified") || !strings.Contains(res.out, "hash chain verifies up to") {
		t.Errorf("backup output: %s", res.out)
	}
	push(5) // after the backup: not in it
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, mode %v, want 0600", err, fi.Mode())
	}
	if _, err := runErr("backup", "--data", s.dir, "--to", file); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("backup over an existing file: %v", err)
	}

	// Restore refuses while a server holds the directory, and a file that
	// does not verify; neither changes anything.
	if _, err := runErr("restore", "--data", s.dir, "--from", file); err == nil || !strings.Contains(err.Error(), "a server is running") {
		t.Errorf("restore under a running server: %v", err)
	}
	fresh := filepath.Join(t.TempDir(), "restored")
	junk := filepath.Join(t.TempDir(), "junk.backup")
	raw, _ := os.ReadFile(file)
	os.WriteFile(junk, raw[:len(raw)/2], 0o600) // a copy cut short
	if _, err := runErr("restore", "--data", fresh, "--from", junk); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("restore of a truncated file: %v", err)
	}
	// A copy whose file is sound but whose log was edited (one filing's
	// text changed): the hash chain catches it.
	tampered := filepath.Join(t.TempDir(), "tampered.backup")
	os.WriteFile(tampered, raw, 0o600)
	db, err := sql.Open("sqlite", "file:"+tampered)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE events SET data = CAST(replace(CAST(data AS TEXT), 'kept my card', 'gave back my card') AS BLOB) WHERE seq = 7`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := runErr("restore", "--data", fresh, "--from", tampered); err == nil || !strings.Contains(err.Error(), "audit chain breaks at sequence 7") {
		t.Errorf("restore of an edited log: %v", err)
	}
	if _, err := os.Stat(filepath.Join(fresh, "server.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused restore left a database: %v", err)
	}

	out := MustRun(t, "restore", "--data", fresh, "--from", file)
	if !strings.Contains(out, "tracking page's secret restored") {
		t.Errorf("restore output: %s", out)
	}
	secret, _ := os.ReadFile(filepath.Join(s.dir, tracking.SecretFile))
	if got, _ := os.ReadFile(filepath.Join(fresh, tracking.SecretFile)); len(secret) == 0 || !bytes.Equal(got, secret) {
		t.Error("the tracking secret was not restored")
	}

	// Every event acknowledged before the backup began is there exactly
	// once and unchanged; nothing is there that was not pushed; what is
	// there is a prefix of the device's sequence (the backup is one
	// commit's state).
	restored := mustLogOf(t, fresh)
	for i, e := range pushed[:ackedBefore] {
		got, ok := restored[e.ID]
		if !ok || !sameEvent(got, e) {
			t.Fatalf("event %d (acknowledged before the backup) restored as %+v, %v", i+1, got, ok)
		}
	}
	held, ofDevice := 0, 0
	for _, e := range pushed {
		if _, ok := restored[e.ID]; ok && held == ofDevice {
			held++
		}
		if _, ok := restored[e.ID]; ok {
			ofDevice++
		}
	}
	// (The rest of the log is the server's own: dispatch's assignments.)
	if held != ofDevice || held >= len(pushed) {
		t.Fatalf("restored %d of the device's events, the first %d of %d pushed in order", ofDevice, held, len(pushed))
	}

	// Restoring again keeps the previous database aside.
	out = MustRun(t, "restore", "--data", fresh, "--from", file)
	if !strings.Contains(out, "previous database is kept as") {
		t.Errorf("second restore: %s", out)
	}
	aside, _ := filepath.Glob(filepath.Join(fresh, "server.db.before-restore-*"))
	if len(aside) != 1 {
		t.Errorf("databases kept aside: %v", aside)
	}

	// The restored server takes the device back: it says how far it holds,
	// the device resends from its first event (as after a lost ack), and
	// every event ends up stored exactly once.
	s.srv.stop()
	r := MustServe(t, noEnv, "--data", fresh)
	d.cred.ServerURL = "http://" + r.addr
	d.connect(nil)
	if got := d.hello.DeviceSeq; got != int64(held) {
		t.Errorf("restored server holds device seq %d, want %d", got, held)
	}
	d.seq = 0
	for i := 0; i < len(pushed); i += 20 {
		if rejects, _ := d.push(pushed[i:min(i+20, len(pushed))]...); len(rejects) != 0 {
			t.Fatalf("resend refused: %+v", rejects)
		}
	}
	final := mustLogOf(t, fresh) // each id once, or it fails
	for _, e := range pushed {
		if got, ok := final[e.ID]; !ok || !sameEvent(got, e) {
			t.Fatalf("event %s after the resend: %+v %v", e.ID, got, ok)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}
