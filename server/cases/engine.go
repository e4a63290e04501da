package cases

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ombud/server/dispatch"
	"ombud/server/storage"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/sla"
)

// Store is what the engine needs from storage: the log (read all scopes,
// read one complaint, append its own events, and its commit feed, which
// wakes the follower) and the projection.
type Store interface {
	AllEventsAfter(ctx context.Context, after int64, limit int) ([]storage.StoredEvent, error)
	OnCommit(f func(scopes []string)) (cancel func())
	ComplaintEvents(ctx context.Context, complaintID string) ([]storage.StoredEvent, error)
	Append(ctx context.Context, events []event.Event) ([]storage.StoredEvent, error)
	storage.Cases
}

// Defaults for the zero values of Config.
const (
	DefaultInterval = time.Minute
	DefaultPoll     = time.Second
	DefaultPageSize = 1000
)

// Config configures an Engine. Store is required.
type Config struct {
	Store Store
	// Dispatch returns the routing rules in force, e.g. a
	// (*dispatch.Watcher).Rules, so an operator's edit applies to the next
	// case without a restart. It is called once per routing decision. Nil
	// routes every case to its filing branch's queue (dispatch.Default).
	Dispatch func() *dispatch.Rules
	// SLA sets the deadlines. Nil: the projection has no deadlines and
	// nothing is escalated.
	SLA *sla.Config
	// EscalationQueue is where an escalated case is assigned: "" leaves
	// it in its queue (the Escalated event alone marks it), "branch" is
	// its filing branch's queue, "branch:<id>" a given branch, and
	// "team:<id>" a team the dispatch config declares (New refuses an
	// undeclared one: nobody would subscribe to it). If a later dispatch
	// config no longer declares the team, escalations go to the filing
	// branch's queue and a warning is logged.
	EscalationQueue string
	// Interval is how often Run scans for breached targets.
	Interval time.Duration
	// Poll is how often the follower looks at the log when the commit
	// feed is silent (it covers a commit the feed cannot see).
	Poll time.Duration
	// PageSize is how many events the follower folds per transaction.
	PageSize int
	// Now is the wall clock; tests inject one.
	Now    func() time.Time
	Logger *slog.Logger
	// Observer, if set, is told of every assignment the dispatch rules
	// made and every target escalated, once each is stored (metrics).
	Observer Observer
}

// Observer is told what the engine stored, for the server's metrics. Its
// methods must not block.
type Observer interface {
	// Assigned: a case was assigned (or re-routed) by the named rule.
	Assigned(rule string)
	// Escalated: a breached target (acknowledge, respond) was escalated.
	Escalated(target string)
}

type noObserver struct{}

func (noObserver) Assigned(string)  {}
func (noObserver) Escalated(string) {}

// Log attribute keys.
const (
	logComplaint = "complaint"
	logQueue     = "queue"
	logRule      = "rule"
	logTarget    = "target"
	logLevel     = "level"
	logSeq       = "seq"
	logCount     = "count"
	logErr       = "err"
)

// The engine's actors: who made an event, for the audit trail.
var (
	actorDispatch = event.Actor{Kind: event.ActorSystem, ID: "dispatch"}
	actorSLA      = event.Actor{Kind: event.ActorSystem, ID: "sla"}
)

// Engine is the case engine. Create it with New, run it with Run.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	clock *hlc.Clock
	wake  chan struct{}

	// mu serialises the work that reads and writes the projection (the
	// follower, Tick, Rebuild), so a Tick sees rows the follower has
	// finished and a Rebuild is not interleaved with a page.
	mu sync.Mutex
	// fingerprint names the configuration this engine folds rows under
	// (see projectionFingerprint); configChecked is set, under mu, once the
	// stored rows are known to match it.
	fingerprint   string
	configChecked bool
	// sla is the SLA config in force: cfg.SLA until SetSLA replaces it.
	sla atomic.Pointer[sla.Config]

	warnMu     sync.Mutex
	warnedTeam string // the undeclared escalation team last warned about
}

// New checks cfg and returns an Engine; it starts nothing.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil {
		return nil, errors.New("cases: a store is required")
	}
	if cfg.Dispatch == nil {
		cfg.Dispatch = dispatch.Default
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	if err := checkQueue(cfg.EscalationQueue, cfg.Dispatch()); err != nil {
		return nil, fmt.Errorf("cases: escalation queue: %w", err)
	}
	e := &Engine{
		cfg:         cfg,
		log:         cfg.Logger.With("component", "cases"),
		clock:       hlc.New(cfg.Now),
		wake:        make(chan struct{}, 1),
		fingerprint: projectionFingerprint(cfg.SLA),
	}
	e.sla.Store(cfg.SLA)
	return e, nil
}

