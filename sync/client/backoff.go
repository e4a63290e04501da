package client

import (
	"math/rand/v2"
	"time"
)

// Backoff is the reconnect policy (docs/SYNC.md section 8): full jitter,
// exponential, capped. Full jitter rather than "delay ± some": after a server
// restart every kiosk of the fleet drops at once, and only a delay drawn from
// the whole interval spreads their reconnects out instead of moving the
// stampede. The zero value is the production policy.
type Backoff struct {
	Base       time.Duration // first interval (1 s when zero); doubles per failed attempt
	Cap        time.Duration // largest interval (60 s when zero)
	ResetAfter time.Duration // a connection up this long starts the next failure from Base again (60 s when zero)
	// Quick bounds the wait after a connection that moved the outbox
	// forward while more is waiting (Base/20 when zero): a link that drops
	// every few hundred kilobytes is used, not waited on.
	Quick time.Duration
}

// Production values (docs/SYNC.md section 8).
const (
	DefaultBackoffBase  = time.Second
	DefaultBackoffCap   = 60 * time.Second
	DefaultBackoffReset = 60 * time.Second
)

func (b Backoff) withDefaults() Backoff {
	if b.Base <= 0 {
		b.Base = DefaultBackoffBase
	}
	if b.Cap <= 0 {
		b.Cap = DefaultBackoffCap
	}
	if b.Cap < b.Base {
		b.Cap = b.Base
	}
	if b.ResetAfter <= 0 {
		b.ResetAfter = DefaultBackoffReset
	}
	if b.Quick <= 0 {
		b.Quick = b.Base / 20
	}
	return b
}

// Delay is the wait before reconnect attempt n (0 for the first after a
// drop): uniform in [0, min(Cap, Base·2^n)]. Zero fields take their defaults.
func (b Backoff) Delay(attempt int, r *rand.Rand) time.Duration {
	b = b.withDefaults()
	ceil := b.Base
	for i := 0; i < attempt && ceil < b.Cap; i++ {
		ceil *= 2 // stops at the cap, so it cannot overflow
	}
	ceil = min(ceil, b.Cap)
	return time.Duration(r.Int64N(int64(ceil) + 1))
}

// ShutdownDelay is the first wait after the server said it is shutting down
// (4009): uniform in [Base, 10·Base], 1-10 s by default. Never immediate,
// because the server is not back yet, and spread wide because the whole
// fleet got the same close at the same moment.
func (b Backoff) ShutdownDelay(r *rand.Rand) time.Duration {
	b = b.withDefaults()
	return b.Base + time.Duration(r.Int64N(int64(9*b.Base)+1))
}

// QuickDelay is the wait after a connection that made progress while more
// is waiting: uniform in [0, Quick]. Still jittered: a fleet whose
// connections a server restart cut at once spreads out, and a server that
// is down refuses the dial, after which Delay applies again.
func (b Backoff) QuickDelay(r *rand.Rand) time.Duration {
	b = b.withDefaults()
	return time.Duration(r.Int64N(int64(b.Quick) + 1))
}
