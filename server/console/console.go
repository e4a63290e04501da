// Package console owns the web console at /console/: the central team's
// browser screens for staff (sign-in with a password and TOTP, queues,
// search, case pages, the audit trail). It renders HTML on the server with
// html/template, works without JavaScript (one small script adds live
// refresh), and changes cases only by pushing events through the same
// admission rules (package server/admit) as a staff terminal, each through
// the console's device for the case's branch.
package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"ombud/server/admit"
	"ombud/server/privacy"
	"ombud/server/ratelimit"
	"ombud/server/storage"
	"ombud/shared/hlc"
	"ombud/shared/staff"
	"ombud/sync/hub"
)

// Prefix is where the console lives.
const Prefix = "/console/"

// Store is what the console needs of the server's storage.
type Store interface {
	hub.Log
	storage.Events
	storage.Cases
	storage.Console
	storage.Desk
	storage.Staff
	storage.Devices
	StartSession(ctx context.Context, s storage.Session) error
}

// Options configure a Handler. Zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// AcceptWithin is how long the customer has to answer a decision
	// (ISO 10002 8.9), from the server's SLA rules (sla.Config's
	// AcceptWithin): a decision recorded here carries its answer_by date
	// as the terminals' do; lifecycle.DefaultAcceptWithin when zero.
	AcceptWithin time.Duration
	// Key signs the CSRF tokens (derived from the server's secret).
	Key []byte
	// Secure marks the cookies Secure: set when the server is reached
	// over HTTPS (TLS, or a TLS proxy in front, --public-url https://...).
	Secure bool
	// IdleTTL ends a session unused this long (DefaultIdleTTL);
	// AbsoluteTTL ends any session this long after sign-in
	// (DefaultAbsoluteTTL).
	IdleTTL, AbsoluteTTL time.Duration
	// Lockout after wrong passwords or codes (staff.DefaultLockout).
	Lockout staff.Lockout
	// SignInRate and SignInBurst limit sign-in attempts per client
	// address (per minute; DefaultSignInRate, DefaultSignInBurst).
	SignInRate  float64
	SignInBurst int
	// ClientIP names a request's client (for rate limits and the audit
	// trail); the remote address when nil.
	ClientIP func(*http.Request) string
	// AtRisk is how far ahead a deadline marks a case at risk
	// (DefaultAtRisk).
	AtRisk time.Duration
	// TrackingURL is the public base of the customer's tracking page, for
	// links from the case page ("" uses the request's host).
	TrackingURL string
	// Issuer names the server in authenticator apps.
	Issuer string
	// PasswordCost is the argon2id cost of password hashes
	// (staff.DefaultCost); tests use staff.TestCost.
	PasswordCost staff.Cost
	Now          func() time.Time
	// Location dates the improvement figures' days and periods
	// (time.Local when nil); the server's --timezone.
	Location *time.Location
	// SLA and Dispatch are the SLA calendars and the dispatch rules the
	// administration pages edit (configs.go); nil: not administered here.
	SLA, Dispatch Configurable
	// Poll is how often the live feed checks the case projection after a
	// commit (DefaultPoll).
	Poll time.Duration
	// Privacy runs erasure and subject access (the privacy page); nil on
	// a database without the privacy storage.
	Privacy *privacy.Service
}

// Defaults.
const (
	DefaultIdleTTL     = 30 * time.Minute
	DefaultAbsoluteTTL = 12 * time.Hour
	DefaultSignInRate  = 10 // attempts per minute per client
	DefaultSignInBurst = 10
	DefaultAtRisk      = 8 * time.Hour
	DefaultPoll        = 300 * time.Millisecond
)

// Handler serves the console.
type Handler struct {
	store  Store
	opts   Options
	log    *slog.Logger
	tmpl   *template.Template
	clock  *hlc.Clock
	limit  *ratelimit.Limiter
	locks  sync.Map // complaint id -> *sync.Mutex
	devMu  sync.Mutex
	static map[string][]byte
	// done ends the live streams when the server shuts down
	// (http.Server.Shutdown waits for them, and does not cancel them).
	done      chan struct{}
	closeOnce sync.Once
	// dummy is verified against when the id is unknown or has no
	// password, so such a sign-in takes as long to refuse as a wrong
	// password (at the same cost).
	dummy string
}

// Close ends every live stream; the pages still work until the server
// stops.
func (h *Handler) Close() { h.closeOnce.Do(func() { close(h.done) }) }

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*
var staticFS embed.FS

//go:embed common-passwords.txt
var commonPasswords string

