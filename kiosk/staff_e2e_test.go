package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"ombud/kiosk/enrol"
	"ombud/kiosk/filing"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/shared/hlc"
	"ombud/sync/client"
)

// The staff terminal's end-to-end tests run the real server program (built
// once per test binary) and the real kiosk program's `staff` command on
// simulation screens, enrolled and given staff accounts through the server's
// CLI exactly as an operator would.

var serverProgram = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "ombud-kiosk-e2e-")
	if err != nil {
		return "", err
	}
	serverProgramDir = dir
	bin := filepath.Join(dir, "server")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, "ombud/server")...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ombud/server: %v\n%s", err, out)
	}
	return bin, nil
})

// serverProgramDir is removed by TestMain.
var serverProgramDir string

// e2eServer is the real server program on a data directory.
type e2eServer struct {
	t         testing.TB
	bin, data string
	addr, url string
	cmd       *exec.Cmd
	extra     []string
}

const e2eBranch = "main"

// startE2EServer builds and starts the server with branch main.
func startE2EServer(t testing.TB, extra ...string) *e2eServer {
	t.Helper()
	bin, err := serverProgram()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &e2eServer{t: t, bin: bin, data: t.TempDir(), addr: addr, url: "http://" + addr, extra: extra}
	s.cli("", "branch", "add", "--id", e2eBranch, "--name", "Main Street")
	s.start()
	return s
}

// cli runs a server subcommand on the data directory with stdin.
func (s *e2eServer) cli(stdin string, args ...string) string {
	s.t.Helper()
	cmd := exec.Command(s.bin, append(args, "--data", s.data)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("server %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (s *e2eServer) start() {
	s.t.Helper()
	args := append([]string{"serve", "--data", s.data, "--listen", s.addr, "--public-url", s.url, "--log-level", "warn"}, s.extra...)
	s.cmd = exec.Command(s.bin, args...)
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	cmd := s.cmd
	s.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitForTB(s.t, "the server to answer", 30*time.Second, func() bool {
		resp, err := http.Get(s.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

var enrolCodeLine = regexp.MustCompile(`(?m)^    (\S+)$`)

// enrolDevice enrols a fresh data directory with the server as a device of
// role (kiosk, staff), as `server enrol-code` and `kiosk enrol` do, and
// returns the directory.
func (s *e2eServer) enrolDevice(name, role string) string {
	s.t.Helper()
	m := enrolCodeLine.FindStringSubmatch(s.cli("", "enrol-code", "--branch", e2eBranch, "--role", role))
	if m == nil {
		s.t.Fatal("no enrolment code in the server's output")
	}
	dir := s.t.TempDir()
	err := run(context.Background(), []string{"enrol", "--data", dir, "--server", s.url, "--code", m[1], "--name", name},
		func(string) string { return "" }, io.Discard, io.Discard, nil)
	if err != nil {
		s.t.Fatalf("enrol %s: %v", name, err)
	}
	return dir
}

// addStaff makes a staff account with a fast PIN hash (tests only).
func (s *e2eServer) addStaff(id, name, role, pin string) {
	s.t.Helper()
	s.cli(pin+"\n", "staff", "add", "--branch", e2eBranch, "--id", id, "--name", name, "--role", role, "--pin-memory", "64", "--pin-passes", "1")
}

// track reads the tracking API of a code: what the customer's phone shows.
func (s *e2eServer) track(code string) map[string]any {
	s.t.Helper()
	resp, err := http.Get(s.url + "/api/v1/track/" + code)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		s.t.Fatal(err)
	}
	return v
}

// customerKiosk files complaints the way the kiosk's screen does, from an
// enrolled data directory, and syncs them up.
type customerKiosk struct {
	svc  *filing.Service
	sync *client.Client
}

func (s *e2eServer) startCustomerKiosk() *customerKiosk {
	s.t.Helper()
	dir := s.enrolDevice("front kiosk", "kiosk")
	cred, ok, err := enrol.Load(dir)
	if err != nil || !ok {
		s.t.Fatalf("credential: %v", err)
	}
	ctx := context.Background()
	if err := adoptCredential(ctx, dir, cred); err != nil {
		s.t.Fatal(err)
	}
	st, err := store.Open(ctx, dbPath(dir), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		s.t.Fatal(err)
	}
	clock := hlc.New(nil)
	svc, err := filing.New(st, clock, filing.Config{Branch: cred.Branch, PublicURL: s.url})
	if err != nil {
		s.t.Fatal(err)
	}
	k := &customerKiosk{svc: svc, sync: client.New(st, clock, client.Config{
		URL: cred.ServerURL, DeviceID: cred.DeviceID, Secret: cred.Secret, Logger: slog.New(slog.DiscardHandler),
		Backoff: client.Backoff{Base: 20 * time.Millisecond, Cap: 200 * time.Millisecond},
	})}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = k.sync.Run(runCtx) })
	s.t.Cleanup(func() { cancel(); wg.Wait(); st.Close() })
	return k
}

func (k *customerKiosk) file(t testing.TB, category, description string) filing.Filed {
	t.Helper()
	f, err := k.svc.File(context.Background(), filing.Draft{Category: category, Description: description, Language: "en"})
	if err != nil {
		t.Fatal(err)
	}
	k.sync.Notify()
	return f
}

func waitForTB(t testing.TB, what string, timeout time.Duration, cond func() bool) {
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