// SLA returns the SLA config in force (nil: none).
func (e *Engine) SLA() *sla.Config { return e.sla.Load() }

// SetSLA puts a new SLA config in force without a restart (an
// administrator's edit at the console): the next deadlines are computed
// under it, and every row of the projection is refolded under it at the
// follower's next pass, as after an edit and a restart.
func (e *Engine) SetSLA(cfg *sla.Config) {
	e.mu.Lock()
	e.sla.Store(cfg)
	if fp := projectionFingerprint(cfg); fp != e.fingerprint {
		e.fingerprint, e.configChecked = fp, false
	}
	e.mu.Unlock()
	e.Notify()
}

// checkQueue accepts "", "branch", "branch:<id>" and a declared "team:<id>".
func checkQueue(q string, rules *dispatch.Rules) error {
	switch {
	case q == "" || q == dispatch.FilingBranch:
		return nil
	case strings.HasPrefix(q, "branch:") && len(q) > len("branch:"):
		return nil
	case strings.HasPrefix(q, "team:"):
		if teamDeclared(q, rules) {
			return nil
		}
		return fmt.Errorf("%q is not a team the dispatch config declares", q)
	}
	return fmt.Errorf("%q is not \"branch\", \"branch:<id>\" or \"team:<id>\"", q)
}

func teamDeclared(q string, rules *dispatch.Rules) bool {
	for _, t := range rules.Teams() {
		if t.Queue() == q {
			return true
		}
	}
	return false
}

// Notify tells the follower that new events may be stored. It never
// blocks; many calls before the follower wakes cost one read. Run calls it
// for every commit the store's feed reports.
func (e *Engine) Notify() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run runs the follower and the escalation clock until ctx ends, then waits
// for both and returns nil. Storage failures are logged and retried (at the
// next wake, poll or tick), never fatal: the log is intact, and the next
// attempt resumes from the committed cursor.
func (e *Engine) Run(ctx context.Context) error {
	stop := e.cfg.Store.OnCommit(func([]string) { e.Notify() })
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() { e.follow(ctx) })
	wg.Go(func() { e.escalate(ctx) })
	wg.Wait()
	return nil
}

func (e *Engine) follow(ctx context.Context) {
	poll := time.NewTicker(e.cfg.Poll)
	defer poll.Stop()
	failing := false
	for {
		err := e.CatchUp(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			// Once per failure streak: a broken disk would otherwise log
			// every second.
			e.log.Error("case projection: catching up failed; retrying", logErr, err)
			failing = true
		case err == nil && failing:
			e.log.Info("case projection: caught up again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-poll.C:
		}
	}
}

func (e *Engine) escalate(ctx context.Context) {
	if e.sla.Load() == nil {
		return
	}
	tick := time.NewTicker(e.cfg.Interval)
	defer tick.Stop()
	for {
		// At once on start as well: a server that was down should not
		// wait an interval before escalating what broke meanwhile.
		if err := e.Tick(ctx, e.cfg.Now()); err != nil && ctx.Err() == nil {
			e.log.Error("escalation scan failed; retrying at the next tick", logErr, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// CatchUp folds every event stored so far into the projection, making the
// routing decisions they call for, and returns when the log is exhausted.
// Run calls it; tests and tools call it to wait for the projection.
func (e *Engine) CatchUp(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.catchUp(ctx)
}

// Rebuild throws the projection away and folds it again from the whole log,
// for an operator after a change to how cases are folded or a damaged
// table. It is the follower started from 0, so it gives exactly the rows
// the follower keeps incrementally; routing decisions it meets again are
// not repeated (the cases already have their Assigned events, and any
// event it does make has the id the follower would have given it). The
// follower and the escalation clock wait while it runs; readers of Case see
// rows disappear and return as it goes.
func (e *Engine) Rebuild(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.cfg.Store.ResetCases(ctx); err != nil {
		return fmt.Errorf("rebuild cases: %w", err)
	}
	// The reset forgot the fingerprint; catchUp records it again.
	e.configChecked = false
	if err := e.catchUp(ctx); err != nil {
		return fmt.Errorf("rebuild cases: %w", err)
	}
	return nil
}

// now is the engine's wall clock, never before the case's last event: the
// SLA clock ignores events dated after now, and an event from a device whose
// clock runs ahead has still happened.
func (e *Engine) now(last hlc.Timestamp) time.Time {
	now := e.cfg.Now()
	if t := last.Time(); last != 0 && t.After(now) {
		return t
	}
	return now
}

// stamp is the clock reading for an event the engine makes about a case: after
// every event of the case, so the fold applies it after them.
func (e *Engine) stamp(last hlc.Timestamp) hlc.Timestamp {
	e.clock.Observe(last)
	return e.clock.Now()
}
