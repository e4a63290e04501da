// Package hlc owns the hybrid logical clock that timestamps every event.
//
// A Timestamp packs wall-clock milliseconds in the high 48 bits and a logical
// counter in the low 16, so timestamps compare as plain integers, survive a
// wall clock that steps backwards, and still read as a time for people.
// Ties between nodes are broken by event id, not here.
package hlc

import (
	"fmt"
	"sync"
	"time"
)

// Timestamp is a hybrid logical clock reading: (unix ms << 16) | logical.
type Timestamp uint64

const logicalBits = 16

// Make builds a timestamp from wall milliseconds and a logical counter.
func Make(wallMS int64, logical uint16) Timestamp {
	return Timestamp(uint64(wallMS)<<logicalBits | uint64(logical))
}

// WallMS is the wall-clock part in unix milliseconds.
func (t Timestamp) WallMS() int64 { return int64(uint64(t) >> logicalBits) }

// Logical is the counter part.
func (t Timestamp) Logical() uint16 { return uint16(t) }

// Time is the wall-clock part as a time.Time in UTC.
func (t Timestamp) Time() time.Time { return time.UnixMilli(t.WallMS()).UTC() }

func (t Timestamp) String() string {
	return fmt.Sprintf("%s+%d", t.Time().Format(time.RFC3339Nano), t.Logical())
}

// Clock issues monotonic timestamps. The zero value is not usable: use New.
type Clock struct {
	mu   sync.Mutex
	now  func() time.Time
	last Timestamp
}

// New returns a clock reading wall time from now (time.Now when nil).
func New(now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now}
}

// Now returns a timestamp greater than every one this clock has issued or observed.
func (c *Clock) Now() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	wall := c.now().UnixMilli()
	if wall > c.last.WallMS() {
		c.last = Make(wall, 0)
	} else {
		c.last = c.next(c.last)
	}
	return c.last
}

// MaxAhead is how far ahead of a node's own wall clock a timestamp it
// receives may be. Clocks of honest nodes (NTP, or a device that observed
// the server's time at its last hello) agree far better than this; a
// reading beyond it comes from a broken clock or from someone who wants to
// drag every later event of the fleet into the future, so it is refused
// where events are admitted and never observed.
const MaxAhead = 5 * time.Minute

// Ahead reports whether t is more than MaxAhead past now.
func Ahead(t Timestamp, now time.Time) bool {
	return t.WallMS() > now.Add(MaxAhead).UnixMilli()
}

// Observe folds in a timestamp received from another node, so that events this
// node makes afterwards order after it. A timestamp too far ahead of this
// node's wall clock (Ahead) is not folded in, and Observe reports false: one
// untrusted reading must not move the clock every later event takes its time
// from (the clock of a server is shared by every case).
func (c *Clock) Observe(remote Timestamp) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if Ahead(remote, c.now()) {
		return false
	}
	if remote > c.last {
		c.last = remote
	}
	return true
}

// next is the smallest timestamp after t; when the logical counter is
// exhausted it borrows the next millisecond rather than wrapping.
func (c *Clock) next(t Timestamp) Timestamp {
	if t.Logical() == 1<<logicalBits-1 {
		return Make(t.WallMS()+1, 0)
	}
	return t + 1
}
