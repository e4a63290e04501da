package faulttest_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"ombud/kiosk/enrol"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/server/storage"
	"ombud/shared/hlc"
	"ombud/sync/client"
)

// Environment of the re-executed test binary acting as a kiosk's sync
// process (see TestMain).
const (
	envChild    = "FAULTTEST_CHILD"
	envStore    = "FAULTTEST_STORE"
	envURL      = "FAULTTEST_URL"
	envDevice   = "FAULTTEST_DEVICE"
	envSecret   = "FAULTTEST_SECRET"
	envMaxBatch = "FAULTTEST_MAX_BATCH"
)

// TestMain lets the test binary stand in for a kiosk's sync process, so a
// test can SIGKILL it mid-upload.
func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "kiosk" {
		if err := kioskChild(); err != nil {
			fmt.Fprintln(os.Stderr, "kiosk child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// kioskChild opens the kiosk store and syncs it until SIGTERM (or SIGKILL).
func kioskChild() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	st, err := store.Open(ctx, os.Getenv(envStore), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		return err
	}
	defer st.Close()
	maxBatch, _ := strconv.Atoi(os.Getenv(envMaxBatch))
	c := client.New(st, hlc.New(nil), client.Config{
		URL: os.Getenv(envURL), DeviceID: os.Getenv(envDevice), Secret: os.Getenv(envSecret),
		Software: "faulttest-child", MaxBatch: maxBatch, Logger: testLogger(),
		Backoff: client.Backoff{Base: 5 * time.Millisecond, Cap: 100 * time.Millisecond},
	})
	return c.Run(ctx)
}

// TestKioskKilledMidUpload: a kiosk's sync process is SIGKILLed while its
// backlog is half uploaded, then restarted on the same store: every
// complaint ends up on the server exactly once and the outbox empties.
func TestKioskKilledMidUpload(t *testing.T) {
	t.Parallel()
	n := scaled(800, 20000)
	srv := MustServer(t)
	k := MustKiosk(t, srv.st, "north", srv.http.URL)
	k.file(t, n)
	if err := k.st.Close(); err != nil { // the child owns the store from now on
		t.Fatal(err)
	}
	db := readDB(t, srv.path)
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envChild+"=kiosk", envStore+"="+k.path, envURL+"="+srv.http.URL,
			envDevice+"="+k.device.ID, envSecret+"="+k.secret, envMaxBatch+"=25")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	child := start()
	var stored int64
	waitFor(t, "upload under way", func() bool {
		stored = countEvents(t, db)
		return stored > 0
	})
	if err := child.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = child.Wait()
	at := countEvents(t, db)
	t.Logf("killed the kiosk with %d (then %d) of %d events on the server", stored, at, n)
	if at >= int64(n) {
		t.Fatalf("upload finished before the kill (%d of %d): raise the backlog", at, n)
	}

	child = start()
	waitFor(t, "the whole backlog on the server", func() bool { return countEvents(t, db) >= int64(n) })
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := child.Wait(); err != nil {
		t.Errorf("kiosk child: %v", err)
	}
	st, err := store.Open(context.Background(), k.path, nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k.st = st
	// The ack of the last push may have been lost with SIGTERM's close;
	// wait for the outbox by syncing once more in-process.
	k.client = client.New(st, k.clock, client.Config{URL: srv.http.URL, DeviceID: k.device.ID, Secret: k.secret,
		Backoff: client.Backoff{Base: 5 * time.Millisecond, Cap: 100 * time.Millisecond}})
	k.run(t)
	waitFor(t, "kiosk drained", k.drained)
	checkExactlyOnce(t, db, []*kiosk{k})
	checkOutboxes(t, []*kiosk{k})
}

// serverProgram builds the real server program once per test binary.
var serverProgram = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "ombud-faulttest-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "server")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race") // reuses the packages this test binary was built from
	}
	out, err := exec.Command("go", append(args, "ombud/server")...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ombud/server: %v\n%s", err, out)
	}
	return bin, nil
})

// serverProcess is the real server program on a data directory.
type serverProcess struct {
	bin, data, addr string
	cmd             *exec.Cmd
}

func (s *serverProcess) run(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command(s.bin, append(args, "--data", s.data)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("server %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// start serves on s.addr and waits until it answers.
func (s *serverProcess) start(tb testing.TB) {
	tb.Helper()
	s.cmd = exec.Command(s.bin, "serve", "--data", s.data, "--listen", s.addr, "--log-level", "warn")
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	cmd := s.cmd
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitFor(tb, "the server to answer", func() bool {
		resp, err := http.Get("http://" + s.addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
}

var enrolCodeLine = regexp.MustCompile(`(?m)^    (\S+)$`)

// TestServerKilledMidBatch runs the real server program, enrols kiosks
// through its CLI and the HTTP enrolment, and SIGKILLs it while their
// backlogs are being uploaded (some but not all events stored); restarted on
// the same data directory, it ends with every complaint exactly once.
func TestServerKilledMidBatch(t *testing.T) {
	t.Parallel()
	began := time.Now()
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
	s := &serverProcess{bin: bin, data: t.TempDir(), addr: addr}
	url := "http://" + addr
	s.run(t, "branch", "add", "--id", "north", "--name", "North")
	s.start(t)

	devices, per := 2, scaled(400, 10000)
	kiosks := make([]*kiosk, devices)
	ctx := context.Background()
	for i := range kiosks {
		m := enrolCodeLine.FindStringSubmatch(s.run(t, "enrol-code", "--branch", "north"))
		if m == nil {
			t.Fatal("no code in enrol-code's output")
		}
		path := filepath.Join(t.TempDir(), "kiosk.db")
		st, err := store.Open(ctx, path, nil, cases.NewProjection(cases.Options{}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		id, err := st.Identity(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cred, err := enrol.EnrolAs(ctx, nil, url, m[1], "kiosk", id.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetPrefix(ctx, cred.CodePrefix); err != nil {
			t.Fatal(err)
		}
		kiosks[i] = newKiosk(t, path, st, storage.Device{ID: cred.DeviceID, Branch: cred.Branch}, cred.Secret, url,
			func(c *client.Config) { c.MaxBatch = 25 })
		kiosks[i].file(t, per)
	}
	t.Logf("built, started, enrolled and filed in %s", time.Since(began))
	db := readDB(t, filepath.Join(s.data, "server.db"))
	total := int64(devices * per)
	for _, k := range kiosks {
		k.run(t)
	}
	var before int64
	waitFor(t, "batches in flight", func() bool {
		before = countEvents(t, db)
		return before > 0
	})
	if err := s.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = s.cmd.Wait()
	after := countEvents(t, db)
	t.Logf("killed the server with %d (then %d) of %d events stored", before, after, total)
	if after >= total {
		t.Fatalf("upload finished before the kill (%d of %d): raise the backlog", after, total)
	}
	s.start(t)
	restarted := time.Now()
	for _, k := range kiosks {
		waitFor(t, "kiosk "+k.device.ID+" drained", k.drained)
	}
	t.Logf("caught up %s after the restart", time.Since(restarted))
	checkExactlyOnce(t, db, kiosks)
	checkOutboxes(t, kiosks)
	var buf bytes.Buffer
	buf.WriteString(s.run(t, "devices"))
	t.Logf("server devices after the restart:\n%s", buf.String())
}
