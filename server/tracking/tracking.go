// Package tracking owns the customer's public view of a complaint: the
// phone-first tracking page at /t/{code} (the URL in the receipt's QR
// code), the code entry form at /t, the customer's actions on the page
// (add information, accept or refuse the answer, rate the handling) and
// the same status as JSON at /api/v1/track/{code}.
//
// The page is reachable by anyone who has the code, with no login, so it
// shows no personal data at all: no contact details, no staff names and
// not the complaint's description (the customer's own words at the kiosk,
// where names, account numbers and health details end up; the kiosk's
// privacy notice promises they stay with staff). It works without
// JavaScript (there is none), loads nothing from third parties, and sends
// strict security headers. Unknown and malformed codes get the same 404,
// so the page cannot be used to learn which codes exist; lookups are rate
// limited per client.
//
// What the page needs from the rest of the server is behind small
// interfaces: Store (storage), BranchNames, and Deadlines, the seam the
// case engine will fill with SLA dates and team names.
package tracking

import (
	"context"
	"embed"
	"errors"
	"hash/fnv"
	"html/template"
	"log/slog"
	"net/http"
	"ombud/shared/sla"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"ombud/server/httpapi"
	"ombud/server/ratelimit"
	"ombud/server/storage"
	"ombud/server/tracking/i18n"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
)

// Paths. PathPage is a prefix: /t/{code} and /t/{code}/{action}.
const (
	PathLookup = "/t"
	PathPage   = "/t/"
	PathAPI    = "/api/v1/track/"
	PathCSS    = "/t/track.css"
)

// Store is what the page needs from storage. ComplaintHead is the read
// every request makes; ComplaintEvents only runs when the case changed.
type Store interface {
	storage.Tracking
	ComplaintByCode(ctx context.Context, code string) (storage.Complaint, error)
	ComplaintEvents(ctx context.Context, complaintID string) ([]storage.StoredEvent, error)
	Append(ctx context.Context, events []event.Event) ([]storage.StoredEvent, error)
}

// BranchNames resolves a branch id to the name customers know it by
// (storage.Devices implements it).
type BranchNames interface {
	Branch(ctx context.Context, id string) (storage.Branch, error)
}

// Limits on what a customer types on the page, in characters. Round, since
// they are shown.
const (
	MaxInfo    = complaint.MaxDescription
	MaxReason  = complaint.MaxOutcome
	MaxComment = 500
	// maxForm bounds a POST body: the longest field in UTF-8 (4 bytes a
	// character), percent-encoded (3 bytes a byte), plus the hidden fields.
	maxForm = 12*MaxInfo + 4<<10
)

// Default rate limit: a person reading their page and acting on it needs a
// handful of requests a minute; 60 a minute with a burst of 20 allows
// reloads and a family sharing a phone network, and makes scanning the
// 40-bit random part of codes hopeless.
const (
	DefaultRatePerMinute   = 60
	DefaultBurst           = 20
	DefaultMissesPerMinute = 600
)

// Options configure a Handler. Zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// Secret keys the form tokens (see LoadOrCreateSecret); required.
	Secret []byte
	// Branches names branches; nil shows the branch id.
	Branches BranchNames
	// Deadlines gives the next step's date; nil is SLA with sla.Fallback
	// (2 and 15 business days) in Location.
	Deadlines Deadlines
	// Catalogs are the page's words; nil loads the embedded ones.
	Catalogs *i18n.Bundle
	// Location is the time zone dates are shown in; time.Local when nil.
	Location *time.Location
	// Now is the clock (tests move it).
	Now func() time.Time
	// RatePerMinute and Burst set the per-client token bucket shared by
	// every route but the stylesheet.
	RatePerMinute float64
	Burst         int
	// MissesPerMinute is the budget of look-ups of codes that exist
	// nowhere, over all clients together (DefaultMissesPerMinute). A
	// customer mistypes a code now and then; a scan of the code space from
	// many addresses misses all the time, and the per-client limit alone
	// would let it go on at thousands a minute. Spent, every look-up waits
	// until it refills, whoever asks.
	MissesPerMinute float64
	// ClientIP names the client for rate limiting; the default is the
	// connection's remote address. Behind a reverse proxy, set it to read
	// the proxy's header, or every client shares the proxy's bucket.
	ClientIP func(*http.Request) string
	// Origins are extra origins ("https://ombud.example.org") a POST may
	// come from besides the request's own Host, for a proxy that rewrites
	// Host.
	Origins []string
}

// Handler serves the tracking routes: Register mounts them on the server's
// router; ServeHTTP serves them alone (tests).
type Handler struct {
	store     Store
	logger    *slog.Logger
	secret    []byte
	branches  BranchNames
	deadlines Deadlines
	words     *i18n.Bundle
	loc       *time.Location
	now       func() time.Time
	clientIP  func(*http.Request) string
	limit     *ratelimit.Limiter
	misses    *ratelimit.Limiter // one key: the global budget of failed look-ups
	refused   atomic.Int64       // 429s since the last report (sampled logging)
	reported  atomic.Int64       // unix seconds of the last report
	origins   map[string]bool
	clock     *hlc.Clock
	pages     *template.Template
	css       []byte
	mux       *http.ServeMux

	cases caseCache
	// mark starts the sentinels of cached page shapes (cache.go): random,
	// so no text on a page can contain one.
	mark string
	// nonces counts the forms' nonces (csrf.go), from a random start.
	nonces atomic.Uint64
	macs   sync.Pool // of hash.Hash: HMAC-SHA256 keyed with secret

	// locks serialise actions on one complaint (read, check, append), so
	// two tabs cannot both accept or both rate. Striped: bounded memory.
	// One process only; replicas on one database would need the check in
	// the store's transaction.
	locks [64]sync.Mutex
}

