// Package retentionrules keeps a device's copy of the server's retention
// policy (shared/retention) current, as kiosk/slarules does the SLA rules:
// it fetches the policy from the central server with the device's
// credential (GET /api/v1/retention), at start, every Interval and when
// woken, stores it (Store; kiosk/store is the device's) and hands out the
// policy in force. The privacy notice a kiosk shows customers, and the one
// a staff terminal reads to them, is made from Current in every language,
// so what the device promises is the rule the server enforces, offline
// too with what was last received. Before the first answer a device uses
// its fallback (its --retention-config, else the default).
package retentionrules

import (
	"bytes"
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

	"ombud/shared/retention"
)

// Path is the server's retention policy endpoint (docs/API.md).
const Path = "/api/v1/retention"

// DefaultInterval is how often the policy is fetched.
const DefaultInterval = 5 * time.Minute

// MaxBytes bounds an answer: a policy is a few hundred bytes.
const MaxBytes = 64 << 10

// Store keeps the policy last received.
type Store interface {
	// RetentionPolicy returns the saved policy; nil when none.
	RetentionPolicy(ctx context.Context) ([]byte, error)
	SaveRetentionPolicy(ctx context.Context, body []byte, at time.Time) error
}

// Config configures Rules.
type Config struct {
	ServerURL     string // the server's base URL; "" for a device that is not enrolled (fallback only)
	Authorization string // the device's Authorization header value
	Store         Store
	// Fallback is used until the server's policy has been received once.
	Fallback   retention.Policy
	Interval   time.Duration // DefaultInterval when zero
	HTTPClient *http.Client  // a client with a 15 s timeout when nil
	Logger     *slog.Logger
}

// Rules is the policy in force and the fetcher that keeps it current.
// Safe for concurrent use.
type Rules struct {
	cfg        Config
	url        string
	log        *slog.Logger
	wake       chan struct{}
	current    atomic.Pointer[retention.Policy]
	fromServer atomic.Bool
}

// ErrInvalid is an answer that is not a usable policy: the policy in
// force stays.
var ErrInvalid = errors.New("the server sent an unusable retention policy")

// New loads the stored policy (or takes the fallback) and returns Rules.
// A stored policy that no longer parses is logged and replaced by the
// fallback until the next fetch.
func New(ctx context.Context, cfg Config) (*Rules, error) {
	if cfg.Store == nil {
		return nil, errors.New("retentionrules: a store is required")
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
	r := &Rules{cfg: cfg, log: cfg.Logger.With("component", "retention-policy"), wake: make(chan struct{}, 1)}
	if cfg.ServerURL != "" {
		u, err := url.Parse(cfg.ServerURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("retentionrules: server URL %q: want http(s)://host", cfg.ServerURL)
		}
		r.url = strings.TrimSuffix(u.String(), "/") + Path
	}
	fb := cfg.Fallback
	r.current.Store(&fb)
	body, err := cfg.Store.RetentionPolicy(ctx)
	if err != nil {
		return nil, fmt.Errorf("retentionrules: %w", err)
	}
	if body != nil {
		p, err := retention.Parse(bytes.NewReader(body))
		if err != nil {
			r.log.Error("stored retention policy unreadable: the fallback is used until the server answers", "err", err)
		} else {
			r.current.Store(&p)
			r.fromServer.Store(true)
		}
	}
	return r, nil
}

// Current returns the policy in force.
func (r *Rules) Current() retention.Policy { return *r.current.Load() }

// FromServer reports whether the policy in force came from the server.
func (r *Rules) FromServer() bool { return r.fromServer.Load() }

// Notify asks for a fetch now; never blocks.
func (r *Rules) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run fetches at once, then every Interval (jittered) and on Notify,
// until ctx ends. Failures are logged and retried: the policy in force
// stays meanwhile. A device that is not enrolled returns at once.
func (r *Rules) Run(ctx context.Context) {
	if r.url == "" {
		return
	}
	for {
		if _, err := r.Fetch(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("retention policy not fetched", "err", err)
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

// Fetch gets the policy once and, when it differs from the one in force,
// stores it and puts it in force. changed reports that.
func (r *Rules) Fetch(ctx context.Context) (changed bool, err error) {
	if r.url == "" {
		return false, errors.New("retentionrules: not enrolled: no server to ask")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", r.cfg.Authorization)
	req.Header.Set("Accept", "application/json")
	cur := r.Current()
	if r.fromServer.Load() {
		req.Header.Set("If-None-Match", `"`+cur.Digest()+`"`)
	}
	resp, err := r.cfg.HTTPClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("fetch retention policy: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return false, nil
	case http.StatusOK:
	default:
		return false, fmt.Errorf("fetch retention policy: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBytes+1))
	if err != nil {
		return false, fmt.Errorf("fetch retention policy: %w", err)
	}
	if len(body) > MaxBytes {
		return false, fmt.Errorf("%w: over %d bytes", ErrInvalid, MaxBytes)
	}
	p, err := retention.Parse(bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if r.fromServer.Load() && p.Digest() == cur.Digest() {
		return false, nil
	}
	if err := r.cfg.Store.SaveRetentionPolicy(ctx, body, time.Now()); err != nil {
		return false, fmt.Errorf("store retention policy: %w", err)
	}
	r.current.Store(&p)
	r.fromServer.Store(true)
	r.log.Info("retention policy updated", "policy", p.String())
	return true, nil
}
