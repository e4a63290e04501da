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
		var seen int64
		if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events`).Scan(&seen); err != nil {
			seen = 0
		}
		t := time.NewTicker(watchInterval)
		defer t.Stop()
		for {
			select {
			case <-s.watch.stop:
				return
			case <-t.C:
			}
			var last int64
			if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events`).Scan(&last); err != nil || last <= seen {
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
			if rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT scope FROM scope_log WHERE event_seq > ?1 AND event_seq <= ?2`, seen, last); err == nil {
				for rows.Next() {
					var sc string
					if rows.Scan(&sc) == nil {
						scopes = append(scopes, sc)
					}
				}
				rows.Close()
			}
			seen = last
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
