package kpi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"ombud/server/storage"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
)

// Log is what the follower reads: the server's event log and its commit
// feed.
type Log interface {
	AllEventsAfter(ctx context.Context, after int64, limit int) ([]storage.StoredEvent, error)
	ComplaintEvents(ctx context.Context, complaintID string) ([]storage.StoredEvent, error)
	OnCommit(f func(scopes []string)) (cancel func())
}

// Config configures a Follower. Log and Store are required.
type Config struct {
	Log   Log
	Store Store
	// SLA judges acknowledge and respond times; nil judges none. It must
	// be the configuration the server dates cases by.
	SLA *sla.Config
	// Location sets filing days (time.Local when nil).
	Location *time.Location
	PageSize int           // events one transaction covers (DefaultPageSize)
	Poll     time.Duration // how often the log is read when the feed is silent (DefaultPoll)
	Logger   *slog.Logger
}

// Defaults.
const (
	DefaultPageSize = 500
	DefaultPoll     = 5 * time.Second
	version         = "kpi/v2" // v2: facts carry the root cause
)

// Follower keeps the facts and day rows up to date with the log.
//
// It follows the log with a cursor of its own rather than inside the case
// engine's transaction: the figures are a separate projection with a
// separate rebuild, the case projection's storage contract (shared with
// PostgreSQL) stays as it is, and a slow or failing figures page never
// holds up dispatch and escalation. The cost is that figures may trail the
// case pages by one poll.
type Follower struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}
}

// New checks cfg and returns a Follower; it starts nothing.
func New(cfg Config) (*Follower, error) {
	if cfg.Log == nil || cfg.Store == nil {
		return nil, errors.New("kpi: a follower needs a log and a store")
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
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
	return &Follower{cfg: cfg, log: cfg.Logger.With("component", "kpi"), wake: make(chan struct{}, 1)}, nil
}

// Fingerprint names the configuration facts depend on: a change (another
// SLA file or time zone) makes the follower rebuild them.
func (f *Follower) Fingerprint() string {
	s := version + " tz:" + f.cfg.Location.String()
	if f.cfg.SLA == nil {
		return s + " sla:none"
	}
	return s + " sla:" + f.cfg.SLA.Digest()
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
			f.log.Error("kpi: following the log failed; retrying", "err", err)
			failing = true
		case err == nil && failing:
			f.log.Info("kpi: following the log again")
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

// CatchUp folds every event stored after the cursor and returns when the
// log is exhausted. Facts computed under another configuration are thrown
// away first and rebuilt.
func (f *Follower) CatchUp(ctx context.Context) error {
	st := f.cfg.Store
	_, fp, err := st.KPICursor(ctx)
	if err != nil {
		return fmt.Errorf("read kpi cursor: %w", err)
	}
	if fp != f.Fingerprint() {
		if fp != "" {
			f.log.Info("kpi: the SLA or time zone changed; rebuilding the figures")
		}
		if err := st.ResetKPI(ctx, f.Fingerprint()); err != nil {
			return fmt.Errorf("reset kpi: %w", err)
		}
	}
	for {
		cursor, _, err := st.KPICursor(ctx)
		if err != nil {
			return fmt.Errorf("read kpi cursor: %w", err)
		}
		page, err := f.cfg.Log.AllEventsAfter(ctx, cursor, f.cfg.PageSize)
		if err != nil {
			return fmt.Errorf("read log after %d: %w", cursor, err)
		}
		if len(page) == 0 {
			return nil
		}
		facts, err := f.fold(ctx, page)
		if err != nil {
			return err
		}
		err = st.SaveFacts(ctx, cursor, page[len(page)-1].Seq, facts)
		if storage.ErrorCode(err) == storage.Conflict {
			continue // a rebuild moved the cursor: read on from there
		}
		if err != nil {
			return fmt.Errorf("save kpi facts: %w", err)
		}
	}
}

// Rebuild throws every fact away and folds the whole log again.
func (f *Follower) Rebuild(ctx context.Context) error {
	if err := f.cfg.Store.ResetKPI(ctx, f.Fingerprint()); err != nil {
		return fmt.Errorf("reset kpi: %w", err)
	}
	return f.CatchUp(ctx)
}

// fold refolds every complaint the page touches from all its events.
func (f *Follower) fold(ctx context.Context, page []storage.StoredEvent) ([]Fact, error) {
	seen := map[string]bool{}
	var facts []Fact
	for _, se := range page {
		id := se.Event.ComplaintID
		if seen[id] {
			continue
		}
		seen[id] = true
		stored, err := f.cfg.Log.ComplaintEvents(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("read case %s: %w", id, err)
		}
		events := make([]event.Event, len(stored))
		var seq int64
		for i := range stored {
			events[i] = stored[i].Event
			seq = max(seq, stored[i].Seq)
		}
		cs, err := lifecycle.Fold(events)
		if errors.Is(err, lifecycle.ErrNotFiled) {
			continue // its Filed event will bring it
		}
		if err != nil {
			return nil, fmt.Errorf("fold case %s: %w", id, err)
		}
		facts = append(facts, FactOf(cs, events, seq, f.cfg.SLA, f.cfg.Location))
	}
	return facts, nil
}
