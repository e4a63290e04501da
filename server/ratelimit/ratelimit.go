// Package ratelimit owns the per-client token bucket the server's public
// endpoints share: each key (a client IP) holds up to burst tokens,
// refilled at a steady rate, and a request spends one.
// Enrolment (server/httpapi) and the tracking page (server/tracking) both
// use it.
//
// Memory is bounded: beyond maxKeys buckets, those that have refilled
// completely (and so are indistinguishable from a new one) are dropped; if
// none has, the new key shares one overflow bucket, so a flood of spoofed
// addresses throttles itself rather than growing the map.
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

	mu       sync.Mutex
	buckets  map[string]*bucket
	overflow bucket
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
		rate: rate, burst: float64(burst), maxKeys: maxKeys, now: now,
		buckets:  make(map[string]*bucket),
		overflow: bucket{tokens: float64(burst), last: now()},
	}
}

// Allow spends a token for key, or says how long until one is available.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.maxKeys {
			l.sweep(now)
		}
		if len(l.buckets) >= l.maxKeys {
			b = &l.overflow
		} else {
			b = &bucket{tokens: l.burst, last: now}
			l.buckets[key] = b
		}
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration(math.Ceil((1 - b.tokens) / l.rate * float64(time.Second)))
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
