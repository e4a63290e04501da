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
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"ombud/server/admit"
	"ombud/server/cases"
	"ombud/server/delivery"
	"ombud/server/dispatch"
	"ombud/server/enrol"
	"ombud/server/httpapi"
	"ombud/server/notify"
	"ombud/server/notify/email"
	"ombud/server/notify/sms"
	"ombud/server/privacy"
	"ombud/server/staffapi"
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

// Config is everything a Server is made from. Zero values take the
// defaults the server program documents.
type Config struct {
	// Data is the data directory: the database and the tracking page's
	// secret. Created 0700 if missing. Required.
	Data string
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

	// The tracking page: dates shown in Location; without an SLA config,
	// the receipt's promise of AckDays and RespondDays business days.
	Location             *time.Location
	AckDays, RespondDays int
	Catalogs             *i18n.Bundle
	TrackRate            float64 // requests per minute per client
	TrackBurst           int

	// The case engine: routing rules (a file, re-read when it changes and
	// on ReloadDispatch; "" routes every case to its filing branch), SLA
	// policies (nil: no deadlines, no escalation), where overdue cases go
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

	store    *sqlite.Store
	hub      *hub.Hub
	engine   *cases.Engine
	privacy  *privacy.Service
	dispatch *dispatch.Watcher // nil without a dispatch config
	notifier *notify.Notifier
	webhooks *webhook.Dispatcher
	http     *http.Server
	ln       net.Listener

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
	return &Server{cfg: cfg, log: cfg.Logger.With("component", "server"), served: make(chan error, 1)}
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
	if s.store, err = OpenStore(ctx, s.cfg.Data, sqlite.Options{Admission: admit.Policy{MaxOffline: s.cfg.MaxOffline}}); err != nil {
		return err
	}
	clients := httpapi.NewClients(s.cfg.TrustedProxies)
	router, err := s.build(clients)
	if err != nil {
		return err
	}
	s.remindRoles(ctx)
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s.ln = httpapi.NewCapListener(ln, s.cfg.MaxConnsPerClient, clients)
	s.http = &http.Server{
		// Security headers (CSP, nosniff, no-referrer, HSTS on TLS) on
		// every response, not only the tracking page's.
		Handler:           tracking.SecurityHeaders(router),
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
	s.log.Info("listening", "addr", s.ln.Addr().String(), "scheme", scheme, "public_url", s.cfg.PublicURL, "data", s.cfg.Data)
	if tlsConfig == nil {
		if ap, err := netip.ParseAddrPort(s.ln.Addr().String()); err == nil && !ap.Addr().IsLoopback() {
			// Enrolment answers carry credentials: in the clear only if a
			// TLS-terminating proxy sits in front.
			s.log.Warn("serving plain HTTP on a non-loopback address: use --tls-cert/--tls-key or a TLS proxy")
		}
	}

	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.wg.Go(func() { s.engine.Run(bg) })
	s.wg.Go(func() { s.privacy.Run(bg, s.cfg.EscalationInterval) })
	if s.dispatch != nil {
		s.wg.Go(func() { s.dispatch.Run(bg) })
	}
	// Safe on several servers sharing a database: the followers'
	// cursors are compare-and-set and the workers lease their jobs.
	s.wg.Go(func() { s.notifier.Run(bg) })
	s.wg.Go(func() { s.webhooks.Run(bg) })
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
	rules := dispatch.Default
	if s.cfg.DispatchConfig != "" {
		w, err := dispatch.NewWatcher(s.cfg.DispatchConfig, 0, base)
		if err != nil {
			return nil, fmt.Errorf("dispatch config: %w", err)
		}
		s.dispatch, rules = w, w.Rules
	}
	engine, err := cases.New(cases.Config{
		Store: s.store, Dispatch: rules, SLA: s.cfg.SLA,
		EscalationQueue: s.cfg.EscalationQueue, Interval: s.cfg.EscalationInterval,
		Logger: base,
	})
	if err != nil {
		return nil, fmt.Errorf("case engine: %w", err)
	}
	s.engine = engine
	s.privacy = privacy.New(privacy.Config{Store: s.store, Policy: s.cfg.Retention, Ledger: privacy.OpenLedger(s.cfg.Data), Now: s.cfg.Now, Logger: base})

	secret, err := tracking.LoadOrCreateSecret(s.cfg.Data)
	if err != nil {
		return nil, err
	}
	var origins []string
	if u, err := url.Parse(s.cfg.PublicURL); err == nil && u.Scheme != "" && u.Host != "" {
		origins = append(origins, u.Scheme+"://"+u.Host)
	}
	var deadlines tracking.Deadlines = tracking.ReceiptPromise{AckDays: s.cfg.AckDays, RespondDays: s.cfg.RespondDays, Location: s.cfg.Location}
	if s.cfg.SLA != nil {
		deadlines = engineDeadlines{engine}
	}
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
	})

	if err := s.buildOutbound(secret); err != nil {
		return nil, err
	}

	router := httpapi.New(s.store, httpapi.Options{Logger: base, ClientIP: clients.Key, PublicURL: s.cfg.PublicURL})
	router.Handle(httpapi.PathSync, s.hub)
	// The staff directory staff terminals sign people in with offline, and
	// the sign-in the server confirms while they are online (docs/API.md);
	// the same device credentials as sync.
	staffapi.NewWith(s.store, staffapi.Options{Logger: base, SessionTTL: s.cfg.SessionTTL, MaxOffline: s.cfg.MaxOffline}).Register(router)
	track.Register(router)
	s.notifier.Register(router)
	return router, nil
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
	s.notifier, err = notify.New(notify.Config{
		Log: s.store, Store: s.store, Channels: channels, Key: key.Sum(nil), PublicURL: publicURL,
		Catalogs: catalogs, RateLimit: n.RateLimit, RateWindow: n.RateWindow,
		Backoff: d.Backoff, Lease: d.Lease, Poll: d.Poll, Logger: s.cfg.Logger,
	})
	if err != nil {
		return err
	}
	s.webhooks, err = webhook.New(webhook.Config{
		Log: s.store, Store: s.store, Client: webhook.NewClient(webhook.ClientOptions{AllowPrivate: s.cfg.AllowPrivateWebhooks}),
		Backoff: d.Backoff, Lease: d.Lease, Poll: d.Poll, Logger: s.cfg.Logger,
	})
	return err
}

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
	var errs []error
	// http.Server.Shutdown neither closes nor waits for hijacked
	// (websocket) connections: the hub stops its own first.
	if err := s.hub.Shutdown(ctx); err != nil {
		s.log.Warn("sync hub shutdown", "err", err)
	}
	if err := s.http.Shutdown(ctx); err != nil {
		s.log.Warn("shutdown timed out: closing remaining connections", "err", err)
		s.http.Close()
	}
	s.stop()
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
	if s.store != nil {
		s.store.Close()
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

// Store is the server's store, for tests.
func (s *Server) Store() *sqlite.Store { return s.store }
