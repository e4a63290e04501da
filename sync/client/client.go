// Package client is the device end of the sync protocol (docs/SYNC.md): one
// websocket to the server, over which it pushes the kiosk's outbox upstream
// (exactly-once in effect: the server deduplicates, the client resends
// whatever is not acknowledged) and stores the scopes it is granted
// downstream together with their cursors (resumable after any crash). It
// reconnects with full-jitter backoff until the server says reconnecting
// cannot help, and then stops and says why.
//
// The client owns the connection and its loop, never the data: everything
// durable is in the device's storage, which the device program provides
// through the small interfaces in store.go (kiosk/store is the kiosk's;
// sync/synctest checks any). Filing writes the outbox before anything is
// sent, so the kiosk works the same offline and the client only ever
// catches up. Filing calls Notify after its commit and never waits for the
// network.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"ombud/shared/hlc"
	"ombud/sync/wire"
)

// SyncPath is the server's sync endpoint (docs/SYNC.md section 1).
const SyncPath = "/api/v1/sync"

// Timing of one connection (docs/SYNC.md section 1, "Heartbeats").
const (
	// readTimeout: the server pings every 27 s, so 60 s without any frame
	// means the connection is dead even if TCP has not noticed.
	readTimeout  = 60 * time.Second
	writeTimeout = 10 * time.Second
	// closeGrace is how long a closing side waits for the peer's close frame:
	// closing the socket at once can reset TCP and lose the reason.
	closeGrace = 5 * time.Second
	// handshakeTimeout bounds the dial, TLS and the HTTP upgrade.
	handshakeTimeout = 15 * time.Second
	// statusSaveInterval throttles saving a status whose only change is
	// LastSuccess: every push_ack is a success, and each save is an fsync.
	statusSaveInterval = time.Second
	// statusSaveTimeout bounds one status save, also the last one after Run's
	// context is done.
	statusSaveTimeout = 5 * time.Second
)

// Attribute keys of the client's log records. Never log event data: it
// holds customers' complaints and contact details.
const (
	logKeyComponent = "component"
	logKeyURL       = "url"
	logKeyErr       = "err"
	logKeyDelay     = "delay"
	logKeyAttempt   = "attempt"
	logKeyCode      = "code"
	logKeyReason    = "reason"
	logKeySeq       = "seq"
	logKeyEvent     = "event"
	logKeyScope     = "scope"
	logKeyFrom      = "from"
	logKeyNext      = "next"
	logKeyCount     = "events"
	logKeyScopes    = "scopes"
	logKeyDeviceSeq = "device_seq"
	logKeyCarried   = "link_carries_bytes"
)

// Config configures a Client.
type Config struct {
	// URL is the sync endpoint (ws:// or wss://...SyncPath) or the server's
	// base URL (http:// or https://), from which the endpoint is derived.
	URL      string
	DeviceID string
	Secret   string
	// Scopes are the scopes to receive downstream, "branch:<id>" or
	// "team:<id>"; the server grants those the device's enrolment allows.
	// Empty: none, the device only sends (a customer kiosk needs nothing
	// back, and so keeps no other customer's complaint).
	Scopes   []string
	Software string // this build, e.g. "ombud-kiosk/1.4.2" ("ombud-kiosk" when empty)
	Logger   *slog.Logger
	// Dialer dials the websocket; nil means one with a 15 s handshake
	// timeout and the environment's proxy.
	Dialer  *websocket.Dialer
	Backoff Backoff
	// MaxBatch bounds the events per push (wire.MaxEventsPerBatch when zero
	// or larger); each push is also kept under wire.MaxFrameBytes.
	MaxBatch int
}

// Client syncs one device. Its methods are safe for concurrent use; Run runs
// at most once at a time.
type Client struct {
	st    Store
	clock *hlc.Clock
	cfg   Config
	log   *slog.Logger

	// wake carries Notify to whoever is waiting on the outbox: the session's
	// pusher, or Run between connections (to refresh Pending). One slot, so
	// Notify never blocks and many notifies coalesce into one look.
	wake chan struct{}
	// dirty tells the status saver there is something to save; one slot.
	dirty   chan struct{}
	running atomic.Bool

	flow flow // push sizes by what the link carries (flow.go)

	mu        sync.Mutex
	status    Status
	savedOK   time.Time // LastSuccess as last handed to the saver (throttle)
	rnd       *rand.Rand
	randMutex sync.Mutex
}

