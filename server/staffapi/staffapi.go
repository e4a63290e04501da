// Package staffapi owns the staff directory endpoint (docs/API.md): an
// enrolled staff terminal fetches its own branch's staff accounts, PIN
// hashes included, so it can sign people in while offline. The device's
// branch and role come from its credential, never from the request, so no
// device can read another branch's accounts, and a customer kiosk none.
//
// Terminals poll it; the version-based ETag lets an unchanged directory
// cost one indexed read and an empty 304.
package staffapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"ombud/server/admit"
	"ombud/server/enrol"
	"ombud/server/httpapi"
	"ombud/server/ratelimit"
	"ombud/server/storage"
	"ombud/shared/device"
	"ombud/shared/staff"
)

// PathDirectory is where the directory is served.
const PathDirectory = "/api/v1/staff/directory"

// Store is what the endpoints need: devices, to authenticate the caller,
// the directory of the caller's branch, the accounts to check a PIN
// against (and rehash), and the sessions and the lock-out count.
type Store interface {
	storage.Devices
	StaffDirectory(ctx context.Context, branch string) (staff.Directory, error)
	TeamDirectory(ctx context.Context, teams []string) (staff.Directory, error)
	StaffAccount(ctx context.Context, id string) (staff.Account, error)
	SetStaffPIN(ctx context.Context, id, pinHash string, at time.Time) error
	storage.Sessions
}

// The endpoint answers errors in the server's JSON format (package
// httpapi): unauthenticated (no, malformed, unknown or wrong credential),
// revoked (the device's enrolment was revoked), forbidden (the device is
// not a staff terminal), method_not_allowed,
// unavailable (the store failed: try again later) and internal (the stored
// directory is not valid).

// Log attribute keys.
const (
	logDevice   = "device"
	logBranch   = "branch"
	logVersion  = "version"
	logAccounts = "accounts"
	logStatus   = "status"
	logErr      = "err"
)

// Handler serves PathDirectory and PathSessions.
type Handler struct {
	store Store
	log   *slog.Logger
	opts  Options
	// checks bounds the PIN checks running at once: each takes the hash's
	// memory (64 MiB by default), so a burst of sign-ins must queue, not
	// exhaust the server.
	checks chan struct{}
	limit  *ratelimit.Limiter // sign-in attempts per device
}

// Options configure a Handler. Zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// Lockout locks an account after wrong PINs at online sign-in
	// (staff.DefaultLockout), as the terminals do offline.
	Lockout staff.Lockout
	// SessionTTL is how long a confirmed sign-in covers the actions of
	// its terminal (DefaultSessionTTL).
	SessionTTL time.Duration
	// PINCost is what a PIN hash should cost: a right PIN whose hash
	// costs less (or is PBKDF2) is rehashed at it.
	PINCost staff.Cost
	// MaxOffline is the server's bound on offline sign-in (admit.Policy),
	// told to terminals with the directory (HeaderMaxOffline).
	MaxOffline time.Duration
	Now        func() time.Time
}

// HeaderMaxOffline carries, in seconds, how long after its last contact
// with the server a terminal may still sign people in against its copy of
// the directory: the server refuses offline actions older than that.
const HeaderMaxOffline = "Ombud-Max-Offline"

// DefaultSessionTTL is a working day and a half: a terminal signs its
// staff in again at least each morning.
const DefaultSessionTTL = 12 * time.Hour

// New returns the handler with default options; a nil logger discards.
func New(store Store, logger *slog.Logger) *Handler {
	return NewWith(store, Options{Logger: logger})
}

// NewWith returns the handler.
func NewWith(store Store, opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Lockout.MaxFailures <= 0 {
		opts.Lockout = staff.DefaultLockout
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if !opts.PINCost.Valid() {
		opts.PINCost = staff.DefaultCost
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxOffline <= 0 {
		opts.MaxOffline = admit.DefaultMaxOffline
	}
	return &Handler{
		store: store, opts: opts, log: opts.Logger.With("component", "staff-api"),
		checks: make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),
		// A person types a PIN a few times a minute at most; this lets a
		// shared terminal's morning rush through and stops a script.
		limit: ratelimit.New(1, 20, 10000, opts.Now),
	}
}

// Register mounts the handler's routes on the server's router.
func (h *Handler) Register(mux interface{ Handle(string, http.Handler) }) {
	mux.Handle(PathDirectory, h)
	mux.Handle(PathSessions, h)
	mux.Handle(PathSessions+"/", h)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != PathDirectory {
		h.sessions(w, r)
		return
	}
	h.directory(w, r)
}

func (h *Handler) directory(w http.ResponseWriter, r *http.Request) {
	// The answer depends on the credential and changes at any time: no
	// cache may keep it (ETag revalidation is the client's own).
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.fail(w, r, httpapi.CodeMethodNotAllowed, "Method "+r.Method+" is not allowed here; use GET.", nil)
		return
	}
	dev, ok := h.terminal(w, r)
	if !ok {
		return
	}
	logger := h.log.With(logDevice, dev.ID, logBranch, dev.Branch)
	d, err := directoryOf(r.Context(), h.store, dev)
	if err != nil {
		h.unavailable(w, r, "staff directory: read failed", err, logDevice, dev.ID, logBranch, dev.Branch)
		return
	}
	// A terminal refuses an invalid directory whole (staff.DecodeDirectory):
	// better the operator sees why here than every terminal stays stale.
	if err := d.Validate(); err != nil {
		logger.Error("staff directory: stored accounts are not valid", logErr, err)
		h.fail(w, r, httpapi.CodeInternal, "The staff directory could not be made: the server's log says why.", err)
		return
	}
	etag := `"` + strconv.FormatInt(d.Version, 10) + `"`
	w.Header().Set("ETag", etag)
	// The bound on offline sign-in, on every answer (304s too), so a
	// terminal that keeps hearing from the server knows how long it may go
	// on signing people in without it.
	w.Header().Set(HeaderMaxOffline, strconv.FormatInt(int64(h.opts.MaxOffline/time.Second), 10))
	if matches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		logger.Debug("staff directory unchanged", logVersion, d.Version, logStatus, http.StatusNotModified)
		return
	}
	body, err := json.Marshal(d)
	if err != nil {
		logger.Error("staff directory: encode", logErr, err)
		h.fail(w, r, httpapi.CodeInternal, "The staff directory could not be made: the server's log says why.", err)
		return
	}
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body) // the client hung up: nothing to do
	}
	// Never the accounts: the log holds no PIN hashes and no names.
	logger.Debug("staff directory sent", logVersion, d.Version, logAccounts, len(d.Accounts), logStatus, http.StatusOK)
}

