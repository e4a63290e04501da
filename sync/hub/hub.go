// Package hub is the server end of the sync protocol (docs/SYNC.md): it owns
// the device websockets on /api/v1/sync, their lifecycles and queues, and the
// translation between protocol messages and the event log. Upstream it hands
// each push to the log (one transaction) and answers per event (push_reject,
// then push_ack) only after the commit; downstream it streams each scope a
// device may have and asks for, from the device's cursor, with a window of
// unacknowledged batches, woken by the log's commit feed.
//
// The hub depends on nothing of the server: it declares what it needs, a Log
// and an Authenticator (log.go), and the server's storage and enrolment
// implement them. sync/synctest is the conformance suite for a Log.
//
// Every connection has a reader and a writer goroutine (gorilla's chat
// shape). The reader decodes, runs the hello and queues pushes; while
// pushes are queued, a third goroutine commits them in order and ends when
// the queue is empty, so the reader decodes push N+1 while push N commits
// and an idle connection keeps two goroutines. The writer owns every data
// frame, the pings and the downstream paging. One mutex guards what they
// share. The hub itself adds one goroutine that re-checks revocations for
// all live connections in one query.
package hub

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"ombud/shared/hlc"
	"ombud/sync/wire"
)

// Defaults for Config's timings and limits (docs/SYNC.md sections 1, 4, 8).
const (
	DefaultPongWait            = 30 * time.Second
	DefaultWriteWait           = 10 * time.Second
	DefaultHelloTimeout        = 10 * time.Second
	DefaultCloseLinger         = 5 * time.Second
	DefaultRevokeCheckInterval = 2 * time.Second
	// DefaultSendQueue bounds the push answers waiting for the writer. A
	// device may have wire.Window pushes unacknowledged, so a healthy
	// connection never holds more than that; the rest is slack.
	DefaultSendQueue = 2 * wire.Window
	// DefaultReadBufferSize is small because it is held for the life of every
	// idle connection; large frames bypass it (bufio reads straight into the
	// message buffer).
	DefaultReadBufferSize = 512
	// DefaultWriteBufferSize is taken from a pool shared by all connections
	// only while a message is being written, so it can be large enough for
	// few syscalls per frame.
	DefaultWriteBufferSize = 16 << 10
)

// revokeMargin widens the hub's revocation query backwards, so a revocation
// stamped by a clock slightly behind ours (another server process sharing
// the database) is not missed. Seeing one twice is harmless.
const revokeMargin = time.Minute

// Log attribute keys.
const (
	logDevice = "device"
	logScopes = "scopes"
	logCode   = "code"
	logReason = "reason"
	logErr    = "err"
)

// Config configures a Hub. Log and Auth are required; zero timings and
// limits take the defaults above (tests shorten them).
type Config struct {
	Log  Log
	Auth Authenticator

	Logger *slog.Logger
	Now    func() time.Time

	PongWait     time.Duration // silence (pongs included) before a connection is dropped
	PingPeriod   time.Duration // default 9/10 of PongWait
	WriteWait    time.Duration // deadline of every write
	HelloTimeout time.Duration // client_hello must arrive within this
	CloseLinger  time.Duration // after our close frame, wait this long for the peer's
	// RevokeCheckInterval bounds how long a device revoked by another
	// process (the CLI shares only the database) keeps its connection.
	RevokeCheckInterval time.Duration
	SendQueue           int // push answers queued for the writer; full means a slow consumer (4008)
	ReadBufferSize      int
	WriteBufferSize     int
	// Observer, if set, is told of connections, pushes and streamed
	// events (metrics).
	Observer Observer
}

