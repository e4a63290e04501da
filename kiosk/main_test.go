package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"ombud/kiosk/store"
)

// TestMain lets the test binary stand in for the kiosk program: a test starts
// it again with OMBUD_KIOSK_CHILD=1 and it runs main() against a real
// terminal (a pty), exactly as an operator would run it.
func TestMain(m *testing.M) {
	if os.Getenv("OMBUD_KIOSK_CHILD") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
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

var _ = context.Background
var _ = filepath.Join
var _ = syscall.SIGKILL
var _ = store.Open
