package tracking_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ombud/server/httpapi"
	"ombud/server/ratelimit"
	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/server/tracking"
	"ombud/shared/complaint"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/lifecycle"
	"ombud/shared/staff"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// env is the real stack: SQLite in a temp dir, httpapi's mux with the
// tracking handler mounted as the server's main does, over httptest.
type env struct {
	st     *sqlite.Store
	srv    *httptest.Server
	device storage.Device
	seq    atomic.Int64
	clock  *hlc.Clock
}

var deviceN atomic.Int64

func hash(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// names is the branch-name lookup main gets from its fleet reader.
type names map[string]string

func (n names) Branch(_ context.Context, id string) (storage.Branch, error) {
	return storage.Branch{ID: id, Name: n[id]}, nil
}

// newEnv starts the stack; change adjusts the tracking options.
func newEnv(tb testing.TB, change func(*tracking.Options)) *env {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "server.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.CreateBranch(ctx, "main", "High Street"); err != nil {
		tb.Fatal(err)
	}
	n := deviceN.Add(1)
	code := hash(fmt.Sprint("code", n))
	if err := st.CreateEnrolment(ctx, storage.Enrolment{Branch: "main", CodeHash: code, ExpiresAt: time.Now().Add(time.Hour), Role: device.Staff}); err != nil {
		tb.Fatal(err)
	}
	d, err := st.RedeemEnrolment(ctx, code, time.Now(), fmt.Sprint("kiosk-", n), hash("cred"))
	if err != nil {
		tb.Fatal(err)
	}
	// Push takes staff events only from an account of the device's branch.
	pin, err := staff.HashPINWith("482913", staff.TestCost)
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.CreateStaff(ctx, staff.Account{ID: "staff-bob-smith", Name: "Bob Smith", Role: staff.Supervisor, Branch: "main", PINHash: pin}); err != nil {
		tb.Fatal(err)
	}
	secret, err := tracking.LoadOrCreateSecret(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	opts := tracking.Options{Secret: secret, Branches: names{"main": "High Street"}, Location: time.UTC,
		RatePerMinute: 1e6, Burst: 1e6}
	if change != nil {
		change(&opts)
	}
	h, err := tracking.New(st, opts)
	if err != nil {
		tb.Fatal(err)
	}
	api := httpapi.New(st, httpapi.Options{})
	api.Handle(tracking.PathLookup, h)
	api.Handle(tracking.PathPage, h)
	api.Handle(tracking.PathAPI, h)
	// The benchmarks' baseline: the same stack (security headers, the
	// server's mux, a per-client token bucket as the tracking routes
	// spend, with the same limits), no work.
	limit := ratelimit.New(opts.RatePerMinute/60, opts.Burst, 10000, nil)
	api.Handle("/trivial", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if ok, _ := limit.Allow(host); !ok {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	}))
	srv := httptest.NewServer(tracking.SecurityHeaders(api))
	tb.Cleanup(srv.Close)
	return &env{st: st, srv: srv, device: d, clock: hlc.New(nil)}
}

// The customer's private words at the kiosk: none may reach the page.
const (
	secretDescription = "My account number is 99-1234 and my doctor said"
	secretName        = "Alice Example"
	secretEmail       = "alice@example.org"
	secretPhone       = "+44 7700 900123"
)

// file pushes a Filed event as a kiosk would and returns the complaint,
// filed in English.
func (e *env) file(tb testing.TB) complaint.Complaint {
	tb.Helper()
	return e.fileIn(tb, "en")
}

// fileIn is file in language lang.
func (e *env) fileIn(tb testing.TB, lang string) complaint.Complaint {
	tb.Helper()
	code, err := trackcode.Generate(e.device.Prefix)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := complaint.Complaint{
		ID: uid.New(), Code: string(code), Branch: "main", Device: e.device.ID, Channel: complaint.ChannelKiosk,
		Category: "billing", Description: secretDescription, DesiredOutcome: "a refund", Language: lang, FiledAt: now,
		Contact: &complaint.Contact{Name: secretName, Email: secretEmail, Phone: secretPhone, ConsentAt: now, NoticeVersion: "1"},
	}
	ev, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: e.device.ID}, e.clock.Now())
	if err != nil {
		tb.Fatal(err)
	}
	e.push(tb, ev)
	return c
}

