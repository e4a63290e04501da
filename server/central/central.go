// Package central assembles Ombud's central server and owns its lifecycle:
// the storage, the case engine (dispatch, SLA, escalation), the sync hub,
// device enrolment, the staff directory and the customer's tracking page,
// all on one router behind one listener. The server program parses its
// options into a Config and runs a Server; tests and tools start the same
// Server in-process.
//
// The parts never call each other: each learns of new events from the
// storage's commit feed (hub.Log's OnCommit), whoever stored them. The
// customer notifications and the integration webhooks follow it too, each
// with its own cursor and queue in the database (package delivery).
package central

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"ombud/server/admit"
	"ombud/server/cases"
	"ombud/server/console"
	"ombud/server/delivery"
	"ombud/server/dispatch"
	"ombud/server/enrol"
	"ombud/server/httpapi"
	"ombud/server/kpi"
	"ombud/server/metrics"
	"ombud/server/notify"
	"ombud/server/notify/email"
	"ombud/server/notify/sms"
	"ombud/server/privacy"
	"ombud/server/slaapi"
	"ombud/server/staffapi"
	"ombud/server/storage"
	"ombud/server/storage/postgres"
	"ombud/server/storage/sqlite"
	"ombud/server/tracking"
	"ombud/server/tracking/i18n"
	"ombud/server/webhook"
	"ombud/shared/lifecycle"
	"ombud/shared/retention"
	"ombud/shared/sla"
	"ombud/sync/hub"
)

// DBFile is the database's name in the data directory.
const DBFile = "server.db"

// Store is everything the server keeps, whichever backend keeps it.
type Store interface {
	storage.Store
	storage.Cases
	storage.Tracking
	notify.Store
	webhook.Store
	// The web console, the improvement figures, retention and erasure,
	// and the audit chain: every backend keeps them all.
	console.Store
	kpi.Store
	privacy.Store
	storage.Audit
	storage.Improve
	// Ping checks that the database answers (readiness).
	Ping(ctx context.Context) error
}

// Both backends serve everything: a store that lacked a part would not
// compile here, instead of a server that starts without it.
var (
	_ Store = (*sqlite.Store)(nil)
	_ Store = (*postgres.Store)(nil)
)

// Database says where the server's data lives: an embedded SQLite file in
// Data (the default), or the PostgreSQL database at DB (a postgres:// URL),
// which several replicas can share.
type Database struct {
	Data string
	DB   string
}

// String names the database for messages, without credentials.
func (d Database) String() string {
	if d.DB != "" {
		return postgres.Redact(d.DB)
	}
	return filepath.Join(d.Data, DBFile)
}

// StoreOptions tune OpenDatabase.
type StoreOptions struct {
	Admission admit.Policy
	Logger    *slog.Logger
	// PollInterval: see postgres.Options.
	PollInterval time.Duration
}

// OpenDatabase opens (creating and migrating as needed) the database d
// names. The administrative commands use it too.
func OpenDatabase(ctx context.Context, d Database, opts StoreOptions) (Store, error) {
	if d.DB != "" {
		if !postgres.IsDSN(d.DB) {
			return nil, errors.New("--db must be a postgres:// or postgresql:// URL (SQLite lives in --data)")
		}
		st, err := postgres.OpenWith(ctx, d.DB, postgres.Options{Admission: opts.Admission, Logger: opts.Logger, PollInterval: opts.PollInterval})
		if err != nil {
			return nil, fmt.Errorf("open storage: %w", err)
		}
		return st, nil
	}
	return OpenStore(ctx, d.Data, sqlite.Options{Admission: opts.Admission})
}

