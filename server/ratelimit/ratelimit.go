// Package ratelimit owns the per-client token bucket the server's public
// endpoints share: each key (a client IP) holds up to burst tokens,
// refilled at a steady rate, and a request spends one.
// Enrolment (server/httpapi) and the tracking page (server/tracking) both
// use it.
//
// Memory is bounded: beyond maxKeys buckets, those that have refilled
// completely (and so are indistinguishable from a new one) are dropped; if
// none has, one bucket picked at random is dropped to make room. A flood
// of addresses therefore costs its senders their own buckets, not every
// new client a shared one (which would let a flood lock everyone out);
// what stops a distributed scan is a budget over all clients (the tracking
// page's failed look-ups), not this.
package ratelimit

import (
	"math"
	"sync"
	"time"
)

// Limiter is a set of token buckets, one per key. Safe for concurrent use.
type Limiter struct {
	rate    float64 // tokens per second
	burst   float64
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter refilling rate tokens per second up to burst, for
// at most maxKeys distinct keys; now is its clock (time.Now when nil).
func New(rate float64, burst, maxKeys int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{
		rate: rate, burst: float64(burst), maxKeys: max(1, maxKeys), now: now,
		buckets: make(map[string]*bucket),
	}
}

// Allow spends a token for key, or says how long until one is available.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.bucket(key, now)
	l.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration(math.Ceil((1 - b.tokens) / l.rate * float64(time.Second)))
}

// Peek reports whether key has a token, without spending it.
func (l *Limiter) Peek(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return l.burst >= 1
	}
	l.refill(b, l.now())
	return b.tokens >= 1
}

// bucket returns key's bucket, making room for a new one if need be.
func (l *Limiter) bucket(key string, now time.Time) *bucket {
	if b := l.buckets[key]; b != nil {
		return b
	}
	if len(l.buckets) >= l.maxKeys {
		l.sweep(now)
	}
	for k := range l.buckets { // map order is random: one random victim
		if len(l.buckets) < l.maxKeys {
			break
		}
		delete(l.buckets, k)
	}
	b := &bucket{tokens: l.burst, last: now}
	l.buckets[key] = b
	return b
}

func (l *Limiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.rate)
		b.last = now
	}
}

func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if l.refill(b, now); b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// Len is the number of keys held.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
