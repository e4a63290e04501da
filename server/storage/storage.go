// Package storage owns the central server's storage contract: the branches,
// the enrolled devices and their credentials, the staff accounts, the event
// log every device feeds, and the small projections the server looks things
// up by.
//
// It holds interfaces and plain Go types only, no SQL and no driver, so the
// embedded SQLite implementation (package storage/sqlite) and a later
// PostgreSQL one promise the same behaviour and pass the same tests. The
// guarantees that sync depends on (docs/SYNC.md, ARCHITECTURE.md "Sync") are
// stated here, on the methods, because every implementation must keep them:
//
//   - Ingest is idempotent and all-or-nothing per batch; Push is idempotent,
//     answers per event, and commits the whole push in one transaction.
//   - Global sequences are strictly increasing in commit order, so a reader
//     that has seen sequence N will never later find a committed event below
//     N it has not seen: a cursor is enough to resume.
//   - A device's acknowledged sequence only covers events durably stored.
package storage

import (
	"context"
	"errors"
	"time"

	"ombud/shared/event"
)

// Store is everything the server keeps. Callers should depend on the smaller
// interface they need (Devices, Events) so a fake or a second backend stays
// easy to write.
type Store interface {
	Devices
	Events
	Staff
	// Stats counts what is stored; for tests, the simulator and /metrics.
	Stats(ctx context.Context) (Stats, error)
	// Close releases the database. Calls after Close fail.
	Close() error
}

// Devices is the fleet: branches, one-time enrolment codes and the devices
// they enrolled. Secrets never reach the store in the clear: callers pass
// hashes (the store compares bytes and chooses no algorithm), so a leaked
// database does not let anyone enrol or impersonate a device.
type Devices interface {
	// CreateBranch adds a branch. Conflict if the id exists; Invalid if id or
	// name is empty.
	CreateBranch(ctx context.Context, id, name string) error

	// CreateEnrolment records a one-time enrolment code (by its hash) that
	// enrols one device into branchID until expiresAt. NotFound if the branch
	// does not exist; Conflict if the hash is already recorded.
	CreateEnrolment(ctx context.Context, branchID string, codeHash []byte, expiresAt time.Time) error

	// RedeemEnrolment spends the code and creates the device in one
	// transaction: the device gets the code's branch, credentialHash, and the
	// next free tracking-code prefix (see PrefixForSequence), which it returns.
	// It fails with NotFound for an unknown code, Expired when now is at or
	// after the code's expiry, and Conflict for a code already used (also when
	// two redemptions race: exactly one wins) or a device id already enrolled.
	RedeemEnrolment(ctx context.Context, codeHash []byte, now time.Time, deviceID string, credentialHash []byte) (Device, error)

	// Device returns an enrolled device, revoked or not: the caller decides
	// what a revocation means for its request. NotFound if unknown.
	Device(ctx context.Context, id string) (Device, error)

	// RevokeDevice stops the device from syncing from at onwards. Revoking
	// again keeps the first time (the audit trail wants when it happened).
	// NotFound if unknown.
	RevokeDevice(ctx context.Context, id string, at time.Time) error

	// RevokedSince returns the ids of devices revoked at or after since, in
	// one read, so a sync hub can re-check every live connection at once
	// instead of one read per connected device.
	RevokedSince(ctx context.Context, since time.Time) ([]string, error)
}

