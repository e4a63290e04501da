package storage

import (
	"slices"
	"sync"
)

// Feed is the commit feed a storage publishes (hub.Log's OnCommit): after
// every commit that stored events, each subscriber is called with the
// scopes of what was stored. The sync hub wakes the devices streaming them,
// the case engine folds the new events; neither knows who stored them (a
// device push, the tracking page, the engine itself).
//
// Subscribers run on the committer's goroutine, in subscription order, and
// must not block: each of ours sets a flag and pokes a one-slot channel.
// The zero value is ready to use.
type Feed struct {
	mu   sync.RWMutex
	subs []*subscriber
}

type subscriber struct{ f func(scopes []string) }

// OnCommit subscribes f; cancel unsubscribes it (safe to call twice).
func (fd *Feed) OnCommit(f func(scopes []string)) (cancel func()) {
	s := &subscriber{f: f}
	fd.mu.Lock()
	fd.subs = append(fd.subs, s)
	fd.mu.Unlock()
	return func() {
		fd.mu.Lock()
		fd.subs = slices.DeleteFunc(fd.subs, func(x *subscriber) bool { return x == s })
		fd.mu.Unlock()
	}
}

// Publish calls every subscriber with scopes. Call it after the commit,
// never inside the transaction: a subscriber reads the log at once.
func (fd *Feed) Publish(scopes []string) {
	if len(scopes) == 0 {
		return
	}
	fd.mu.RLock()
	defer fd.mu.RUnlock()
	for _, s := range fd.subs {
		s.f(scopes)
	}
}