// Config is everything a Server is made from. Zero values take the
// defaults the server program documents.
type Config struct {
	// Data is the data directory: the SQLite database and the tracking
	// page's secret. Created 0700 if missing. Required unless DB is set.
	Data string
	// DB is a PostgreSQL database URL (postgres://...): the data, and the
	// secrets every replica shares, live there instead, and several
	// servers may share it. "" uses SQLite in Data.
	DB string
	// LeaseRetry is how often a replica without the once-only work's
	// lease tries to take it (PostgreSQL only; postgres.DefaultLeaseRetry).
	LeaseRetry time.Duration
	// PollInterval bounds how late another replica's commit reaches this
	// replica's devices when its notification is lost (PostgreSQL only).
	PollInterval time.Duration
	// Listen is the address to listen on; port 0 picks a free one.
	Listen string
	// TLSCert and TLSKey, together, serve HTTPS.
	TLSCert, TLSKey string
	// PublicURL is how devices and phones reach the server; its origin is
	// allowed to post the tracking page's forms.
	PublicURL string
	Logger    *slog.Logger
	// ShutdownTimeout is Close's default when its context has no deadline.
	ShutdownTimeout time.Duration
	// ReadTimeout bounds reading one request, headers and body
	// (DefaultReadTimeout): a client that sends a byte a minute is cut
	// off. A sync websocket sets its own deadlines once upgraded.
	ReadTimeout time.Duration
	// MaxConnsPerClient caps the connections one address (an IPv6 /64)
	// holds open at once (DefaultMaxConnsPerClient; negative: no cap);
	// TrustedProxies are the proxies in front, whose X-Forwarded-For is
	// believed and whose connections are not capped.
	MaxConnsPerClient int
	TrustedProxies    []netip.Prefix
	// RevocationInterval bounds how long a device revoked by another
	// process keeps its sync connection.
	RevocationInterval time.Duration
	// MaxOffline bounds how long ago a staff action signed in offline may
	// have been recorded (admit.Policy); SessionTTL is how long a sign-in
	// the server confirmed lasts.
	MaxOffline, SessionTTL time.Duration

	// The tracking page: dates shown in Location. Without an SLA config,
	// the SLA is sla.Fallback: AckDays and RespondDays business days
	// (2 and 15 when zero) in Location.
	Location             *time.Location
	AckDays, RespondDays int
	Catalogs             *i18n.Bundle
	TrackRate            float64 // requests per minute per client
	TrackBurst           int

	// The case engine: routing rules (a file, re-read when it changes and
	// on ReloadDispatch; "" routes every case to its filing branch), SLA
	// policies (nil: sla.Fallback, above), where overdue cases go
	// and how often they are looked for.
	DispatchConfig     string
	SLA                *sla.Config
	EscalationQueue    string
	EscalationInterval time.Duration

	// Retention is the retention policy (shared/retention): the privacy
	// service redacts closed cases past it on the case engine's schedule
	// (EscalationInterval). The zero value is the default policy.
	Retention retention.Policy
	// Now is the privacy service's wall clock (retention); nil is
	// time.Now. Tests move it to a year past closure.
	Now func() time.Time

	// Notify configures the customer notifications; with no channel,
	// nothing is sent.
	Notify NotifyConfig
	// AllowPrivateWebhooks lets webhooks reach loopback, private and
	// link-local addresses (a receiver on the organisation's own
	// network); otherwise they are refused (server-side request forgery).
	AllowPrivateWebhooks bool
	// Delivery tunes the notification and webhook queues (tests shorten
	// them); zero values take package delivery's defaults.
	Delivery DeliveryConfig

	// MetricsAddr is where /metrics is served (metrics.go), on a listener
	// of its own; "" serves no metrics. MetricsToken, if set, is the
	// bearer token a scrape must present.
	MetricsAddr, MetricsToken string

	// Console tunes the web console (package console); its Key, Secure,
	// ClientIP, TrackingURL and Logger are set by the server.
	Console console.Options
}

// NotifyConfig says how customers are notified (package notify).
type NotifyConfig struct {
	SMTP *email.Config // nil: no e-mail
	SMS  *sms.Config   // nil: no SMS
	// Catalogs is a directory of extra or corrected message catalogs
	// (xx.json); "" uses the embedded ones.
	Catalogs string
	// RateLimit notifications per RateWindow to one contact.
	RateLimit  int
	RateWindow time.Duration
}

// DeliveryConfig tunes the outbound queues.
type DeliveryConfig struct {
	Backoff delivery.Backoff
	Lease   time.Duration
	Poll    time.Duration
}

