package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"ombud/server/storage/postgres"
	"ombud/server/storage/postgres/pgtest"
	"ombud/shared/event"
)

// helperEnv carries a helper process's serve arguments (JSON).
const helperEnv = "OMBUD_TEST_HELPER_SERVE"

// TestHelperServe is not a test: the replica tests run the test binary as
// the server program through it (the real run, in a process of its own), so
// they can kill a replica with SIGKILL as a crash would.
func TestHelperServe(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("the replica tests' helper process")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, args, noEnv, nil, io.Discard, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// replica is `server serve` in a process of its own.
type replica struct {
	name string
	url  string
	cmd  *exec.Cmd
	log  *logWatch
}

// startReplica runs serve with args on addr (its --listen and
// --public-url) and waits until it listens.
func startReplica(tb testing.TB, name, addr string, args ...string) *replica {
	tb.Helper()
	args = append([]string{"serve", "--listen", addr, "--public-url", "http://" + addr}, args...)
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServe$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(raw))
	r := &replica{name: name, url: "http://" + addr, cmd: cmd, log: newLogWatch()}
	cmd.Stderr = r.log
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitUntil(tb, name+" listens", func() (bool, string) {
		select {
		case <-r.log.addr:
			return true, ""
		default:
			return false, r.log.String()
		}
	})
	return r
}

// kill ends the replica with SIGKILL: no shutdown, its connections (and
// the lease's session) simply drop.
func (r *replica) kill(tb testing.TB) {
	tb.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		tb.Fatal(err)
	}
	r.cmd.Wait()
}

// ready is the replica's /readyz: whether it is ready and whether it runs
// the once-only work.
func (r *replica) ready(tb testing.TB) (status int, leader bool, body string) {
	tb.Helper()
	resp, err := http.Get(r.url + "/readyz")
	if err != nil {
		return 0, false, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v struct{ Leader bool }
	json.Unmarshal(b, &v)
	return resp.StatusCode, v.Leader, string(b)
}

// TestE2EReplicas: two replicas of the real server program on one
// PostgreSQL database. A complaint filed at a device connected to replica A
// reaches a staff terminal connected to replica B; the overdue case is
// escalated once by the replica holding the lease (A, started first); A is
// killed with SIGKILL, B takes the lease over and escalates the case that
// became overdue meanwhile; each case is escalated exactly once.
func TestE2EReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	MustRun(t, "branch", "add", "--db", dsn, "--id", "main", "--name", e2eBranchName)
	var configs []string
	for name, content := range map[string]string{"dispatch": e2eDispatch, "sla": e2eSLATiny} {
		path := filepath.Join(t.TempDir(), name+".json")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		configs = append(configs, "--"+name+"-config", path)
	}
	common := append([]string{"--db", dsn, "--escalation-queue", "team:escalations", "--escalation-interval", "100ms",
		"--lease-retry", "100ms", "--tracking-rate", "100000", "--tracking-burst", "10000"}, configs...)

	a := startReplica(t, "replica A", mustFreeAddr(t), common...)
	waitUntil(t, "A is ready and runs the once-only work", func() (bool, string) {
		code, leader, body := a.ready(t)
		return code == http.StatusOK && leader, body
	})
	b := startReplica(t, "replica B", mustFreeAddr(t), common...)
	waitUntil(t, "B is ready, on standby", func() (bool, string) {
		code, leader, body := b.ready(t)
		return code == http.StatusOK && !leader, body
	})

	front := MustE2EKiosk(t, &e2eServer{dir: dsn, url: a.url, srv: &running{log: a.log}}, "Front desk on A")
	back := MustE2EKiosk(t, &e2eServer{dir: dsn, url: b.url, srv: &running{log: b.log}}, "Back office on B")

	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	escalations := func(id string) int {
		stored, err := db.ComplaintEvents(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, se := range stored {
			if se.Event.Type == event.Escalated {
				n++
			}
		}
		return n
	}
	has := func(k *e2eKiosk, id string, typ event.Type) func() (bool, string) {
		return func() (bool, string) {
			es := k.events(t, id)
			return len(ofType(es, typ)) > 0, fmt.Sprint(typesOf(es))
		}
	}

	first := front.file(t, "service", "Nobody has called me back about my appointment.")
	waitUntil(t, "the filing on A reaches the terminal on B", has(back, first.Complaint.ID, event.Filed))
	waitUntil(t, "A's escalation reaches the terminal on B", has(back, first.Complaint.ID, event.Escalated))

	// A second case, stored through A, not yet overdue; then A dies.
	second := front.file(t, "service", "Still no answer about the broken door.")
	waitUntil(t, "the second filing reaches B", has(back, second.Complaint.ID, event.Filed))
	a.kill(t)

	waitUntil(t, "B takes the lease over", func() (bool, string) {
		code, leader, body := b.ready(t)
		return code == http.StatusOK && leader, body
	})
	waitUntil(t, "B escalates the second case", has(back, second.Complaint.ID, event.Escalated))

	// A case filed through B after the takeover is routed and escalated
	// by B too: the whole engine moved, not only the clock.
	third := back.file(t, "service", "The queue ticket machine ate my card.")
	waitUntil(t, "B escalates the third case", has(back, third.Complaint.ID, event.Escalated))

	// B's clock has looked at every case many times by now (100 ms):
	// each is escalated exactly once, on the database and at the terminal.
	for _, c := range []string{first.Complaint.ID, second.Complaint.ID, third.Complaint.ID} {
		if n := escalations(c); n != 1 {
			t.Errorf("complaint %s escalated %d times on the database, want 1", c, n)
		}
		waitUntil(t, "the terminal holds what the database holds", func() (bool, string) {
			got, _ := db.ComplaintEvents(context.Background(), c)
			return len(back.events(t, c)) == len(got), fmt.Sprint(len(back.events(t, c)), " vs ", len(got))
		})
		if n := len(ofType(back.events(t, c), event.Escalated)); n != 1 {
			t.Errorf("terminal on B holds %d escalations of %s, want 1", n, c)
		}
	}
	if t.Failed() {
		t.Logf("replica B log:\n%s", b.log)
	}
}

// A wrong or unreachable --db: one line naming the database without its
// password, an error (non-zero exit), no panic; for serve and a command.
func TestBadDatabaseIsOneLine(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--listen", "127.0.0.1:0", "--db", "postgres://ombud:s3cret@127.0.0.1:1/ombud?sslmode=disable"},
		{"migrate", "--db", "postgres://ombud:s3cret@127.0.0.1:1/ombud?sslmode=disable"},
		{"devices", "--db", "mysql://ombud:s3cret@localhost/ombud"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, noEnv, nil, &out, &errOut)
		if err == nil {
			t.Fatalf("run %q succeeded", args)
		}
		msg := err.Error()
		if strings.Contains(msg, "s3cret") || strings.Contains(errOut.String(), "s3cret") || strings.Contains(msg, "\n") {
			t.Errorf("run %q: error %q (log %q) shows the password or spans lines", args, msg, errOut.String())
		}
		if !strings.Contains(msg, "postgres") {
			t.Errorf("run %q: error %q does not say which database", args, msg)
		}
	}
}
