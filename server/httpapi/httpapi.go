// Package httpapi owns the server's HTTP surface: the one router every
// endpoint is mounted on, the JSON error format with the one table from
// error code to status (errors.go), the request log, per-client rate
// limits, the health check and device enrolment (POST /api/v1/enrol).
// Other endpoints (the sync websocket, the staff directory, the tracking
// page) are mounted with Handle by the program that wires them, so this
// package does not import them; they use its error format.
package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"ombud/server/enrol"
	"ombud/server/ratelimit"
	"ombud/server/storage"
)

// Paths served by this package, and the one reserved for the sync hub.
const (
	PathHealth = "/healthz"
	PathEnrol  = "/api/v1/enrol"
	PathSync   = "/api/v1/sync"
)

// MaxEnrolBody bounds an enrolment request: a code and a device name fit in
// a few hundred bytes, and reading more would let a client make us buffer.
const MaxEnrolBody = 4 << 10

// Pinger is implemented by stores that can answer a cheap liveness query.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Options configure a Server. Zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// Now is the clock for code expiry and rate limits (tests move it).
	Now func() time.Time
	// EnrolRate (attempts per second) and EnrolBurst set the per-client
	// token bucket for POST /api/v1/enrol; defaults 1/6 and 10.
	EnrolRate  float64
	EnrolBurst int
	// ClientIP names the client for rate limiting; the default is the
	// connection's address (an IPv6 one by its /64). Behind a reverse
	// proxy, pass Clients.Key with the proxy trusted, or every client
	// shares the proxy's bucket.
	ClientIP func(*http.Request) string
	// HealthTimeout bounds the health check's database query; default 2 s.
	HealthTimeout time.Duration
	// PublicURL is how phones reach the server (its --public-url): the
	// enrolment answer gives it to devices as the base of the tracking
	// links they print. Empty: not sent.
	PublicURL string
}

// Server is the HTTP handler of the central server.
type Server struct {
	store    storage.Devices
	logger   *slog.Logger
	now      func() time.Time
	clientIP func(*http.Request) string
	limit    *ratelimit.Limiter
	healthTO time.Duration
	mux      *http.ServeMux
	// trackingURL is Options.PublicURL without a trailing slash.
	trackingURL string
}

