package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"ombud/kiosk/enrol"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
)

// TestMain lets the test binary stand in for the kiosk program: a test starts
// it again with OMBUD_KIOSK_CHILD=1 and it runs main() against a real
// terminal (a pty), exactly as an operator would run it.
func TestMain(m *testing.M) {
	if os.Getenv("OMBUD_KIOSK_CHILD") == "1" {
		main()
		os.Exit(0)
	}
	code := m.Run()
	if serverProgramDir != "" {
		os.RemoveAll(serverProgramDir)
	}
	os.Exit(code)
}

// terminal is a kiosk process on a pseudo-terminal.
type terminal struct {
	t    *testing.T
	cmd  *exec.Cmd
	ptmx *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func startKiosk(t *testing.T, args ...string) *terminal {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{}, args...)...)
	cmd.Env = append(os.Environ(), "OMBUD_KIOSK_CHILD=1", "TERM=xterm-256color", "LANG=C.UTF-8")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatalf("start kiosk on a pty: %v", err)
	}
	term := &terminal{t: t, cmd: cmd, ptmx: ptmx, done: make(chan struct{})}
	go func() { // drain the screen output, or the kiosk would block writing it
		defer close(term.done)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		ptmx.Close()
		<-term.done
	})
	return term
}

// send types bytes as a person at the keyboard would, one key at a time.
func (term *terminal) send(keys ...string) {
	term.t.Helper()
	for _, k := range keys {
		if _, err := term.ptmx.Write([]byte(k)); err != nil {
			term.t.Fatalf("type %q: %v", k, err)
		}
	}
}

// waitFor polls until cond holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// logLine returns the first line of the kiosk's log that contains substr.
func logLine(path, substr string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			return sc.Text()
		}
	}
	return ""
}

// screenSince returns what the kiosk drew after byte offset mark, with
// escape sequences removed (the words of one widget come out contiguous).
func (term *terminal) screenSince(mark int) string {
	term.mu.Lock()
	defer term.mu.Unlock()
	b := term.out.Bytes()
	if mark > len(b) {
		mark = len(b)
	}
	return ansi.ReplaceAllString(string(b[mark:]), "")
}

func (term *terminal) mark() int {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.Len()
}

var ansi = regexp.MustCompile(`\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[=>78])`)

// step types keys, then waits until the screen shows want.
func (term *terminal) step(want string, keys ...string) {
	term.t.Helper()
	m := term.mark()
	term.send(keys...)
	waitFor(term.t, "screen to show "+strconv.Quote(want), 20*time.Second, func() bool {
		return strings.Contains(term.screenSince(m), want)
	})
}

const (
	keyEnter = "\r"
	keyTab   = "\t"
	keyDown  = "\x1b[B"
)

// TestReceiptMeansDurable is ARCHITECTURE.md's first sync guarantee, tested
// the hard way: a customer files through the real program on a real terminal,
// the kiosk is killed with SIGKILL the moment the receipt is on screen, and
// the complaint and its outbox entry must be in the database when it is
// opened again. No graceful shutdown runs; only what was committed survives.
func TestReceiptMeansDurable(t *testing.T) {
	dir := t.TempDir()
	receipts := filepath.Join(dir, "receipts")
	term := startKiosk(t, "--data", dir, "--printer", "file:"+receipts, "--branch", "Riverside", "--public-url", "https://track.example.org")
	logPath := filepath.Join(dir, "kiosk.log")
	waitFor(t, "the welcome screen", 20*time.Second, func() bool {
		return strings.Contains(term.screenSince(0), "Welcome") && logLine(logPath, "kiosk started") != ""
	})
	term.step("happened?", keyEnter, keyDown, keyDown, keyEnter) // Start, then the third topic
	term.step("Monday.", "I was charged twice for the same transfer on Monday.")
	term.step("like us to do?", keyTab, keyEnter) // Next
	term.step("contact details", keyTab, keyEnter)
	term.step("Check your complaint", keyTab, keyTab, keyTab, keyTab, keyEnter)
	m := term.mark()
	term.send(keyEnter) // Submit
	var shown string
	waitFor(t, "the receipt", 20*time.Second, func() bool {
		shown = logLine(logPath, "receipt shown")
		return shown != ""
	})
	// The receipt is on screen: kill at once, before anything else can run.
	if err := term.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = term.cmd.Wait()
	if !strings.Contains(term.screenSince(m), "tracking code") {
		t.Errorf("the log says the receipt was shown, but the screen never drew it")
	}
	var entry struct{ Complaint string }
	if err := json.Unmarshal([]byte(shown), &entry); err != nil || entry.Complaint == "" {
		t.Fatalf("log line %q: %v", shown, err)
	}

	st, err := store.Open(context.Background(), filepath.Join(dir, "kiosk.db"), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer st.Close()
	c, err := st.Complaint(context.Background(), entry.Complaint)
	if err != nil {
		t.Fatalf("the complaint %s is not in the database after SIGKILL: %v", entry.Complaint, err)
	}
	if c.ID != entry.Complaint || c.Category != "billing" || !strings.Contains(c.Description, "charged twice") || c.Branch != "Riverside" {
		t.Errorf("stored complaint = %+v", c)
	}
	out, err := st.OutboxAfter(context.Background(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Event.ComplaintID != c.ID {
		t.Fatalf("outbox = %+v, want exactly the filed event of %s", out, c.ID)
	}
}

func TestTrackingBase(t *testing.T) {
	cred := enrol.Credential{ServerURL: "http://10.0.0.5:8080/", TrackingURL: "https://track.example.org"}
	old := enrol.Credential{ServerURL: "http://10.0.0.5:8080/"} // enrolled with a server that announced none
	for _, tc := range []struct {
		name, flag string
		cred       enrol.Credential
		enrolled   bool
		want       string
	}{
		{"the flag wins", "https://other.example/", cred, true, "https://other.example"},
		{"the server's announced address", "", cred, true, "https://track.example.org"},
		{"the address enrolled through", "", old, true, "http://10.0.0.5:8080"},
		{"not enrolled", "", enrol.Credential{}, false, defaultPublicURL},
	} {
		if got := trackingBase(tc.flag, tc.cred, tc.enrolled); got != tc.want {
			t.Errorf("%s: trackingBase = %q, want %q", tc.name, got, tc.want)
		}
	}
}