// New makes a client for the device whose data st holds. clock is the
// device's hybrid logical clock: the client folds the server's time into it.
func New(st Store, clock *hlc.Clock, cfg Config) *Client {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &websocket.Dialer{HandshakeTimeout: handshakeTimeout, Proxy: http.ProxyFromEnvironment}
	}
	if cfg.MaxBatch <= 0 || cfg.MaxBatch > wire.MaxEventsPerBatch {
		cfg.MaxBatch = wire.MaxEventsPerBatch
	}
	if cfg.Software == "" {
		cfg.Software = "ombud-kiosk"
	}
	cfg.Backoff = cfg.Backoff.withDefaults()
	return &Client{
		st: st, clock: clock, cfg: cfg,
		log:   cfg.Logger.With(logKeyComponent, "sync"),
		wake:  make(chan struct{}, 1),
		dirty: make(chan struct{}, 1),
		rnd:   rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
}

// SyncURL derives the sync endpoint from a server URL: http becomes ws,
// https becomes wss, and SyncPath is appended unless the path already ends
// with it.
func SyncURL(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("sync url: %w", err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("sync url %q: want http, https, ws or wss", server)
	}
	if u.Host == "" {
		return "", fmt.Errorf("sync url %q: no host", server)
	}
	if !strings.HasSuffix(u.Path, SyncPath) {
		u.Path = strings.TrimRight(u.Path, "/") + SyncPath
		u.RawPath = ""
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String(), nil
}

// Notify says new outbox entries exist. It never blocks: filing calls it
// after its commit, and a kiosk must never wait for the network.
func (c *Client) Notify() {
	select {
	case c.wake <- struct{}{}:
	default: // a wake-up is pending already; it will see these entries too
	}
}

// Status returns the current status. Safe from any goroutine; it reads
// memory only, so a screen may call it every frame.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Run connects, syncs and reconnects until ctx is done (then it returns nil)
// or reconnecting cannot help: then it returns a *GiveUpError whose message
// tells staff what to do (e.g. "revoked: ask staff to re-enrol this kiosk"),
// and Status says GaveUp. Filing goes on offline either way.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("sync client: Run is already running")
	}
	defer c.running.Store(false)

	// The saver outlives ctx by one last save, so `kiosk status` shows how
	// the client stopped.
	saveCtx, stopSaver := context.WithCancel(context.WithoutCancel(ctx))
	saverDone := make(chan struct{})
	go func() {
		defer close(saverDone)
		c.saveLoop(saveCtx)
	}()
	defer func() {
		stopSaver()
		<-saverDone
		c.save(context.WithoutCancel(ctx))
	}()

	endpoint, err := SyncURL(c.cfg.URL)
	if err == nil && (c.cfg.DeviceID == "" || c.cfg.Secret == "") {
		err = errors.New("sync client: device id and secret are required")
	}
	if err != nil {
		c.setStatus(func(s *Status) { s.State, s.LastError, s.CloseCode = GaveUp, err.Error(), 0 })
		return err
	}
	c.refreshPending(ctx)

	attempt := 0
	for {
		c.setStatus(func(s *Status) { s.State = Connecting })
		out, err := c.session(ctx, endpoint)
		if ctx.Err() != nil {
			c.setStatus(func(s *Status) { s.State = Offline })
			c.log.Info("sync stopped")
			return nil
		}
		var gu *GiveUpError
		if errors.As(err, &gu) {
			c.setStatus(func(s *Status) { s.State, s.LastError, s.CloseCode = GaveUp, gu.Error(), gu.Code })
			c.log.Error("sync gave up", logKeyCode, int(gu.Code), logKeyErr, err)
			return gu
		}
		var code wire.CloseCode
		if ce := (*closedError)(nil); errors.As(err, &ce) {
			code = ce.Code
		} else if lc := (*localClose)(nil); errors.As(err, &lc) {
			code = lc.Code
		}
		healthy := out.up >= c.cfg.Backoff.ResetAfter
		shrank := c.flow.ended(healthy, out.inflight, out.acked, out.firstBytes)
		c.setStatus(func(s *Status) {
			s.State, s.LastError, s.CloseCode = Offline, err.Error(), code
			if out.inflight > 0 && s.Pending > 0 {
				s.Drops++
			}
		})

		// A connection that moved the outbox forward resets the backoff:
		// this drop is news, not a pattern. If more is waiting, reconnect
		// at once (after a short jitter), and the same after a drop that
		// made the pushes smaller (a new try): on a link that drops every
		// few hundred kilobytes, waiting seconds after each connection
		// would spend more time waiting than sending. A server that is
		// down refuses the dial, which moves nothing, so the backoff
		// still grows for it.
		progressed := out.acked > 0
		if healthy || progressed {
			attempt = 0
		}
		c.randMutex.Lock()
		delay := c.cfg.Backoff.Delay(attempt, c.rnd)
		switch {
		case code == wire.CloseShuttingDown && attempt == 0:
			delay = c.cfg.Backoff.ShutdownDelay(c.rnd)
		case (progressed || shrank) && c.Status().Pending > 0:
			delay = c.cfg.Backoff.QuickDelay(c.rnd)
		}
		c.randMutex.Unlock()
		if !shrank {
			// Smaller pushes are a new try, not the same one failing again:
			// the backoff grows only when nothing changed.
			attempt++
		}
		c.log.Warn("sync connection ended, reconnecting", logKeyErr, err, logKeyDelay, delay, logKeyAttempt, attempt,
			logKeyCarried, c.flow.carriedEstimate())
		if !c.wait(ctx, delay) {
			c.setStatus(func(s *Status) { s.State = Offline })
			c.log.Info("sync stopped")
			return nil
		}
	}
}

