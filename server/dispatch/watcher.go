package dispatch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Log attribute keys.
const (
	keyComponent = "component"
	keyPath      = "path"
	keyDigest    = "digest"
	keyRules     = "rules"
	keyTeams     = "teams"
	keyLine      = "line"
	keyErr       = "err"
)

// DefaultPollInterval is how often a Watcher looks at the file when not told.
// An operator's edit takes effect within it; a stat every few seconds costs
// nothing.
const DefaultPollInterval = 5 * time.Second

// racyWindow covers file systems whose modification times are coarse (FAT
// keeps two seconds, some network file systems one): a file rewritten with
// the same size within one tick of the time we read it would look unchanged.
// While the file's mtime is this close to our last read, its contents are
// hashed on every poll instead of trusted (git's "racily clean" rule).
const racyWindow = 2 * time.Second

// Watcher keeps the current dispatch rules and reloads them when the config
// file changes. There is no file-change notification in the standard
// library, so it polls: a stat each interval, and a read and a hash only when
// the size or mtime moved (or the mtime is too recent to trust). A file that
// is refused, or that disappears, leaves the rules in force as they were.
type Watcher struct {
	path     string
	interval time.Duration
	log      *slog.Logger

	current atomic.Pointer[Rules]
	lastErr atomic.Pointer[errBox]

	mu      sync.Mutex // serialises polls and forced reloads; guards the fields below
	present bool       // the file existed at the last look
	size    int64
	mtime   time.Time
	readAt  time.Time
	sum     [sha256.Size]byte // contents last tried, whether they loaded or not
	sumErr  error             // what trying them gave
}

type errBox struct{ err error }

// NewWatcher loads the config at path. A missing file gives the default rules
// (every complaint to its filing branch's queue), so a server runs with no
// config; a file that is there but refused is an error, so that a bad edit is
// noticed at start rather than silently routing everything by default.
// interval <= 0 means DefaultPollInterval.
func NewWatcher(path string, interval time.Duration, log *slog.Logger) (*Watcher, error) {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{path: path, interval: interval, log: log.With(keyComponent, "dispatch")}
	w.current.Store(Default())
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.look(true); err != nil {
		return nil, err
	}
	if !w.present {
		w.log.Info("no dispatch config; every complaint goes to its filing branch's queue", keyPath, path)
	}
	return w, nil
}

// Rules returns the rules in force. It never blocks and never returns nil.
func (w *Watcher) Rules() *Rules { return w.current.Load() }

// LastError says why the rules in force are not the file's current contents
// (a refused file, with its line and reason; a file that disappeared; a read
// error), or nil when they are. For /healthz and operators.
func (w *Watcher) LastError() error {
	if b := w.lastErr.Load(); b != nil {
		return b.err
	}
	return nil
}

// Reload reads the file now, even if it looks unchanged: for an operator's
// signal (SIGHUP) or command. It returns what LastError would.
func (w *Watcher) Reload() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.look(true)
	return w.LastError()
}

// Run polls the file until ctx is done, and returns ctx's error.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			w.mu.Lock()
			w.look(false)
			w.mu.Unlock()
		}
	}
}

// look checks the file and loads it if it changed (or if force). It returns
// the *ConfigError of a file it has just refused, for NewWatcher to fail on;
// everything else is only recorded for LastError. Callers hold w.mu.
func (w *Watcher) look(force bool) error {
	fi, err := os.Stat(w.path)
	if errors.Is(err, fs.ErrNotExist) {
		if w.present {
			w.present = false
			w.fail(fmt.Errorf("dispatch config %s has disappeared; keeping the rules loaded before (digest %s)", w.path, w.Rules().Digest()))
		} else if force && w.Rules() != defaultRules {
			w.fail(fmt.Errorf("dispatch config %s is missing; keeping the rules loaded before (digest %s)", w.path, w.Rules().Digest()))
		}
		return nil
	}
	if err != nil {
		w.fail(fmt.Errorf("dispatch config: %w", err))
		return nil
	}
	racy := w.readAt.Sub(fi.ModTime()) < racyWindow
	if !force && w.present && fi.Size() == w.size && fi.ModTime().Equal(w.mtime) && !racy {
		return nil
	}
	data, err := readConfig(w.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) { // gone between the stat and the read
			return w.look(force)
		}
		w.fail(fmt.Errorf("dispatch config: %w", err))
		return nil
	}
	w.present, w.size, w.mtime, w.readAt = true, fi.Size(), fi.ModTime(), time.Now()
	sum := sha256.Sum256(data)
	if !force && sum == w.sum {
		// Touched, or back after going missing, with the same contents: the
		// outcome of trying them stands.
		if w.sumErr != nil {
			w.fail(w.sumErr)
		} else {
			w.setErr(nil)
		}
		return nil
	}
	rules, err := Parse(data)
	if ce, ok := errors.AsType[*ConfigError](err); ok {
		ce.File = w.path
	}
	w.sum, w.sumErr = sum, err
	if err != nil {
		line := 0
		if ce, ok := errors.AsType[*ConfigError](err); ok {
			line = ce.Line()
		}
		w.fail(err, keyLine, line)
		return err
	}
	w.current.Store(rules)
	w.setErr(nil)
	w.log.Info("dispatch rules loaded", keyPath, w.path, keyDigest, rules.Digest(), keyRules, rules.Len(), keyTeams, len(rules.teams))
	return nil
}

// fail records and logs why the rules in force stay. The same error is
// logged once, not every poll.
func (w *Watcher) fail(err error, attrs ...any) {
	if prev := w.LastError(); prev != nil && prev.Error() == err.Error() {
		return
	}
	w.setErr(err)
	w.log.Error("dispatch config not applied; the rules in force stay",
		append([]any{keyPath, w.path, keyDigest, w.Rules().Digest(), keyErr, err}, attrs...)...)
}

func (w *Watcher) setErr(err error) {
	if err == nil {
		w.lastErr.Store(nil)
		return
	}
	w.lastErr.Store(&errBox{err})
}
