package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Sender delivers one job. nil means delivered; an *Error says how to treat
// a failure; any other error is retried. Errors are written to the audit
// trail: they must name no address, phone number or complaint text.
type Sender func(ctx context.Context, j Job) error

// WorkerConfig configures a Worker. Store, Queue and Send are required.
type WorkerConfig struct {
	Store Store
	Queue string
	Send  Sender
	// Backoff is the retry schedule (DefaultBackoff).
	Backoff Backoff
	// Lease is how long an attempt may take before another claim takes
	// the job over (DefaultLease): longer than any sender's time-out.
	Lease time.Duration
	// Parallel is how many jobs are sent at once (DefaultParallel).
	Parallel int
	// Poll is how often the queue is looked at when nothing wakes the
	// worker (DefaultPoll): it catches retries falling due.
	Poll   time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// Defaults for WorkerConfig's zero values.
const (
	DefaultLease    = 2 * time.Minute
	DefaultParallel = 4
	DefaultPoll     = time.Second
)

// Log attribute keys.
const (
	logQueue     = "queue"
	logChannel   = "channel"
	logComplaint = "complaint"
	logEvent     = "event"
	logOutcome   = "outcome"
	logAttempt   = "attempt"
	logDetail    = "detail"
	logErr       = "err"
	logFollower  = "follower"
	logCount     = "count"
)

// Worker sends the jobs of one queue.
type Worker struct {
	cfg  WorkerConfig
	log  *slog.Logger
	wake chan struct{}
}

// NewWorker checks cfg and returns a Worker; it starts nothing.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Store == nil || cfg.Queue == "" || cfg.Send == nil {
		return nil, errors.New("delivery: a worker needs a store, a queue and a sender")
	}
	if cfg.Backoff == (Backoff{}) {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg, log: cfg.Logger.With("component", "delivery", logQueue, cfg.Queue), wake: make(chan struct{}, 1)}, nil
}

// Notify tells the worker that jobs may be due. It never blocks.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run sends due jobs until ctx ends, then waits for the attempts in flight
// and returns. An attempt cut short by ctx is not recorded: like a crash,
// its lease runs out and the job is tried again.
func (w *Worker) Run(ctx context.Context) {
	poll := time.NewTicker(w.cfg.Poll)
	defer poll.Stop()
	failing := false
	for {
		_, err := w.RunDue(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			w.log.Error("delivery: reading the queue failed; retrying", logErr, err)
			failing = true
		case err == nil && failing:
			w.log.Info("delivery: reading the queue works again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-poll.C:
		}
	}
}

// RunDue claims and sends jobs due now, Parallel at a time, until none is
// due, and returns how many attempts it made. Run calls it; tests call it to
// step the queue.
func (w *Worker) RunDue(ctx context.Context) (int, error) {
	total := 0
	for {
		jobs, err := w.cfg.Store.Claim(ctx, w.cfg.Queue, w.cfg.Now(), w.cfg.Lease, w.cfg.Parallel)
		if err != nil {
			return total, fmt.Errorf("claim: %w", err)
		}
		if len(jobs) == 0 {
			return total, nil
		}
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		// One goroutine per subject, its jobs in order: a customer hears
		// of the acknowledgement before the answer, a webhook gets a
		// case's events as they were stored, and a rate limit counts
		// what the same subject was just sent.
		for _, group := range bySubject(jobs) {
			wg.Go(func() {
				for _, j := range group {
					if err := w.attempt(ctx, j); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		total += len(jobs)
		if ctx.Err() != nil {
			return total, ctx.Err()
		}
		if err := errors.Join(errs...); err != nil {
			return total, err
		}
	}
}

// bySubject splits a claim into its subjects' jobs, keeping their order.
func bySubject(jobs []Job) [][]Job {
	var groups [][]Job
	index := map[string]int{}
	for _, j := range jobs {
		i, ok := index[j.Subject]
		if !ok {
			i = len(groups)
			index[j.Subject] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], j)
	}
	return groups
}

// attempt sends one claimed job and records what came of it.
func (w *Worker) attempt(ctx context.Context, j Job) error {
	if ctx.Err() != nil {
		return nil // stopping: the claim's lease runs out
	}
	start := w.cfg.Now()
	err := w.cfg.Send(ctx, j)
	if err != nil && ctx.Err() != nil {
		// Stopping mid-send: whether it arrived is unknown. Recording
		// nothing leaves the lease to run out, and the next claim says
		// so in the audit trail.
		return nil
	}
	// A send that finished is recorded even while stopping.
	ctx = context.WithoutCancel(ctx)
	now := w.cfg.Now()
	a, u := w.judge(j, err, now)
	a.Took = now.Sub(start)
	if rerr := w.cfg.Store.Record(ctx, a, u); rerr != nil {
		// The lease runs out and the job is tried again: at least once.
		return fmt.Errorf("record attempt of %s: %w", j.Key, rerr)
	}
	attrs := []any{logChannel, j.Channel, logComplaint, j.ComplaintID, logEvent, j.EventID, logOutcome, a.Outcome, logAttempt, a.N}
	switch a.Outcome {
	case Sent:
		w.log.Info("delivery: sent", attrs...)
	case Retry, Deferred, Skipped:
		w.log.Info("delivery: not sent", append(attrs, logDetail, a.Detail)...)
	default:
		w.log.Warn("delivery: given up", append(attrs, logDetail, a.Detail)...)
	}
	return nil
}

// judge is the rule: from a Send result, the audit row and the job's next
// state. Pure but for the jitter.
func (w *Worker) judge(j Job, err error, now time.Time) (Attempt, Update) {
	a := Attempt{Queue: j.Queue, Key: j.Key, At: now, N: j.Attempts + 1}
	if err == nil {
		a.Outcome = Sent
		return a, Update{State: Done, Attempts: a.N, DoneAt: now}
	}
	v := verdict(err)
	a.Outcome, a.Code, a.Detail = v.Outcome, v.Code, v.Detail
	switch v.Outcome {
	case Skipped:
		a.N = j.Attempts
		return a, Update{State: Dropped, Attempts: j.Attempts, DoneAt: now}
	case Deferred:
		a.N = j.Attempts
		until := v.Until
		if !until.After(now) {
			until = now.Add(w.cfg.Backoff.Base)
		}
		return a, Update{State: Pending, Attempts: j.Attempts, NextAt: until}
	case Failed:
		return a, Update{State: Dead, Attempts: a.N, DoneAt: now}
	}
	a.Outcome = Retry
	if w.cfg.Backoff.GiveUp(a.N) {
		a.Outcome = Failed
		a.Detail += fmt.Sprintf(" (gave up after %d attempts)", a.N)
		return a, Update{State: Dead, Attempts: a.N, DoneAt: now}
	}
	next := now.Add(w.cfg.Backoff.Wait(a.N, nil))
	if v.Until.After(now) {
		// The receiver's Retry-After, within the schedule's cap.
		next = minTime(v.Until, now.Add(w.cfg.Backoff.Max))
	}
	return a, Update{State: Pending, Attempts: a.N, NextAt: next}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
