package sqlite

import (
	"context"
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
// It also republishes this process's own commits (harmless: a wake with
// nothing new costs one read).
func (s *Store) startWatch() {
	s.watch.stop, s.watch.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.watch.done)
		ctx := context.Background()
		// Where the log and the team streams end (both primary keys, so
		// each read is one index seek).
		const ends = `SELECT (SELECT COALESCE(MAX(seq), 0) FROM events), (SELECT COALESCE(MAX(pos), 0) FROM scope_log)`
		var seen, seenPos int64
		if err := s.r.QueryRowContext(ctx, ends).Scan(&seen, &seenPos); err != nil {
			seen, seenPos = 0, 0
		}
		t := time.NewTicker(watchInterval)
		defer t.Stop()
		for {
			select {
			case <-s.watch.stop:
				return
			case <-t.C:
			}
			var last, lastPos int64
			if err := s.r.QueryRowContext(ctx, ends).Scan(&last, &lastPos); err != nil || last <= seen {
				continue
			}
			var scopes []string
			rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT branch FROM events WHERE seq > ?1 AND seq <= ?2`, seen, last)
			if err != nil {
				continue
			}
			for rows.Next() {
				var b string
				if rows.Scan(&b) == nil {
					scopes = append(scopes, wire.BranchScope(b))
				}
			}
			rows.Close()
			if rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT scope FROM scope_log WHERE pos > ?1 AND pos <= ?2`, seenPos, lastPos); err == nil {
				for rows.Next() {
					var sc string
					if rows.Scan(&sc) == nil {
						scopes = append(scopes, sc)
					}
				}
				rows.Close()
			}
			seen, seenPos = last, lastPos
			if len(scopes) > 0 {
				s.feed.Publish(scopes)
			}
		}
	}()
}

func (s *Store) stopWatch() {
	if s.watch.stop != nil {
		close(s.watch.stop)
		<-s.watch.done
		s.watch.stop = nil
	}
}
