package delivery

import (
	"math/rand/v2"
	"time"
)

// Backoff is the retry schedule: the wait before attempt n+1 after n
// failures is Base·2^(n-1), capped at Max, with equal jitter (a random
// point in its second half) so that jobs failing together do not retry
// together, and after Attempts failures the job is given up.
type Backoff struct {
	Base     time.Duration
	Max      time.Duration
	Attempts int
}

// DefaultBackoff retries for about a day: 30 s, 1 min, 2 min, ... capped at
// 2 h, twenty attempts. A receiver down for an afternoon still gets its
// messages; a customer is not told about a step a week late.
var DefaultBackoff = Backoff{Base: 30 * time.Second, Max: 2 * time.Hour, Attempts: 20}

// Wait is the delay after the n-th failure (n from 1). r returns a number in
// [0, 1); nil uses math/rand.
func (b Backoff) Wait(n int, r func() float64) time.Duration {
	if r == nil {
		r = rand.Float64
	}
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	half := d / 2
	return half + time.Duration(r()*float64(d-half))
}

// GiveUp reports whether a job that has failed n times is out of attempts.
func (b Backoff) GiveUp(n int) bool { return n >= b.Attempts }