// staff pushes an event by a staff member through the branch's device,
// as a staff terminal would.
func (e *env) staff(tb testing.TB, c complaint.Complaint, typ event.Type, data any) event.Event {
	tb.Helper()
	var raw json.RawMessage
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			tb.Fatal(err)
		}
		raw = b
	}
	ev := event.Event{ID: uid.New(), ComplaintID: c.ID, Type: typ, Actor: event.Actor{Kind: event.ActorStaff, ID: "staff-bob-smith"},
		At: e.clock.Now(), Branch: c.Branch, Data: raw}
	e.push(tb, ev)
	return ev
}

func (e *env) push(tb testing.TB, ev event.Event) {
	tb.Helper()
	res, err := e.st.Push(context.Background(), e.device.ID, []wire.DeviceEvent{{Seq: e.seq.Add(1), Event: ev}})
	if err != nil || res.Stored != 1 {
		tb.Fatalf("push %s: %+v, %v", ev.Type, res, err)
	}
}

// events returns the complaint's stored events.
func (e *env) events(tb testing.TB, c complaint.Complaint) []event.Event {
	tb.Helper()
	stored, err := e.st.ComplaintEvents(context.Background(), c.ID)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]event.Event, len(stored))
	for i := range stored {
		out[i] = stored[i].Event
	}
	return out
}

// respond takes the case to Responded, as staff would.
func (e *env) respond(tb testing.TB, c complaint.Complaint, answer string) {
	tb.Helper()
	e.staff(tb, c, event.Acknowledged, nil)
	e.staff(tb, c, event.Assessed, event.Assessment{Severity: event.SeverityLow, Priority: 3})
	e.staff(tb, c, event.Responded, event.Text{Text: answer})
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type response struct {
	status int
	header http.Header
	body   string
}

func (e *env) get(tb testing.TB, path string, header ...string) response {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(tb, req)
}

func (e *env) post(tb testing.TB, path string, form url.Values, header ...string) response {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(tb, req)
}

func do(tb testing.TB, req *http.Request) response {
	tb.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

var (
	formPattern   = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)">(.*?)</form>`)
	hiddenPattern = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)
)

// formOf finds the page's form for action and returns its URL path and
// hidden fields, as a browser would submit them.
func formOf(tb testing.TB, page, action string) (string, url.Values) {
	tb.Helper()
	for _, m := range formPattern.FindAllStringSubmatch(page, -1) {
		if !strings.HasSuffix(m[1], "/"+action) {
			continue
		}
		v := url.Values{}
		for _, h := range hiddenPattern.FindAllStringSubmatch(m[2], -1) {
			v.Set(h[1], html.UnescapeString(h[2]))
		}
		return html.UnescapeString(m[1]), v
	}
	tb.Fatalf("no %s form on the page:\n%s", action, page)
	return "", nil
}

func types(es []event.Event) []event.Type {
	out := make([]event.Type, len(es))
	for i := range es {
		out[i] = es[i].Type
	}
	return out
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// closeUnanswered closes a decided case as the server's case engine does
// once the customer's time to answer has passed: a system event just after
// the decision's AnswerBy.
func (e *env) closeUnanswered(tb testing.TB, c complaint.Complaint) {
	tb.Helper()
	cs, err := lifecycle.Fold(e.events(tb, c))
	if err != nil || cs.AnswerBy.IsZero() {
		tb.Fatalf("no decision to close: %v", err)
	}
	ev := event.Event{ID: uid.New(), ComplaintID: c.ID, Type: event.Closed, Actor: event.Actor{Kind: event.ActorSystem, ID: "closure"},
		At: hlc.Make(cs.AnswerBy.UnixMilli()+1, 0), Branch: c.Branch, Data: json.RawMessage(`{}`)}
	if _, err := e.st.Append(context.Background(), []event.Event{ev}); err != nil {
		tb.Fatal(err)
	}
}
