// Package directory keeps a staff terminal's copy of its branch's staff
// directory (shared/staff) current: it fetches the directory from the
// central server with the device's credential, at start, every Interval and
// when woken, and stores it (Store; kiosk/store/signin is the terminal's)
// so sign-in works offline with what was last received. A revocation reaches the terminal
// with the next fetch, and from then on refuses that account even offline.
// Every answer (200 or 304) is also the terminal's contact with the
// server, recorded with the bound on offline sign-in the server states
// (HeaderMaxOffline): past it, the terminal signs nobody in offline.
package directory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"ombud/shared/staff"
)

// Path is the server's directory endpoint (docs/API.md), relative to its
// base URL.
const Path = "/api/v1/staff/directory"

// DefaultInterval is how often the directory is fetched: a revoked account
// can sign in at an online terminal for at most about this long.
const DefaultInterval = 30 * time.Second

// HeaderMaxOffline is the directory answer's header that states, in
// seconds, how long after its last contact with the server a terminal may
// go on signing people in offline (the server's --max-offline).
const HeaderMaxOffline = "Ombud-Max-Offline"

// Store keeps the directory this terminal signs staff in against;
// *signin.Accounts (kiosk/store/signin) is the real one.
type Store interface {
	// Directory returns the stored directory: Version 0 when none.
	Directory(ctx context.Context) (staff.Directory, error)
	// SaveDirectory replaces the stored directory with d unless the stored
	// one is newer (then replaced is false).
	SaveDirectory(ctx context.Context, d staff.Directory) (replaced bool, err error)
	// Reached records that the server answered at at, stating maxOffline
	// (0 when it stated none): the bound on offline sign-in runs from the
	// last such contact.
	Reached(ctx context.Context, at time.Time, maxOffline time.Duration) error
}

// Config configures a Fetcher.
type Config struct {
	ServerURL     string // the server's base URL, http(s)://host[:port][/prefix]
	Authorization string // the device's Authorization header value (enrol.Credential.AuthorizationHeader)
	Branch        string // the terminal's branch: a directory of another branch is refused
	// Teams are a team terminal's teams: its directory is theirs (their
	// accounts, whatever their branch), and one for other teams or for a
	// branch is refused. Empty for a branch's staff terminal.
	Teams      []string
	Store      Store
	Interval   time.Duration // DefaultInterval when zero
	HTTPClient *http.Client  // a client with a 15 s timeout when nil
	Logger     *slog.Logger
}

// Fetcher fetches and stores the directory. Safe for concurrent use.
type Fetcher struct {
	cfg  Config
	url  string
	log  *slog.Logger
	wake chan struct{}
	// version is the stored directory's version, sent as If-None-Match so an
	// unchanged directory costs a 304.
	version atomic.Int64
	last    atomic.Pointer[Status]
}

// Status is the outcome of the last fetch, for the staff screen.
type Status struct {
	At      time.Time
	Err     string // "" on success
	Version int64
}

// Errors a fetch can end in besides transport failures.
var (
	ErrRefused = errors.New("the server refused this terminal's credential")
	ErrInvalid = errors.New("the server sent an unusable staff directory")
)