// New returns the console on store.
func New(store Store, opts Options) (*Handler, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if len(opts.Key) == 0 {
		return nil, errors.New("console: a key is required")
	}
	if opts.IdleTTL <= 0 {
		opts.IdleTTL = DefaultIdleTTL
	}
	if opts.AbsoluteTTL <= 0 {
		opts.AbsoluteTTL = DefaultAbsoluteTTL
	}
	if opts.Lockout.MaxFailures <= 0 {
		opts.Lockout = staff.DefaultLockout
	}
	if opts.SignInRate <= 0 {
		opts.SignInRate = DefaultSignInRate
	}
	if opts.SignInBurst <= 0 {
		opts.SignInBurst = DefaultSignInBurst
	}
	if opts.AtRisk <= 0 {
		opts.AtRisk = DefaultAtRisk
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Issuer == "" {
		opts.Issuer = "Ombud"
	}
	if !opts.PasswordCost.Valid() {
		opts.PasswordCost = staff.DefaultCost
	}
	if opts.ClientIP == nil {
		opts.ClientIP = func(r *http.Request) string { return r.RemoteAddr }
	}
	t, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	h := &Handler{
		store: store, opts: opts, log: opts.Logger.With("component", "console"), tmpl: t,
		clock:  hlc.New(opts.Now),
		limit:  ratelimit.New(opts.SignInRate/60, opts.SignInBurst, 100_000, opts.Now),
		static: map[string][]byte{},
		done:   make(chan struct{}),
	}
	if h.dummy, err = staff.HashPINWith("not anyone's password", opts.PasswordCost); err != nil {
		return nil, err
	}
	for _, name := range []string{"console.css", "console.js"} {
		b, err := staticFS.ReadFile("static/" + name)
		if err != nil {
			return nil, err
		}
		h.static[name] = b
	}
	return h, nil
}

// Route is one of the console's routes and who may use it: the test that
// tries every route as every role reads this list.
type Route struct {
	Method, Path string
	// Need is the least role that may use it; "" for routes open to
	// anyone (sign-in, static files), StagePassword ones for the second
	// step of a sign-in.
	Need  staff.Role
	Stage string // storage.StageFull or StagePassword; "" for public routes
	h     func(*Handler, http.ResponseWriter, *http.Request)
}

// Routes lists every route.
func Routes() []Route {
	full := storage.StageFull
	return []Route{
		{"GET", Prefix + "static/{name}", "", "", (*Handler).handleStatic},
		{"GET", Prefix + "signin", "", "", (*Handler).handleSignInPage},
		{"POST", Prefix + "signin", "", "", (*Handler).handleSignIn},
		{"GET", Prefix + "2fa", staff.Agent, storage.StagePassword, (*Handler).handleSecondPage},
		{"POST", Prefix + "2fa", staff.Agent, storage.StagePassword, (*Handler).handleSecond},
		{"POST", Prefix + "enrol", staff.Agent, storage.StagePassword, (*Handler).handleEnrol},
		{"POST", Prefix + "signout", staff.Agent, storage.StagePassword, (*Handler).handleSignOut},
		{"POST", Prefix + "signout-all", staff.Agent, full, (*Handler).handleSignOutAll},
		{"GET", Prefix + "{$}", staff.Agent, full, (*Handler).handleQueues},
		{"GET", Prefix + "search", staff.Agent, full, (*Handler).handleSearch},
		{"GET", Prefix + "case/{id}", staff.Agent, full, (*Handler).handleCase},
		{"POST", Prefix + "case/{id}/{action}", staff.Agent, full, (*Handler).handleAction},
		{"GET", Prefix + "events", staff.Agent, full, (*Handler).handleEvents},
		{"POST", Prefix + "views", staff.Agent, full, (*Handler).handleViewSave},
		{"GET", Prefix + "views/{view}", staff.Agent, full, (*Handler).handleViewOpen},
		{"POST", Prefix + "views/{view}/delete", staff.Agent, full, (*Handler).handleViewDelete},
		{"GET", Prefix + "audit", staff.Administrator, full, (*Handler).handleAudit},
		{"GET", Prefix + "improve", staff.Supervisor, full, (*Handler).handleImprove},
		{"GET", Prefix + "improve/export", staff.Supervisor, full, (*Handler).handleImproveExport},
		{"GET", Prefix + "recurring", staff.Supervisor, full, (*Handler).handleRecurring},
		{"POST", Prefix + "recurring/{kind}", staff.Supervisor, full, (*Handler).handleRecurringDecide},
		{"GET", Prefix + "actions", staff.Supervisor, full, (*Handler).handleActions},
		{"POST", Prefix + "actions", staff.Supervisor, full, (*Handler).handleActionOpen},
		{"GET", Prefix + "actions/export", staff.Supervisor, full, (*Handler).handleActionsExport},
		{"GET", Prefix + "actions/{id}", staff.Supervisor, full, (*Handler).handleActionPage},
		{"POST", Prefix + "actions/{id}/{step}", staff.Supervisor, full, (*Handler).handleActionStep},
		{"GET", Prefix + "admin/staff", staff.Administrator, full, (*Handler).handleStaffList},
		{"POST", Prefix + "admin/staff", staff.Administrator, full, (*Handler).handleStaffAdd},
		{"POST", Prefix + "admin/staff/{id}/{change}", staff.Administrator, full, (*Handler).handleStaffChange},
		{"GET", Prefix + "admin/devices", staff.Administrator, full, (*Handler).handleDevices},
		{"POST", Prefix + "admin/devices/enrol", staff.Administrator, full, (*Handler).handleEnrolCode},
		{"POST", Prefix + "admin/devices/{id}/revoke", staff.Administrator, full, (*Handler).handleDeviceRevoke},
		{"GET", Prefix + "privacy", staff.Supervisor, full, (*Handler).handlePrivacy},
		{"POST", Prefix + "privacy/erasure", staff.Supervisor, full, (*Handler).handleErasureRequest},
		{"POST", Prefix + "privacy/erasure/{id}/approve", staff.Supervisor, full, (*Handler).handleErasureApprove},
		{"POST", Prefix + "privacy/access", staff.Supervisor, full, (*Handler).handleSubjectAccess},
		{"GET", Prefix + "admin/audit/head", staff.Administrator, full, (*Handler).handleAuditHead},
		{"GET", Prefix + "admin/audit/verify", staff.Administrator, full, (*Handler).handleAuditVerify},
		{"GET", Prefix + "admin/branches", staff.Administrator, full, (*Handler).handleBranches},
		{"POST", Prefix + "admin/branches", staff.Administrator, full, (*Handler).handleBranchAdd},
		{"GET", Prefix + "admin/sla", staff.Administrator, full, (*Handler).handleSLAPage},
		{"POST", Prefix + "admin/sla", staff.Administrator, full, (*Handler).handleSLAPost},
		{"POST", Prefix + "admin/sla/hours", staff.Administrator, full, (*Handler).handleSLAHours},
		{"POST", Prefix + "admin/sla/holidays", staff.Administrator, full, (*Handler).handleSLAHoliday},
		{"POST", Prefix + "admin/sla/rollback", staff.Administrator, full, (*Handler).handleSLARollback},
		{"GET", Prefix + "admin/dispatch", staff.Administrator, full, (*Handler).handleDispatchPage},
		{"POST", Prefix + "admin/dispatch", staff.Administrator, full, (*Handler).handleDispatchPost},
		{"POST", Prefix + "admin/dispatch/rollback", staff.Administrator, full, (*Handler).handleDispatchRollback},
	}
}

// Register mounts the console on mux.
func (h *Handler) Register(mux interface{ Handle(string, http.Handler) }) {
	for _, r := range Routes() {
		f := r.h
		hf := func(w http.ResponseWriter, req *http.Request) { f(h, w, req) }
		var hd http.Handler = http.HandlerFunc(hf)
		if r.Need != "" {
			hd = h.authed(r, hf)
		}
		mux.Handle(r.Method+" "+r.Path, h.headers(hd))
	}
	mux.Handle(Prefix, h.headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.render(w, r, http.StatusNotFound, "error", h.errView(r, "There is no such page."))
	})))
}

