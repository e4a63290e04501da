package enrol

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"ombud/server/storage"
)

// DefaultWatchInterval is how often a Watcher asks the store for new
// revocations. It bounds how long a kiosk revoked from the command line
// keeps a live connection. A pass is one read, whatever the fleet's size.
const DefaultWatchInterval = 2 * time.Second

// watchMargin widens each query backwards, so a revocation stamped by a
// clock slightly behind ours (another host, with PostgreSQL), or made
// between a device's Authenticate and its Watch, is still seen. Seeing a
// revocation twice is harmless: each watch fires once.
const watchMargin = time.Minute

// Watcher tells live sync connections that their device was revoked.
//
// Why polling: `server revoke` is a separate process that only shares the
// database file with the running server, so there is nobody in the server
// process to call. Each pass asks storage.Devices.RevokedSince for the
// devices revoked since the previous pass (minus a margin): one indexed
// read however many devices are connected. When a revocation happens
// inside the server process (a future admin API), Notify makes it
// immediate.
//
// The hub calls Watch when a connection has authenticated and the returned
// stop when it ends; onRevoked must not block (close the connection from
// another goroutine, with close code 4002 and err's message as the reason).
// A failed pass is logged and retried at the next tick, from the same
// point: a database hiccup must not drop the whole fleet, nor miss a
// revocation.
type Watcher struct {
	store    storage.Devices
	interval time.Duration
	logger   *slog.Logger
	now      func() time.Time

	mu      sync.Mutex
	since   time.Time                      // lower bound of the next query
	watches map[string]map[*watch]struct{} // device id -> live connections
}

type watch struct {
	onRevoked func(error)
	once      sync.Once
}

// NewWatcher returns a Watcher over store; interval <= 0 means
// DefaultWatchInterval. Start it with Run. Devices revoked before it was
// made are refused by Authenticate and need no watching.
func NewWatcher(store storage.Devices, interval time.Duration, logger *slog.Logger) *Watcher {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Watcher{
		store:    store,
		interval: interval,
		logger:   logger.With("component", "revocation-watcher"),
		now:      time.Now,
		since:    time.Now().Add(-watchMargin),
		watches:  make(map[string]map[*watch]struct{}),
	}
}

// Watch registers a live connection of deviceID. onRevoked is called at most
// once, with ErrRevoked. stop unregisters it and is safe to call more than
// once.
func (w *Watcher) Watch(deviceID string, onRevoked func(error)) (stop func()) {
	wt := &watch{onRevoked: onRevoked}
	w.mu.Lock()
	if w.watches[deviceID] == nil {
		w.watches[deviceID] = make(map[*watch]struct{})
	}
	w.watches[deviceID][wt] = struct{}{}
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.watches[deviceID], wt)
		if len(w.watches[deviceID]) == 0 {
			delete(w.watches, deviceID)
		}
	}
}

// Notify tells the watches of deviceID at once that it is revoked: for a
// revocation made in this process.
func (w *Watcher) Notify(deviceID string) { w.fire(deviceID) }

// Poll makes one pass: it reads the devices revoked since the last
// successful pass and fires their watches. Run calls it every interval;
// tests call it directly.
func (w *Watcher) Poll(ctx context.Context) error {
	start := w.now()
	w.mu.Lock()
	since := w.since
	w.mu.Unlock()
	ids, err := w.store.RevokedSince(ctx, since)
	if err != nil {
		return fmt.Errorf("revocation check: %w", err)
	}
	w.mu.Lock()
	w.since = start.Add(-max(watchMargin, 2*w.interval))
	w.mu.Unlock()
	for _, id := range ids {
		w.fire(id)
	}
	return nil
}

func (w *Watcher) fire(deviceID string) {
	w.mu.Lock()
	ws := make([]*watch, 0, len(w.watches[deviceID]))
	for wt := range w.watches[deviceID] {
		ws = append(ws, wt)
	}
	w.mu.Unlock()
	if len(ws) > 0 {
		w.logger.Info("device revoked: closing its connections", "device", deviceID, "connections", len(ws))
	}
	// Outside the lock: a callback may call stop.
	for _, wt := range ws {
		wt.once.Do(func() { wt.onRevoked(ErrRevoked) })
	}
}

// Run polls every interval until ctx is done, then returns nil.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := w.Poll(ctx); err != nil && ctx.Err() == nil {
				w.logger.Warn("revocation check failed; retrying at the next tick", "err", err)
			}
		}
	}
}
