// Package metrics is the central server's Prometheus instrumentation: one
// registry per server (never the global one, so two servers in one test
// process do not mix their counts), the observers the server's parts report
// to, and the handler that serves them on the metrics listener.
//
// Every metric name is in Names, which the deploy/ alert rules and the
// Grafana dashboard are checked against (server/metrics_e2e_test.go).
// Labels are kept to bounded sets: device roles, reject codes, dispatch
// rule names (from the operator's config), SLA targets, route kinds and
// HTTP status codes. No device, branch, complaint or queue id is ever a
// label: a fleet of thousands of devices would make thousands of series,
// and the labels would tell whoever reads /metrics which branch is busy.
package metrics

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"ombud/server/delivery"
	"ombud/server/storage"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

// Namespace starts every metric name of the server's own.
const Namespace = "ombud"

// Metrics holds the server's registry and its collectors. The zero value is
// not usable; make one with New.
type Metrics struct {
	reg *prometheus.Registry

	connected     *prometheus.GaugeVec
	connects      *prometheus.CounterVec
	pushes        prometheus.Counter
	ingested      *prometheus.CounterVec
	duplicates    prometheus.Counter
	rejected      *prometheus.CounterVec
	pushFailures  *prometheus.CounterVec
	pushLatency   prometheus.Histogram
	streamed      prometheus.Counter
	fanout        prometheus.Histogram
	assigned      *prometheus.CounterVec
	escalations   *prometheus.CounterVec
	deliveries    *prometheus.CounterVec
	requests      *prometheus.CounterVec
	reqLatency    *prometheus.HistogramVec
	tracking      *prometheus.CounterVec
	scrapeErrors  *prometheus.CounterVec
	scrapeTimeout time.Duration
}

// Names lists every metric this package defines (without the _bucket,
// _sum and _count of histograms), besides the Go runtime's go_*, the
// process's process_* and the SQLite pools' go_sql_* (PostgreSQL's pool is
// ombud_pg_pool_*, present only on that storage).
var Names = []string{
	"ombud_sync_connected_devices",
	"ombud_sync_connections_total",
	"ombud_sync_pushes_total",
	"ombud_sync_events_ingested_total",
	"ombud_sync_events_duplicate_total",
	"ombud_sync_events_rejected_total",
	"ombud_sync_push_failures_total",
	"ombud_sync_push_duration_seconds",
	"ombud_sync_events_streamed_total",
	"ombud_sync_fanout_seconds",
	"ombud_dispatch_cases_assigned_total",
	"ombud_sla_escalations_total",
	"ombud_sla_overdue_cases",
	"ombud_devices_enrolled",
	"ombud_devices_backlogged",
	"ombud_devices_backlog_events",
	"ombud_device_backlog_max_events",
	"ombud_deliveries_total",
	"ombud_http_requests_total",
	"ombud_http_request_duration_seconds",
	"ombud_tracking_requests_total",
	"ombud_metrics_scrape_errors_total",
	"ombud_audit_head_sequence",
	"ombud_audit_head_info",
	"ombud_pg_pool_max_conns",
	"ombud_pg_pool_conns",
	"ombud_pg_pool_acquires_total",
	"ombud_pg_pool_empty_acquires_total",
	"ombud_pg_pool_canceled_acquires_total",
	"ombud_pg_pool_acquire_seconds_total",
}

