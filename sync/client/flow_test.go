package client

import (
	"testing"

	"ombud/sync/wire"
)

// The flow control's arithmetic: how each way a connection can end moves
// the size of the next pushes.
func TestFlowSizesPushesByWhatTheLinkCarries(t *testing.T) {
	var f flow
	if got := f.pushCap(0); got != firstPush {
		t.Fatalf("before any drop: first push %d, want %d", got, firstPush)
	}
	if got := f.pushCap(3 * firstPush); got != 4*firstPush {
		t.Fatalf("before any drop, %d acknowledged: cap %d, want %d (doubling)", 3*firstPush, got, 4*firstPush)
	}
	if got := f.pushCap(wire.MaxFrameBytes); got != wire.MaxFrameBytes {
		t.Fatalf("before any drop, a frame acknowledged: cap %d, want the frame limit", got)
	}
	// A connection drops before its first push (a full frame) got through:
	// the next first push is an eighth of it, and ended says it shrank.
	if !f.ended(false, 3, 0, wire.MaxFrameBytes) {
		t.Fatal("a drop before the first ack did not shrink the pushes")
	}
	if got := f.pushCap(0); got != wire.MaxFrameBytes/pushShare {
		t.Fatalf("after a drop with nothing acknowledged: cap %d, want %d", got, wire.MaxFrameBytes/pushShare)
	}
	// Again: the floor (a kilobyte) is three such drops from a full frame,
	// and once there, a drop no longer shrinks anything.
	drops := 1
	for f.ended(false, 1, 0, f.pushCap(0)) {
		drops++
	}
	if got := f.pushCap(0); got != minCarried/pushShare || drops != 4 {
		t.Fatalf("after %d shrinking drops: cap %d, want the floor %d after 4", drops, got, minCarried/pushShare)
	}
	// A connection that carried 160 KB before it dropped: the estimate
	// moves towards it, and pushes are an eighth of the estimate.
	for range 30 {
		f.ended(false, 2, 160<<10, 1<<10)
	}
	if est := f.carriedEstimate(); est < 150<<10 || est > 160<<10 {
		t.Fatalf("after connections carrying 160 KB: estimate %d, want near %d", est, 160<<10)
	}
	if got := f.pushCap(0); got != f.carriedEstimate()/pushShare {
		t.Fatalf("cap %d, want an eighth of the estimate %d", got, f.carriedEstimate())
	}
	// Within a connection, pushes grow with what it has carried.
	if got := f.pushCap(4 << 20); got != min(4<<20/pushShare, wire.MaxFrameBytes) {
		t.Fatalf("after 4 MB on this connection: cap %d, want %d", got, min(4<<20/pushShare, wire.MaxFrameBytes))
	}
	// A drop while nothing was in flight says nothing about the link.
	before := f.carriedEstimate()
	f.ended(false, 0, 0, 0)
	if got := f.carriedEstimate(); got != before {
		t.Fatalf("idle drop moved the estimate from %d to %d", before, got)
	}
	// A connection that stayed up long enough forgets the drops.
	f.ended(true, 2, 10<<10, 1<<10)
	if got := f.pushCap(0); got != firstPush {
		t.Fatalf("after a healthy connection: cap %d, want a fresh start at %d", got, firstPush)
	}
}