// terminal authenticates the request's device credential and checks that
// it is a staff terminal; otherwise it answers and reports false.
func (h *Handler) terminal(w http.ResponseWriter, r *http.Request) (storage.Device, bool) {
	dev, err := enrol.Authenticate(r.Context(), h.store, r.Header.Get("Authorization"))
	switch {
	case err == nil:
	case errors.Is(err, enrol.ErrRevoked):
		// Logged with the cause; the device is told what staff can do.
		h.log.Info("staff api: device revoked", logErr, err)
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		h.fail(w, r, httpapi.CodeRevoked,
			"This device's enrolment was revoked: enrol it again with a new code from the server's operator.", err)
		return dev, false
	case refusal(err):
		h.log.Info("staff api: credential refused", logErr, err)
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		h.fail(w, r, httpapi.CodeUnauthenticated, "Device credential not accepted: enrol this device.", err)
		return dev, false
	default:
		h.unavailable(w, r, "staff api: authenticate failed", err)
		return dev, false
	}
	if dev.Role != device.Staff && dev.Role != device.Team {
		// A customer kiosk stands in a public lobby: whoever takes it must
		// not find the PIN hashes of the branch's staff on its disk, nor
		// sign anyone in with it.
		h.log.Info("staff api: refused to a device that is not a staff or team terminal", logDevice, dev.ID, "role", string(dev.Role))
		h.fail(w, r, httpapi.CodeForbidden, "This device is not a staff terminal: only staff terminals serve staff.", nil)
		return dev, false
	}
	return dev, true
}

// directoryOf is the directory a terminal signs people in with: its
// branch's staff, or, for a team terminal, its teams'.
func directoryOf(ctx context.Context, st Store, dev storage.Device) (staff.Directory, error) {
	if dev.Role == device.Team {
		return st.TeamDirectory(ctx, dev.Teams)
	}
	return st.StaffDirectory(ctx, dev.Branch)
}

// mayServe reports whether account a signs in at terminal dev: a branch's
// staff at its staff terminals, a team's at its team terminals.
func mayServe(dev storage.Device, a staff.Account) bool {
	if dev.Role == device.Team {
		return a.InTeam(dev.Teams)
	}
	return a.Branch == dev.Branch
}

// unavailable answers 503 for a failure to check or read, which the device
// should retry, unlike a refusal.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, msg string, err error, attrs ...any) {
	h.log.Error(msg, append(attrs, logErr, err)...)
	httpapi.WriteError(w, r, nil, &httpapi.Error{Code: httpapi.CodeUnavailable, RetryAfter: 5 * time.Second, Err: err,
		Message: "The server could not read the staff directory; try again later."})
}

// fail answers in the server's JSON error format; the detail is logged
// where the failure was met.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, code httpapi.Code, msg string, err error) {
	httpapi.WriteError(w, r, nil, &httpapi.Error{Code: code, Message: msg, Err: err})
}

// refusal reports whether an Authenticate error refuses the credential
// (401) rather than reporting a failure to check it (503), as the sync hub
// decides.
func refusal(err error) bool {
	var ee *enrol.Error
	if errors.As(err, &ee) {
		return true
	}
	switch storage.ErrorCode(err) {
	case storage.NotFound, storage.Revoked, storage.Invalid:
		return true
	}
	return false
}

// matches reports whether an If-None-Match value names etag: "*", or a
// comma-separated list of entity tags, weak ones compared weakly (RFC 9110
// 13.1.2).
func matches(ifNoneMatch, etag string) bool {
	for tag := range strings.SplitSeq(ifNoneMatch, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}
