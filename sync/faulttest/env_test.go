package faulttest_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
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
	"ombud/shared/lifecycle"
	"ombud/sync/client"
	"ombud/sync/hub"
)

// waitTimeout bounds every wait for a condition: generous for -race on two
// cores, and only ever reached when something is wrong.
const waitTimeout = 60 * time.Second

// fullScale reports whether the brief's full sizes were asked for
// (OMBUD_FAULT_SCALE=full); CI runs the small ones.
func fullScale() bool { return os.Getenv("OMBUD_FAULT_SCALE") == "full" }

// scaled picks the CI size or the full one.
func scaled(small, full int) int {
	if fullScale() {
		return full
	}
	return small
}

func testLogger() *slog.Logger {
	if os.Getenv("FAULTTEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		}
		<-tick.C
	}
}

// server is the central side in-process: real SQLite storage in a temp dir
// and the real hub behind httptest. The hub can be restarted on the same
// storage, and every sync upgrade request is counted.
type server struct {
	path     string
	st       *sqlite.Store
	hub      atomic.Pointer[hub.Hub]
	http     *httptest.Server
	upgrades atomic.Int64 // sync requests that reached the hub
	tune     []func(*hub.Config)
}

func MustServer(tb testing.TB, tune ...func(*hub.Config)) *server {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "server.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	s := &server{path: path, st: st, tune: tune}
	s.hub.Store(s.newHub())
	mux := http.NewServeMux()
	mux.Handle(client.SyncPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.upgrades.Add(1)
		s.hub.Load().ServeHTTP(w, r)
	}))
	s.http = httptest.NewServer(mux)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := s.hub.Load().Shutdown(ctx); err != nil {
			tb.Errorf("hub shutdown: %v", err)
		}
		s.http.CloseClientConnections()
		s.http.Close()
		st.Close()
	})
	return s
}

func (s *server) newHub() *hub.Hub {
	cfg := hub.Config{Log: s.st, Auth: enrol.SyncAuth{Store: s.st}, Logger: testLogger(), RevokeCheckInterval: time.Hour,
		WriteWait: 5 * time.Second, CloseLinger: time.Second}
	for _, f := range s.tune {
		f(&cfg)
	}
	return hub.New(cfg)
}

