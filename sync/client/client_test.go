package client_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"ombud/kiosk/filing"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/server/enrol"
	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/shared/complaint"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/client"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

// waitTimeout bounds every wait for a condition: generous for -race on two
// cores, and only ever reached when something is wrong.
const waitTimeout = 20 * time.Second

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// server is the central side: real storage in a temp dir behind the sync
// endpoint, on a listener the test can cut.
type server struct {
	st   *sqlite.Store
	path string                  // the SQLite file, for tests that tamper with it
	hub  atomic.Pointer[hub.Hub] // swapped by restartHub
	http *httptest.Server
	ln   *cuttingListener
}

// MustServer starts a server on fresh storage.
func MustServer(tb testing.TB) *server {
	tb.Helper()
	ctx := context.Background()
	path := filepath.Join(tb.TempDir(), "server.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	s := &server{st: st, path: path}
	s.hub.Store(s.newHub())
	s.http = httptest.NewUnstartedServer(nil)
	s.ln = &cuttingListener{Listener: s.http.Listener}
	s.http.Listener = s.ln
	s.http.Config.Handler = s.handler()
	s.http.Start()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := s.hub.Load().Shutdown(ctx); err != nil {
			tb.Errorf("hub shutdown: %v", err)
		}
		s.ln.cutAll()
		s.http.Close()
	})
	return s
}

func (s *server) newHub() *hub.Hub {
	// The revocation check never runs here: tests revoke through
	// hub.Revoke, as an in-process revocation does.
	return hub.New(hub.Config{Log: s.st, Auth: enrol.SyncAuth{Store: s.st}, RevokeCheckInterval: time.Hour})
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(client.SyncPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hub.Load().ServeHTTP(w, r)
	}))
	return mux
}

// restartHub shuts the hub down (every device gets 4009) and serves a new
// one on the same storage, as a server restart does.
func (s *server) restartHub(tb testing.TB) {
	tb.Helper()
	old := s.hub.Load()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := old.Shutdown(ctx); err != nil {
		tb.Errorf("hub shutdown: %v", err) // not Fatal: may run off the test goroutine
	}
	s.hub.Store(s.newHub())
}

// cuttingListener remembers its connections so a test can drop them all at
// the TCP level, and can drop one after it has read a number of bytes from
// the device (mid-stream, deterministically).
type cuttingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
	// cutAfter, when positive, runs onCut on the first connection that has
	// read this many bytes (from the device), then resets to 0.
	cutAfter atomic.Int64
	onCut    func(net.Conn) // set before cutAfter; nil closes the connection
	cuts     atomic.Int64
}

func (l *cuttingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &cuttingConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns = append(l.conns, cc)
	l.mu.Unlock()
	return cc, nil
}

func (l *cuttingListener) cutAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

type cuttingConn struct {
	net.Conn
	l    *cuttingListener
	read int64
}

func (c *cuttingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read += int64(n)
	if limit := c.l.cutAfter.Load(); limit > 0 && c.read >= limit && c.l.cutAfter.CompareAndSwap(limit, 0) {
		c.l.cuts.Add(1)
		if c.l.onCut != nil {
			c.l.onCut(c.Conn)
			return n, err
		}
		c.Conn.Close()
		return 0, net.ErrClosed
	}
	return n, err
}

// kiosk is one enrolled device: its own database, filing service and client.
type kiosk struct {
	path   string // the database file
	st     *store.Store
	filing *filing.Service
	client *client.Client
	device storage.Device
	cfg    client.Config
	clock  *hlc.Clock
}