// Defaults for Config.
const (
	DefaultReadTimeout = 30 * time.Second
	// DefaultMaxConnsPerClient leaves room for a branch's devices and a
	// carrier's shared address for many phones, not for a slow-read flood.
	DefaultMaxConnsPerClient = 256
)

// Server is the central server. New makes it, Open starts it, Close stops
// it; a Server is used once.
type Server struct {
	cfg Config
	log *slog.Logger

	store    Store
	ready    atomic.Bool // serving, and not shutting down: /readyz
	leader   atomic.Bool // running the once-only work
	hub      *hub.Hub
	engine   *cases.Engine
	privacy  *privacy.Service
	dispatch *dispatch.Watcher // nil without a dispatch config
	notifier *notify.Notifier
	webhooks *webhook.Dispatcher
	desk     *console.Handler
	kpi      *kpi.Follower // nil on a database without the figures' storage
	http     *http.Server
	ln       net.Listener

	// The SLA and dispatch configurations in force (configs.go);
	// slaFile is set when the SLA config came from a file.
	liveSLA      *liveSLA
	liveDispatch *liveDispatch
	slaFile      bool

	metrics     *metrics.Metrics // the server's own registry
	metricsHTTP *http.Server     // nil without Config.MetricsAddr
	metricsLn   net.Listener

	unlock func() // releases the data directory's shared lock (LockData)

	stop   context.CancelFunc // ends the background work
	wg     sync.WaitGroup     // the background work and the HTTP server
	served chan error         // the HTTP server's end: nil after a Close
}

// New returns a Server for cfg; it opens nothing.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.MaxConnsPerClient == 0 {
		cfg.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	return &Server{cfg: cfg, log: cfg.Logger.With("component", "server"), served: make(chan error, 1), metrics: metrics.New()}
}