// enrolDevice enrols the device whose store is st into branch the way the
// HTTP enrolment does (a one-time code redeemed for a credential), and gives
// the store its tracking-code prefix. It returns the credential's parts.
func enrolDevice(tb testing.TB, srv storage.Store, st *store.Store, branch string) (storage.Device, string) {
	tb.Helper()
	ctx := context.Background()
	id, err := st.Identity(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.CreateBranch(ctx, branch, "Branch "+branch); err != nil && storage.ErrorCode(err) != storage.Conflict {
		tb.Fatal(err)
	}
	code, _, err := enrol.Issue(ctx, srv, enrol.Grant{Branch: branch, Role: device.Staff}, time.Hour, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	en, err := enrol.Redeem(ctx, srv, enrol.Request{Code: code, DeviceName: "kiosk", DeviceID: id.DeviceID}, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.SetPrefix(ctx, en.Device.Prefix); err != nil {
		tb.Fatal(err)
	}
	_, secret, _ := strings.Cut(en.Credential, ".")
	return en.Device, secret
}

// kiosk is one device: its own database, filing service and sync client.
type kiosk struct {
	path   string
	branch string
	st     *store.Store
	clock  *hlc.Clock
	filing *filing.Service
	client *client.Client
	device storage.Device
	secret string

	mu        sync.Mutex
	filed     []complaint.Complaint // filed here for its own branch
	forbidden []complaint.Complaint // filed here for another branch: the server must refuse them
}

// MustKiosk enrols a new kiosk into branch on srv and points its client at
// url (the server itself, or a proxy in front of it).
func MustKiosk(tb testing.TB, srv storage.Store, branch, url string, tune ...func(*client.Config)) *kiosk {
	tb.Helper()
	ctx := context.Background()
	path := filepath.Join(tb.TempDir(), "kiosk.db")
	st, err := store.Open(ctx, path, nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	dev, secret := enrolDevice(tb, srv, st, branch)
	return newKiosk(tb, path, st, dev, secret, url, tune...)
}

// newKiosk wires filing and a sync client onto an enrolled device's store.
func newKiosk(tb testing.TB, path string, st *store.Store, dev storage.Device, secret, url string, tune ...func(*client.Config)) *kiosk {
	tb.Helper()
	branch := dev.Branch
	k := &kiosk{path: path, branch: branch, st: st, clock: hlc.New(nil), device: dev, secret: secret}
	k.filing = mustFiling(tb, st, k.clock, branch)
	cfg := client.Config{
		URL: url, DeviceID: dev.ID, Secret: secret, Software: "faulttest",
		Scopes:  []string{hub.ScopeOf(branch)},
		Logger:  testLogger().With("device", dev.ID),
		Dialer:  &websocket.Dialer{HandshakeTimeout: 5 * time.Second},
		Backoff: client.Backoff{Base: 5 * time.Millisecond, Cap: 100 * time.Millisecond},
	}
	for _, f := range tune {
		f(&cfg)
	}
	k.client = client.New(st, k.clock, cfg)
	return k
}

func mustFiling(tb testing.TB, st *store.Store, clock *hlc.Clock, branch string) *filing.Service {
	tb.Helper()
	fs, err := filing.New(st, clock, filing.Config{Branch: branch, PublicURL: "https://track.example.org"})
	if err != nil {
		tb.Fatal(err)
	}
	return fs
}

// file files n complaints as the kiosk does (durably, then Notify), and
// returns how long each File took.
func (k *kiosk) file(tb testing.TB, n int) []time.Duration {
	tb.Helper()
	took := make([]time.Duration, 0, n)
	for i := range n {
		start := time.Now()
		f, err := k.filing.File(context.Background(), filing.Draft{
			Category: "billing", Description: fmt.Sprintf("Charged twice, case %d.", i), Language: "en"})
		if err != nil {
			tb.Errorf("file %d: %v", i, err) // Errorf: may run off the test goroutine
			return took
		}
		took = append(took, time.Since(start))
		k.client.Notify()
		k.mu.Lock()
		k.filed = append(k.filed, f.Complaint)
		k.mu.Unlock()
	}
	return took
}

// fileForbidden files a complaint stamped with another branch: the server
// must refuse it (4003) and the kiosk must quarantine it.
func (k *kiosk) fileForbidden(tb testing.TB) {
	tb.Helper()
	f, err := mustFiling(tb, k.st, k.clock, k.branch+"-other").File(context.Background(),
		filing.Draft{Category: "billing", Description: "Filed for the wrong branch.", Language: "en"})
	if err != nil {
		tb.Fatal(err)
	}
	k.client.Notify()
	k.mu.Lock()
	k.forbidden = append(k.forbidden, f.Complaint)
	k.mu.Unlock()
}

// run starts the client until the test ends; stop ends it and returns
// Run's result.
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

func (k *kiosk) drained() bool {
	st := k.client.Status()
	return st.State == client.Online && st.Pending == 0
}

// readDB opens a read-only view of a server database, also one that
// another process is writing.
func readDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", sqlite.DSN(path, true))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func countEvents(tb testing.TB, db *sql.DB) int64 {
	tb.Helper()
	var n int64
	if err := db.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// checkExactlyOnce checks the server database against what the kiosks
// filed: every complaint once (by complaint id, with one filed event), no
// (device, seq) twice, nothing else stored, and no forbidden complaint.
// Devices only file, so one event per complaint.
func checkExactlyOnce(tb testing.TB, db *sql.DB, kiosks []*kiosk) {
	tb.Helper()
	want := map[string]bool{}
	bad := map[string]bool{}
	for _, k := range kiosks {
		k.mu.Lock()
		for _, c := range k.filed {
			want[c.ID] = true
		}
		for _, c := range k.forbidden {
			bad[c.ID] = true
		}
		k.mu.Unlock()
	}
	// Devices' events only: a running server's case engine adds its own
	// (assignments, escalations), which carry no device sequence.
	rows, err := db.Query(`SELECT complaint_id, COUNT(*), SUM(type = 'filed') FROM events WHERE device_id IS NOT NULL GROUP BY complaint_id`)
	if err != nil {
		tb.Fatal(err)
	}
	got := map[string]bool{}
	for rows.Next() {
		var id string
		var n, filed int
		if err := rows.Scan(&id, &n, &filed); err != nil {
			tb.Fatal(err)
		}
		got[id] = true
		switch {
		case bad[id]:
			tb.Errorf("forbidden complaint %s stored on the server", id)
		case !want[id]:
			tb.Errorf("complaint %s on the server was never filed", id)
		case n != 1 || filed != 1:
			tb.Errorf("complaint %s: %d events (%d filed), want exactly 1", id, n, filed)
		}
	}
	if err := rows.Close(); err != nil {
		tb.Fatal(err)
	}
	missing := 0
	for id := range want {
		if !got[id] {
			missing++
		}
	}
	if missing > 0 {
		tb.Errorf("%d of %d filed complaints missing on the server", missing, len(want))
	}
	var dups, complaints int
	if err := db.QueryRow(`SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE device_id IS NOT NULL GROUP BY device_id, device_seq HAVING COUNT(*) > 1)`).Scan(&dups); err != nil {
		tb.Fatal(err)
	}
	if dups != 0 {
		tb.Errorf("%d (device, seq) pairs stored more than once", dups)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM complaints`).Scan(&complaints); err != nil {
		tb.Fatal(err)
	}
	if complaints != len(want) {
		tb.Errorf("server complaints table holds %d, want %d", complaints, len(want))
	}
}

// checkOutboxes checks every kiosk's outbox is empty and its quarantine
// holds exactly its forbidden complaints, each with the 4003 reason.
func checkOutboxes(tb testing.TB, kiosks []*kiosk) {
	tb.Helper()
	ctx := context.Background()
	for _, k := range kiosks {
		if n, err := k.st.OutboxCount(ctx); err != nil || n != 0 {
			tb.Errorf("kiosk %s outbox: %d, %v; want empty", k.device.ID, n, err)
		}
		q, err := k.st.Quarantined(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		k.mu.Lock()
		bad := map[string]bool{}
		for _, c := range k.forbidden {
			bad[c.ID] = true
		}
		k.mu.Unlock()
		for _, e := range q {
			if !bad[e.Event.ComplaintID] || e.Code != 4003 || e.Reason == "" {
				tb.Errorf("kiosk %s quarantined seq %d (complaint %s, code %d, %q): not a deliberately forbidden event",
					k.device.ID, e.Seq, e.Event.ComplaintID, e.Code, e.Reason)
			}
			delete(bad, e.Event.ComplaintID)
		}
		if len(bad) > 0 {
			tb.Errorf("kiosk %s: %d forbidden complaints neither stored nor quarantined", k.device.ID, len(bad))
		}
	}
}

// serverEvents reads every event on the server, by complaint.
func serverEvents(tb testing.TB, st storage.Store) map[string][]event.Event {
	tb.Helper()
	out := map[string][]event.Event{}
	var after int64
	for {
		page, err := st.AllEventsAfter(context.Background(), after, storage.MaxPage)
		if err != nil {
			tb.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		for _, se := range page {
			out[se.Event.ComplaintID] = append(out[se.Event.ComplaintID], se.Event)
			after = se.Seq
		}
	}
}

// checkConvergence waits until every kiosk holds its branch's complaints
// (downstream) and then checks that, for every complaint, the fold of the
// server's events equals the fold of each kiosk's copy.
func checkConvergence(tb testing.TB, st storage.Store, kiosks []*kiosk) {
	tb.Helper()
	ctx := context.Background()
	all := serverEvents(tb, st)
	byBranch := map[string][]string{}
	for id, evs := range all {
		byBranch[evs[0].Branch] = append(byBranch[evs[0].Branch], id)
	}
	for _, k := range kiosks {
		k.mu.Lock()
		own := len(k.forbidden)
		k.mu.Unlock()
		want := len(byBranch[k.branch]) + own
		waitFor(tb, fmt.Sprintf("kiosk %s to hold its branch's %d complaints", k.device.ID, want), func() bool {
			n, err := k.st.Count(ctx)
			return err == nil && n >= want
		})
		for _, id := range byBranch[k.branch] {
			want, err := lifecycle.Fold(all[id])
			if err != nil {
				tb.Fatalf("fold server copy of %s: %v", id, err)
			}
			local, err := k.st.Events(ctx, id)
			if err != nil {
				tb.Fatal(err)
			}
			got, err := lifecycle.Fold(local)
			if err != nil {
				tb.Errorf("kiosk %s: fold of %s: %v", k.device.ID, id, err)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				tb.Errorf("kiosk %s: complaint %s folds to %+v, server to %+v", k.device.ID, id, got, want)
			}
		}
	}
}