// MustKiosk enrols a new kiosk into branch, the way a real one is: the
// server keeps the device id the kiosk's database made, and gives it its
// tracking code prefix.
func (s *server) MustKiosk(tb testing.TB, branch string, tune ...func(*client.Config)) *kiosk {
	tb.Helper()
	ctx := context.Background()
	path := filepath.Join(tb.TempDir(), "kiosk.db")
	st, err := store.Open(ctx, path, nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	id, err := st.Identity(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.st.CreateBranch(ctx, branch, "Branch "+branch); err != nil && storage.ErrorCode(err) != storage.Conflict {
		tb.Fatal(err)
	}
	code, _, err := enrol.Issue(ctx, s.st, enrol.Grant{Branch: branch, Role: device.Staff}, time.Hour, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	en, err := enrol.Redeem(ctx, s.st, enrol.Request{Code: code, DeviceName: "kiosk", DeviceID: id.DeviceID}, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.SetPrefix(ctx, en.Device.Prefix); err != nil {
		tb.Fatal(err)
	}
	clock := hlc.New(nil)
	fs, err := filing.New(st, clock, filing.Config{Branch: branch, PublicURL: "https://track.example.org"})
	if err != nil {
		tb.Fatal(err)
	}
	deviceID, secret, _ := strings.Cut(en.Credential, ".")
	cfg := client.Config{
		URL: s.http.URL, DeviceID: deviceID, Secret: secret,
		Scopes: []string{"branch:" + branch}, Software: "kiosk-test",
		Dialer:  &websocket.Dialer{HandshakeTimeout: 5 * time.Second},
		Backoff: client.Backoff{Base: 5 * time.Millisecond, Cap: 50 * time.Millisecond},
	}
	for _, f := range tune {
		f(&cfg)
	}
	return &kiosk{path: path, st: st, filing: fs, client: client.New(st, clock, cfg), device: en.Device, cfg: cfg, clock: clock}
}

// mustFile files n complaints, notifying the client after each as the
// kiosk does.
func (k *kiosk) mustFile(tb testing.TB, n int) []complaint.Complaint {
	tb.Helper()
	var out []complaint.Complaint
	for i := range n {
		f, err := k.filing.File(context.Background(), filing.Draft{
			Category: "billing", Description: fmt.Sprintf("Charged twice, case %d.", i), Language: "en"})
		if err != nil {
			tb.Fatalf("file %d: %v", i, err)
		}
		k.client.Notify()
		out = append(out, f.Complaint)
	}
	return out
}

// run starts the client; the returned function stops it and returns Run's
// result. Cleanup stops it too.
func (k *kiosk) run(tb testing.TB) (stop func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.client.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(waitTimeout):
				err = errors.New("Run did not return after cancel")
			}
		})
		return err
	}
	tb.Cleanup(func() { stop() })
	return stop
}

// runDone starts Run on ctx and returns the channel its result arrives on.
func (k *kiosk) runDone(tb testing.TB, ctx context.Context) <-chan error {
	tb.Helper()
	done := make(chan error, 1)
	go func() { done <- k.client.Run(ctx) }()
	return done
}