//go:embed templates/*.html static/track.css
var assets embed.FS

// New returns the handler.
func New(store Store, opts Options) (*Handler, error) {
	if len(opts.Secret) < 16 {
		return nil, errors.New("tracking: a secret of at least 16 bytes is required")
	}
	h := &Handler{
		store: store, logger: opts.Logger, secret: opts.Secret, branches: opts.Branches,
		deadlines: opts.Deadlines, words: opts.Catalogs, loc: opts.Location, now: opts.Now,
		clientIP: opts.ClientIP, origins: map[string]bool{}, mux: http.NewServeMux(),
	}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	h.logger = h.logger.With("component", "tracking")
	if h.loc == nil {
		h.loc = time.Local
	}
	if h.words == nil {
		h.words = i18n.MustLoad()
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.deadlines == nil {
		cfg, err := sla.Fallback(2, 15, h.loc)
		if err != nil {
			return nil, err
		}
		h.deadlines = SLA{Config: cfg, Now: h.now}
	}
	if h.clientIP == nil {
		h.clientIP = httpapi.NewClients(nil).Key
	}
	for _, o := range opts.Origins {
		h.origins[o] = true
	}
	rate, burst := opts.RatePerMinute, opts.Burst
	if rate <= 0 {
		rate = DefaultRatePerMinute
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	h.limit = ratelimit.New(rate/60, burst, 100_000, h.now)
	misses := opts.MissesPerMinute
	if misses <= 0 {
		misses = DefaultMissesPerMinute
	}
	h.misses = ratelimit.New(misses/60, int(misses), 1, h.now)
	if err := h.initForms(); err != nil {
		return nil, err
	}
	h.clock = hlc.New(h.now)
	var err error
	if h.pages, err = template.ParseFS(assets, "templates/*.html"); err != nil {
		return nil, err
	}
	css, err := assets.ReadFile("static/track.css")
	if err != nil {
		return nil, err
	}

	h.css = css
	h.Register(h.mux)
	return h, nil
}

// Register mounts the tracking routes on a router (the server's one
// router, or the handler's own for ServeHTTP).
func (h *Handler) Register(mux interface{ Handle(string, http.Handler) }) {
	mux.Handle("GET "+PathCSS, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		// Not a case page: it may be cached, briefly, since its URL does
		// not change between versions.
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(h.css)
	}))
	mux.Handle("GET "+PathLookup, h.limited(h.handleLookup, false))
	mux.Handle("GET "+PathPage+"{code}", h.limited(h.handlePage, false))
	for _, a := range actions {
		mux.Handle("POST "+PathPage+"{code}/"+a.name, h.limited(h.action(a), false))
	}
	mux.Handle("GET "+PathAPI+"{code}", h.limited(h.handleAPI, true))
	// Anything else under our prefixes: the neutral page, not the mux's
	// text, so our headers and words apply.
	mux.Handle(PathPage, h.limited(func(w http.ResponseWriter, r *http.Request) { h.notFound(w, r) }, false))
	mux.Handle(PathAPI, h.limited(func(w http.ResponseWriter, r *http.Request) { h.apiNotFound(w, r) }, true))
}

// ServeHTTP implements http.Handler, with the security headers on every
// response.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	SecurityHeaders(h.mux).ServeHTTP(w, r)
}

// limited spends a rate-limit token before next, answering 429 (a plain
// page or JSON) with Retry-After when none is left.
func (h *Handler) limited(next http.HandlerFunc, api bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := h.limit.Allow(h.clientIP(r))
		if ok {
			next(w, r)
			return
		}
		h.tooMany(w, r, api, wait)
	})
}

// tooMany answers 429 (a plain page or JSON) with Retry-After. Refusals are
// counted and reported in one log line a minute at most: a flood must not
// flood the log too.
func (h *Handler) tooMany(w http.ResponseWriter, r *http.Request, api bool, wait time.Duration) {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	n := h.refused.Add(1)
	now := h.now().Unix()
	if last := h.reported.Load(); now-last >= 60 && h.reported.CompareAndSwap(last, now) {
		h.refused.Add(-n)
		h.logger.Info("rate limited", "refused", n, "since_s", min(now-last, 60), "path_kind", pathKind(api))
	}
	lang := h.lang(r)
	msg := h.words.T(lang, "limited.body", "seconds", secs)
	if api {
		h.apiError(w, r, httpapi.CodeRateLimited, msg)
		return
	}
	h.render(w, http.StatusTooManyRequests, "lookup", h.baseView(lang, h.words.T(lang, "limited.title"), msg))
}

func pathKind(api bool) string {
	if api {
		return "api"
	}
	return "page"
}

// lock takes the stripe of a complaint's lock.
func (h *Handler) lock(complaintID string) func() {
	f := fnv.New32a()
	f.Write([]byte(complaintID))
	m := &h.locks[f.Sum32()%uint32(len(h.locks))]
	m.Lock()
	return m.Unlock
}

// SecurityHeaders sets the headers every response of the server should
// carry; the server wraps its whole handler in it, and the tracking routes
// have it regardless. The CSP allows exactly what the page uses: its own
// stylesheet, data: images, forms to itself; no scripts, no frames, no
// base tag. Referrer-Policy no-referrer because the tracking code is in
// the URL and must not travel to anyone in a Referer. HSTS only on TLS
// connections: over plain HTTP a browser ignores it anyway, and a TLS
// proxy in front sets its own.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY") // for browsers without frame-ancestors
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=63072000")
		}
		next.ServeHTTP(w, r)
	})
}