// Open opens the storage, builds every part, listens and starts serving.
// On failure it releases what it opened.
func (s *Server) Open(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			s.release()
		}
	}()
	tlsConfig, err := s.tlsConfig()
	if err != nil {
		return err
	}
	s.slaFile = s.cfg.SLA != nil
	if s.cfg.SLA == nil {
		// One source of dates even without a file: the receipts, the
		// page, the staff screens and the engine all use this config.
		ack, respond := s.cfg.AckDays, s.cfg.RespondDays
		if ack == 0 && respond == 0 {
			ack, respond = 2, 15
		}
		cfg, err := sla.Fallback(ack, respond, s.cfg.Location)
		if err != nil {
			return err
		}
		s.cfg.SLA = cfg
	}
	if s.cfg.Data == "" && s.cfg.DB == "" {
		return errors.New("a data directory or a database URL is required")
	}
	if s.cfg.Data != "" && s.cfg.DB == "" {
		if err := os.MkdirAll(s.cfg.Data, 0o700); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		if s.unlock, err = LockData(s.cfg.Data, false); errors.Is(err, ErrLocked) {
			return fmt.Errorf("data directory %s is being restored (`server restore` holds it): start the server when it has finished", s.cfg.Data)
		} else if err != nil {
			return err
		}
	}
	if s.store, err = OpenDatabase(ctx, Database{Data: s.cfg.Data, DB: s.cfg.DB}, StoreOptions{
		Admission: admit.Policy{MaxOffline: s.cfg.MaxOffline, AcceptWithin: s.cfg.SLA.AcceptWithin()}, Logger: s.cfg.Logger, PollInterval: s.cfg.PollInterval,
	}); err != nil {
		return err
	}
	clients := httpapi.NewClients(s.cfg.TrustedProxies)
	router, err := s.build(clients)
	if err != nil {
		return err
	}
	s.remindRoles(ctx)
	if err := s.startMetrics(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s.ln = httpapi.NewCapListener(ln, s.cfg.MaxConnsPerClient, clients)
	s.http = &http.Server{
		// Security headers (CSP, nosniff, no-referrer, HSTS on TLS) on
		// every response, not only the tracking page's.
		Handler:           s.metrics.Instrument(tracking.SecurityHeaders(router)),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		// Whole requests, bodies included, must arrive in time: a slow
		// body holds a connection and a goroutine. The deadline is the
		// connection's, set when a request starts; a sync websocket
		// replaces it with its own (pongs) as soon as it is upgraded, so
		// long-lived devices are not cut. Writes: each websocket write sets
		// its own deadline too.
		ReadTimeout:  s.cfg.ReadTimeout,
		WriteTimeout: 2 * time.Minute,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(s.cfg.Logger.With("component", "http").Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	s.log.Info("listening", "addr", s.ln.Addr().String(), "scheme", scheme, "public_url", s.cfg.PublicURL,
		"database", Database{Data: s.cfg.Data, DB: s.cfg.DB}.String())
	if tlsConfig == nil {
		if ap, err := netip.ParseAddrPort(s.ln.Addr().String()); err == nil && !ap.Addr().IsLoopback() {
			// Enrolment answers carry credentials: in the clear only if a
			// TLS-terminating proxy sits in front.
			s.log.Warn("serving plain HTTP on a non-loopback address: use --tls-cert/--tls-key or a TLS proxy")
		}
	}

	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	if s.dispatch != nil {
		s.wg.Go(func() { s.dispatch.Run(bg) })
	}
	// The once-only work: the case engine (projection, dispatch, the
	// escalation clock) and the outbound followers and workers. On a
	// shared PostgreSQL, one replica at a time runs it, under a lease that
	// moves when its holder dies; each part is also safe if two briefly
	// overlap (compare-and-set cursors, derived event ids, leased jobs).
	once := func(ctx context.Context) {
		var wg sync.WaitGroup
		wg.Go(func() { s.engine.Run(ctx) })
		if s.privacy != nil {
			wg.Go(func() { s.privacy.Run(ctx, s.cfg.EscalationInterval) })
		}
		wg.Go(func() { s.notifier.Run(ctx) })
		wg.Go(func() { s.webhooks.Run(ctx) })
		if s.kpi != nil {
			wg.Go(func() { s.kpi.Run(ctx) })
		}
		wg.Wait()
	}
	if l, ok := s.store.(leaser); ok {
		s.wg.Go(func() { l.Lead(bg, s.cfg.LeaseRetry, once, s.leader.Store) })
	} else {
		s.leader.Store(true)
		s.wg.Go(func() { once(bg) })
	}
	s.ready.Store(true)
	s.wg.Go(func() {
		if tlsConfig != nil {
			s.served <- s.http.ServeTLS(s.ln, "", "")
		} else {
			s.served <- s.http.Serve(s.ln)
		}
	})
	return nil
}

// OpenStore opens DIR/server.db, creating DIR (private: it holds credential
// hashes and complaints) if needed. The administrative commands use it too.
func OpenStore(ctx context.Context, dir string, opts sqlite.Options) (*sqlite.Store, error) {
	if dir == "" {
		return nil, errors.New("a data directory is required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	st, err := sqlite.OpenWith(ctx, filepath.Join(dir, DBFile), opts)
	if err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	return st, nil
}

func (s *Server) tlsConfig() (*tls.Config, error) {
	if (s.cfg.TLSCert == "") != (s.cfg.TLSKey == "") {
		return nil, errors.New("a TLS certificate and key go together")
	}
	if s.cfg.TLSCert == "" {
		return nil, nil
	}
	// Loaded before listening, so a bad file fails the start, not the
	// first client.
	cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// build makes every part on the open store and mounts them on one router.
func (s *Server) build(clients *httpapi.Clients) (http.Handler, error) {
	base := s.cfg.Logger
	s.liveDispatch = &liveDispatch{path: s.cfg.DispatchConfig}
	if s.cfg.DispatchConfig != "" {
		w, err := dispatch.NewWatcher(s.cfg.DispatchConfig, 0, base)
		if err != nil {
			return nil, fmt.Errorf("dispatch config: %w", err)
		}
		s.dispatch, s.liveDispatch.w = w, w
	}
	if err := s.resolveConfigs(); err != nil {
		return nil, err
	}
	engine, err := cases.New(cases.Config{
		Store: s.store, Dispatch: s.liveDispatch.Rules, SLA: s.cfg.SLA,
		EscalationQueue: s.cfg.EscalationQueue, Interval: s.cfg.EscalationInterval,
		Logger: base, Observer: s.metrics,
	})
	if err != nil {
		return nil, fmt.Errorf("case engine: %w", err)
	}
	s.engine = engine
	// Retention and erasure (package privacy): once-only work, run under
	// the lease with the case engine. The redaction ledger is a file in
	// the data directory, apart from the database so a restored older
	// database is redacted again; a PostgreSQL server keeps it only when
	// given --data too (a directory its operators back up apart from the
	// database).
	var ledger *privacy.Ledger
	if s.cfg.Data != "" {
		ledger = privacy.OpenLedger(s.cfg.Data)
	} else {
		s.log.Warn("no --data directory: the redaction ledger is not kept, so a restored older database is not redacted again by `server erasure reapply` (give --data DIR beside --db to keep it)")
	}
	s.privacy = privacy.New(privacy.Config{Store: s.store, Policy: s.cfg.Retention, Ledger: ledger, Now: s.cfg.Now, Logger: base})

	secret, err := s.trackingSecret()
	if err != nil {
		return nil, err
	}
	var origins []string
	if u, err := url.Parse(s.cfg.PublicURL); err == nil && u.Scheme != "" && u.Host != "" {
		origins = append(origins, u.Scheme+"://"+u.Host)
	}
	var deadlines tracking.Deadlines = engineDeadlines{engine}
	track, err := tracking.New(s.store, tracking.Options{
		Logger: base, Secret: secret, Branches: s.store, Catalogs: s.cfg.Catalogs, Location: s.cfg.Location,
		Deadlines:     deadlines,
		RatePerMinute: s.cfg.TrackRate, Burst: s.cfg.TrackBurst, Origins: origins,
		ClientIP: clients.Key,
	})
	if err != nil {
		return nil, err
	}

	// The sync endpoint (docs/SYNC.md): devices authenticate with their
	// enrolment credential; one revoked from the CLI is cut off (4002)
	// within RevocationInterval.
	s.hub = hub.New(hub.Config{
		Log: s.store, Auth: enrol.SyncAuth{Store: s.store},
		RevokeCheckInterval: s.cfg.RevocationInterval, Logger: base,
		Observer: s.metrics,
	})
	// The connection pools: database/sql's (SQLite) or pgx's (PostgreSQL).
	switch p := s.store.(type) {
	case interface {
		Pools() (writer, reader *sql.DB)
	}:
		writer, reader := p.Pools()
		s.metrics.AddDB("writer", writer)
		s.metrics.AddDB("reader", reader)
	case interface{ Pool() *pgxpool.Pool }:
		s.metrics.AddPGPool(p.Pool())
	}
	var overdue metrics.Overdue
	if s.cfg.SLA != nil {
		overdue = s.store
	}
	s.metrics.AddStore(s.store, overdue, time.Now)
	// The audit chain's head, for the scraper to record (shared/audit).
	if a, ok := s.store.(metrics.AuditHead); ok {
		s.metrics.AddAudit(a)
	}

	if err := s.buildOutbound(secret); err != nil {
		return nil, err
	}

	router := httpapi.New(s.store, httpapi.Options{Logger: base, ClientIP: clients.Key, PublicURL: s.cfg.PublicURL})
	router.Handle(httpapi.PathSync, s.hub)
	// The staff directory staff terminals sign people in with offline, and
	// the sign-in the server confirms while they are online (docs/API.md);
	// the same device credentials as sync.
	staffapi.NewWith(s.store, staffapi.Options{Logger: base, SessionTTL: s.cfg.SessionTTL, MaxOffline: s.cfg.MaxOffline}).Register(router)
	// The SLA rules every device dates receipts and queues by.
	slaAPI := slaapi.New(s.store, s.cfg.SLA, base)
	slaAPI.Register(router)
	s.liveSLA = &liveSLA{s: s, api: slaAPI}
	s.liveSLA.cur.Store(s.cfg.SLA)
	// The retention policy every kiosk states in its privacy notice.
	slaapi.NewDocument(s.store, slaapi.PathRetention, "retention policy", s.cfg.Retention.Digest(), s.cfg.Retention.JSON(), base).Register(router)
	track.Register(router)
	s.notifier.Register(router)

	// The web console: its CSRF key derived from the tracking secret,
	// cookies Secure whenever browsers reach the server over HTTPS.
	co := s.cfg.Console
	ck := hmac.New(sha256.New, secret)
	ck.Write([]byte("ombud/console/v1"))
	co.Key, co.Logger, co.ClientIP = ck.Sum(nil), base, clients.Key
	co.Secure = s.cfg.TLSCert != "" || strings.HasPrefix(s.cfg.PublicURL, "https://")
	co.TrackingURL = s.cfg.PublicURL
	if s.cfg.SLA != nil {
		co.AcceptWithin = s.cfg.SLA.AcceptWithin()
	}
	co.Location = s.cfg.Location
	co.SLA, co.Dispatch = s.liveSLA, s.liveDispatch
	co.Privacy = s.privacy
	// The improvement figures (server/kpi), kept by a follower of the
	// log (once-only work, under the lease).
	if s.kpi, err = kpi.New(kpi.Config{Log: s.store, Store: s.store, SLA: s.cfg.SLA, Location: s.cfg.Location, Logger: base}); err != nil {
		return nil, err
	}
	desk, err := console.New(s.store, co)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	desk.Register(router)
	s.desk = desk
	router.Handle(PathReady, http.HandlerFunc(s.readyz))
	return router, nil
}

// PathReady is the readiness check a load balancer polls.
const PathReady = "/readyz"

// readyz answers 200 while this server can take traffic: it is open (its
// migrations done) and not shutting down, and its database answers now;
// else 503, so a load balancer sends devices to another replica. /healthz
// stays the liveness check. The body says whether this replica runs the
// once-only work, for operators.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !s.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, `{"status":"starting or stopping"}`)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("readiness: the database does not answer", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, `{"status":"database unavailable"}`)
		return
	}
	fmt.Fprintf(w, "{\"status\":\"ready\",\"leader\":%t}\n", s.leader.Load())
}

// Leader reports whether this server runs the once-only work now.
func (s *Server) Leader() bool { return s.leader.Load() }

// leaser is a store that elects one server to run the once-only work
// (postgres.Store.Lead).
type leaser interface {
	Lead(ctx context.Context, retry time.Duration, work func(ctx context.Context), held func(bool))
}

// secretStore is a store that keeps secrets every replica shares.
type secretStore interface {
	Secret(ctx context.Context, name string, size int) ([]byte, error)
}

// trackingSecret is the tracking page's key (and, derived, the
// notifier's): in the shared database when it can hold one, so every
// replica agrees, else in the data directory.
func (s *Server) trackingSecret() ([]byte, error) {
	if ss, ok := s.store.(secretStore); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return ss.Secret(ctx, "tracking", tracking.SecretLen)
	}
	return tracking.LoadOrCreateSecret(s.cfg.Data)
}

// buildOutbound makes the customer notifier and the webhook dispatcher.
// The notifier's key (contact keys, unsubscribe tokens) is derived from the
// tracking page's secret, so every server sharing that secret agrees.
func (s *Server) buildOutbound(secret []byte) error {
	n := s.cfg.Notify
	channels := map[string]notify.Channel{}
	if n.SMTP != nil {
		ch, err := email.New(*n.SMTP)
		if err != nil {
			return err
		}
		channels[notify.Email] = ch
	}
	if n.SMS != nil {
		ch, err := sms.New(*n.SMS)
		if err != nil {
			return err
		}
		channels[notify.SMS] = ch
	}
	catalogs, err := notify.LoadCatalogs(n.Catalogs)
	if err != nil {
		return fmt.Errorf("notification catalogs: %w", err)
	}
	key := hmac.New(sha256.New, secret)
	key.Write([]byte("ombud/notify/v1"))
	publicURL := s.cfg.PublicURL
	if publicURL == "" && len(channels) == 0 {
		// Nothing is sent, but the unsubscribe route still answers.
		publicURL = "http://localhost"
	}
	d := s.cfg.Delivery
	store := countingStore{outboundStore: s.store, observe: s.metrics.Delivered}
	s.notifier, err = notify.New(notify.Config{
		Log: s.store, Store: store, Channels: channels, Key: key.Sum(nil), PublicURL: publicURL,
		Catalogs: catalogs, RateLimit: n.RateLimit, RateWindow: n.RateWindow,
		Backoff: d.Backoff, Lease: d.Lease, Poll: d.Poll, Logger: s.cfg.Logger,
	})
	if err != nil {
		return err
	}
	s.webhooks, err = webhook.New(webhook.Config{
		Log: s.store, Store: store, Client: webhook.NewClient(webhook.ClientOptions{AllowPrivate: s.cfg.AllowPrivateWebhooks}),
		Backoff: d.Backoff, Lease: d.Lease, Poll: d.Poll, Logger: s.cfg.Logger,
	})
	return err
}

// Store is the server's open storage (after Open), for tests and tools
// in the same process: writes through it reach the commit feed.
func (s *Server) Store() Store { return s.store }

// Addr is the address the server listens on (after Open).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Done yields the HTTP server's error if it stops on its own (a listener
// failure) before Close; the caller should then Close.
func (s *Server) Done() <-chan error { return s.served }

// ReloadDispatch re-reads the dispatch config now (SIGHUP). A bad file is
// refused with its line and the old rules stay. Without a dispatch config
// it does nothing.
func (s *Server) ReloadDispatch() error {
	if s.dispatch == nil {
		return nil
	}
	s.dispatch.Reload()
	return s.dispatch.LastError()
}

// Close stops the server gracefully: the hub closes every device
// connection (4009) after the pushes in storage are answered, in-flight
// requests finish, the background work stops, and the store closes last.
// ctx bounds the wait (Config.ShutdownTimeout when it has no deadline);
// past it, connections are cut.
func (s *Server) Close(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
		defer cancel()
	}
	s.log.Info("shutting down")
	s.ready.Store(false)
	var errs []error
	// http.Server.Shutdown neither closes nor waits for hijacked
	// (websocket) connections: the hub stops its own first.
	if err := s.hub.Shutdown(ctx); err != nil {
		s.log.Warn("sync hub shutdown", "err", err)
	}
	// The console's live streams never end by themselves.
	if s.desk != nil {
		s.desk.Close()
	}
	if err := s.http.Shutdown(ctx); err != nil {
		s.log.Warn("shutdown timed out: closing remaining connections", "err", err)
		s.http.Close()
	}
	s.stop()
	s.stopMetrics(ctx)
	s.wg.Wait()
	select {
	case err := <-s.served:
		if !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("serve: %w", err))
		}
	default:
	}
	if err := s.store.Close(); err != nil {
		errs = append(errs, err)
	}
	if s.unlock != nil {
		s.unlock()
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.log.Info("stopped")
	return nil
}