// latencyBuckets suit a durable commit (an fsync is about 0.25 ms here, a
// slow disk or a remote database tens of milliseconds) and a web request.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// New returns Metrics on a fresh registry holding the Go runtime and
// process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{reg: reg, scrapeTimeout: 5 * time.Second}
	m.connected = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "sync", Name: "connected_devices",
		Help: "Devices connected to this server now, by role."}, []string{"role"})
	m.connects = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "sync", Name: "connections_total",
		Help: "Sync connections accepted (authenticated and upgraded), by role."}, []string{"role"})
	m.pushes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "sync", Name: "pushes_total",
		Help: "Push messages committed."})
	m.ingested = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "sync", Name: "events_ingested_total",
		Help: "Events devices pushed that were stored for the first time, by the pushing device's role."}, []string{"role"})
	m.duplicates = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "sync", Name: "events_duplicate_total",
		Help: "Pushed events already stored (a resend after a lost ack)."})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "sync", Name: "events_rejected_total",
		Help: "push_reject answers sent (resends of a rejected event included), by reject code."}, []string{"code", "reason"})
	m.pushFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "sync", Name: "push_failures_total",
		Help: "Pushes storage did not take (the connection is closed and the device resends), by kind: revoked, gap, error."}, []string{"kind"})
	m.pushLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "sync", Name: "push_duration_seconds",
		Help: "Time storage took to commit one push, durably (the database write's latency).", Buckets: latencyBuckets})
	m.streamed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "sync", Name: "events_streamed_total",
		Help: "Events sent downstream to staff and team terminals."})
	m.fanout = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "sync", Name: "fanout_seconds",
		Help: "From a commit this server saw to the events being written to a subscribed terminal.", Buckets: latencyBuckets})
	m.assigned = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "dispatch", Name: "cases_assigned_total",
		Help: "Cases assigned (or re-routed) by the dispatch rules, by rule name."}, []string{"rule"})
	m.escalations = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "sla", Name: "escalations_total",
		Help: "SLA targets breached and escalated by the escalation clock, by target (acknowledge, respond)."}, []string{"target"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "deliveries_total",
		Help: "Customer notification and webhook delivery attempts, by queue (notify, webhook) and outcome (sent, retry, failed, skipped, deferred)."}, []string{"queue", "outcome"})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "http", Name: "requests_total",
		Help: "HTTP requests answered (sync websockets excluded), by route kind and status code."}, []string{"route", "code"})
	m.reqLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "http", Name: "request_duration_seconds",
		Help: "Time to answer an HTTP request (sync websockets excluded), by route kind.", Buckets: latencyBuckets}, []string{"route"})
	m.tracking = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "tracking", Name: "requests_total",
		Help: "Tracking page and API requests, by kind (page, api) and outcome (ok, not_found, rate_limited, refused, error)."}, []string{"kind", "outcome"})
	m.scrapeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "metrics", Name: "scrape_errors_total",
		Help: "Database reads for /metrics that failed, by what was read."}, []string{"what"})
	for _, c := range []prometheus.Collector{m.connected, m.connects, m.pushes, m.ingested, m.duplicates, m.rejected, m.pushFailures,
		m.pushLatency, m.streamed, m.fanout, m.assigned, m.escalations, m.deliveries, m.requests, m.reqLatency, m.tracking, m.scrapeErrors} {
		f(c)
	}
	// Pre-create the series alerts and dashboards look at, so a rate over
	// them starts at zero instead of being absent until the first event.
	for _, r := range roles {
		m.connected.WithLabelValues(r)
		m.connects.WithLabelValues(r)
		m.ingested.WithLabelValues(r)
	}
	for _, c := range []wire.CloseCode{wire.CloseForbiddenEvent, wire.CloseConflict, wire.CloseInvalidEvent} {
		m.rejected.WithLabelValues(strconv.Itoa(int(c)), c.String())
	}
	for _, k := range []string{"revoked", "gap", "error"} {
		m.pushFailures.WithLabelValues(k)
	}
	for _, q := range []string{"notify", "webhook"} {
		for _, o := range []delivery.Outcome{delivery.Sent, delivery.Failed, delivery.Retry} {
			m.deliveries.WithLabelValues(q, string(o))
		}
	}
	for _, w := range []string{"devices", "cases"} {
		m.scrapeErrors.WithLabelValues(w)
	}
	for _, k := range []string{"page", "api"} {
		for _, o := range []string{"ok", "not_found", "rate_limited"} {
			m.tracking.WithLabelValues(k, o)
		}
	}
	return m
}

// roles are the device roles (shared/device), as labels.
var roles = []string{"kiosk", "staff", "team"}

// Registry is the server's registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format. With a token,
// a request must carry "Authorization: Bearer <token>" (compared in
// constant time) or gets 401.
func (m *Metrics) Handler(token string) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A failing collector (the database down) still lets the rest
		// through; its failure is counted in ombud_metrics_scrape_errors_total.
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 2,
		Timeout:             10 * time.Second,
	})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics need the bearer token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// The sync hub's Observer.

