package httpapi

import (
	"math"
	"sync"
	"time"
)

// limiter is a token bucket per key (a client IP): each key holds up to
// burst tokens, refilled at rate per second; a request spends one. With the
// defaults (burst 10, one token every 6 s) a client gets 10 quick attempts
// and then 10 a minute, plenty for staff mistyping a code and useless for
// guessing an 80-bit one.
//
// Memory is bounded: beyond maxKeys buckets, those that have refilled
// completely (and so are indistinguishable from a new one) are dropped; if
// none has, the new key shares the overflow bucket, so a flood of spoofed
// addresses throttles itself rather than growing the map.
type limiter struct {
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

func newLimiter(rate float64, burst, maxKeys int, now func() time.Time) *limiter {
	return &limiter{
		rate: rate, burst: float64(burst), maxKeys: maxKeys, now: now,
		buckets:  make(map[string]*bucket),
		overflow: bucket{tokens: float64(burst), last: now()},
	}
}

// allow spends a token for key, or says how long until one is available.
func (l *limiter) allow(key string) (ok bool, retryAfter time.Duration) {
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
	wait := time.Duration(math.Ceil((1 - b.tokens) / l.rate * float64(time.Second)))
	return false, wait
}

func (l *limiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.rate)
		b.last = now
	}
}

func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if l.refill(b, now); b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
}
