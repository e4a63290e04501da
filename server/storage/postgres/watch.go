package postgres

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"ombud/sync/wire"
)

// The channel every storing transaction notifies on commit. Its payload is
// the notifying store's instance id, so a store skips its own (it has
// published those already): the payload only wakes; what changed is read
// from the log, because a notification can be missed (the listening
// connection drops) while the log cannot.
const notifyChannel = "ombud_log"

// watcher follows other replicas' commits: LISTEN wakes it at once, a poll
// every interval covers what a dropped connection missed. Each wake reads
// the highest global sequence and team-stream position; when they grew, it
// publishes the scopes of the events in between on the store's feed, so the
// sync hub wakes exactly the devices that follow them.
type watcher struct {
	stop context.CancelFunc
	done chan struct{}
	seq  int64 // the highest global sequence published
	pos  int64 // the highest scope_log position published

	mu  sync.Mutex
	own []ownRange // this store's commits not yet passed by the watcher
}

// ownRange is what one of this store's transactions drew: global sequences
// and team-stream positions in (lo, hi]. The store published those scopes
// itself when it committed.
type ownRange struct{ seq, pos [2]int64 }

func (w *watcher) addOwn(r ownRange) {
	if r.seq[1] == r.seq[0] && r.pos[1] == r.pos[0] {
		return
	}
	w.mu.Lock()
	w.own = append(w.own, r)
	w.mu.Unlock()
}

// foreign returns the parts of (from, to] outside every own range, in
// pairs (lo, hi], for the sequence (which 0) or the position (1), and
// forgets own ranges wholly at or below to.
func (w *watcher) foreign(which int, from, to int64) (lo, hi []int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var own [][2]int64
	for _, r := range w.own {
		rr := [2]int64{r.seq[0], r.seq[1]}
		if which == 1 {
			rr = [2]int64{r.pos[0], r.pos[1]}
		}
		if rr[1] > rr[0] {
			own = append(own, rr)
		}
	}
	slices.SortFunc(own, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	at := from
	for _, r := range own {
		if r[1] <= at || r[0] >= to {
			continue
		}
		if r[0] > at {
			lo, hi = append(lo, at), append(hi, r[0])
		}
		at = r[1]
	}
	if at < to {
		lo, hi = append(lo, at), append(hi, to)
	}
	return lo, hi
}

// forget drops own ranges the watcher has passed.
func (w *watcher) forget(seq, pos int64) {
	w.mu.Lock()
	w.own = slices.DeleteFunc(w.own, func(r ownRange) bool { return r.seq[1] <= seq && r.pos[1] <= pos })
	w.mu.Unlock()
}

func (s *Store) startWatch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.watch.stop, s.watch.done = stop, make(chan struct{})
	// Start from the log's end: what is stored before Open is read by the
	// hub from each device's cursor anyway.
	s.pool.QueryRow(wctx, `SELECT COALESCE((SELECT MAX(seq) FROM events), 0), COALESCE((SELECT MAX(pos) FROM scope_log), 0)`).
		Scan(&s.watch.seq, &s.watch.pos)
	go func() {
		defer close(s.watch.done)
		s.listen(wctx, interval)
	}()
}

func (s *Store) stopWatch() {
	if s.watch.stop == nil {
		return
	}
	s.watch.stop()
	<-s.watch.done
	s.watch.stop = nil
}

// listen holds a LISTEN connection, reconnecting with a growing pause
// while the database is away, and checks the log on every notification and
// every interval.
func (s *Store) listen(ctx context.Context, interval time.Duration) {
	pause := 100 * time.Millisecond
	failing := false
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, interval)
		if ctx.Err() != nil {
			return
		}
		if !failing {
			s.log.Warn("listening for other replicas' commits failed; polling until it is back", "err", err)
			failing = true
		}
		// Poll meanwhile: the log is the truth, notifications only speed
		// it up.
		if err := s.check(ctx); err == nil && failing {
			pause = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, interval)
	}
}

func (s *Store) listenOnce(ctx context.Context, interval time.Duration) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer func() {
		// The connection is LISTENing: never hand it back to the pool.
		conn.Conn().Close(context.Background())
		conn.Release()
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+notifyChannel); err != nil {
		return err
	}
	// Whatever was committed while not listening.
	if err := s.check(ctx); err != nil {
		return err
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, interval)
		n, err := conn.Conn().WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// Quiet: poll, which also proves the connection alive.
			if err := s.check(ctx); err != nil {
				return err
			}
			if err := conn.Ping(ctx); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		case n.Payload == s.id:
			continue
		}
		if err := s.check(ctx); err != nil {
			return err
		}
	}
}

// check publishes the scopes that gained events since the last check,
// except through this store's own commits (published when they were made).
func (s *Store) check(ctx context.Context) error {
	var seq, pos int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE((SELECT MAX(seq) FROM events), 0), COALESCE((SELECT MAX(pos) FROM scope_log), 0)`).
		Scan(&seq, &pos); err != nil {
		return err
	}
	if seq <= s.watch.seq && pos <= s.watch.pos {
		return nil
	}
	var scopes []string
	if seq > s.watch.seq {
		if lo, hi := s.watch.foreign(0, s.watch.seq, seq); len(lo) > 0 {
			branches, err := s.strings(ctx, "read new branches", `SELECT DISTINCT e.branch
				FROM unnest($1::bigint[], $2::bigint[]) r(lo, hi) JOIN events e ON e.seq > r.lo AND e.seq <= r.hi`, lo, hi)
			if err != nil {
				return err
			}
			for _, b := range branches {
				scopes = append(scopes, wire.BranchScope(b))
			}
		}
	}
	if pos > s.watch.pos {
		if lo, hi := s.watch.foreign(1, s.watch.pos, pos); len(lo) > 0 {
			teams, err := s.strings(ctx, "read new team events", `SELECT DISTINCT l.scope
				FROM unnest($1::bigint[], $2::bigint[]) r(lo, hi) JOIN scope_log l ON l.pos > r.lo AND l.pos <= r.hi`, lo, hi)
			if err != nil {
				return err
			}
			scopes = append(scopes, teams...)
		}
	}
	s.watch.seq, s.watch.pos = max(s.watch.seq, seq), max(s.watch.pos, pos)
	s.watch.forget(s.watch.seq, s.watch.pos)
	s.feed.Publish(scopes)
	return nil
}