func (cfg *Config) setDefaults() {
	if cfg.Log == nil || cfg.Auth == nil {
		panic("hub: Config.Log and Config.Auth are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.PongWait, DefaultPongWait)
	def(&cfg.PingPeriod, cfg.PongWait*9/10)
	def(&cfg.WriteWait, DefaultWriteWait)
	def(&cfg.HelloTimeout, DefaultHelloTimeout)
	def(&cfg.CloseLinger, DefaultCloseLinger)
	def(&cfg.RevokeCheckInterval, DefaultRevokeCheckInterval)
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = DefaultSendQueue
	}
	if cfg.ReadBufferSize <= 0 {
		cfg.ReadBufferSize = DefaultReadBufferSize
	}
	if cfg.WriteBufferSize <= 0 {
		cfg.WriteBufferSize = DefaultWriteBufferSize
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
}

// noObserver is the Observer when none is configured.
type noObserver struct{}

func (noObserver) Connected(Device)                                {}
func (noObserver) Disconnected(Device)                             {}
func (noObserver) Pushed(Device, PushResult, time.Duration, error) {}
func (noObserver) Streamed(Device, int, time.Duration)             {}

// AuthenticateFunc adapts a function to Authenticator.
type AuthenticateFunc func(r *http.Request) (Device, error)

// Authenticate implements Authenticator.
func (f AuthenticateFunc) Authenticate(r *http.Request) (Device, error) { return f(r) }

// Stats are counters since New, for /metrics and tests.
type Stats struct {
	Connections       int64 // open now
	Pushes            int64 // push messages committed
	EventsStored      int64 // events stored for the first time
	Duplicates        int64 // pushed events already stored
	Rejects           int64 // push_reject messages sent (resends included)
	SlowConsumerDrops int64 // connections closed with 4008
	EventsSent        int64 // events streamed downstream
}

// Hub serves the sync endpoint. Create it with New, mount it as an
// http.Handler, and call Shutdown to stop it.
type Hub struct {
	cfg      Config
	log      *slog.Logger
	upgrader websocket.Upgrader
	clock    *hlc.Clock
	started  time.Time

	// ctx bounds the storage calls of every connection; it is cancelled only
	// when Shutdown's own deadline passes, so a graceful shutdown lets
	// in-flight pushes commit.
	ctx    context.Context
	cancel context.CancelFunc

	stopCommits func() // ends the log's commit feed

	mu      sync.RWMutex
	closing bool
	conns   map[string]*conn              // device id -> its live connection
	byScope map[string]map[*conn]struct{} // scope -> connections streaming it
	wg      sync.WaitGroup                // every goroutine the hub started

	bgOnce sync.Once
	bgStop chan struct{}
	stop   sync.Once

	connections, pushes, stored, duplicates, rejects, slowDrops, sent atomic.Int64
}

// New returns a Hub subscribed to the log's commit feed. It starts no
// goroutine until the first connection.
func New(cfg Config) *Hub {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "sync-hub"),
		clock:   hlc.New(cfg.Now),
		started: cfg.Now(),
		upgrader: websocket.Upgrader{
			ReadBufferSize:  cfg.ReadBufferSize,
			WriteBufferSize: cfg.WriteBufferSize,
			WriteBufferPool: &sync.Pool{},
		},
		ctx:     ctx,
		cancel:  cancel,
		conns:   make(map[string]*conn),
		byScope: make(map[string]map[*conn]struct{}),
		bgStop:  make(chan struct{}),
	}
	h.stopCommits = cfg.Log.OnCommit(h.notify)
	return h
}

// ScopeOf is the scope name of a branch's queue (wire.BranchScope).
func ScopeOf(branch string) string { return wire.BranchScope(branch) }

// ServeHTTP authenticates the upgrade request (401 before upgrading),
// upgrades it and starts the connection's reader and writer. It returns at
// once: the connection lives on in those two goroutines, so the HTTP
// server's goroutine and its stack are not kept for an idle device.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.isClosing() {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	dev, err := h.cfg.Auth.Authenticate(r)
	if err != nil {
		if !errors.Is(err, ErrRefused) {
			h.log.Error("sync: authenticate failed", logErr, err)
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		// Logged with the cause (unknown vs revoked); the device is told
		// neither, so the answer reveals nothing about which ids exist.
		h.log.Info("sync: credential refused", logReason, err.Error())
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "device not enrolled or revoked", http.StatusUnauthorized)
		return
	}
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the request
	}
	c := newConn(h, ws, dev)
	if !h.register(c) {
		_ = wire.WriteClose(ws, &wire.Error{Code: wire.CloseShuttingDown, Reason: "server shutting down"}, time.Now().Add(h.cfg.WriteWait))
		ws.Close()
		return
	}
	go c.writeLoop()
	go c.readLoop()
}

func (h *Hub) isClosing() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closing
}

