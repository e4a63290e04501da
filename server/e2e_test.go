package main

// End-to-end tests of the "How it is verified": the real server
// program (run, on 127.0.0.1, a temp data dir, dispatch and SLA configs),
// kiosks made of the real kiosk/store, kiosk/filing and sync/client, the real
// receipt printer, and a phone's browser. Nothing here reaches into the
// server's memory: outcomes are observed where a person would see them (a
// kiosk's database, the tracking page, the server's database).

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"

	kioskenrol "ombud/kiosk/enrol"
	"ombud/kiosk/filing"
	"ombud/kiosk/printer"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/server/tracking/i18n"
	"ombud/server/tracking/phonetest"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/sla"
	"ombud/shared/uid"
	"ombud/sync/client"
	"ombud/sync/wire"
)

// e2eWait bounds every wait for an outcome. Generous: -race on a loaded
// 2-core machine; a passing run waits far less.
const e2eWait = 30 * time.Second

// e2eBranchName is the branch's name as customers know it.
const e2eBranchName = "Main Street"

// e2eDispatch routes by words first, then by category, else to the branch;
// "escalations" is the team overdue cases go to.
const e2eDispatch = `{
  "queues": [
    {"id": "safety", "name": "Card safety"},
    {"id": "billing", "name": "Billing"},
    {"id": "escalations", "name": "Escalations"}
  ],
  "rules": [
    {"name": "stolen or fraud", "when": {"words": ["fraud", "stolen"]}, "queue": "team:safety"},
    {"name": "billing by category", "when": {"category": ["billing"]}, "queue": "team:billing"}
  ]
}`

// e2eSLA counts office hours in Paris, so the dates on the page can only
// come from this config, not from the receipt's promise (whole days).
const e2eSLA = `{
  "calendars": {
    "default": {
      "time_zone": "Europe/Paris",
      "hours": {
        "mon": ["09:00-12:30", "13:30-17:00"], "tue": ["09:00-12:30", "13:30-17:00"],
        "wed": ["09:00-12:30", "13:30-17:00"], "thu": ["09:00-12:30", "13:30-17:00"],
        "fri": ["09:00-12:30", "13:30-17:00"]
      }
    }
  },
  "policies": [
    {"acknowledge": "8h", "respond": "80h"},
    {"category": "billing", "acknowledge": "3h", "respond": "40h"}
  ]
}`

// e2eSLATiny breaches the acknowledge target two seconds after filing, on a
// calendar that is always open; the respond target is far away, so exactly
// one target can be escalated during a test.
const e2eSLATiny = `{
  "calendars": {
    "default": {
      "time_zone": "UTC",
      "hours": {
        "mon": ["00:00-24:00"], "tue": ["00:00-24:00"], "wed": ["00:00-24:00"], "thu": ["00:00-24:00"],
        "fri": ["00:00-24:00"], "sat": ["00:00-24:00"], "sun": ["00:00-24:00"]
      }
    }
  },
  "policies": [{"acknowledge": "2s", "respond": "24h"}]
}`

// e2eServer is the real server program with a branch and its configs.
type e2eServer struct {
	dir  string // data directory
	addr string // host:port, the same across restarts
	url  string // http://addr, also its --public-url
	args []string
	srv  *running
	db   *sqlite.Store // a second connection to server.db, for looking only
}

// MustE2EServer creates branch main and starts `server serve` on a free
// loopback port with --public-url set to that address, the configs given
// (written to files) and extra flags.
func MustE2EServer(tb testing.TB, dispatchJSON, slaJSON string, extra ...string) *e2eServer {
	tb.Helper()
	dir := tb.TempDir()
	MustRun(tb, "branch", "add", "--data", dir, "--id", "main", "--name", e2eBranchName)
	addr := mustFreeAddr(tb)
	s := &e2eServer{dir: dir, addr: addr, url: "http://" + addr}
	s.args = []string{"--data", dir, "--listen", addr, "--public-url", s.url, "--timezone", "Europe/Paris",
		// Tests poll the tracking API; the rate limit is tested elsewhere.
		"--tracking-rate", "100000", "--tracking-burst", "10000"}
	for name, content := range map[string]string{"dispatch": dispatchJSON, "sla": slaJSON} {
		if content == "" {
			continue
		}
		path := filepath.Join(tb.TempDir(), name+".json")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
		s.args = append(s.args, "--"+name+"-config", path)
	}
	s.args = append(s.args, extra...)
	s.start(tb)
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "server.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	s.db = db
	return s
}