// New returns the handler serving /healthz and /api/v1/enrol from store.
func New(store storage.Devices, opts Options) *Server {
	s := &Server{
		store:    store,
		logger:   opts.Logger,
		now:      opts.Now,
		clientIP: opts.ClientIP,
		healthTO: opts.HealthTimeout,
		mux:      http.NewServeMux(),

		trackingURL: strings.TrimSuffix(opts.PublicURL, "/"),
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.logger = s.logger.With("component", "http")
	if s.now == nil {
		s.now = time.Now
	}
	if s.clientIP == nil {
		s.clientIP = NewClients(nil).Key
	}
	if s.healthTO <= 0 {
		s.healthTO = 2 * time.Second
	}
	rate, burst := opts.EnrolRate, opts.EnrolBurst
	if rate <= 0 {
		rate = 1.0 / 6
	}
	if burst <= 0 {
		burst = 10
	}
	s.limit = ratelimit.New(rate, burst, 10000, s.now)

	// Methods are checked in the handlers, not with "POST /path" patterns,
	// so a wrong method gets our JSON error rather than the mux's text.
	s.mux.HandleFunc(PathHealth, s.handleHealth)
	s.mux.HandleFunc(PathEnrol, s.handleEnrol)
	return s
}

// Handle mounts another endpoint on the router, e.g. the sync hub on
// PathSync. Call it before serving; a pattern that clashes with one
// already mounted panics (net/http.ServeMux), which a start-up test sees.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	rec := &statusRecorder{ResponseWriter: w}
	s.mux.ServeHTTP(rec, r)
	// Path only: no query strings and no headers (credentials) in the log.
	// The route's pattern, not the path: paths carry tracking codes.
	s.logger.Debug("request", "method", r.Method, "route", r.Pattern,
		"status", rec.status, "duration", s.now().Sub(start), "client", s.clientIP(r))
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.healthTO)
	defer cancel()
	if err := s.ping(ctx); err != nil {
		s.logger.Error("health check failed", "err", err)
		WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ping asks the database a trivial question. Without a Pinger, it looks up
// a device id that cannot exist (it has a '.', which ValidDeviceID refuses):
// one indexed read, and "not found" proves the database answered. Stats
// would count every event: too slow for a probe.
func (s *Server) ping(ctx context.Context) error {
	if p, ok := s.store.(Pinger); ok {
		return p.Ping(ctx)
	}
	_, err := s.store.Device(ctx, "healthz.probe")
	if storage.ErrorCode(err) == storage.NotFound {
		return nil
	}
	if err == nil {
		return errors.New("health probe: impossible device id found")
	}
	return err
}

// enrolResponse is the answer to a redeemed code.
type enrolResponse struct {
	DeviceID   string `json:"device_id"`
	Credential string `json:"credential"`
	Branch     string `json:"branch"`
	BranchName string `json:"branch_name"`
	CodePrefix string `json:"code_prefix"`
	// Role is what the code made of the device (shared/device): kiosk,
	// staff or team; Teams the teams a team terminal serves.
	Role  string   `json:"role"`
	Teams []string `json:"teams,omitempty"`
	// TrackingURL is the base of the tracking links the device prints
	// (<tracking_url>/t/<code>): the server's public address, which may
	// differ from the one the device enrolled through.
	TrackingURL string `json:"tracking_url,omitempty"`
}

func (s *Server) handleEnrol(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.methodNotAllowed(w, r, http.MethodPost)
		return
	}
	// Before reading the body, so a flood costs us as little as possible.
	if ok, wait := s.limit.Allow(s.clientIP(r)); !ok {
		s.writeError(w, r, &Error{Code: CodeRateLimited, RetryAfter: wait,
			Message: "Too many enrolment attempts from this address. Wait a minute and try again."})
		return
	}
	var req enrol.Request
	if err := decodeJSON(w, r, MaxEnrolBody, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	en, err := enrol.Redeem(r.Context(), s.store, req, s.now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	d := en.Device
	name := d.Branch
	// The code is spent: a failed name lookup must not lose the
	// credential, so it degrades to the id.
	if b, err := s.store.Branch(r.Context(), d.Branch); err != nil {
		s.logger.Warn("branch name lookup failed", "branch", d.Branch, "err", err)
	} else {
		name = b.Name
	}
	// The device name is the kiosk's label, not personal data; the
	// credential is never logged.
	s.logger.Info("device enrolled", "device", d.ID, "device_name", req.DeviceName,
		"branch", d.Branch, "role", string(d.Role), "prefix", d.Prefix, "client", s.clientIP(r))
	WriteJSON(w, http.StatusOK, enrolResponse{
		DeviceID:    d.ID,
		Credential:  en.Credential,
		Branch:      d.Branch,
		BranchName:  name,
		CodePrefix:  d.Prefix,
		Role:        string(d.Role),
		Teams:       d.Teams,
		TrackingURL: s.trackingURL,
	})
}

// decodeJSON reads one JSON object of at most limit bytes into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	err := dec.Decode(v)
	if err == nil {
		// Exactly one object: trailing data means a confused client.
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("data after the JSON object")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooBig):
		return &Error{Code: CodeTooLarge, Message: "The request body is larger than 4 KiB."}
	case errors.Is(err, io.EOF):
		return &Error{Code: CodeBadRequest, Message: "The request body is empty: send a JSON object."}
	default:
		return &Error{Code: CodeBadRequest, Message: "The request body is not valid JSON: " + err.Error()}
	}
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	s.writeError(w, r, &Error{Code: CodeMethodNotAllowed, Message: "Method " + r.Method + " is not allowed here; use " + allow + "."})
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	WriteError(w, r, s.logger, err)
}

// statusRecorder remembers the status for the request log. It must not
// hide the real writer's abilities: gorilla/websocket's Upgrade type-asserts
// http.Hijacker, so Hijack is passed through (and Unwrap serves
// http.ResponseController).
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if r.status == 0 {
		r.status = http.StatusSwitchingProtocols
	}
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

func (r *statusRecorder) Flush() { _ = http.NewResponseController(r.ResponseWriter).Flush() }
