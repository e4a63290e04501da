package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
)

// What a stolen kiosk, its log or its files give away: the tests run the
// real program and read what it leaves on disk.

// customerWords is what one customer types, each piece unique to the test.
type customerWords struct{ description, name, email string }

func newCustomerWords() customerWords {
	m := strings.ReplaceAll(uid.New(), "-", "")[20:]
	return customerWords{
		description: "The machine kept my card at the counter " + m,
		name:        "Jo Marker " + m,
		email:       "jo." + m + "@example.org",
	}
}

// fileThroughScreen files a complaint the way a customer does on the
// kiosk's screen, with contact details and consent, and once the log says
// the receipt was shown (in dir's kiosk.log), returns to the welcome
// screen.
func fileThroughScreen(t *testing.T, scr *watchScreen, dir string, w customerWords) {
	t.Helper()
	key := func(k tcell.Key) { scr.InjectKey(k, 0, tcell.ModNone) }
	typeText := func(s string) {
		for _, r := range s {
			scr.InjectKey(tcell.KeyRune, r, tcell.ModNone)
		}
	}
	step := scr.await("What is your complaint about?")
	key(tcell.KeyEnter) // Start
	within(t, "the category screen", step)
	step = scr.await("What happened?")
	key(tcell.KeyDown)
	key(tcell.KeyEnter)
	within(t, "the description screen", step)
	typeText(w.description)
	step = scr.await("What would you like us to do?")
	key(tcell.KeyTab)
	key(tcell.KeyEnter)
	within(t, "the outcome screen", step)
	step = scr.await("Your contact details")
	key(tcell.KeyTab)
	key(tcell.KeyEnter)
	within(t, "the contact screen", step)
	typeText(w.name)
	key(tcell.KeyTab)
	typeText(w.email)
	key(tcell.KeyTab) // phone
	key(tcell.KeyTab) // the consent box
	step = scr.await("Your details will be kept")
	typeText(" ")
	within(t, "consent given", step)
	step = scr.await("Check your complaint")
	key(tcell.KeyTab)
	key(tcell.KeyEnter) // Next
	within(t, "the review screen", step)
	step = scr.await("Your tracking code")
	key(tcell.KeyEnter) // Submit
	within(t, "the receipt", step)
	waitForTB(t, "the receipt in the log", 20*time.Second, func() bool {
		return logLine(filepath.Join(dir, "kiosk.log"), "receipt shown") != ""
	})
	step = scr.await("Choose your language")
	key(tcell.KeyEnter) // Finish
	within(t, "the welcome screen again", step)
}

