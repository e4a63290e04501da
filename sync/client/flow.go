package client

import (
	"sync"

	"ombud/sync/wire"
)

// Flow control for links that drop (docs/SYNC.md section 6, "Links that
// drop"). A push is resent whole unless its push_ack arrived, so on a link
// that carries only some kilobytes before it drops, a push larger than that
// never gets through however often it is resent. The pusher therefore
// sizes its pushes by what the link has been seen to carry:
//
//   - While no connection has dropped with pushes in flight, the first push
//     of a connection is 64 KB and pushes double with every acknowledgement
//     up to the frame limit: a clean link reaches full speed within a few
//     round trips, and a link never tried is not bet on one megabyte.
//   - A connection that drops with pushes in flight tells how much the link
//     carries: the bytes acknowledged on it. The pusher keeps a moving
//     average of that (carried) and makes pushes an eighth of it, so the
//     push the drop cuts short (resent on the next connection) costs an
//     eighth of a connection's worth at most, and a connection's first push
//     almost always gets through.
//   - A connection that drops before its first push was acknowledged cuts
//     the estimate to its first push: the link carried less than that push,
//     so the next first push is an eighth of it. From a full frame the
//     floor is three such drops away, and the backoff does not grow for
//     them (Run): each is a new try, not the same one again.
//   - Within a connection pushes grow with what it has carried (an eighth of
//     it), so a link that got better is used fully again after a few pushes.
//   - A connection that stays up for Backoff.ResetAfter forgets the drops.
//
// None of this changes the protocol: a push of one event is as valid as one
// of a thousand.
const (
	// pushShare is the share of what a connection carries that one push
	// may take.
	pushShare = 8
	// minCarried floors the estimate: pushes of a kilobyte (one complaint,
	// and a push always holds at least one event) on the worst link.
	minCarried = pushShare << 10
	// firstPush bounds the first push on a link with no drop seen.
	firstPush = 64 << 10
	// carriedWeight is the weight of the newest connection in the moving
	// average, as 1/carriedWeight.
	carriedWeight = 4
)

// flow is the pusher's memory across connections. Sessions run one at a
// time, but Status and tests may read it: mu guards it.
type flow struct {
	mu      sync.Mutex
	carried int // estimate of the bytes one connection carries; 0 while no connection dropped mid-push
}

// pushCap is the largest push to send on a connection that has had
// acknowledged pushes of ackedBytes so far.
func (f *flow) pushCap(ackedBytes int) int {
	f.mu.Lock()
	carried := f.carried
	f.mu.Unlock()
	if carried == 0 {
		// No drop seen: start at firstPush and double with every
		// acknowledgement, so a link never tried before is not bet on one
		// frame-sized push, and a clean one reaches full frames within a
		// few round trips.
		return min(firstPush+ackedBytes, wire.MaxFrameBytes)
	}
	return min(max(carried, ackedBytes)/pushShare, wire.MaxFrameBytes)
}

// ended folds in how a connection ended: healthy says it stayed up long
// enough to forget earlier drops; otherwise a connection that dropped with
// pushes in flight says what the link carries (acked bytes, or less than its
// first push, firstBytes, when nothing was acknowledged). It reports whether
// the pushes got smaller, so the next connection tries something new.
func (f *flow) ended(healthy bool, inflight, acked, firstBytes int) (shrank bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case healthy:
		f.carried = 0
	case inflight == 0:
		// Dropped while idle (or only answering): no news about the link.
	case acked == 0:
		before := f.carried
		if before == 0 {
			before = wire.MaxFrameBytes * pushShare
		}
		f.carried = max(minCarried, min(before, firstBytes))
		return f.carried < before
	case f.carried == 0:
		f.carried = max(minCarried, acked)
	default:
		f.carried = max(minCarried, f.carried+(acked-f.carried)/carriedWeight)
	}
	return false
}

// carriedEstimate is the current estimate, for tests and the log.
func (f *flow) carriedEstimate() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.carried
}
