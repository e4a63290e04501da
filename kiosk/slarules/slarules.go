// Package slarules keeps a device's copy of the server's SLA rules
// (shared/sla) current: it fetches them from the central server with the
// device's credential, at start, every Interval and when woken, stores
// them (Store; kiosk/store is the device's) and hands out the rules in
// force. Receipts (filing) and the staff queue (kiosk/store/cases) date
// cases with Current, so they show the dates the server's case engine and
// the tracking page compute, and go on doing so offline with what was last
// received. Before the first answer a device uses its fallback
// (sla.Fallback from its --ack-days, --respond-days and --timezone).
package slarules

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"ombud/shared/sla"
)

// Path is the server's SLA rules endpoint (docs/API.md).
const Path = "/api/v1/sla"

// DefaultInterval is how often the rules are fetched: an edit on the
// server reaches receipts within about this long.
const DefaultInterval = 5 * time.Minute

// MaxBytes bounds an answer: a configuration with every holiday of a
// decade for a hundred branches is far smaller.
const MaxBytes = 1 << 20

// Store keeps the rules last received.
type Store interface {
	// SLARules returns the saved rules file; nil when none.
	SLARules(ctx context.Context) ([]byte, error)
	SaveSLARules(ctx context.Context, body []byte, at time.Time) error
}

// Config configures Rules.
type Config struct {
	ServerURL     string // the server's base URL; "" for a device that is not enrolled (fallback only)
	Authorization string // the device's Authorization header value
	Store         Store
	// Fallback is used until the server's rules have been received once.
	Fallback   *sla.Config
	Interval   time.Duration // DefaultInterval when zero
	HTTPClient *http.Client  // a client with a 15 s timeout when nil
	// OnChange is called (from Run's goroutine) after new rules are
	// stored, e.g. to re-date the staff queue.
	OnChange func(ctx context.Context)
	Logger   *slog.Logger
}

// Rules is the rules in force and the fetcher that keeps them current.
// Safe for concurrent use.
type Rules struct {
	cfg     Config
	url     string
	log     *slog.Logger
	wake    chan struct{}
	current atomic.Pointer[sla.Config]
	// fromServer is set once rules from the server are in force.
	fromServer atomic.Bool
}

// ErrInvalid is an answer that is not a usable configuration: the rules
// in force stay.
var ErrInvalid = errors.New("the server sent unusable SLA rules")

// New loads the stored rules (or takes the fallback) and returns Rules.
// A stored file that no longer parses (a newer server's field, a bad
// disk) is logged and replaced by the fallback until the next fetch.
func New(ctx context.Context, cfg Config) (*Rules, error) {
	if cfg.Store == nil || cfg.Fallback == nil {
		return nil, errors.New("slarules: a store and a fallback are required")
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
	r := &Rules{cfg: cfg, log: cfg.Logger.With("component", "sla-rules"), wake: make(chan struct{}, 1)}
	if cfg.ServerURL != "" {
		u, err := url.Parse(cfg.ServerURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("slarules: server URL %q: want http(s)://host", cfg.ServerURL)
		}
		r.url = strings.TrimSuffix(u.String(), "/") + Path
	}
	r.current.Store(cfg.Fallback)
	body, err := cfg.Store.SLARules(ctx)
	if err != nil {
		return nil, fmt.Errorf("slarules: %w", err)
	}
	if body != nil {
		c, err := sla.Parse(body)
		if err != nil {
			r.log.Error("stored SLA rules unreadable: the fallback is used until the server answers", "err", err)
		} else {
			r.current.Store(c)
			r.fromServer.Store(true)
		}
	}
	return r, nil
}

// Current returns the rules in force; never nil.
func (r *Rules) Current() *sla.Config { return r.current.Load() }

// FromServer reports whether the rules in force came from the server.
func (r *Rules) FromServer() bool { return r.fromServer.Load() }

// Notify asks for a fetch now; never blocks.
func (r *Rules) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run fetches at once, then every Interval (jittered) and on Notify,
// until ctx ends. Failures are logged and retried: the rules in force
// stay meanwhile. A device that is not enrolled returns at once.
func (r *Rules) Run(ctx context.Context) {
	if r.url == "" {
		return
	}
	for {
		changed, err := r.Fetch(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.Warn("SLA rules not fetched", "err", err)
		case changed && r.cfg.OnChange != nil:
			r.cfg.OnChange(ctx)
		}
		jitter := time.Duration(rand.Int64N(int64(r.cfg.Interval)/5 + 1))
		t := time.NewTimer(r.cfg.Interval - r.cfg.Interval/10 + jitter)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// Fetch gets the rules once and, when they differ from those in force,
// stores them and puts them in force. changed reports that.
func (r *Rules) Fetch(ctx context.Context) (changed bool, err error) {
	if r.url == "" {
		return false, errors.New("slarules: not enrolled: no server to ask")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", r.cfg.Authorization)
	req.Header.Set("Accept", "application/json")
	cur := r.current.Load()
	if r.fromServer.Load() {
		req.Header.Set("If-None-Match", `"`+cur.Digest()+`"`)
	}
	resp, err := r.cfg.HTTPClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("fetch SLA rules: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return false, nil
	case http.StatusOK:
	default:
		return false, fmt.Errorf("fetch SLA rules: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBytes+1))
	if err != nil {
		return false, fmt.Errorf("fetch SLA rules: %w", err)
	}
	if len(body) > MaxBytes {
		return false, fmt.Errorf("%w: over %d bytes", ErrInvalid, MaxBytes)
	}
	c, err := sla.Parse(body)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if r.fromServer.Load() && c.Digest() == cur.Digest() {
		return false, nil
	}
	if err := r.cfg.Store.SaveSLARules(ctx, body, time.Now()); err != nil {
		return false, fmt.Errorf("store SLA rules: %w", err)
	}
	r.current.Store(c)
	r.fromServer.Store(true)
	r.log.Info("SLA rules updated", "digest", c.Digest())
	return true, nil
}
