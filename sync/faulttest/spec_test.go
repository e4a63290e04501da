package faulttest_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"ombud/docs/schemas"
	"ombud/server/central"
	"ombud/server/enrol"
	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/shared/device"
	"ombud/shared/staff"
	"ombud/shared/trackcode"
)

// The tests of the second device (specdevice_test.go) against the real
// server: central.Server in process, as the server program runs it, with
// the operator's commands done on a second handle of its database as the
// CLI does. The device enrols over HTTP with a one-time code like any
// device; what the server stored is read from its database.

// centralServer is the real server on a temp data directory.
type centralServer struct {
	dir   string
	srv   *central.Server
	admin *sqlite.Store // the operator's handle, as `server enrol-code` opens it
	base  string

	closeOnce sync.Once
	closeErr  error
}

func mustCentral(tb testing.TB) *centralServer {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	srv := central.New(central.Config{Data: dir, Listen: "127.0.0.1:0", Logger: testLogger(),
		RevocationInterval: 50 * time.Millisecond, ShutdownTimeout: waitTimeout})
	if err := srv.Open(ctx); err != nil {
		tb.Fatal(err)
	}
	c := &centralServer{dir: dir, srv: srv, base: "http://" + srv.Addr().String()}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Errorf("server close: %v", err)
		}
	})
	admin, err := central.OpenStore(ctx, dir, sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	c.admin = admin
	tb.Cleanup(func() { admin.Close() })
	return c
}

func (c *centralServer) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.srv.Close(context.Background()) })
	return c.closeErr
}

func (c *centralServer) db(tb testing.TB) *sql.DB {
	tb.Helper()
	return readDB(tb, filepath.Join(c.dir, central.DBFile))
}

func (c *centralServer) branch(tb testing.TB, id string) {
	tb.Helper()
	if err := c.admin.CreateBranch(context.Background(), id, "Branch "+id); err != nil && storage.ErrorCode(err) != storage.Conflict {
		tb.Fatal(err)
	}
}

// code issues a one-time enrolment code, as `server enrol-code` does.
func (c *centralServer) code(tb testing.TB, branch string, role device.Role, ttl time.Duration, now time.Time) string {
	tb.Helper()
	c.branch(tb, branch)
	code, _, err := enrol.Issue(context.Background(), c.admin, enrol.Grant{Branch: branch, Role: role}, ttl, now)
	if err != nil {
		tb.Fatal(err)
	}
	return code
}

const specPIN = "482913"

func (c *centralServer) staffAccount(tb testing.TB, id, branch string, role staff.Role) {
	tb.Helper()
	c.branch(tb, branch)
	hash, err := staff.HashPINWith(specPIN, staff.TestCost)
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.admin.CreateStaff(context.Background(), staff.Account{ID: id, Name: "Staff " + id, Role: role, Branch: branch, PINHash: hash}); err != nil {
		tb.Fatal(err)
	}
}

// specFrames keeps every frame and HTTP body the device sent and received,
// to validate them against the published schemas.
type specFrames struct {
	mu   sync.Mutex
	list []specFrame
}

type specFrame struct {
	dir string // up, down, enrol-request, enrol-response, enrol-error
	b   []byte
}

func (f *specFrames) record(dir string, b []byte) {
	f.mu.Lock()
	f.list = append(f.list, specFrame{dir: dir, b: bytes.Clone(b)})
	f.mu.Unlock()
}

func (f *specFrames) snapshot() []specFrame {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]specFrame(nil), f.list...)
}

// validate checks every recorded frame against docs/schemas and returns
// how many of each message type it saw.
func (f *specFrames) validate(tb testing.TB) map[string]int {
	tb.Helper()
	set, err := schemas.Load()
	if err != nil {
		tb.Fatal(err)
	}
	seen := map[string]int{}
	bad := 0
	for _, fr := range f.snapshot() {
		name := map[string]string{"up": schemas.Frame, "down": schemas.Frame, "enrol-request": schemas.EnrolRequest,
			"enrol-response": schemas.EnrolResponse, "enrol-error": schemas.Error}[fr.dir]
		if err := set.Validate(name, fr.b); err != nil {
			if bad++; bad <= 5 {
				tb.Errorf("%s frame does not match the published schema: %v\n%.2000s", fr.dir, err, fr.b)
			}
			continue
		}
		kind := fr.dir
		if name == schemas.Frame {
			var env struct{ Type string }
			_ = json.Unmarshal(fr.b, &env)
			kind = fr.dir + " " + env.Type
		}
		seen[kind]++
	}
	if bad > 5 {
		tb.Errorf("%d frames in all do not match the schemas", bad)
	}
	return seen
}