// Events is the event log: what devices send in, and what the server hands
// back out by scope.
type Events interface {
	// Ingest stores a device's batch in one transaction (one commit, one
	// fsync), so a batch is either wholly durable or not at all.
	//
	// Each event is stored at most once: an event whose id, or whose
	// (device, Seq), is already stored counts as a duplicate, not an error,
	// because devices resend everything unacked after a reconnect. The same
	// (device, Seq) with a different event id is a Conflict, and the whole
	// batch is refused: the device has broken its numbering and storing
	// either event would hide that.
	//
	// Each newly stored event gets the next global sequence. A Filed event
	// also adds its complaint to the complaints projection; a tracking code
	// that another complaint already has is a Conflict.
	//
	// AckedSeq is the device's highest contiguous Seq durably stored, across
	// this and earlier batches: with 1, 2 and 4 stored it is 2 until 3 arrives.
	// The device may forget everything up to AckedSeq. An empty batch only
	// reports AckedSeq: where a reconnecting device resumes.
	//
	// Errors: NotFound for an unknown device, Revoked for a revoked one,
	// Invalid for a malformed event (Seq < 1, missing ids, a Filed event
	// without a usable complaint) or a batch over MaxBatch.
	Ingest(ctx context.Context, deviceID string, batch []DeviceEvent) (IngestResult, error)

	// Push stores one sync push (docs/SYNC.md section 6) and answers per
	// event, all in one transaction (one commit, one fsync). Unlike Ingest,
	// a bad event does not refuse the batch: it is rejected and the
	// rejection is recorded against (device, Seq), so the sequence is
	// consumed (AckedSeq passes it) and a resend of it gets the same
	// rejection instead of a loop. For each event, in order:
	//
	//   - (device, Seq) already holds this event id: a duplicate, skipped;
	//     it already holds a rejection of this id: the same rejection again;
	//   - (device, Seq) holds another event id, or the event id is stored
	//     under another (device, Seq): RejectConflict;
	//   - the event's Branch is not the device's branch, or the complaint it
	//     names is stored under another branch (an event may lie in its
	//     Branch field), or a Filed complaint names another branch:
	//     RejectForbidden;
	//   - its actor is staff (Actor.Kind event.ActorStaff) and Actor.ID is
	//     not an account (exactly its id), or an account of another branch
	//     than the device's, or one revoked more than StaffRevocationGrace
	//     before the event's clock time (what was done offline before the
	//     revocation is kept), or one whose role may not record the event's
	//     type (staff.Can; the reason is staff.Why): RejectForbidden. A
	//     Filed event may have a staff actor (staff filing for a walk-in
	//     customer) and is checked the same way; any other actor is
	//     RejectForbidden unless the event is a Filed event by the device
	//     (a kiosk's customer), so a device cannot skip these checks by
	//     not naming staff;
	//   - the domain refuses it (a Filed event whose data is not a valid
	//     complaint, a complaint filed twice, a tracking code another
	//     complaint has): RejectInvalid;
	//   - otherwise it is stored with the next global sequence.
	//
	// batch must hold contiguous ascending sequences (the wire format
	// guarantees it); a batch whose first Seq is beyond AckedSeq+1 is an
	// Invalid error wrapping ErrGap and stores nothing: the device broke
	// the resend rule. Other errors: NotFound for an unknown device, Revoked
	// for a revoked one, Invalid for an empty or malformed batch.
	Push(ctx context.Context, deviceID string, batch []DeviceEvent) (PushResult, error)

	// EventsAfter returns up to limit events in scope with a global sequence
	// greater than after, in global sequence order. Passing the last
	// GlobalSeq returned as the next after pages through every event exactly
	// once, even while others are being ingested. limit is capped at MaxPage;
	// a limit below 1 is Invalid, as is an empty scope.
	EventsAfter(ctx context.Context, scope Scope, after int64, limit int) ([]StoredEvent, error)

	// ComplaintByCode finds a filed complaint by its canonical tracking code
	// (see trackcode.Parse). NotFound, wrapping complaint.ErrNotFound, if none.
	ComplaintByCode(ctx context.Context, code string) (Complaint, error)

	// ComplaintEvents returns every stored event of one complaint, whoever
	// made it (any device of the branch, or the server), in global sequence
	// order. The caller folds them (lifecycle.Fold), which orders by clock.
	// An unknown complaint gives no events and no error: events may arrive
	// before their Filed event.
	ComplaintEvents(ctx context.Context, complaintID string) ([]StoredEvent, error)

	// Append stores events the server makes itself (a customer acting on
	// the tracking page, dispatch, escalation), all in one transaction, and
	// returns them as stored, in the order given. Each gets the next global
	// sequence, so it streams to the branch's devices through EventsAfter
	// like any device event; it has no device and no device sequence.
	//
	// Append is idempotent by event id: an id already stored (by anyone, or
	// earlier in the batch) is not stored again, and the stored event is
	// returned in its place, so a retry after a crash or a resubmitted form
	// does nothing twice.
	//
	// Errors: Invalid for a malformed event (missing ids, type or branch),
	// an actor other than customer or system (devices' events come through
	// Push), a Filed event (complaints are filed on devices, where the
	// receipt is printed), a Branch that is not the complaint's, or a batch
	// empty or over MaxBatch; NotFound for a complaint not filed. Nothing is
	// stored when any event is refused.
	Append(ctx context.Context, events []event.Event) ([]StoredEvent, error)
}