// New makes a Fetcher.
func New(cfg Config) (*Fetcher, error) {
	u, err := url.Parse(cfg.ServerURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("directory: server URL %q: want http(s)://host", cfg.ServerURL)
	}
	if cfg.Store == nil || cfg.Branch == "" || cfg.Authorization == "" {
		return nil, errors.New("directory: store, branch and credential are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Fetcher{
		cfg:  cfg,
		url:  strings.TrimSuffix(u.String(), "/") + Path,
		log:  cfg.Logger.With("component", "directory"),
		wake: make(chan struct{}, 1),
	}
	d, err := cfg.Store.Directory(context.Background())
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	f.version.Store(d.Version)
	return f, nil
}

// Notify asks for a fetch now (e.g. when sync reconnects); never blocks.
func (f *Fetcher) Notify() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Status returns the last fetch's outcome; zero before the first.
func (f *Fetcher) Status() Status {
	if s := f.last.Load(); s != nil {
		return *s
	}
	return Status{}
}

// Run fetches at once, then every Interval (with a little jitter so a
// branch's terminals do not ask in step) and on Notify, until ctx ends.
// Failures are logged and retried at the next tick: the stored directory
// keeps sign-in working meanwhile.
func (f *Fetcher) Run(ctx context.Context) {
	for {
		if _, err := f.Fetch(ctx); err != nil && ctx.Err() == nil {
			f.log.Warn("staff directory not fetched", "err", err)
		}
		jitter := time.Duration(rand.Int64N(int64(f.cfg.Interval)/5 + 1))
		t := time.NewTimer(f.cfg.Interval - f.cfg.Interval/10 + jitter)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-f.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// Fetch gets the directory once and stores it if it is newer than the one
// held. changed reports whether the stored directory was replaced.
func (f *Fetcher) Fetch(ctx context.Context) (changed bool, err error) {
	defer func() {
		s := &Status{At: time.Now(), Version: f.version.Load()}
		if err != nil {
			s.Err = err.Error()
		}
		f.last.Store(s)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", f.cfg.Authorization)
	req.Header.Set("Accept", "application/json")
	if v := f.version.Load(); v > 0 {
		req.Header.Set("If-None-Match", `"`+strconv.FormatInt(v, 10)+`"`)
	}
	resp, err := f.cfg.HTTPClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("fetch staff directory: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return false, f.reached(ctx, resp)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return false, fmt.Errorf("%w (HTTP %d)", ErrRefused, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return false, fmt.Errorf("fetch staff directory: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, staff.MaxDirectoryBytes+1))
	if err != nil {
		return false, fmt.Errorf("fetch staff directory: %w", err)
	}
	d, err := staff.DecodeDirectory(body)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	switch {
	case len(f.cfg.Teams) > 0:
		if !sameSet(d.Teams, f.cfg.Teams) {
			return false, fmt.Errorf("%w: it is for teams %q, this terminal serves %q", ErrInvalid, d.Teams, f.cfg.Teams)
		}
	case d.Branch != f.cfg.Branch:
		return false, fmt.Errorf("%w: it is for branch %q, this terminal is at %q", ErrInvalid, d.Branch, f.cfg.Branch)
	}
	replaced, err := f.cfg.Store.SaveDirectory(ctx, d)
	if err != nil {
		return false, fmt.Errorf("store staff directory: %w", err)
	}
	if !replaced && d.Version < f.version.Load() {
		// A server restored from a backup counts versions from lower down:
		// its revocations would never reach this terminal, so say so.
		return false, fmt.Errorf("%w: its version %d is older than the %d held here (server restored from a backup?)",
			ErrInvalid, d.Version, f.version.Load())
	}
	if replaced {
		f.version.Store(d.Version)
		f.log.Info("staff directory updated", "version", d.Version, "accounts", len(d.Accounts))
	}
	// A directory of a lower version (above) is not a contact: that
	// server's word on revocations is not to be trusted.
	return replaced, f.reached(ctx, resp)
}

// reached records the contact a 200 or 304 is, with the bound the answer
// states; a missing or unreadable one is stored as the terminal's default.
func (f *Fetcher) reached(ctx context.Context, resp *http.Response) error {
	var bound time.Duration
	if v := resp.Header.Get(HeaderMaxOffline); v != "" {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err == nil && secs > 0 && secs <= int64(maxBound/time.Second) {
			bound = time.Duration(secs) * time.Second
		} else {
			f.log.Warn("unreadable bound on offline sign-in from the server", "value", v)
		}
	}
	if err := f.cfg.Store.Reached(ctx, time.Now(), bound); err != nil {
		return fmt.Errorf("record the contact with the server: %w", err)
	}
	return nil
}

// maxBound is the longest bound on offline sign-in taken from a server:
// a year, far above any sensible --max-offline, and far from overflowing.
const maxBound = 366 * 24 * time.Hour

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