// specSignIn confirms a staff sign-in with the server (docs/API.md).
func specSignIn(tb testing.TB, base, credential, staffID string) string {
	tb.Helper()
	b, err := specPost(context.Background(), http.MethodPost, base+"/api/v1/staff/sessions", "Bearer "+credential,
		[]byte(`{"staff_id":"`+staffID+`","pin":"`+specPIN+`"}`))
	if err != nil {
		tb.Fatalf("sign in %s: %v", staffID, err)
	}
	var s struct {
		Session string `json:"session"`
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Session == "" {
		tb.Fatalf("sign-in answer %s: %v", b, err)
	}
	return s.Session
}

// specDraftFor is what the i-th customer types: accents, emoji, a typed
// tab, Windows line ends, a stray terminal escape: the device cleans it.
func specDraftFor(i int) specDraft {
	dr := specDraft{Category: "billing\t", Language: "en",
		Description: fmt.Sprintf("  Charged twice for order %d,\r\nplease refund 👩‍💻 — café \x1b[31mnow\x1b[0m.\u200b ", i)}
	switch i % 4 {
	case 1:
		dr.Outcome, dr.Language = "Un remboursement.", "fr"
	case 2:
		dr.Consent, dr.Email, dr.Name = true, fmt.Sprintf(" client%d@example.org ", i), "Ana\u202e Lima"
	case 3:
		dr.Consent, dr.Phone = true, "+44 (0)20 7946-0958"
	}
	return dr
}

func specEnrolAs(tb testing.TB, c *centralServer, role device.Role, branch, id string, frames *specFrames) (specEnrolment, time.Time) {
	tb.Helper()
	code := c.code(tb, branch, role, time.Hour, time.Now())
	en, err := specEnrol(context.Background(), c.base, specEnrolRequest{Code: code, DeviceName: "Second device " + id, DeviceID: id}, frames.record)
	if err != nil {
		tb.Fatal(err)
	}
	if en.DeviceID != id || en.Role != string(role) || en.Branch != branch {
		tb.Fatalf("enrolled as %+v; want %s, %s of %s", en, id, role, branch)
	}
	return en, time.Now()
}

// TestSpecDeviceThroughChaos: the second device, a staff terminal written
// from docs/SYNC.md alone, enrols with a one-time code, files a few hundred
// complaints (and staff acknowledgements, signed in offline)
// through a proxy that cuts connections, delays, reorders and replays
// frames, and keeps its downstream replica. Once the faults stop, every
// complaint is on the server exactly once, nothing is quarantined, the
// device holds every event of its branch, every frame of every session
// matches the published schemas, and a server shutdown reaches it as 4009.
func TestSpecDeviceThroughChaos(t *testing.T) {
	t.Parallel()
	began := time.Now()
	n := scaled(250, 3000)
	c := mustCentral(t)
	c.staffAccount(t, "alice", "north", staff.Agent)
	frames := &specFrames{}
	en, enrolledAt := specEnrolAs(t, c, device.Staff, "north", "spec-chaos", frames)

	proxy := MustChaosProxy(t, strings.TrimPrefix(c.base, "http://"), chaosConfig{
		Seed:    20261202,
		CutProb: 0.9, CutMin: 200, CutMax: 16 << 10,
		DelayProb: 0.05, DelayMax: 3e6,
		HoldProb: 0.1, HoldMax: 20e6,
		ReplayProb: 0.5,
	})
	proxy.faults.Store(true)
	d := newSpecDevice(specConfig{Base: c.base, Sync: proxy.URL(), Software: "specdevice 1.0",
		AskScopes: []string{"branch:north"}, BackoffBase: 5 * time.Millisecond, BackoffCap: 100 * time.Millisecond,
		Record: frames.record}, en, enrolledAt)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	running := func() {
		select {
		case err := <-done:
			t.Fatalf("the device stopped syncing: %v", err)
		default:
		}
	}

	var filed []specEvent
	var acked int
	fileSome := func(k int) {
		for range k {
			e := d.File(specDraftFor(len(filed)))
			filed = append(filed, e)
			if len(filed)%20 == 0 {
				d.Act(filed[len(filed)-10].ComplaintID, "north", "acknowledged", "alice", nil)
				acked++
			}
		}
	}
	for len(filed) < n {
		fileSome(25)
		running()
	}
	waitFor(t, "faults injected", func() bool {
		running()
		if proxy.cuts.Load() >= 4 && proxy.holds.Load() >= 2 {
			return true
		}
		fileSome(1)
		return false
	})
	proxy.faults.Store(false)
	proxy.CutAll()
	waitFor(t, "the device's outbox empty", func() bool {
		running()
		pending, _, _, _ := d.Status()
		return pending == 0
	})
	// Downstream: everything of the branch the server held by now, the
	// server's own routing events included, reaches the device: its
	// cursor passes the newest of them and it holds each (section 7).
	// The server goes on routing the rest meanwhile; their turn comes
	// with the next batches, which this does not wait for.
	db := c.db(t)
	var upTo int64
	waitFor(t, "the server to route a filing (a system event for the branch)", func() bool {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM events WHERE branch = 'north'`).Scan(&n, &upTo); err != nil {
			t.Fatal(err)
		}
		var routed int
		if err := db.QueryRow(`SELECT COUNT(*) FROM events WHERE branch = 'north' AND actor_kind = 'system' AND seq <= ?`, upTo).Scan(&routed); err != nil {
			t.Fatal(err)
		}
		return routed > 0
	})
	waitFor(t, "the device's cursor past the branch's events", func() bool {
		running()
		return d.Cursor("branch:north") >= upTo
	})
	var northIDs []string
	rows, err := db.Query(`SELECT id FROM events WHERE branch = 'north' AND seq <= ?`, upTo)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		northIDs = append(northIDs, id)
	}
	rows.Close()
	if missing := d.Holds(northIDs); missing > 0 || len(northIDs) < len(filed)+acked {
		t.Errorf("the device lacks %d of the branch's %d events up to seq %d (it filed %d and acted %d times)", missing, len(northIDs), upTo, len(filed), acked)
	}
	pending, quarantined, conns, closes := d.Status()
	t.Logf("second device: %d complaints and %d acknowledgements in %d connections (closes %v); proxy: %d cut, %d held, %d replayed, %d delayed; %s",
		len(filed), acked, conns, closes, proxy.cuts.Load(), proxy.holds.Load(), proxy.replays.Load(), proxy.delays.Load(), time.Since(began))
	if pending != 0 || quarantined != 0 {
		t.Errorf("outbox %d, quarantine %d; want both empty", pending, quarantined)
	}

	// Exactly once, as the server stores it.
	want := map[string]string{} // complaint id -> filed event id
	for _, e := range filed {
		want[e.ComplaintID] = e.ID
	}
	rows, err = db.Query(`SELECT complaint_id, id, COUNT(*) OVER (PARTITION BY complaint_id) FROM events WHERE device_id = ? AND type = 'filed'`, en.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for rows.Next() {
		var cid, id string
		var k int
		if err := rows.Scan(&cid, &id, &k); err != nil {
			t.Fatal(err)
		}
		if want[cid] != id || k != 1 {
			t.Errorf("complaint %s: stored event %s %d times; want %s once", cid, id, k, want[cid])
		}
		got++
	}
	rows.Close()
	var devEvents, dupSeqs, complaints, offlineActs int
	for q, dst := range map[string]*int{
		`SELECT COUNT(*) FROM events WHERE device_id = ?`:                                                         &devEvents,
		`SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE device_id = ? GROUP BY device_seq HAVING COUNT(*) > 1)`: &dupSeqs,
		// No sign-in was confirmed with the server (TestSpecDeviceProbes
		// does that): the actions are kept as signed in offline.
		`SELECT COUNT(*) FROM events WHERE device_id = ? AND type = 'acknowledged' AND attest = 'offline'`: &offlineActs,
	} {
		if err := db.QueryRow(q, en.DeviceID).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM complaints`).Scan(&complaints); err != nil {
		t.Fatal(err)
	}
	if got != len(filed) || complaints != len(filed) || devEvents != len(filed)+acked || dupSeqs != 0 || offlineActs != acked {
		t.Errorf("server holds %d filings (%d complaints), %d events of the device, %d doubled seqs, %d offline actions; want %d, %d, %d, 0, %d",
			got, complaints, devEvents, dupSeqs, offlineActs, len(filed), len(filed), len(filed)+acked, acked)
	}

	seen := frames.validate(t)
	for _, k := range []string{"up client_hello", "down server_hello", "up push", "down push_ack", "down events", "up events_ack", "enrol-request", "enrol-response"} {
		if seen[k] == 0 {
			t.Errorf("no %s frame seen (seen %v)", k, seen)
		}
	}
	t.Logf("frames checked against docs/schemas: %v", seen)

	// A server that stops says so (4009), and the device would come back.
	waitFor(t, "the device online", d.Online)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shutdown to reach the device as 4009", func() bool { return d.lastClose() == 4009 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v after the shutdown; want it still trying (context.Canceled)", err)
	}
}