// register adds c, replacing (4010) an older connection of the same device.
// The WaitGroup is added under the lock that Shutdown takes to set closing,
// so Shutdown's Wait never races an Add.
func (h *Hub) register(c *conn) bool {
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		return false
	}
	h.wg.Add(2)
	old := h.conns[c.dev.ID]
	h.conns[c.dev.ID] = c
	h.mu.Unlock()
	h.connections.Add(1)
	h.cfg.Observer.Connected(c.dev)

	if old != nil {
		c.replaced = old
		old.close(wire.CloseReplaced, "replaced by a newer connection of this device")
	}
	h.bgOnce.Do(func() {
		h.wg.Add(1)
		go h.watchRevocations()
	})
	return true
}

// subscribe indexes c under the scopes its hello granted, so commits to
// them wake its writer.
func (h *Hub) subscribe(c *conn, scopes []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range scopes {
		subs := h.byScope[s]
		if subs == nil {
			subs = make(map[*conn]struct{})
			h.byScope[s] = subs
		}
		subs[c] = struct{}{}
	}
}

func (h *Hub) unregister(c *conn) {
	h.mu.Lock()
	if h.conns[c.dev.ID] == c {
		delete(h.conns, c.dev.ID)
	}
	for _, st := range c.streams {
		if subs := h.byScope[st.scope]; subs != nil {
			delete(subs, c)
			if len(subs) == 0 {
				delete(h.byScope, st.scope)
			}
		}
	}
	h.mu.Unlock()
	h.connections.Add(-1)
	h.cfg.Observer.Disconnected(c.dev)
}

// notify wakes every connection streaming one of scopes after a commit.
// It never blocks (it runs on the committer's goroutine): each writer's
// wake channel holds one token, and a writer that has one will read the
// log anyway, so many commits coalesce into one read.
func (h *Hub) notify(scopes []string) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, s := range scopes {
		for c := range h.byScope[s] {
			c.markDirty(s)
		}
	}
}

// Revoke closes the live connection of deviceID, if any, with 4002: for a
// revocation made in this process, so it takes effect at once rather than at
// the next revocation check.
func (h *Hub) Revoke(deviceID string) {
	h.mu.RLock()
	c := h.conns[deviceID]
	h.mu.RUnlock()
	if c != nil {
		c.close(wire.CloseUnauthorized, "device credential revoked")
	}
}

// watchRevocations re-checks every live connection in one query per
// interval: a device revoked by another process (the CLI shares only the
// database) loses its connection within the interval. Pushes re-check in
// their own transaction as well.
func (h *Hub) watchRevocations() {
	defer h.wg.Done()
	t := time.NewTicker(h.cfg.RevokeCheckInterval)
	defer t.Stop()
	since := h.started.Add(-revokeMargin)
	for {
		select {
		case <-h.bgStop:
			return
		case <-t.C:
		}
		now := h.cfg.Now()
		ids, err := h.cfg.Log.RevokedSince(h.ctx, since)
		if err != nil {
			// A database hiccup must not drop the fleet; the next pass retries
			// from the same point, so no revocation is missed.
			h.log.Warn("sync: revocation check failed", logErr, err)
			continue
		}
		since = now.Add(-revokeMargin)
		for _, id := range ids {
			h.Revoke(id)
		}
	}
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	return Stats{
		Connections:       h.connections.Load(),
		Pushes:            h.pushes.Load(),
		EventsStored:      h.stored.Load(),
		Duplicates:        h.duplicates.Load(),
		Rejects:           h.rejects.Load(),
		SlowConsumerDrops: h.slowDrops.Load(),
		EventsSent:        h.sent.Load(),
	}
}

// Shutdown stops accepting connections (ServeHTTP answers 503), lets every
// push already in its storage transaction commit and be acknowledged,
// closes every connection with 4009 and waits for all the hub's goroutines.
// Pushes read after Shutdown began are dropped unacknowledged: the device
// resends them after reconnecting. If ctx ends first, storage calls are
// cancelled and sockets closed at once; Shutdown still waits for the
// goroutines (which then end promptly) and returns ctx's error.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	conns := make([]*conn, 0, len(h.conns))
	for _, c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	h.stop.Do(func() {
		close(h.bgStop)
		h.stopCommits()
	})
	for _, c := range conns {
		c.close(wire.CloseShuttingDown, "server shutting down")
	}
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	defer h.cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	h.cancel()
	for _, c := range conns {
		c.ws.NetConn().Close()
	}
	<-done
	return ctx.Err()
}