var _ hub.Observer = (*Metrics)(nil)

func roleOf(d hub.Device) string {
	if d.Role == "" {
		return "unknown"
	}
	return d.Role
}

// Connected implements hub.Observer.
func (m *Metrics) Connected(d hub.Device) {
	m.connected.WithLabelValues(roleOf(d)).Inc()
	m.connects.WithLabelValues(roleOf(d)).Inc()
}

// Disconnected implements hub.Observer.
func (m *Metrics) Disconnected(d hub.Device) { m.connected.WithLabelValues(roleOf(d)).Dec() }

// Pushed implements hub.Observer.
func (m *Metrics) Pushed(d hub.Device, res hub.PushResult, took time.Duration, err error) {
	if err != nil {
		kind := "error"
		switch {
		case errors.Is(err, hub.ErrDeviceRevoked):
			kind = "revoked"
		case errors.Is(err, hub.ErrGap):
			kind = "gap"
		}
		m.pushFailures.WithLabelValues(kind).Inc()
		return
	}
	m.pushes.Inc()
	m.pushLatency.Observe(took.Seconds())
	m.ingested.WithLabelValues(roleOf(d)).Add(float64(res.Stored))
	m.duplicates.Add(float64(res.Duplicates))
	for _, r := range res.Rejected {
		m.rejected.WithLabelValues(strconv.Itoa(int(r.Code)), r.Code.String()).Inc()
	}
}

// Streamed implements hub.Observer.
func (m *Metrics) Streamed(_ hub.Device, events int, sinceCommit time.Duration) {
	m.streamed.Add(float64(events))
	if sinceCommit > 0 {
		m.fanout.Observe(sinceCommit.Seconds())
	}
}

// The case engine's observer (cases.Observer).

// Assigned counts a case the dispatch rules assigned, by rule.
func (m *Metrics) Assigned(rule string) {
	if rule == "" {
		rule = "default"
	}
	m.assigned.WithLabelValues(rule).Inc()
}

// Escalated counts a breached SLA target the escalation clock escalated.
func (m *Metrics) Escalated(target string) { m.escalations.WithLabelValues(target).Inc() }

// Delivered counts one recorded delivery attempt.
func (m *Metrics) Delivered(a delivery.Attempt) {
	m.deliveries.WithLabelValues(a.Queue, string(a.Outcome)).Inc()
}

// AddDB registers the pool statistics of db (database/sql DBStats:
// connections open, in use, idle, waits and their duration) as go_sql_*
// with db_name set to name.
func (m *Metrics) AddDB(name string, db *sql.DB) {
	m.reg.MustRegister(collectors.NewDBStatsCollector(db, name))
}

// Fleet is what the fleet gauges read from the database at each scrape.
type Fleet interface {
	ListDevices(ctx context.Context) ([]storage.Device, error)
}

// Overdue counts the cases whose next SLA deadline has passed and that the
// escalation clock has not escalated yet (storage.Cases' CasesDue).
type Overdue interface {
	CasesDue(ctx context.Context, by time.Time, after storage.DueKey, limit int) ([]storage.CaseRow, error)
}

// AddStore registers the gauges read from the database at each scrape: the
// enrolled devices and their backlog (fleet), and the overdue cases waiting
// for escalation (overdue, nil without an SLA config). Both are the same on
// every replica sharing the database: aggregate them with max, not sum.
func (m *Metrics) AddStore(fleet Fleet, overdue Overdue, now func() time.Time) {
	m.reg.MustRegister(&storeCollector{m: m, fleet: fleet, overdue: overdue, now: now})
}

var (
	enrolledDesc = prometheus.NewDesc("ombud_devices_enrolled",
		"Devices enrolled and not revoked, by role (from the database: the same on every replica).", []string{"role"}, nil)
	backloggedDesc = prometheus.NewDesc("ombud_devices_backlogged",
		"Devices not revoked with events still to push, as of their last hello less what has been stored since, by role.", []string{"role"}, nil)
	backlogDesc = prometheus.NewDesc("ombud_devices_backlog_events",
		"Events devices still have to push, summed over the devices of a role (see ombud_devices_backlogged).", []string{"role"}, nil)
	backlogMaxDesc = prometheus.NewDesc("ombud_device_backlog_max_events",
		"The largest backlog of any one device (`server devices` says which).", nil, nil)
	overdueDesc = prometheus.NewDesc("ombud_sla_overdue_cases",
		"Open cases with a breached SLA target not yet escalated: the escalation backlog (capped at 10000).", nil, nil)
)