// filedCode reads the tracking code of the complaint the log says was
// shown, from the kiosk's database (beside the running kiosk: WAL lets
// both in), and the complaint's id.
func filedCode(t *testing.T, dir string) (id string, code trackcode.Code) {
	t.Helper()
	var entry struct{ Complaint string }
	line := logLine(filepath.Join(dir, "kiosk.log"), "receipt shown")
	if err := json.Unmarshal([]byte(line), &entry); err != nil || entry.Complaint == "" {
		b, _ := os.ReadFile(filepath.Join(dir, "kiosk.log"))
		t.Fatalf("log line %q: %v; the log:\n%s", line, err, b)
	}
	st, err := store.Open(context.Background(), dbPath(dir), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.Complaint(context.Background(), entry.Complaint)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID, trackcode.Code(c.Code)
}

// assertNoCodeInLog checks the log names the complaint and never its
// tracking code, in any of the forms it is written in.
func assertNoCodeInLog(t *testing.T, logPath, id string, code trackcode.Code) {
	t.Helper()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	log := strings.ToUpper(string(b))
	for _, form := range []string{string(code), code.String(), string(code)[3:]} {
		if strings.Contains(log, strings.ToUpper(form)) {
			t.Errorf("the log holds the tracking code (%s):\n%s", form, b)
		}
	}
	if !strings.Contains(string(b), id) {
		t.Errorf("the log does not name the complaint %s:\n%s", id, b)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) && (strings.HasSuffix(path, "-wal") || strings.HasSuffix(path, "-shm")) {
		return // removed by the last connection's close
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %#o, want %#o", path, got, want)
	}
}

// TestKioskFilesArePrivateAndLogsNoCode: a filing through the real
// program, under a umask that lets everyone read, over a data directory
// and log an older version left readable: afterwards the data directory
// is the owner's alone, every file in it and every receipt is 0600, and
// the log names the complaint but never its tracking code.
func TestKioskFilesArePrivateAndLogsNoCode(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "kiosk-data")
	receipts := filepath.Join(t.TempDir(), "receipts")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kiosk.log"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	scr := newWatchScreen(80, 24)
	welcome := scr.await("Choose your language")
	stop, _ := startRun(t, scr, "--data", dir, "--printer", "file:"+receipts, "--public-url", "https://track.example.org")
	within(t, "the welcome screen", welcome)
	fileThroughScreen(t, scr, dir, newCustomerWords())
	id, code := filedCode(t, dir)
	for _, p := range []string{"kiosk.db", "kiosk.db-wal", "kiosk.db-shm", "kiosk.log"} {
		assertMode(t, filepath.Join(dir, p), 0o600)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	assertNoCodeInLog(t, filepath.Join(dir, "kiosk.log"), id, code)
	assertMode(t, dir, 0o700)
	assertMode(t, receipts, 0o700)
	entries, err := os.ReadDir(receipts)
	if err != nil || len(entries) == 0 {
		t.Fatalf("receipts: %v, %v", entries, err)
	}
	for _, e := range entries {
		assertMode(t, filepath.Join(receipts, e.Name()), 0o600)
	}
	for _, e := range mustReadDir(t, dir) {
		assertMode(t, filepath.Join(dir, e.Name()), 0o600)
	}
}

func mustReadDir(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// onDisk is the kiosk's database and WAL as they are in the files.
func onDisk(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{dbPath(dir), dbPath(dir) + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// TestCustomerKioskForgetsWhatItSent: a customer kiosk enrolled with the
// real server files while the server is down, so the customer's words are
// in its files; once the server holds the complaint they are in neither
// kiosk.db nor kiosk.db-wal, while the complaint, its code and its sync
// state stay. The log never names the code.
func TestCustomerKioskForgetsWhatItSent(t *testing.T) {
	s := startE2EServer(t)
	dir := s.enrolDevice("front kiosk", "kiosk")
	assertMode(t, filepath.Join(dir, "credential.json"), 0o600)
	s.stopServer()

	scr := newWatchScreen(80, 24)
	welcome := scr.await("Choose your language")
	stop, _ := startRun(t, scr, "--data", dir, "--public-url", s.url)
	within(t, "the welcome screen", welcome)
	w := newCustomerWords()
	fileThroughScreen(t, scr, dir, w)
	id, code := filedCode(t, dir)
	for _, text := range []string{w.description, w.email, w.name} {
		if !bytes.Contains(onDisk(t, dir), []byte(text)) {
			t.Fatalf("%q is not in the kiosk's files before the server has it", text)
		}
	}

	s.start()
	waitForTB(t, "the server to hold the complaint", 60*time.Second, func() bool { return s.track(string(code)) != nil })
	waitForTB(t, "the customer's words to leave the kiosk's files", 20*time.Second, func() bool {
		disk := onDisk(t, dir)
		for _, text := range []string{w.description, w.email, w.name, strings.ToLower(w.description)} {
			if bytes.Contains(disk, []byte(text)) {
				return false
			}
		}
		return true
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), dbPath(dir), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.Complaint(context.Background(), id)
	if err != nil || c.Code != string(code) || c.Category == "" || c.Description != "" || c.Contact != nil {
		t.Errorf("the kiosk keeps %+v, %v; want its id, code and category, no words", c, err)
	}
	if n, err := st.OutboxCount(context.Background()); err != nil || n != 0 {
		t.Errorf("outbox: %d, %v; want empty", n, err)
	}
	assertNoCodeInLog(t, filepath.Join(dir, "kiosk.log"), id, code)
}
