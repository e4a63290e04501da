package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"ombud/server/enrol"
	"ombud/server/httpapi"
	"ombud/server/storage/sqlite"
	"ombud/shared/device"
)

// clock is a settable time source for expiry and rate limits.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	st    *sqlite.Store
	srv   *httptest.Server
	api   *httpapi.Server
	clock *clock
}

// MustServe serves a real store through httptest.
func MustServe(tb testing.TB, opts httpapi.Options) *fixture {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "server.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.CreateBranch(context.Background(), "main", "Main Street"); err != nil {
		tb.Fatal(err)
	}
	c := &clock{t: time.Now()}
	opts.Now = c.Now
	api := httpapi.New(st, opts)
	srv := httptest.NewServer(api)
	tb.Cleanup(srv.Close)
	return &fixture{st: st, srv: srv, api: api, clock: c}
}

func (f *fixture) code(tb testing.TB, ttl time.Duration) string {
	tb.Helper()
	code, _, err := enrol.Issue(context.Background(), f.st, enrol.Grant{Branch: "main", Role: device.Kiosk}, ttl, f.clock.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return code
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func do(tb testing.TB, method, url, body string) reply {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if method != http.MethodHead {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			tb.Fatalf("%s %s: body %q is not JSON: %v", method, url, raw, err)
		}
	}
	return r
}

func (r reply) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (r reply) errMessage() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func TestHealthz(t *testing.T) {
	f := MustServe(t, httpapi.Options{})
	r := do(t, http.MethodGet, f.srv.URL+"/healthz", "")
	if r.status != 200 || r.body["status"] != "ok" {
		t.Errorf("GET /healthz = %d %s, want 200 {\"status\":\"ok\"}", r.status, r.raw)
	}
	if r := do(t, http.MethodPost, f.srv.URL+"/healthz", ""); r.status != 405 {
		t.Errorf("POST /healthz = %d, want 405", r.status)
	}
	f.st.Close() // the database stops answering
	if r := do(t, http.MethodGet, f.srv.URL+"/healthz", ""); r.status != 503 {
		t.Errorf("GET /healthz on a closed store = %d %s, want 503", r.status, r.raw)
	}
}

func TestEnrol(t *testing.T) {
	f := MustServe(t, httpapi.Options{PublicURL: "https://track.example.org/"})
	url := f.srv.URL + httpapi.PathEnrol
	code := f.code(t, time.Hour)
	r := do(t, http.MethodPost, url, `{"code":"`+code+`","device_name":"Front desk"}`)
	if r.status != 200 {
		t.Fatalf("enrol = %d %s, want 200", r.status, r.raw)
	}
	id, _ := r.body["device_id"].(string)
	cred, _ := r.body["credential"].(string)
	if !strings.HasPrefix(cred, id+".") || r.body["branch"] != "main" || r.body["branch_name"] != "Main Street" || len(r.body["code_prefix"].(string)) != 3 {
		t.Errorf("enrol body = %s", r.raw)
	}
	if got := r.body["tracking_url"]; got != "https://track.example.org" {
		t.Errorf("tracking_url = %v, want the server's public URL without its trailing slash", got)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if _, err := enrol.Authenticate(context.Background(), f.st, "Bearer "+cred); err != nil {
		t.Errorf("Authenticate(new credential) = %v", err)
	}

	again := do(t, http.MethodPost, url, `{"code":"`+code+`","device_name":"Front desk"}`)
	if again.status != 403 || again.errCode() != "enrolment_refused" ||
		again.errMessage() != "This enrolment code is not valid. Ask for a new one." {
		t.Errorf("reused code = %d %s, want 403 enrolment_refused", again.status, again.raw)
	}
	unknown := do(t, http.MethodPost, url, `{"code":"`+enrol.NewCode()+`","device_name":"x"}`)
	if unknown.status != 403 || unknown.raw != again.raw {
		t.Errorf("unknown code = %d %s, want the same answer as a reused one (%s)", unknown.status, unknown.raw, again.raw)
	}

	late := f.code(t, time.Minute)
	f.clock.Add(2 * time.Minute)
	exp := do(t, http.MethodPost, url, `{"code":"`+late+`","device_name":"x"}`)
	if exp.status != 403 || exp.errCode() != "enrolment_expired" || !strings.Contains(exp.errMessage(), "expired") {
		t.Errorf("expired code = %d %s, want 403 saying it expired", exp.status, exp.raw)
	}

	bad := do(t, http.MethodPost, url, `{"code":"`+f.code(t, time.Hour)+`","device_name":""}`)
	if bad.status != 400 || bad.errCode() != "invalid_request" {
		t.Errorf("no device name = %d %s, want 400 invalid_request", bad.status, bad.raw)
	}
}

func TestEnrolBadInput(t *testing.T) {
	f := MustServe(t, httpapi.Options{EnrolBurst: 100})
	url := f.srv.URL + httpapi.PathEnrol
	tests := []struct {
		name, method, body string
		status             int
		code, mention      string
	}{
		{"malformed JSON", "POST", `{"code": `, 400, "bad_request", "not valid JSON"},
		{"not an object", "POST", `["x"]`, 400, "bad_request", "not valid JSON"},
		{"empty body", "POST", ``, 400, "bad_request", "empty"},
		{"trailing data", "POST", `{"code":"x","device_name":"y"} {}`, 400, "bad_request", "after the JSON"},
		{"huge body", "POST", `{"code":"` + strings.Repeat("A", 5000) + `","device_name":"y"}`, 400, "request_too_large", "4 KiB"},
		{"GET", "GET", ``, 405, "method_not_allowed", "POST"},
		{"PUT", "PUT", `{}`, 405, "method_not_allowed", "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.method, url, tt.body)
			if r.status != tt.status || r.errCode() != tt.code || !strings.Contains(r.errMessage(), tt.mention) {
				t.Errorf("got %d %s, want %d %s mentioning %q", r.status, r.raw, tt.status, tt.code, tt.mention)
			}
			if tt.status == 405 && r.header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q, want POST", r.header.Get("Allow"))
			}
		})
	}
	// Still serving.
	if r := do(t, http.MethodGet, f.srv.URL+"/healthz", ""); r.status != 200 {
		t.Errorf("healthz after bad input = %d", r.status)
	}
	code := f.code(t, time.Hour)
	if r := do(t, http.MethodPost, url, `{"code":"`+code+`","device_name":"ok"}`); r.status != 200 {
		t.Errorf("enrol after bad input = %d %s", r.status, r.raw)
	}
}