// storeCollector reads the database at scrape time.
type storeCollector struct {
	m       *Metrics
	fleet   Fleet
	overdue Overdue
	now     func() time.Time
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- enrolledDesc
	ch <- backloggedDesc
	ch <- backlogDesc
	ch <- backlogMaxDesc
	if c.overdue != nil {
		ch <- overdueDesc
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.m.scrapeTimeout)
	defer cancel()
	if ds, err := c.fleet.ListDevices(ctx); err != nil {
		c.m.scrapeErrors.WithLabelValues("devices").Inc()
	} else {
		enrolled := map[string]int{}
		backlogged := map[string]int{}
		waiting := map[string]int64{}
		var most int64
		for _, r := range roles {
			enrolled[r], backlogged[r], waiting[r] = 0, 0, 0
		}
		for _, d := range ds {
			if d.Revoked() {
				continue
			}
			r := string(d.Role)
			enrolled[r]++
			if w := d.LastDeviceSeq - d.AckedSeq; w > 0 {
				backlogged[r]++
				waiting[r] += w
				most = max(most, w)
			}
		}
		for r, n := range enrolled {
			ch <- prometheus.MustNewConstMetric(enrolledDesc, prometheus.GaugeValue, float64(n), r)
			ch <- prometheus.MustNewConstMetric(backloggedDesc, prometheus.GaugeValue, float64(backlogged[r]), r)
			ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(waiting[r]), r)
		}
		ch <- prometheus.MustNewConstMetric(backlogMaxDesc, prometheus.GaugeValue, float64(most))
	}
	if c.overdue != nil {
		rows, err := c.overdue.CasesDue(ctx, c.now(), storage.DueKey{}, storage.MaxPage)
		if err != nil {
			c.m.scrapeErrors.WithLabelValues("cases").Inc()
		} else {
			ch <- prometheus.MustNewConstMetric(overdueDesc, prometheus.GaugeValue, float64(len(rows)))
		}
	}
}

// Instrument counts and times the HTTP requests next answers, by route
// kind; the sync endpoint (a websocket that lives for hours, its own
// metrics are ombud_sync_*) and the console's event stream pass through
// uncounted.
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, tracking := routeOf(r.URL.Path)
		if route == "sync" || route == "stream" {
			next.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(sw, r)
		m.reqLatency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		if tracking != "" {
			m.tracking.WithLabelValues(tracking, outcomeOf(sw.code)).Inc()
		}
	})
}

// routeOf names a path's route kind (a bounded label set: never the path
// itself, which holds tracking codes and tokens) and, for the tracking
// page and API, which of the two.
func routeOf(path string) (route, tracking string) {
	switch {
	case path == "/api/v1/sync":
		return "sync", ""
	case path == "/healthz" || path == "/readyz":
		return "health", ""
	case path == "/console/events":
		return "stream", ""
	case path == "/console" || strings.HasPrefix(path, "/console/"):
		return "console", ""
	case path == "/api/v1/enrol":
		return "enrol", ""
	case strings.HasPrefix(path, "/api/v1/staff/"):
		return "staff", ""
	case strings.HasPrefix(path, "/api/v1/track/"):
		return "tracking_api", "api"
	case path == "/t/track.css":
		return "static", ""
	case path == "/t" || strings.HasPrefix(path, "/t/"):
		return "tracking_page", "page"
	case strings.HasPrefix(path, "/unsubscribe/"):
		return "unsubscribe", ""
	}
	return "other", ""
}

func outcomeOf(code int) string {
	switch {
	case code < 400:
		return "ok"
	case code == http.StatusNotFound:
		return "not_found"
	case code == http.StatusTooManyRequests:
		return "rate_limited"
	case code < 500:
		return "refused"
	}
	return "error"
}

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(p)
}

// Flush passes a flush through (a handler asserting http.Flusher gets it).
func (w *statusWriter) Flush() {
	w.wroteHeader = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
