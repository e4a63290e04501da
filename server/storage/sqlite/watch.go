package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"ombud/sync/wire"
)

// watchInterval is how often the store looks for events another process
// stored in the same file (a command such as `server erasure approve`, run
// beside the server): the commit feed only hears this process's commits.
const watchInterval = time.Second

// startWatch publishes, on the commit feed, the scopes of events another
// process stored, so the hub streams them to devices and the case engine
// folds them within watchInterval rather than at the next local commit.
// It skips what this process committed itself (localCommits): those were
// published by their committer, and a second announcement would wake every
// subscriber again for nothing.
func (s *Store) startWatch() {
	s.watch.stop, s.watch.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.watch.done)
		ctx := context.Background()
		var seen, seenPos int64
		s.local.mu.Lock()
		s.local.on = true
		if err := s.r.QueryRowContext(ctx, endsQuery).Scan(&seen, &seenPos); err != nil {
			seen, seenPos = 0, 0
		}
		s.local.seq, s.local.pos = nil, nil
		s.local.mu.Unlock()
		t := time.NewTicker(watchInterval)
		defer t.Stop()
		for {
			select {
			case <-s.watch.stop:
				return
			case <-t.C:
			}
			// Under the lock no local commit is between its COMMIT and
			// its record: last and the local spans agree.
			s.local.mu.Lock()
			var last, lastPos int64
			err := s.r.QueryRowContext(ctx, endsQuery).Scan(&last, &lastPos)
			seqSpans, posSpans := s.local.seq, s.local.pos
			if err == nil {
				s.local.seq, s.local.pos = nil, nil
			}
			s.local.mu.Unlock()
			if err != nil {
				continue
			}
			var scopes []string
			for _, g := range gaps(seen, last, seqSpans) {
				scopes = appendScopes(ctx, s.r, scopes, `SELECT DISTINCT branch FROM events WHERE seq > ?1 AND seq <= ?2`, g, wire.BranchScope)
			}
			for _, g := range gaps(seenPos, lastPos, posSpans) {
				scopes = appendScopes(ctx, s.r, scopes, `SELECT DISTINCT scope FROM scope_log WHERE pos > ?1 AND pos <= ?2`, g, func(s string) string { return s })
			}
			seen, seenPos = max(seen, last), max(seenPos, lastPos)
			if len(scopes) > 0 {
				s.feed.Publish(scopes)
			}
		}
	}()
}

// endsQuery reads where the log and the team streams end (both primary
// keys, so each read is one index seek).
const endsQuery = `SELECT (SELECT COALESCE(MAX(seq), 0) FROM events), (SELECT COALESCE(MAX(pos), 0) FROM scope_log)`

// span is a half-open range of sequences (from, to]: what one local
// transaction stored.
type span struct{ from, to int64 }

// localCommits records the spans of events and scope_log rows this
// process committed since the watch last looked. A committer calls
// commit, which holds mu across the COMMIT and the record, so the watch
// never sees a local row it has no span for.
type localCommits struct {
	mu       sync.Mutex
	on       bool // the watch runs: only then are spans kept
	seq, pos []span
}

// commit commits tx, whose rows lie in (before, after] of the log and of
// scope_log, and records them as local.
func (l *localCommits) commit(tx *sql.Tx, before, after [2]int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := tx.Commit(); err != nil {
		return err
	}
	if !l.on {
		return nil
	}
	if after[0] > before[0] {
		l.seq = append(l.seq, span{before[0], after[0]})
	}
	if after[1] > before[1] {
		l.pos = append(l.pos, span{before[1], after[1]})
	}
	return nil
}

// ends reads, inside tx, where the log and scope_log end.
func ends(ctx context.Context, tx *sql.Tx) ([2]int64, error) {
	var e [2]int64
	err := tx.QueryRowContext(ctx, endsQuery).Scan(&e[0], &e[1])
	return e, err
}

// gaps returns the parts of (seen, last] that no local span covers: what
// another process stored.
func gaps(seen, last int64, local []span) []span {
	var out []span
	at := seen
	for _, l := range local { // in commit order, so ascending
		if l.from > at && at < last {
			out = append(out, span{at, min(l.from, last)})
		}
		at = max(at, l.to)
	}
	if at < last {
		out = append(out, span{at, last})
	}
	return out
}

// appendScopes appends to scopes what q finds in g, each through name.
func appendScopes(ctx context.Context, db *sql.DB, scopes []string, q string, g span, name func(string) string) []string {
	rows, err := db.QueryContext(ctx, q, g.from, g.to)
	if err != nil {
		return scopes
	}
	defer rows.Close()
	for rows.Next() {
		var sc string
		if rows.Scan(&sc) == nil {
			scopes = append(scopes, name(sc))
		}
	}
	return scopes
}

func (s *Store) stopWatch() {
	s.local.mu.Lock()
	s.local.on, s.local.seq, s.local.pos = false, nil, nil
	s.local.mu.Unlock()
	if s.watch.stop != nil {
		close(s.watch.stop)
		<-s.watch.done
		s.watch.stop = nil
	}
}
