package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"ombud/server/storage"
)

// Plan says which jobs a page of newly stored events calls for. It may read
// the log (a complaint's events) but must not write: the follower commits
// its jobs with the cursor. It must be deterministic in the events it is
// given, since a page can be planned again after a crash (the queue's
// idempotency keys make that harmless).
type Plan func(ctx context.Context, page []storage.StoredEvent) ([]Job, error)

// FollowerConfig configures a Follower. Log, Store, Name and Plan are
// required.
type FollowerConfig struct {
	Log   Log
	Store Store
	// Name is the follower's cursor ("notify", "webhook").
	Name string
	Plan Plan
	// PageSize is how many events one transaction covers (DefaultPageSize).
	PageSize int
	// Poll is how often the log is read when the commit feed is silent
	// (DefaultPoll): it covers commits the feed cannot see, such as
	// another process's.
	Poll time.Duration
	// Queued, if set, is called after a commit that queued jobs (to wake
	// the worker).
	Queued func()
	Logger *slog.Logger
}

// DefaultPageSize is FollowerConfig's default.
const DefaultPageSize = 500

// Follower turns new events into queued jobs.
type Follower struct {
	cfg  FollowerConfig
	log  *slog.Logger
	wake chan struct{}
}

// NewFollower checks cfg and returns a Follower; it starts nothing.
func NewFollower(cfg FollowerConfig) (*Follower, error) {
	if cfg.Log == nil || cfg.Store == nil || cfg.Name == "" || cfg.Plan == nil {
		return nil, errors.New("delivery: a follower needs a log, a store, a name and a plan")
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Queued == nil {
		cfg.Queued = func() {}
	}
	return &Follower{cfg: cfg, log: cfg.Logger.With("component", "delivery", logFollower, cfg.Name), wake: make(chan struct{}, 1)}, nil
}

// Run follows the log until ctx ends. Failures are logged and retried at
// the next wake or poll, from the committed cursor.
func (f *Follower) Run(ctx context.Context) {
	stop := f.cfg.Log.OnCommit(func([]string) {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	})
	defer stop()
	poll := time.NewTicker(f.cfg.Poll)
	defer poll.Stop()
	failing := false
	for {
		err := f.CatchUp(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			f.log.Error("delivery: following the log failed; retrying", logErr, err)
			failing = true
		case err == nil && failing:
			f.log.Info("delivery: following the log again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		case <-poll.C:
		}
	}
}

// CatchUp plans and queues every event stored after the cursor, and
// returns when the log is exhausted.
func (f *Follower) CatchUp(ctx context.Context) error {
	for {
		cursor, err := f.cfg.Store.DeliveryCursor(ctx, f.cfg.Name)
		if err != nil {
			return fmt.Errorf("read cursor: %w", err)
		}
		page, err := f.cfg.Log.AllEventsAfter(ctx, cursor, f.cfg.PageSize)
		if err != nil {
			return fmt.Errorf("read log after %d: %w", cursor, err)
		}
		if len(page) == 0 {
			return nil
		}
		jobs, err := f.cfg.Plan(ctx, page)
		if err != nil {
			return fmt.Errorf("plan events %d-%d: %w", page[0].Seq, page[len(page)-1].Seq, err)
		}
		added, err := f.cfg.Store.Enqueue(ctx, f.cfg.Name, cursor, page[len(page)-1].Seq, jobs)
		if storage.ErrorCode(err) == storage.Conflict {
			// Another follower on this database moved the cursor: its
			// jobs stand; read on from where it got to.
			continue
		}
		if err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		if added > 0 {
			f.log.Debug("delivery: queued", logCount, added)
			f.cfg.Queued()
		}
	}
}