// headers sets the console's CSP: the tracking page's, plus the one
// script and its event stream from this origin.
func (h *Handler) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) handleStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	b, ok := h.static[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	ct := "text/css; charset=utf-8"
	if strings.HasSuffix(name, ".js") {
		ct = "text/javascript; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Write(b)
}

// csrfToken is the form token of a session: an HMAC of its id, so it
// needs no storage and dies with the session.
func (h *Handler) csrfToken(sessionID string) string {
	m := hmac.New(sha256.New, h.opts.Key)
	m.Write([]byte("ombud/console/csrf/v1\x00" + sessionID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkForm checks a POST's CSRF token and origin.
func (h *Handler) checkForm(r *http.Request, sessionID string) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	got := r.PostFormValue("csrf")
	return got != "" && hmac.Equal([]byte(got), []byte(h.csrfToken(sessionID)))
}

// ConsoleScope is the scope a person sees at the console.
func ConsoleScope(a storage.ConsoleAccount) storage.Scope {
	sc := storage.Scope{Branches: []string{a.Branch}, Teams: a.Teams}
	for _, b := range a.Branches {
		if b == "*" {
			sc.All = true
		} else {
			sc.Branches = append(sc.Branches, b)
		}
	}
	return sc
}

// admitAccount is the account as the admission rules see it.
func admitAccount(a storage.ConsoleAccount) admit.Account {
	return admit.Account{Branch: a.Branch, Teams: a.Teams, Branches: a.Branches, Role: a.Role, RevokedAt: a.RevokedAt}
}

// lock serialises actions on one complaint within this server.
func (h *Handler) lock(id string) func() {
	m, _ := h.locks.LoadOrStore(id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

var staffCan = staff.Can