// start runs the program; the later --listen overrides MustServe's :0.
func (s *e2eServer) start(tb testing.TB) {
	tb.Helper()
	s.srv = MustServe(tb, noEnv, s.args...)
	if s.srv.addr != s.addr {
		tb.Fatalf("listening on %s, want %s", s.srv.addr, s.addr)
	}
}

// restart stops the program (cancelling run's context) and starts it again
// on the same data directory and address.
func (s *e2eServer) restart(tb testing.TB) {
	tb.Helper()
	if err := s.srv.stop(); err != nil {
		tb.Fatalf("stop: %v\nlog:\n%s", err, s.srv.log)
	}
	s.start(tb)
}

// events returns what the server holds for a complaint, in log order.
func (s *e2eServer) events(tb testing.TB, complaintID string) []event.Event {
	tb.Helper()
	stored, err := s.db.ComplaintEvents(context.Background(), complaintID)
	if err != nil && storage.ErrorCode(err) != storage.NotFound {
		tb.Fatalf("server events: %v", err)
	}
	out := make([]event.Event, len(stored))
	for i := range stored {
		out[i] = stored[i].Event
	}
	return out
}

// mustFreeAddr finds a free loopback port. The restart test needs the
// address fixed before the first start, and so does --public-url.
func mustFreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// e2eKiosk is a branch device without its screen: the real store, filing
// service and sync client, enrolled with the server as `kiosk enrol` does.
// It files as a kiosk does and receives its branch's queue as a staff
// terminal does, so it is enrolled as a staff terminal: a customer kiosk
// receives nothing (TestE2ETrust...).
type e2eKiosk struct {
	name string
	path string // its database file
	st   *store.Store
	svc  *filing.Service
	sync *client.Client
	cred kioskenrol.Credential
}

// MustE2EKiosk enrols a kiosk at branch main with a code from the server's
// CLI, adopts its code prefix and runs its sync client until the test ends.
func MustE2EKiosk(tb testing.TB, s *e2eServer, name string) *e2eKiosk {
	tb.Helper()
	ctx := context.Background()
	path := filepath.Join(tb.TempDir(), "kiosk.db")
	st, err := store.Open(ctx, path, nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		tb.Fatal(err)
	}
	id, err := st.Identity(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	cred, err := kioskenrol.EnrolAs(ctx, nil, s.url, MustCode(tb, s.dir, "--role", "staff"), name, id.DeviceID)
	if err != nil {
		tb.Fatalf("enrol %s: %v\nlog:\n%s", name, err, s.srv.log)
	}
	if err := st.SetPrefix(ctx, cred.CodePrefix); err != nil {
		tb.Fatal(err)
	}
	clock := hlc.New(nil)
	svc, err := filing.New(st, clock, filing.Config{Branch: cred.Branch, PublicURL: s.url})
	if err != nil {
		tb.Fatal(err)
	}
	k := &e2eKiosk{name: name, path: path, st: st, svc: svc, cred: cred}
	k.sync = client.New(st, clock, client.Config{
		URL: cred.ServerURL, DeviceID: cred.DeviceID, Secret: cred.Secret,
		Scopes: []string{"branch:" + cred.Branch}, Software: "ombud-e2e-kiosk",
		Logger: slog.New(slog.DiscardHandler),
		// Production waits 1-10 s after a server restart; the test need not.
		Backoff: client.Backoff{Base: 50 * time.Millisecond, Cap: 500 * time.Millisecond},
	})
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := k.sync.Run(runCtx); err != nil {
			tb.Errorf("kiosk %s: sync gave up: %v", name, err)
		}
	})
	tb.Cleanup(func() { cancel(); wg.Wait(); st.Close() })
	return k
}

// file files a complaint as the kiosk's screen does and wakes the sync client.
func (k *e2eKiosk) file(tb testing.TB, category, description string) filing.Filed {
	tb.Helper()
	f, err := k.svc.File(context.Background(), filing.Draft{Category: category, Description: description, Language: "en"})
	if err != nil {
		tb.Fatalf("kiosk %s: file: %v", k.name, err)
	}
	k.sync.Notify()
	return f
}

