package main

// /metrics through the real server program: devices push over real
// websockets, the tracking page is asked for, a webhook receives, and the
// scrape of the metrics listener must show each counter moved by exactly
// what happened. The deploy/ alert rules and dashboard are checked against
// the names a real scrape shows.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"ombud/server/metrics"
	"ombud/shared/event"
	"ombud/shared/trackcode"
	"ombud/sync/wire"
)

// scrape is one parsed /metrics answer.
type scrape map[string]*dto.MetricFamily

// mustScrape GETs url (with a bearer token if given) and parses the text
// format.
func mustScrape(tb testing.TB, url, token string) scrape {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("scrape: %d %s", resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("scrape: not the text format: %v\n%s", err, body)
	}
	return fams
}

// value is the sample of name whose labels include all of labels (pairs),
// summed over the matching series (a histogram gives its count). Absent:
// -1.
func (s scrape) value(name string, labels ...string) float64 {
	f := s[name]
	if f == nil {
		return -1
	}
	var sum float64
	found := false
	for _, m := range f.Metric {
		if !hasLabels(m, labels) {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	if !found {
		return -1
	}
	return sum
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		ok := false
		for _, lp := range m.Label {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// countingReceiver is a webhook receiver that accepts everything and
// counts distinct deliveries.
type countingReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	ids map[string]bool
}

func newCountingReceiver(t *testing.T) *countingReceiver {
	c := &countingReceiver{ids: map[string]bool{}}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		c.mu.Lock()
		c.ids[r.Header.Get("Ombud-Webhook-Id")] = true
		c.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *countingReceiver) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ids)
}

// TestE2EMetrics: every family the issue asks for, moved by the right
// amounts, scraped from the metrics listener while the public listener
// does not serve it.
func TestE2EMetrics(t *testing.T) {
	maddr := mustFreeAddr(t)
	tokenFile := filepath.Join(t.TempDir(), "metrics.token")
	const token = "metrics-secret-0123456789"
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := MustE2EServer(t, e2eDispatch, e2eSLATiny, "--metrics-addr", maddr, "--metrics-token-file", tokenFile,
		"--escalation-interval", "200ms", "--allow-private-webhooks",
		// The last --tracking-* win over MustE2EServer's: one request, then 429.
		"--tracking-rate", "1", "--tracking-burst", "1")
	murl := "http://" + maddr + "/metrics"

	// Who may read it: not the public listener, not without the token.
	if code, _ := httpGet(t, s.url+"/metrics"); code != http.StatusNotFound {
		t.Errorf("public listener /metrics: %d, want 404", code)
	}
	if resp, err := http.Get(murl); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("metrics without the token: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}

	hooks := newCountingReceiver(t)
	MustRun(t, "webhook", "add", "--data", s.dir, "--url", hooks.srv.URL+"/ombud", "--allow-private-webhooks")

	before := mustScrape(t, murl, token)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "go_sql_open_connections"} {
		if before.value(name) < 0 {
			t.Errorf("%s missing", name)
		}
	}
	if v := before.value("go_sql_max_open_connections", "db_name", "writer"); v != 1 {
		t.Errorf("writer pool max open connections = %v, want 1", v)
	}
	if v := before.value("ombud_sync_events_ingested_total", "role", "kiosk"); v != 0 {
		t.Errorf("ingested before any push = %v, want 0", v)
	}

	staff := mustRawDevice(t, s, "staff")
	staff.connect(map[string]int64{wire.BranchScope("main"): 0})
	kiosk := mustRawDevice(t, s, "kiosk")
	kiosk.connect(nil)

	fraud := kiosk.filing("My card was stolen and used for fraud")
	plain := kiosk.filing("The queue was long")
	plain2 := kiosk.filing("Nobody answered the phone")
	if rejects, _ := kiosk.push(fraud, plain); len(rejects) != 0 {
		t.Fatalf("filings refused: %+v", rejects)
	}
	// A second push: one filing stored, one forged staff event refused
	// (4003), and the first filing again (a duplicate).
	forged := kiosk.act(plain.ComplaintID, "main", event.MessageSent, "demo", event.Text{Text: "hello"}, 0)
	rejects, _ := kiosk.push(plain2, forged)
	wantReject(t, rejects, wire.CloseForbiddenEvent, "a customer kiosk may only file complaints")
	kiosk.seq -= 4 // resend from the first: all four answered again
	rejects, _ = kiosk.push(fraud, plain, plain2, forged)
	wantReject(t, rejects, wire.CloseForbiddenEvent, "a customer kiosk may only file complaints")

	// The tracking page: a well-formed code nobody was given (404), then
	// over the rate (429).
	unknown, err := trackcode.Generate(kiosk.cred.CodePrefix)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := httpGet(t, s.url+"/t/"+string(unknown)); code != http.StatusNotFound {
		t.Errorf("unknown code: %d %s", code, body)
	}
	if code, _ := httpGet(t, s.url+"/t/"+string(unknown)); code != http.StatusTooManyRequests {
		t.Errorf("second request: %d, want 429", code)
	}

	// The staff terminal reads its branch's queue: the two plain filings
	// and their assignments at least (the fraud case goes to team:safety).
	streamed := 0
	for streamed < 2 {
		staff.conn.SetReadDeadline(time.Now().Add(e2eWait))
		m, err := wire.Read(staff.conn)
		if err != nil {
			t.Fatalf("staff terminal: %v", err)
		}
		if ev, ok := m.(*wire.Events); ok {
			streamed += len(ev.Events)
			wire.Write(staff.conn, &wire.EventsAck{Scope: ev.Scope, Cursor: ev.Next}, time.Now().Add(e2eWait))
		}
	}

	var after scrape
	// The escalation counter moves when the engine records an escalation;
	// the overdue gauge is read from the cases once their projection has
	// folded it, a moment later: wait for both.
	waitUntil(t, "escalations, assignments and webhooks counted, the overdue backlog empty", func() (bool, string) {
		after = mustScrape(t, murl, token)
		overdue := after.value("ombud_sla_overdue_cases")
		esc := after.value("ombud_sla_escalations_total", "target", "acknowledge")
		assigned := after.value("ombud_dispatch_cases_assigned_total")
		sent := after.value("ombud_deliveries_total", "queue", "webhook", "outcome", "sent")
		got := hooks.count()
		return esc == 3 && assigned == 3 && got >= 3 && sent == float64(got) && overdue == 0,
			fmt.Sprintf("escalations %v, assigned %v, webhooks sent %v (receiver got %d), overdue %v", esc, assigned, sent, got, overdue)
	})

	want := []struct {
		name   string
		labels []string
		delta  float64
	}{
		{"ombud_sync_connected_devices", []string{"role", "kiosk"}, 1},
		{"ombud_sync_connected_devices", []string{"role", "staff"}, 1},
		{"ombud_sync_connections_total", []string{"role", "kiosk"}, 1},
		{"ombud_sync_pushes_total", nil, 3},
		{"ombud_sync_push_duration_seconds", nil, 3},
		{"ombud_sync_events_ingested_total", []string{"role", "kiosk"}, 3},
		{"ombud_sync_events_duplicate_total", nil, 3},
		// The resend gets the rejection again: two answers.
		{"ombud_sync_events_rejected_total", []string{"code", "4003"}, 2},
		{"ombud_sync_events_rejected_total", []string{"code", "4004"}, 0},
		{"ombud_sync_push_failures_total", nil, 0},
		{"ombud_dispatch_cases_assigned_total", []string{"rule", "stolen or fraud"}, 1},
		{"ombud_dispatch_cases_assigned_total", []string{"rule", "default"}, 2},
		{"ombud_sla_escalations_total", []string{"target", "acknowledge"}, 3},
		{"ombud_tracking_requests_total", []string{"kind", "page", "outcome", "not_found"}, 1},
		{"ombud_tracking_requests_total", []string{"kind", "page", "outcome", "rate_limited"}, 1},
		{"ombud_tracking_requests_total", []string{"kind", "api"}, 0},
		{"ombud_http_requests_total", []string{"route", "tracking_page", "code", "429"}, 1},
		{"ombud_devices_enrolled", []string{"role", "kiosk"}, 1},
		{"ombud_devices_enrolled", []string{"role", "staff"}, 1},
	}
	for _, w := range want {
		b := max(0, before.value(w.name, w.labels...))
		a := after.value(w.name, w.labels...)
		if a < 0 && w.delta == 0 {
			a = b
		}
		if a-b != w.delta {
			t.Errorf("%s%v moved by %v (%v to %v), want %v", w.name, w.labels, a-b, b, a, w.delta)
		}
	}
	if v := after.value("ombud_sync_events_streamed_total"); v < float64(streamed) {
		t.Errorf("events streamed %v, the staff terminal read %d", v, streamed)
	}
	if v := after.value("ombud_sync_fanout_seconds"); v < 1 {
		t.Errorf("fan-out latency observations %v, want at least one", v)
	}
	if v := after.value("ombud_deliveries_total", "queue", "webhook", "outcome", "failed"); v != 0 {
		t.Errorf("webhook deliveries failed: %v", v)
	}

	// No label names a device, a branch or a complaint.
	for name, f := range after {
		for _, m := range f.Metric {
			for _, lp := range m.Label {
				if v := lp.GetValue(); v == kiosk.cred.DeviceID || v == "main" || v == fraud.ComplaintID || v == staff.cred.DeviceID {
					t.Errorf("%s has label %s=%q: an identifier", name, lp.GetName(), v)
				}
			}
		}
	}

	// Dispatch logs a case at DEBUG only (this server logs at info): the
	// counter above is the everyday view.
	if strings.Contains(s.srv.log.String(), "dispatch: case assigned") {
		t.Error("dispatch logged a case at info level")
	}

	// A disconnect moves the gauge back.
	kiosk.conn.Close()
	waitUntil(t, "kiosk disconnected", func() (bool, string) {
		v := mustScrape(t, murl, token).value("ombud_sync_connected_devices", "role", "kiosk")
		return v == 0, fmt.Sprint(v)
	})

	// The audit chain's head, as `server audit head` reads it from the
	// database (the log may grow between two reads: wait for a match).
	waitUntil(t, "the scrape to show the audit chain's head", func() (bool, string) {
		h, err := s.db.AuditHead(context.Background())
		if err != nil || h.Seq == 0 {
			return false, fmt.Sprint(h, err)
		}
		got := mustScrape(t, murl, token)
		seq, info := got.value("ombud_audit_head_sequence"), got.value("ombud_audit_head_info", "hash", h.Hash.String())
		return seq == float64(h.Seq) && info == 1, fmt.Sprintf("database head %s; scraped sequence %v, info for its hash %v", h, seq, info)
	})

	// Every metric the deploy/ rules and dashboard use is one the server
	// exports (a renamed metric would silently blind an alert).
	// (PostgreSQL's pool metrics: TestE2EMetricsTwoReplicasOnPostgreSQL.)
	checkDeployMetricNames(t, after, func(name string) bool { return !strings.HasPrefix(name, "ombud_pg_pool_") })
}

// deployMetricRE finds metric names in PromQL held in YAML and JSON.
var deployMetricRE = regexp.MustCompile(`\b((?:ombud|go_sql|go|process)_[a-z0-9_]+)`)

// checkDeployMetricNames reads deploy/prometheus/*.yml and
// deploy/grafana/*.json and checks each metric name they use for which
// which(name) holds against a real scrape (histogram suffixes stripped) and
// metrics.Names.
func checkDeployMetricNames(t *testing.T, got scrape, which func(name string) bool) {
	t.Helper()
	files, _ := filepath.Glob("../deploy/prometheus/*.yml")
	more, _ := filepath.Glob("../deploy/grafana/*.json")
	files = append(files, more...)
	if len(files) < 3 {
		t.Fatalf("deploy/prometheus and deploy/grafana hold %v: want the scrape config, the alert rules and a dashboard", files)
	}
	used := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range deployMetricRE.FindAllStringSubmatch(string(b), -1) {
			name := m[1]
			if !which(name) {
				continue
			}
			base := name
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suf); ok && got[b] != nil && got[b].GetType() == dto.MetricType_HISTOGRAM {
					base = b
				}
			}
			if got[base] == nil {
				t.Errorf("%s uses %s, which the server does not export", f, name)
				continue
			}
			if strings.HasPrefix(base, "ombud_") && !slices.Contains(metrics.Names, base) {
				t.Errorf("%s: %s is exported but not listed in metrics.Names", f, base)
			}
			used++
		}
	}
	if used == 0 {
		t.Error("no metric names found in deploy/")
	}
}
