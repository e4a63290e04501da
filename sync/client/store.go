package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"ombud/shared/event"
	"ombud/sync/wire"
)

// The client keeps nothing durable itself: the device's storage does, behind
// the interfaces below, which the device program implements (kiosk/store)
// and sync/synctest checks. What they promise is what docs/SYNC.md sections
// 6 and 7 ask of a device.

// Store is all the client needs of the device's storage.
type Store interface {
	Outbox
	Replica
	StatusSaver
}

// Outbox is the device's numbered queue of its own events still to be sent
// upstream (docs/SYNC.md section 6). The device assigns each event the next
// sequence (1, 2, 3, ... never reused, never skipped) in the same durable
// commit that stores it, before showing anything about it; the client only
// reads, acknowledges and quarantines. Safe for concurrent use: filing
// appends while the client reads and acknowledges.
type Outbox interface {
	// HighestSeq is the highest sequence ever assigned, 0 if none: the
	// client_hello's device_seq. It never goes back, not even once every
	// entry is acknowledged, or the server would take the device for a
	// restored backup (4005).
	HighestSeq(ctx context.Context) (int64, error)
	// OutboxAfter returns up to limit (at least 1) entries with a sequence
	// greater than seq, in sequence order. Entries become visible in
	// sequence order: a reader never sees N+1 while N, still in the
	// outbox, is not visible yet. A hole is an entry quarantined.
	OutboxAfter(ctx context.Context, seq int64, limit int) ([]wire.DeviceEvent, error)
	// OutboxCount is the number of entries not yet acknowledged or
	// quarantined.
	OutboxCount(ctx context.Context) (int, error)
	// AckOutbox forgets every entry with a sequence up to and including
	// upTo, and no other: the server holds them durably. The events stay
	// in the device's log. Acknowledging again, or past the last entry, is
	// harmless.
	AckOutbox(ctx context.Context, upTo int64) error
	// Quarantine moves entry seq, whose event is eventID, out of the
	// outbox into the quarantine with the server's reject code and
	// reason, in one commit. Quarantining it again is harmless. An entry
	// that already left the outbox (an acknowledgement overtook the
	// rejection) is quarantined by its event id, which the device's log
	// still holds. A sequence and event the device never had is
	// ErrNotInOutbox.
	Quarantine(ctx context.Context, seq int64, eventID string, code int, reason string) error
	// Quarantined lists the quarantined entries in sequence order.
	Quarantined(ctx context.Context) ([]QuarantinedEntry, error)
}

// Replica is the device's copy of the scopes it receives downstream, with
// one cursor per scope (docs/SYNC.md section 7). Safe for concurrent use
// with the Outbox.
type Replica interface {
	// Cursors returns the stored cursor of every scope received so far; a
	// scope absent from the map has cursor 0.
	Cursors(ctx context.Context) (map[string]int64, error)
	// ApplyRemote stores one batch of scope, the events with a global
	// sequence in (from, next], and moves the scope's cursor to next, in
	// one durable commit: after a crash both are there or neither is.
	// Events are stored idempotently by event id (the device's own come
	// back through its branch scope; a batch replayed after a crash is
	// harmless). If the stored cursor is not from, nothing is written and
	// the error is a *CursorError (ErrCursorMismatch).
	ApplyRemote(ctx context.Context, scope string, from, next int64, events []event.Event) error
}

// StatusSaver keeps the client's status for staff, who may read it from
// another process (`kiosk status`).
type StatusSaver interface {
	// SaveSyncStatus replaces the saved status. UpdatedAt is set to now
	// when zero.
	SaveSyncStatus(ctx context.Context, st SavedStatus) error
}

var (
	// ErrCursorMismatch: a downstream batch does not start at the stored
	// cursor, so a batch was lost or replayed out of order. Nothing was
	// written. Errors from Replica.ApplyRemote match it with errors.Is and
	// are a *CursorError.
	ErrCursorMismatch = errors.New("downstream batch does not start at the stored cursor")
	// ErrNotInOutbox: Outbox.Quarantine named a sequence that is neither
	// in the outbox nor already quarantined, and an event the device does
	// not hold.
	ErrNotInOutbox = errors.New("no such outbox entry")
)

// CursorError says which scope's batch did not fit its cursor.
type CursorError struct {
	Scope  string
	Stored int64 // the cursor stored for the scope (0 when none)
	From   int64 // where the batch starts
}

func (e *CursorError) Error() string {
	return fmt.Sprintf("scope %q: batch from %d, stored cursor %d: %v", e.Scope, e.From, e.Stored, ErrCursorMismatch)
}

// Is makes errors.Is(err, ErrCursorMismatch) true.
func (e *CursorError) Is(target error) bool { return target == ErrCursorMismatch }

// QuarantinedEntry is one of this device's events that the server refused
// for good, with the server's code and reason.
type QuarantinedEntry struct {
	Seq    int64
	Event  event.Event
	Code   int // 4003 forbidden (other branch), 4004 conflict, 4006 invalid
	Reason string
	At     time.Time // when it was quarantined
}

// SavedStatus is Status as the client saves it, for staff screens and
// `kiosk status`. Pending is not here: Outbox.OutboxCount is always
// current.
type SavedStatus struct {
	State       string    // State.String(): "offline", "connecting", "online", "gave up"
	LastSuccess time.Time // the last successful exchange with the server; zero if never
	LastError   string    // the last failure, safe to show staff; empty if none since
	CloseCode   int       // the close code of the last failure (0: none or not a close)
	UpdatedAt   time.Time // when this was saved
}