// remindRoles names in the log every device the upgrade to roles made a
// kiosk though it recorded staff actions: its staff terminal receives no
// cases until the operator says what it is.
func (s *Server) remindRoles(ctx context.Context) {
	ids, err := s.store.DevicesToReview(ctx)
	if err != nil {
		s.log.Warn("devices to review: not read", "err", err)
		return
	}
	for _, id := range ids {
		s.log.Warn("device recorded staff actions before device roles existed and is now a customer kiosk: if it is a staff terminal, run `server device role --device "+id+" --role staff`",
			"device", id)
	}
}

// release closes what a failed Open opened.
func (s *Server) release() {
	if s.ln != nil {
		s.ln.Close()
	}
	if s.metricsHTTP != nil {
		s.metricsHTTP.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
	if s.unlock != nil {
		s.unlock()
	}
}

// engineDeadlines gives the tracking page the SLA's dates.
type engineDeadlines struct{ e *cases.Engine }

func (d engineDeadlines) NextStep(ctx context.Context, c *lifecycle.Case) (tracking.NextStep, error) {
	st, ok, err := d.e.Deadlines(ctx, c.ID)
	if err != nil || !ok {
		return tracking.NextStep{}, err
	}
	return tracking.NextStep{Kind: tracking.StepKind(st.Name), Due: st.Due, Basis: tracking.BasisPolicy}, nil
}

// Privacy is the privacy service (retention, erasure, the ledger), for
// tests and tools that drive it with their own clock.
func (s *Server) Privacy() *privacy.Service { return s.privacy }