// events returns what the kiosk's database holds for a complaint.
func (k *e2eKiosk) events(tb testing.TB, complaintID string) []event.Event {
	tb.Helper()
	es, err := k.st.Events(context.Background(), complaintID)
	if err != nil {
		tb.Fatalf("kiosk %s: events: %v", k.name, err)
	}
	return es
}

// print prints the receipt as the kiosk does, to a file: printer, and
// returns the ESC/POS bytes.
func (k *e2eKiosk) print(tb testing.TB, f filing.Filed) []byte {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "receipts")
	prn, err := printer.Open("file:"+dir, printer.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	r := printer.Receipt{
		Title:     "Complaint received",
		Lines:     []string{"Branch: " + k.cred.BranchName, "Date: " + f.Complaint.FiledAt.Format("2 Jan 2006 15:04")},
		CodeLabel: "Your tracking code",
		Code:      f.Code.String(),
		URL:       f.URL,
		Footer:    []string{"We will confirm we are handling it by " + f.AcknowledgeBy.Format("2 Jan 2006") + "."},
	}
	if err := prn.Print(context.Background(), r); err != nil {
		tb.Fatalf("print: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.escpos"))
	if len(files) != 1 {
		tb.Fatalf("printed %d .escpos files, want 1", len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// MustScanReceipt decodes the QR code printed on an ESC/POS receipt, as a
// phone's camera would read the paper.
func MustScanReceipt(tb testing.TB, escpos []byte) string {
	tb.Helper()
	images, lines, err := printer.DecodeRaster(escpos)
	if err != nil {
		tb.Fatalf("decode receipt: %v", err)
	}
	for _, img := range images {
		// White margin: the paper around the printed symbol.
		b := img.Bounds()
		page := image.NewGray(image.Rect(0, 0, b.Dx()+64, b.Dy()+64))
		draw.Draw(page, page.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		draw.Draw(page, b.Add(image.Pt(32, 32)).Sub(b.Min), img, b.Min, draw.Src)
		bmp, err := gozxing.NewBinaryBitmapFromImage(page)
		if err != nil {
			continue
		}
		if res, err := gzqr.NewQRCodeReader().Decode(bmp, nil); err == nil {
			return res.GetText()
		}
	}
	tb.Fatalf("no readable QR code among %d images; text:\n%s", len(images), strings.Join(lines, "\n"))
	return ""
}

// waitUntil polls cond until it holds or e2eWait passes; then it fails with
// what cond last said.
func waitUntil(tb testing.TB, what string, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.After(e2eWait)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		select {
		case <-deadline:
			tb.Fatalf("%s: not within %s; last seen: %s", what, e2eWait, state)
		case <-poll.C:
		}
	}
}

// ofType returns the events of type t.
func ofType(es []event.Event, t event.Type) []event.Event {
	var out []event.Event
	for _, e := range es {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

func typesOf(es []event.Event) []event.Type {
	out := make([]event.Type, len(es))
	for i := range es {
		out[i] = es[i].Type
	}
	return out
}

func assignmentOf(tb testing.TB, e event.Event) event.Assignment {
	tb.Helper()
	var a event.Assignment
	if err := json.Unmarshal(e.Data, &a); err != nil {
		tb.Fatalf("assigned event data %s: %v", e.Data, err)
	}
	return a
}

// httpGet returns the status and body of a GET.
func httpGet(tb testing.TB, u string) (int, string) {
	tb.Helper()
	resp, err := http.Get(u)
	if err != nil {
		tb.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// trackJSON is the part of GET /api/v1/track/{code} the tests read.
type trackJSON struct {
	Code     string `json:"code"`
	State    string `json:"state"`
	Status   string `json:"status"`
	Branch   string `json:"branch"`
	NextStep *struct {
		Kind  string `json:"kind"`
		Due   string `json:"due"`
		Basis string `json:"basis"`
	} `json:"next_step"`
}

// TestE2EKioskFilingIsRouted: three complaints filed at two kiosks of one
// branch are routed by the rule that should match ("stolen" words beat the
// category; the billing category; nothing: the branch), and every routing
// decision comes back down to both kiosks.
func TestE2EKioskFilingIsRouted(t *testing.T) {
	s := MustE2EServer(t, e2eDispatch, e2eSLA)
	front := MustE2EKiosk(t, s, "Front desk")
	lobby := MustE2EKiosk(t, s, "Lobby")

	type want struct {
		f           filing.Filed
		queue, rule string
	}
	cases := []want{
		{front.file(t, "cards", "Someone used my stolen card at the cash machine on Monday."), "team:safety", "stolen or fraud"},
		{lobby.file(t, "billing", "I was charged a fee twice for the same transfer."), "team:billing", "billing by category"},
		{front.file(t, "service", "The queue was very long and nobody answered the phone."), "branch:main", "default"},
	}
	for _, k := range []*e2eKiosk{front, lobby} {
		for _, c := range cases {
			waitUntil(t, fmt.Sprintf("kiosk %s holds the routing of %q", k.name, c.f.Code), func() (bool, string) {
				es := k.events(t, c.f.Complaint.ID)
				return len(ofType(es, event.Assigned)) > 0, fmt.Sprint(typesOf(es))
			})
			assigned := ofType(k.events(t, c.f.Complaint.ID), event.Assigned)
			if len(assigned) != 1 {
				t.Errorf("kiosk %s: %d Assigned events for %s, want 1", k.name, len(assigned), c.f.Code)
			}
			a := assignmentOf(t, assigned[0])
			if a.Queue != c.queue || a.Rule != c.rule {
				t.Errorf("kiosk %s: %s (%q) assigned to %s by rule %q, want %s by %q",
					k.name, c.f.Code, c.f.Complaint.Description, a.Queue, a.Rule, c.queue, c.rule)
			}
			if got := assigned[0].Actor; got.Kind != event.ActorSystem || got.ID != "dispatch" {
				t.Errorf("kiosk %s: Assigned by %+v, want the dispatch system actor", k.name, got)
			}
		}
	}
	// The server holds the same single decision per complaint.
	for _, c := range cases {
		if n := len(ofType(s.events(t, c.f.Complaint.ID), event.Assigned)); n != 1 {
			t.Errorf("server: %d Assigned events for %s, want 1", n, c.f.Code)
		}
	}
}

// TestE2EReceiptQROpensTrackingPage: the QR printed on a receipt opens the
// complaint's page on this server, which shows its status, its branch and
// the acknowledge date the SLA config gives; the JSON API agrees.
func TestE2EReceiptQROpensTrackingPage(t *testing.T) {
	s := MustE2EServer(t, e2eDispatch, e2eSLA)
	front := MustE2EKiosk(t, s, "Front desk")
	f := front.file(t, "billing", "I was charged a fee twice for the same transfer.")
	waitUntil(t, "the routing reaches the kiosk", func() (bool, string) {
		es := front.events(t, f.Complaint.ID)
		return len(ofType(es, event.Assigned)) > 0, fmt.Sprint(typesOf(es))
	})

	scanned := MustScanReceipt(t, front.print(t, f))
	if want := s.url + "/t/" + f.Complaint.Code; scanned != want {
		t.Fatalf("QR code reads %q, want %q", scanned, want)
	}

	// The date the SLA config sets: the billing policy's 3 h of office
	// hours in Paris, counted from the Filed event's time.
	cfg, err := sla.Parse([]byte(e2eSLA))
	if err != nil {
		t.Fatal(err)
	}
	filed := ofType(front.events(t, f.Complaint.ID), event.Filed)[0].At.Time()
	p := cfg.Policy("billing", 0)
	cal := cfg.CalendarFor(p, "main")
	ackBy, _, err := sla.Deadlines(p, cal, filed, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	words, err := i18n.Load("")
	if err != nil {
		t.Fatal(err)
	}
	date := words.Date("en", ackBy.In(paris))

	status, page := httpGet(t, scanned)
	if status != http.StatusOK {
		t.Fatalf("GET %s = %d, want 200\n%s", scanned, status, page)
	}
	for _, want := range []string{
		`<span id="branch">` + e2eBranchName + `</span>`,
		`<h1 id="status-title">Received</h1>`,
		"We have your complaint and will confirm we are handling it by " + date + ".",
		"This date follows our published time limits.",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}

	status, body := httpGet(t, s.url+"/api/v1/track/"+url.PathEscape(f.Complaint.Code))
	if status != http.StatusOK {
		t.Fatalf("API = %d\n%s", status, body)
	}
	var got trackJSON
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.State != "received" || got.Branch != e2eBranchName || got.NextStep == nil ||
		got.NextStep.Kind != "acknowledge" || got.NextStep.Basis != "policy" {
		t.Fatalf("API = %s, want state received at %s, next step acknowledge by policy", body, e2eBranchName)
	}
	due, err := time.Parse(time.RFC3339, got.NextStep.Due)
	if err != nil {
		t.Fatal(err)
	}
	if want := ackBy.Truncate(time.Second); !due.Equal(want) {
		t.Errorf("API next step due %s, want %s (the SLA config's 3 h of office hours from %s)",
			due, want.In(paris), filed.In(paris))
	}
}

// TestE2EEscalationOnceAcrossRestart: a case whose acknowledge target passes
// is escalated once, the escalation reaches the kiosk, and a server restart
// on the same data (its escalation clock starting again, over the same
// overdue case) adds no second escalation, on the server or on the kiosk.
func TestE2EEscalationOnceAcrossRestart(t *testing.T) {
	const interval = 100 * time.Millisecond
	s := MustE2EServer(t, e2eDispatch, e2eSLATiny,
		"--escalation-queue", "team:escalations", "--escalation-interval", interval.String())
	front := MustE2EKiosk(t, s, "Front desk")

	escalated := func(k *e2eKiosk, id string) func() (bool, string) {
		return func() (bool, string) {
			es := k.events(t, id)
			return len(ofType(es, event.Escalated)) > 0, fmt.Sprint(typesOf(es))
		}
	}
	first := front.file(t, "service", "Nobody has called me back about my appointment.")
	waitUntil(t, "the escalation reaches the kiosk", escalated(front, first.Complaint.ID))

	s.restart(t)

	// A second overdue case escalated after the restart proves the new
	// escalation clock has run over the first case too, and that the
	// kiosk is syncing with the new server.
	second := front.file(t, "service", "Still no answer about the broken door.")
	waitUntil(t, "the second case's escalation reaches the kiosk", escalated(front, second.Complaint.ID))

	// Then watch a few more of the clock's intervals: at every look the
	// server holds exactly one escalation of the first case.
	look := time.NewTicker(interval / 4)
	for end := time.After(10 * interval); ; {
		if n := len(ofType(s.events(t, first.Complaint.ID), event.Escalated)); n != 1 {
			t.Fatalf("server holds %d Escalated events for the first case, want 1", n)
		}
		select {
		case <-look.C:
			continue
		case <-end:
		}
		break
	}
	look.Stop()
	for _, c := range []filing.Filed{first, second} {
		server := s.events(t, c.Complaint.ID)
		// The kiosk has caught up when it holds every event the server does.
		waitUntil(t, "the kiosk holds what the server holds", func() (bool, string) {
			return len(front.events(t, c.Complaint.ID)) == len(server), fmt.Sprint(typesOf(front.events(t, c.Complaint.ID)), " vs ", typesOf(server))
		})
		kiosk := front.events(t, c.Complaint.ID)
		for where, es := range map[string][]event.Event{"server": server, "kiosk": kiosk} {
			esc := ofType(es, event.Escalated)
			if len(esc) != 1 {
				t.Errorf("%s: %d Escalated events for %s, want 1: %v", where, len(esc), c.Code, typesOf(es))
				continue
			}
			if esc[0].Actor.Kind != event.ActorSystem || esc[0].Actor.ID != "sla" {
				t.Errorf("%s: escalated by %+v, want the sla system actor", where, esc[0].Actor)
			}
			var moved bool
			for _, a := range ofType(es, event.Assigned) {
				moved = moved || assignmentOf(t, a) == event.Assignment{Queue: "team:escalations", Rule: "sla escalation"}
			}
			if !moved {
				t.Errorf("%s: %s not moved to team:escalations", where, c.Code)
			}
		}
	}
}

// staffEvent is one thing staff do: an event type and its data.
type staffEvent struct {
	typ  event.Type
	data any
}

// staffTerminal is a staff member's device at the branch, pushing events
// through the sync endpoint as a staff terminal will. The kiosk's store
// cannot author staff events (it only files complaints), so this speaks the
// protocol with sync/wire: enrolled like any device, its events go through
// the hub's authentication, scope and lifecycle checks, and the server's
// check of the staff account they name.
type staffTerminal struct {
	cred  kioskenrol.Credential
	clock *hlc.Clock
	seq   int64
}

// MustStaffTerminal enrols a device at branch main and adds the agent
// account "staff-e2e" its events name, with the operator's command while
// the server runs.
func MustStaffTerminal(tb testing.TB, s *e2eServer) *staffTerminal {
	tb.Helper()
	MustRunInput(tb, "482913\n", "staff", "add", "--data", s.dir, "--branch", "main", "--id", "staff-e2e",
		"--name", "E2E Agent", "--role", "agent", "--pin-memory", "64", "--pin-passes", "1")
	cred, err := kioskenrol.Enrol(context.Background(), nil, s.url, MustCode(tb, s.dir, "--role", "staff"), "Staff terminal")
	if err != nil {
		tb.Fatal(err)
	}
	return &staffTerminal{cred: cred, clock: hlc.New(nil)}
}

// push stores events of types ts, by staff member "staff-e2e", on the
// complaint, and returns when the server has acknowledged them all.
func (st *staffTerminal) push(tb testing.TB, f filing.Filed, ts ...staffEvent) {
	tb.Helper()
	u, err := client.SyncURL(st.cred.ServerURL)
	if err != nil {
		tb.Fatal(err)
	}
	conn, _, err := websocket.DefaultDialer.Dial(u, http.Header{"Authorization": {st.cred.AuthorizationHeader()}})
	if err != nil {
		tb.Fatalf("staff terminal: dial: %v", err)
	}
	defer conn.Close()
	conn.SetReadLimit(wire.MaxFrameBytes)
	deadline := time.Now().Add(e2eWait)
	conn.SetReadDeadline(deadline)
	last := st.seq + int64(len(ts))
	hello := &wire.ClientHello{Versions: wire.Versions(), DeviceID: st.cred.DeviceID, Software: "ombud-e2e-staff", DeviceSeq: last}
	if err := wire.Write(conn, hello, deadline); err != nil {
		tb.Fatal(err)
	}
	m, err := wire.Read(conn)
	sh, ok := m.(*wire.ServerHello)
	if err != nil || !ok {
		tb.Fatalf("staff terminal: want server_hello, got %T, %v", m, err)
	}
	st.clock.Observe(sh.ServerTime)
	push := &wire.Push{}
	for _, e := range ts {
		var raw json.RawMessage
		if e.data != nil {
			if raw, err = json.Marshal(e.data); err != nil {
				tb.Fatal(err)
			}
		}
		st.seq++
		push.Events = append(push.Events, wire.DeviceEvent{Seq: st.seq, Event: event.Event{
			ID: uid.New(), ComplaintID: f.Complaint.ID, Type: e.typ, Actor: event.Actor{Kind: event.ActorStaff, ID: "staff-e2e"},
			At: st.clock.Now(), Branch: f.Complaint.Branch, Data: raw,
		}})
	}
	if err := wire.Write(conn, push, deadline); err != nil {
		tb.Fatal(err)
	}
	for {
		m, err := wire.Read(conn)
		if err != nil {
			tb.Fatalf("staff terminal: waiting for push_ack: %v", err)
		}
		switch m := m.(type) {
		case *wire.PushReject:
			tb.Fatalf("staff terminal: event %d refused: %d %s", m.Seq, m.Code, m.Reason)
		case *wire.PushAck:
			if m.Seq == last {
				return
			}
		}
		// Downstream batches of the branch: a terminal would store them.
	}
}

// TestE2EBrowserPhoneFromReceipt: a customer scans the receipt with a phone
// (headless Chromium at 390x844), reads the status, adds information, later
// sees staff's answer and rates the handling; the rating is on the server
// and reaches the branch's kiosks.
func TestE2EBrowserPhoneFromReceipt(t *testing.T) {
	phone := phonetest.Open(t, 3*time.Minute, "e2e-") // the whole walk on a loaded machine; not a speed goal

	s := MustE2EServer(t, e2eDispatch, e2eSLA)
	front := MustE2EKiosk(t, s, "Front desk")
	lobby := MustE2EKiosk(t, s, "Lobby")
	staff := MustStaffTerminal(t, s)
	f := front.file(t, "service", "The cash machine kept my card and the branch was closed.")
	waitUntil(t, "the routing reaches the kiosk", func() (bool, string) {
		es := front.events(t, f.Complaint.ID)
		return len(ofType(es, event.Assigned)) > 0, fmt.Sprint(typesOf(es))
	})
	scanned := MustScanReceipt(t, front.print(t, f))

	ctx := phone.Ctx()
	shot, text := phone.Shot, phone.Text

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(phonetest.Width, phonetest.Height), chromedp.Navigate(scanned)); err != nil {
		t.Fatal(err)
	}
	if got := text("#status-text"); !strings.HasPrefix(got, "We have your complaint and will confirm we are handling it by ") {
		t.Errorf("status = %q", got)
	}
	if got := text("#branch"); got != e2eBranchName {
		t.Errorf("branch = %q, want %q", got, e2eBranchName)
	}
	shot("1-received")

	const info = "It happened at the machine by the main door, around 7 pm."
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#info-text"), chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.CSS("#info-text"), info),
		chromedp.Click(chromedp.CSS("#info-submit")),
		chromedp.WaitVisible(chromedp.CSS("#done")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text("#timeline ol li:first-child"); !strings.Contains(got, "You added information") || strings.Contains(got, info) {
		// The customer's words stay with staff: anyone holding a lost
		// receipt can open this page.
		t.Errorf("newest timeline entry = %q", got)
	}
	shot("2-info-added")

	// Staff acknowledge, assess and answer on their terminal.
	const answer = "We have recovered your card; it is waiting for you at the counter."
	staff.push(t, f,
		staffEvent{event.Acknowledged, nil},
		staffEvent{event.Assessed, event.Assessment{Severity: event.SeverityMedium, Priority: 3}},
		staffEvent{event.Responded, event.Text{Text: answer}},
	)
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	if got := text("#status-text"); !strings.Contains(got, "We have sent our answer") {
		t.Errorf("status after the answer = %q", got)
	}
	if got := text("#timeline ol li:first-child"); !strings.Contains(got, answer) {
		t.Errorf("newest timeline entry = %q, want the answer", got)
	}
	shot("3-responded")

	const comment = "Quick and clear."
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#stars-4"), chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.CSS("#rate-comment"), comment),
		chromedp.Click(chromedp.CSS("#rate-submit")),
		chromedp.WaitVisible(chromedp.CSS("#done")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text("#rated"); !strings.Contains(got, "4 out of 5") {
		t.Errorf("rated = %q", got)
	}
	shot("4-rated")

	rated := ofType(s.events(t, f.Complaint.ID), event.SatisfactionRated)
	if len(rated) != 1 || rated[0].Actor.Kind != event.ActorCustomer {
		t.Fatalf("server holds %d ratings (%v), want 1 by the customer", len(rated), rated)
	}
	var r event.Rating
	if err := json.Unmarshal(rated[0].Data, &r); err != nil || r.Stars != 4 || r.Comment != comment {
		t.Errorf("rating = %+v (%v), want 4 stars and %q", r, err, comment)
	}
	for _, k := range []*e2eKiosk{front, lobby} {
		waitUntil(t, "the rating reaches kiosk "+k.name, func() (bool, string) {
			es := k.events(t, f.Complaint.ID)
			return slices.ContainsFunc(es, func(e event.Event) bool { return e.ID == rated[0].ID }), fmt.Sprint(typesOf(es))
		})
	}
}

// TestE2EDeployExamples: the configs deploy/demo.sh passes start the real
// server with the demo's escalation queue, route a "stolen" complaint to
// the fraud team, and give the tracking page a date from the SLA policy.
func TestE2EDeployExamples(t *testing.T) {
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "deploy", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	s := MustE2EServer(t, read("dispatch.example.json"), read("sla.example.json"), "--escalation-queue", "team:escalations")
	front := MustE2EKiosk(t, s, "Front desk")
	f := front.file(t, "other", "My card was stolen and somebody paid with it.")
	waitUntil(t, "the routing reaches the kiosk", func() (bool, string) {
		es := front.events(t, f.Complaint.ID)
		return len(ofType(es, event.Assigned)) > 0, fmt.Sprint(typesOf(es))
	})
	if a := assignmentOf(t, ofType(front.events(t, f.Complaint.ID), event.Assigned)[0]); a.Queue != "team:fraud" || a.Rule != "fraud or theft" {
		t.Errorf("assigned to %s by %q, want team:fraud by \"fraud or theft\"", a.Queue, a.Rule)
	}
	status, body := httpGet(t, s.url+"/api/v1/track/"+url.PathEscape(f.Complaint.Code))
	var got trackJSON
	if err := json.Unmarshal([]byte(body), &got); status != http.StatusOK || err != nil || got.NextStep == nil || got.NextStep.Basis != "policy" {
		t.Errorf("API = %d %s (%v), want a next step from the SLA policy", status, body, err)
	}
}