// TestSpecDeviceTrackingCodes: the document's check symbol is the one the
// server's code accepts, and its worked example holds.
func TestSpecDeviceTrackingCodes(t *testing.T) {
	if got := "K7QM4XRT9B2" + string(specCheckSymbol("K7QM4XRT9B2")); got != "K7QM4XRT9B2Y" {
		t.Errorf("the document's worked example: %s, want K7QM4XRT9B2Y", got)
	}
	for range 2000 {
		code := specNewCode("9XG")
		parsed, err := trackcode.Parse(code)
		if err != nil || string(parsed) != code {
			t.Fatalf("%s: shared/trackcode says %q, %v", code, parsed, err)
		}
		// Every single-symbol typo is caught by both.
		i := int(code[5]) % 12
		typo := []byte(code)
		typo[i] = specAlphabet[(strings.IndexByte(specAlphabet, typo[i])+1)%32]
		if _, err := trackcode.Parse(string(typo)); !errors.Is(err, trackcode.ErrTypo) {
			t.Fatalf("typo %s of %s: %v, want ErrTypo", typo, code, err)
		}
	}
}

// specTranscript writes a session's frames for docs/SYNC.md section 12
// when OMBUD_SPEC_TRANSCRIPT names a file; the credential's secret is cut.
func specTranscript(tb testing.TB, frames []specFrame, secret string) {
	path := os.Getenv("OMBUD_SPEC_TRANSCRIPT")
	if path == "" {
		return
	}
	var b strings.Builder
	for _, f := range frames {
		arrow := map[string]string{"up": "device → server", "down": "server → device", "enrol-request": "POST /api/v1/enrol",
			"enrol-response": "200 OK", "enrol-error": "error"}[f.dir]
		fmt.Fprintf(&b, "%s\n%s\n\n", arrow, strings.ReplaceAll(string(f.b), secret, "<secret>"))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// TestSpecDeviceSession: one whole session of a staff terminal, frame by
// frame, as docs/SYNC.md section 12 shows it: enrolment, the hellos, a push of a filing, an acknowledgement and an event
// with a clock ahead of the server's (rejected, before the ack), then the
// branch's events back (the filing, the acknowledgement and the server's
// routing of the case), each acknowledged.
func TestSpecDeviceSession(t *testing.T) {
	t.Parallel()
	c := mustCentral(t)
	c.staffAccount(t, "alice", "north", staff.Agent)
	frames := &specFrames{}
	en, enrolledAt := specEnrolAs(t, c, device.Staff, "north", "lobby-terminal", frames)
	d := newSpecDevice(specConfig{Base: c.base, Sync: c.base, Software: "specdevice 1.0", Record: frames.record}, en, enrolledAt)
	ctx := context.Background()
	conn, err := d.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.ws.Close()
	sh, err := conn.Hello(0, map[string]int64{"branch:north": 0})
	if err != nil || *sh.DeviceSeq != 0 || len(*sh.Scopes) != 1 {
		t.Fatalf("hello: %+v, %v", sh, err)
	}
	d.clock.Observe(sh.ServerTime)
	f := d.File(specDraft{Category: "Billing", Description: "Charged twice for one order.", Language: "en"})
	ack := d.Act(f.ComplaintID, "north", "acknowledged", "alice", nil)
	ahead := d.newEvent(f.ComplaintID, "note_added", specActor{Kind: "staff", ID: "alice"}, "north", map[string]string{"text": "Written on a clock ten minutes fast."})
	ahead.At = uint64(time.Now().Add(10*time.Minute).UnixMilli()) << 16
	entries := []specEntry{{Seq: 1, Event: f}, {Seq: 2, Event: ack}, {Seq: d.Assign(ahead), Event: ahead}}
	if err := conn.Send("push", specPush{Events: entries}); err != nil {
		t.Fatal(err)
	}
	// The push's answers (its rejection before its ack) and, meanwhile,
	// the branch's events: the filing, the acknowledgement and the
	// server's routing of the case, each batch acknowledged.
	var rejects []specPushReject
	var ackSeq, cursor int64
	held := map[string]bool{}
	_ = conn.ws.SetReadDeadline(time.Now().Add(waitTimeout))
	for ackSeq == 0 || !held[f.ID] || !held[ack.ID] || len(held) < 3 {
		env, err := conn.Read()
		if err != nil {
			t.Fatal(err)
		}
		m, err := specDecodeAnswer(env)
		if err != nil {
			t.Fatal(err)
		}
		switch m := m.(type) {
		case specPushReject:
			rejects = append(rejects, m)
		case specPushAck:
			ackSeq = m.Seq
		case specEvents:
			if *m.From != cursor {
				t.Fatalf("events batch from %d, cursor %d", *m.From, cursor)
			}
			for _, se := range m.Events {
				held[se.Event.ID] = true
			}
			cursor = m.Next
			if err := conn.Send("events_ack", specEventsAck{Scope: m.Scope, Cursor: m.Next}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ackSeq != 3 || len(rejects) != 1 || rejects[0].Seq != 3 || rejects[0].Code != 4006 || held[ahead.ID] {
		t.Fatalf("push answered %+v then ack %d; want push_reject 3 (4006) then push_ack 3, and the rejected event nowhere", rejects, ackSeq)
	}
	conn.Close(1000, "device stopping")
	if _, err := conn.Read(); specCloseCode(err) != 1000 {
		t.Errorf("the server answered the close with %v, want 1000", err)
	}
	seen := frames.validate(t)
	if seen["up push"] != 1 || seen["down push_reject"] != 1 || seen["down push_ack"] != 1 || seen["up events_ack"] == 0 {
		t.Errorf("frames seen: %v", seen)
	}
	specTranscript(t, frames.snapshot(), strings.SplitN(en.Credential, ".", 2)[1])
}

// answer reads the answers to one push: its push_rejects, then its
// push_ack, skipping downstream batches.
func (c *specConn) answer() ([]specPushReject, int64, error) {
	var rejects []specPushReject
	_ = c.ws.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		env, err := c.Read()
		if err != nil {
			return rejects, 0, err
		}
		m, err := specDecodeAnswer(env)
		if err != nil {
			return rejects, 0, err
		}
		switch m := m.(type) {
		case specPushReject:
			rejects = append(rejects, m)
		case specPushAck:
			return rejects, m.Seq, nil
		}
	}
}

// readClose reads until the server closes and returns its code.
func (c *specConn) readClose() int {
	_ = c.ws.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		if _, err := c.Read(); err != nil {
			var lc *specLocal
			if errors.As(err, &lc) {
				continue // a frame this device would refuse: keep reading to the close
			}
			return specCloseCode(err)
		}
	}
}