func (s *server) stats(tb testing.TB) storage.Stats {
	tb.Helper()
	st, err := s.st.Stats(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// assertOnServerOnce checks every filed complaint is on the server, and the
// server holds exactly want events and complaints.
func assertOnServerOnce(tb testing.TB, s *server, filed []complaint.Complaint, want int64) {
	tb.Helper()
	ctx := context.Background()
	for _, f := range filed {
		c, err := s.st.ComplaintByCode(ctx, f.Code)
		if err != nil || c.ID != f.ID {
			tb.Errorf("complaint %s on the server: got %q, %v", f.Code, c.ID, err)
		}
	}
	if st := s.stats(tb); st.Events != want || st.Complaints != want {
		tb.Errorf("server holds %d events, %d complaints; want %d each (exactly once)", st.Events, st.Complaints, want)
	}
}

func pendingZero(k *kiosk) func() bool {
	return func() bool {
		st := k.client.Status()
		return st.State == client.Online && st.Pending == 0
	}
}

func TestFiledComplaintsReachServerAndBranch(t *testing.T) {
	ctx := context.Background()
	srv := MustServer(t)
	a := srv.MustKiosk(t, "north")
	filed := a.mustFile(t, 50)
	if got := a.client.Status(); got.State != client.Offline {
		t.Errorf("before Run: got state %v, want offline", got.State)
	}
	a.run(t)
	waitFor(t, "kiosk A online with nothing pending", pendingZero(a))
	waitFor(t, "50 events on the server", func() bool { return srv.stats(t).Events >= 50 })
	assertOnServerOnce(t, srv, filed, 50)
	if n, err := a.st.OutboxCount(ctx); n != 0 || err != nil {
		t.Errorf("outbox of A: got %d, %v, want 0 (acknowledged)", n, err)
	}
	st := a.client.Status()
	if st.LastSuccess.IsZero() || st.LastError != "" || st.CloseCode != 0 {
		t.Errorf("status of A: got %+v, want a success and no error", st)
	}
	waitFor(t, "status saved as online", func() bool {
		saved, err := a.st.LoadSyncStatus(ctx)
		return err == nil && saved.State == "online" && !saved.LastSuccess.IsZero()
	})

	// A second kiosk of the branch receives them; one of another branch does not.
	b := srv.MustKiosk(t, "north")
	c := srv.MustKiosk(t, "south")
	own := c.mustFile(t, 1)
	b.run(t)
	c.run(t)
	waitFor(t, "kiosk B holds the branch's 50 complaints", func() bool {
		n, err := b.st.Count(ctx)
		return err == nil && n == 50
	})
	for _, f := range filed {
		got, err := b.st.Complaint(ctx, f.ID)
		if err != nil || got.Code != f.Code {
			t.Errorf("complaint %s at B: got %q, %v", f.ID, got.Code, err)
		}
	}
	waitFor(t, "kiosk C's own complaint back downstream", func() bool {
		cur, err := c.st.Cursors(ctx)
		return err == nil && cur["branch:south"] > 0
	})
	if n, _ := c.st.Count(ctx); n != 1 {
		t.Errorf("kiosk C (south) holds %d complaints, want only its own 1", n)
	}
	if _, err := c.st.Complaint(ctx, own[0].ID); err != nil {
		t.Errorf("C's own complaint: %v", err)
	}

	// Filing while online reaches the server without a reconnect.
	more := a.mustFile(t, 3)
	waitFor(t, "53 events on the server", func() bool { return srv.stats(t).Events >= 54 })
	waitFor(t, "kiosk A drained again", pendingZero(a))
	assertOnServerOnce(t, srv, append(filed, more...), 54)
}

// The connection drops in the middle of a catch-up; after the reconnect
// everything is on the server exactly once.
func TestCatchUpSurvivesDroppedConnection(t *testing.T) {
	srv := MustServer(t)
	a := srv.MustKiosk(t, "north", func(c *client.Config) { c.MaxBatch = 50 })
	filed := a.fill(t, 1000)
	// About a third of the way through the pushes (events are ~700 bytes).
	srv.ln.cutAfter.Store(250_000)
	a.run(t)
	waitFor(t, "the cut", func() bool { return srv.ln.cuts.Load() == 1 })
	waitFor(t, "kiosk A drained", pendingZero(a))
	waitFor(t, "1000 events on the server", func() bool { return srv.stats(t).Events >= 1000 })
	assertOnServerOnce(t, srv, filed, 1000)
}

// The hub restarts on the same storage (4009 to every device) while the
// device streams; the device resumes from the server's device_seq.
func TestCatchUpSurvivesHubRestart(t *testing.T) {
	srv := MustServer(t)
	a := srv.MustKiosk(t, "north", func(c *client.Config) { c.MaxBatch = 20 })
	filed := a.fill(t, 600)
	// Restart once the hub has read about a third of the pushes. From
	// another goroutine: this one is the hub's reader, which Shutdown waits for.
	restarted := make(chan struct{})
	srv.ln.onCut = func(net.Conn) {
		go func() {
			defer close(restarted)
			srv.restartHub(t)
		}()
	}
	srv.ln.cutAfter.Store(150_000)
	a.run(t)
	<-restarted
	if got := srv.stats(t).Events; got >= 600 {
		t.Errorf("at the restart the server held %d events: not mid-catch-up", got)
	}
	waitFor(t, "kiosk A drained", pendingZero(a))
	assertOnServerOnce(t, srv, filed, 600)
	if st := a.client.Status(); st.State != client.Online {
		t.Errorf("after the restart: got %v, want online", st.State)
	}
}

// Every TCP connection is cut (a network failure, no close frame at all).
func TestCatchUpSurvivesNetworkCut(t *testing.T) {
	srv := MustServer(t)
	a := srv.MustKiosk(t, "north", func(c *client.Config) { c.MaxBatch = 20 })
	filed := a.fill(t, 600)
	a.run(t)
	waitFor(t, "the catch-up under way", func() bool { return srv.stats(t).Events > 0 })
	srv.ln.cutAll()
	waitFor(t, "kiosk A drained", pendingZero(a))
	assertOnServerOnce(t, srv, filed, 600)
}

// An event the server refuses is quarantined and no longer holds up the outbox.
func TestRejectedEventIsQuarantined(t *testing.T) {
	ctx := context.Background()
	srv := MustServer(t)
	a := srv.MustKiosk(t, "north")
	good := a.mustFile(t, 2)
	// A filing service configured for the wrong branch: the server forbids it.
	wrong, err := filing.New(a.st, a.clock, filing.Config{Branch: "south", PublicURL: "https://track.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := wrong.File(ctx, filing.Draft{Category: "billing", Description: "Wrong branch.", Language: "en"})
	if err != nil {
		t.Fatal(err)
	}
	good = append(good, a.mustFile(t, 2)...)
	a.run(t)
	waitFor(t, "kiosk A drained", pendingZero(a))
	assertOnServerOnce(t, srv, good, 4)
	q, err := a.st.Quarantined(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].Seq != 3 || q[0].Event.ComplaintID != bad.Complaint.ID || q[0].Code != int(wire.CloseForbiddenEvent) {
		t.Fatalf("quarantine: got %+v, want seq 3 (complaint %s) with 4003", q, bad.Complaint.ID)
	}
}

// Revoking the device stops Run with a reason staff can act on, and a later
// start is refused at the upgrade.
func TestRevokedGivesUp(t *testing.T) {
	ctx := context.Background()
	srv := MustServer(t)
	a := srv.MustKiosk(t, "north")
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := a.runDone(t, runCtx)
	waitFor(t, "kiosk A online", pendingZero(a))

	if err := enrol.Revoke(ctx, srv.st, a.device.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	srv.hub.Load().Revoke(a.device.ID)
	var err error
	select {
	case err = <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after revocation")
	}
	var gu *client.GiveUpError
	if !errors.As(err, &gu) || gu.Code != wire.CloseUnauthorized {
		t.Fatalf("Run: got %v, want a GiveUpError with 4002", err)
	}
	if !strings.Contains(err.Error(), "revoked: ask staff to re-enrol this kiosk") {
		t.Errorf("Run error %q does not tell staff what to do", err)
	}
	st := a.client.Status()
	if st.State != client.GaveUp || st.CloseCode != wire.CloseUnauthorized || st.LastError != err.Error() {
		t.Errorf("status: got %+v, want gave up with 4002 and the reason", st)
	}
	saved, lerr := a.st.LoadSyncStatus(ctx)
	if lerr != nil || saved.State != "gave up" || saved.CloseCode != 4002 {
		t.Errorf("saved status: got %+v, %v, want gave up 4002", saved, lerr)
	}

	// Starting again: the upgrade itself is refused.
	err = a.client.Run(ctx)
	if !errors.As(err, &gu) || gu.HTTPStatus != http.StatusUnauthorized ||
		!strings.Contains(err.Error(), "device not enrolled or revoked") {
		t.Fatalf("Run after revocation: got %v, want 401 give-up", err)
	}
}

func TestRunStopsOnCancelWhileOffline(t *testing.T) {
	srv := MustServer(t)
	a := srv.MustKiosk(t, "north", func(c *client.Config) {
		c.URL = "http://127.0.0.1:1" // nothing listens: every dial fails
		c.Backoff = client.Backoff{Base: time.Hour}
	})
	stop := a.run(t)
	waitFor(t, "a failed dial", func() bool {
		st := a.client.Status()
		return st.State == client.Offline && st.LastError != ""
	})
	a.mustFile(t, 2)
	waitFor(t, "Pending counted while offline", func() bool { return a.client.Status().Pending == 2 })
	if err := stop(); err != nil {
		t.Errorf("Run after cancel: got %v, want nil", err)
	}
}

func TestSyncURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://h:8080", "ws://h:8080/api/v1/sync"},
		{"https://h/", "wss://h/api/v1/sync"},
		{"https://h/ombud", "wss://h/ombud/api/v1/sync"},
		{"wss://h/api/v1/sync", "wss://h/api/v1/sync"},
	} {
		if got, err := client.SyncURL(tc.in); got != tc.want || err != nil {
			t.Errorf("SyncURL(%q): got %q, %v, want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "ftp://h", "http://", "::"} {
		if got, err := client.SyncURL(bad); err == nil {
			t.Errorf("SyncURL(%q): got %q, want an error", bad, got)
		}
	}
}

// fill puts n filed events in the kiosk's outbox in one transaction, through
// a second handle on the file as another process would: filing them one by
// one costs an fsync each, and the catch-up, not the filing, is under test.
// Only events and outbox rows are written; sync reads nothing else.
func (k *kiosk) fill(tb testing.TB, n int) []complaint.Complaint {
	tb.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+k.path+"?_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	actor := event.Actor{Kind: event.ActorDevice, ID: k.device.ID}
	now := time.Now().UTC().Truncate(time.Millisecond)
	out := make([]complaint.Complaint, 0, n)
	for i := range n {
		code, err := trackcode.Generate(k.device.Prefix)
		if err != nil {
			tb.Fatal(err)
		}
		c := complaint.Complaint{ID: uid.New(), Code: string(code), Branch: k.device.Branch, Device: k.device.ID,
			Channel: complaint.ChannelKiosk, Category: "billing", Language: "en", FiledAt: now,
			Description: fmt.Sprintf("Charged twice for one order, number %d; the refund never came.", i)}
		e, err := event.NewFiled(c, actor, k.clock.Now())
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, c)
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, complaint_id, type, actor_kind, actor_id, at, branch, data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.ComplaintID, string(e.Type), string(e.Actor.Kind), e.Actor.ID,
			int64(e.At), e.Branch, string(e.Data)); err != nil {
			tb.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (event_id, created_at) VALUES (?, ?)`, e.ID, now.UnixMilli()); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	k.client.Notify()
	return out
}

// A kiosk offline for days catches up 10,000 events quickly, and a second
// kiosk of the branch receives them as quickly.
func TestCatchUpTenThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 events")
	}
	n := 10_000
	if raceEnabled {
		n = 2_000 // the race detector slows SQLite about tenfold
	}
	ctx := context.Background()
	srv := MustServer(t)
	a := srv.MustKiosk(t, "north")
	a.fill(t, n)
	start := time.Now()
	a.run(t)
	waitFor(t, "kiosk A drained", pendingZero(a))
	up := time.Since(start)
	if st := srv.stats(t); st.Events != int64(n) || st.Complaints != int64(n) {
		t.Errorf("server holds %d events, %d complaints; want %d each", st.Events, st.Complaints, n)
	}

	b := srv.MustKiosk(t, "north")
	start = time.Now()
	b.run(t)
	waitFor(t, "kiosk B holds the branch's complaints", func() bool {
		c, err := b.st.Count(ctx)
		return err == nil && c == n
	})
	down := time.Since(start)
	t.Logf("%d events: upstream %v (%.0f events/s), downstream %v (%.0f events/s)",
		n, up.Round(time.Millisecond), float64(n)/up.Seconds(), down.Round(time.Millisecond), float64(n)/down.Seconds())
}

// A kiosk restored from an old backup would reuse device sequences the
// server holds for other events: it gives up and says why.
func TestRestoredBackupGivesUp(t *testing.T) {
	ctx := context.Background()
	srv := MustServer(t)
	a := srv.MustKiosk(t, "north")
	a.mustFile(t, 3)
	stop := a.run(t)
	waitFor(t, "kiosk A drained", pendingZero(a))
	stop()

	// The "backup": an empty database with the same credential.
	old, err := store.Open(ctx, filepath.Join(t.TempDir(), "backup.db"), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	err = client.New(old, hlc.New(nil), a.cfg).Run(ctx)
	var gu *client.GiveUpError
	if !errors.As(err, &gu) || gu.Code != wire.CloseDiverged || !strings.Contains(err.Error(), "diverged") {
		t.Fatalf("Run on a restored backup: got %v, want a 4005 give-up", err)
	}
	if n, _ := srv.st.Stats(ctx); n.Events != 3 {
		t.Errorf("server events: got %d, want 3 (nothing from the backup)", n.Events)
	}
}

// TestLostBatchReconnects: an events batch that does not start at the
// device's cursor means a batch was lost or replayed (a cut connection, a
// misbehaving proxy), not a bug: the client closes with 4500 and reconnects
// instead of giving up, so a kiosk's sync never stops over a network fault.
func TestLostBatchReconnects(t *testing.T) {
	srv := MustServer(t)
	var conns atomic.Int64
	closes := make(chan wire.CloseCode, 4)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		conns.Add(1)
		if _, err := wire.Read(ws); err != nil {
			return
		}
		deadline := time.Now().Add(waitTimeout)
		_ = wire.Write(ws, &wire.ServerHello{Version: wire.Version, ServerTime: hlc.New(nil).Now(), Scopes: []string{"branch:north"}}, deadline)
		_ = wire.Write(ws, &wire.Events{Scope: "branch:north", From: 7, Next: 8}, deadline)
		for {
			if _, err := wire.Read(ws); err != nil {
				code, _ := wire.CloseStatus(err)
				closes <- code
				return
			}
		}
	}))
	defer fake.Close()
	a := srv.MustKiosk(t, "north", func(c *client.Config) { c.URL = fake.URL })
	a.run(t)
	select {
	case code := <-closes:
		if code != wire.CloseOutOfStep {
			t.Fatalf("client closed with %d, want %d", code, wire.CloseOutOfStep)
		}
	case <-time.After(waitTimeout):
		t.Fatal("client did not close")
	}
	waitFor(t, "a reconnect", func() bool { return conns.Load() >= 2 })
	if st := a.client.Status(); st.State == client.GaveUp {
		t.Fatalf("client gave up: %+v", st)
	}
}