// wait sleeps for d or until ctx is done (false). A Notify meanwhile only
// refreshes Pending: reconnecting early would defeat the backoff.
func (c *Client) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		case <-c.wake:
			c.refreshPending(ctx)
		}
	}
}

// refreshPending recounts the outbox. A failure keeps the old count: the
// number is for display, and the next ack or Notify recounts.
func (c *Client) refreshPending(ctx context.Context) {
	n, err := c.st.OutboxCount(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("count outbox", logKeyErr, err)
		}
		return
	}
	c.setStatus(func(s *Status) {
		switch {
		case n == 0:
			s.WaitingSince, s.Drops = time.Time{}, 0
		case s.WaitingSince.IsZero():
			s.WaitingSince = time.Now()
		}
		s.Pending = n
	})
}

// success records a successful exchange with the server.
func (c *Client) success() {
	c.setStatus(func(s *Status) { s.LastSuccess = time.Now() })
}

// setStatus changes the status and, when anything staff see in `kiosk
// status` changed, hands it to the saver. Pending is not saved (the outbox
// is its record), and a LastSuccess-only change is saved at most every
// statusSaveInterval.
func (c *Client) setStatus(change func(*Status)) {
	c.mu.Lock()
	before := c.status
	change(&c.status)
	after := c.status
	save := before.State != after.State || before.LastError != after.LastError ||
		before.CloseCode != after.CloseCode ||
		after.LastSuccess.Sub(c.savedOK) >= statusSaveInterval
	if save {
		c.savedOK = after.LastSuccess
	}
	c.mu.Unlock()
	if save {
		select {
		case c.dirty <- struct{}{}:
		default:
		}
	}
}

// saveLoop saves the status whenever it changed, one save at a time, so
// saves never overtake each other and a burst of changes costs one write.
func (c *Client) saveLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.dirty:
			c.save(ctx)
		}
	}
}

func (c *Client) save(ctx context.Context) {
	st := c.Status()
	ctx, cancel := context.WithTimeout(ctx, statusSaveTimeout)
	defer cancel()
	err := c.st.SaveSyncStatus(ctx, SavedStatus{
		State: st.State.String(), LastSuccess: st.LastSuccess,
		LastError: st.LastError, CloseCode: int(st.CloseCode),
	})
	if err != nil && ctx.Err() == nil {
		c.log.Warn("save sync status", logKeyErr, err)
	}
}