// Bounds on one call, so a single request cannot hold the writer (or a
// reader) for long. Larger batches are the sync layer's to split.
const (
	MaxBatch = 1000  // events in one Ingest
	MaxPage  = 10000 // events returned by one EventsAfter
)

// Device is an enrolled branch device (kiosk or staff terminal).
type Device struct {
	ID             string
	Branch         string
	CredentialHash []byte
	// Prefix is the device's fleet-unique tracking-code prefix
	// (trackcode.PrefixLen symbols), assigned at enrolment and never reused.
	Prefix     string
	EnrolledAt time.Time
	RevokedAt  time.Time // zero while the device is allowed to sync
	// AckedSeq is the highest contiguous device sequence stored: where the
	// device's resend starts after a reconnect.
	AckedSeq int64
}

// Revoked reports whether the device has been revoked.
func (d Device) Revoked() bool { return !d.RevokedAt.IsZero() }

// DeviceEvent is one event as a device sends it, numbered by the device's own
// gap-free outbox sequence (1, 2, 3, ...).
type DeviceEvent struct {
	Seq   int64
	Event event.Event
}

// IngestResult says what Ingest did with a batch.
type IngestResult struct {
	AckedSeq   int64 // highest contiguous device sequence durably stored
	Stored     int   // events stored for the first time
	Duplicates int   // events already stored before (or earlier in the batch)
}

// ErrGap is wrapped by Push's error when a push starts beyond the device's
// acknowledged sequence + 1.
var ErrGap = errors.New("push starts after a gap in the device sequence")

// RejectCode says why Push refused an event. The values are the protocol's
// push_reject codes (docs/SYNC.md section 8), so the hub passes them on
// unchanged.
type RejectCode int

const (
	RejectForbidden RejectCode = 4003 // another branch's event or complaint, or a staff actor who may not record it
	RejectConflict  RejectCode = 4004 // the seq or the event id is held for a different event
	RejectInvalid   RejectCode = 4006 // refused by the domain
)

// Rejection is one event Push refused. Reason is safe to send to the device:
// it names no stored data beyond the event's own id.
type Rejection struct {
	Seq     int64
	EventID string
	Code    RejectCode
	Reason  string
}

// PushResult says what Push did with a batch.
type PushResult struct {
	AckedSeq   int64       // highest contiguous device sequence durably handled (stored or rejected)
	Stored     int         // events stored for the first time
	Duplicates int         // events already stored
	Rejected   []Rejection // in sequence order, including rejections repeated for a resend
}

// StoredEvent is an event with the global sequence the server gave it: the
// cursor devices resume from.
type StoredEvent struct {
	GlobalSeq int64
	Event     event.Event
}

// Scope selects which events a reader may see. A device's scope comes from
// its enrolment, never from what it asks for.
type Scope struct {
	// Branch selects events of complaints filed at this branch.
	Branch string
	// All selects every branch. It is for the server's own consumers
	// (dispatch, reports, a standby), never for a device's subscription:
	// an empty Branch is refused rather than read as "everything", so a
	// forgotten field cannot leak another branch's complaints.
	All bool
}

// Complaint is the projection row of a filed complaint: enough to find it by
// tracking code and route it. The complaint itself lives in its Filed event.
type Complaint struct {
	ID       string
	Code     string
	Branch   string
	Category string
	FiledAt  time.Time
	// FiledEventID is the Filed event the row was made from.
	FiledEventID string
}

// Stats are counts of what is stored.
type Stats struct {
	Branches   int64
	Devices    int64
	Events     int64
	Complaints int64
	// LastGlobalSeq is the highest global sequence given so far.
	LastGlobalSeq int64
}