func TestEnrolRateLimit(t *testing.T) {
	f := MustServe(t, httpapi.Options{EnrolBurst: 3, EnrolRate: 0.1})
	url := f.srv.URL + httpapi.PathEnrol
	guess := `{"code":"AAAA-AAAA-AAAA-AAAA","device_name":"x"}`
	for i := range 3 {
		if r := do(t, http.MethodPost, url, guess); r.status != 403 {
			t.Fatalf("attempt %d = %d, want 403", i+1, r.status)
		}
	}
	r := do(t, http.MethodPost, url, guess)
	if r.status != 429 || r.errCode() != "rate_limited" || !strings.Contains(r.errMessage(), "Too many") {
		t.Fatalf("4th attempt = %d %s, want 429 rate_limited", r.status, r.raw)
	}
	if got := r.header.Get("Retry-After"); got != "10" {
		t.Errorf("Retry-After = %q, want 10 (one token at 0.1/s)", got)
	}
	// Even a valid code waits: the limit is on attempts, before the body.
	code := f.code(t, time.Hour)
	if r := do(t, http.MethodPost, url, `{"code":"`+code+`","device_name":"x"}`); r.status != 429 {
		t.Errorf("valid code while limited = %d, want 429", r.status)
	}
	if r := do(t, http.MethodGet, f.srv.URL+"/healthz", ""); r.status != 200 {
		t.Errorf("healthz while enrolment is limited = %d, want 200", r.status)
	}
	f.clock.Add(10 * time.Second)
	if r := do(t, http.MethodPost, url, `{"code":"`+code+`","device_name":"x"}`); r.status != 200 {
		t.Errorf("after the refill = %d %s, want 200", r.status, r.raw)
	}
}

func TestEnrolRateLimitIsPerClient(t *testing.T) {
	var mu sync.Mutex
	ip := "192.0.2.1"
	f := MustServe(t, httpapi.Options{EnrolBurst: 1, EnrolRate: 0.001, ClientIP: func(*http.Request) string {
		mu.Lock()
		defer mu.Unlock()
		return ip
	}})
	url := f.srv.URL + httpapi.PathEnrol
	guess := `{"code":"AAAA-AAAA-AAAA-AAAA","device_name":"x"}`
	do(t, http.MethodPost, url, guess)
	if r := do(t, http.MethodPost, url, guess); r.status != 429 {
		t.Fatalf("second attempt from one client = %d, want 429", r.status)
	}
	mu.Lock()
	ip = "192.0.2.2"
	mu.Unlock()
	if r := do(t, http.MethodPost, url, guess); r.status != 403 {
		t.Errorf("first attempt from another client = %d, want 403 (not limited)", r.status)
	}
}

// TestHandleMountsAndPassesHijacker checks the hook the sync hub will use:
// a mounted handler is reached and can hijack the connection (websocket
// upgrades need http.Hijacker through the request logger).
func TestHandleMountsAndPassesHijacker(t *testing.T) {
	f := MustServe(t, httpapi.Options{})
	f.api.Handle(httpapi.PathSync, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "no hijacker", 500)
			return
		}
		conn, buf, err := h.Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		buf.Flush()
	}))
	resp, err := http.Get(f.srv.URL + httpapi.PathSync)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "hijacked" {
		t.Errorf("mounted handler answered %d %q, want hijacked", resp.StatusCode, body)
	}
}
