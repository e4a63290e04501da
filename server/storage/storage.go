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
//   - Push is idempotent, answers per event by the shared admission rules
//     (server/admit), and commits the whole push in one transaction.
//   - Global sequences are strictly increasing in commit order, so a reader
//     that has seen sequence N will never later find a committed event below
//     N it has not seen: a cursor is enough to resume.
//   - A device's acknowledged sequence only covers events durably stored.
package storage

import (
	"context"
	"time"

	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

// Store is everything the server keeps. Callers should depend on the smaller
// interface they need (Devices, Events) so a fake or a second backend stays
// easy to write.
type Store interface {
	Devices
	Events
	Staff
	Sessions
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
	// enrols one device, with the role and teams it says, into its branch
	// until its expiry. NotFound if the branch does not exist; Conflict if
	// the hash is already recorded; Invalid for a role or teams that do not
	// go together (device.CheckTeams).
	CreateEnrolment(ctx context.Context, e Enrolment) error

	// RedeemEnrolment spends the code and creates the device in one
	// transaction: the device gets the code's branch, role and teams,
	// credentialHash, and the next free tracking-code prefix (see
	// PrefixForSequence), which it returns.
	// It fails with NotFound for an unknown code, Expired when now is at or
	// after the code's expiry, and Conflict for a code already used (also when
	// two redemptions race: exactly one wins) or a device id already enrolled.
	RedeemEnrolment(ctx context.Context, codeHash []byte, now time.Time, deviceID string, credentialHash []byte) (Device, error)

	// Device returns an enrolled device, revoked or not: the caller decides
	// what a revocation means for its request. NotFound if unknown.
	Device(ctx context.Context, id string) (Device, error)

	// SetDeviceRole changes what an enrolled device is (the operator's
	// correction, e.g. for a staff terminal enrolled before roles existed).
	// NotFound if unknown; Invalid as for CreateEnrolment.
	SetDeviceRole(ctx context.Context, id string, role device.Role, teams []string) error

	// DeviceActivity returns a device's latest stored events and recorded
	// rejections, newest first, at most limit of each, for the operator.
	// NotFound if the device is unknown.
	DeviceActivity(ctx context.Context, id string, limit int) (Activity, error)

	// DevicesToReview returns the devices whose role the operator should
	// confirm: ones that recorded staff actions before roles existed, made
	// kiosks by the upgrade, until SetDeviceRole is called for them.
	DevicesToReview(ctx context.Context) ([]string, error)

	// RevokeDevice stops the device from syncing from at onwards. Revoking
	// again keeps the first time (the audit trail wants when it happened).
	// NotFound if unknown.
	RevokeDevice(ctx context.Context, id string, at time.Time) error

	// ListDevices returns every device, revoked ones included, in
	// enrolment order (ties by id). For the operator's fleet view.
	ListDevices(ctx context.Context) ([]Device, error)

	// Branch returns a branch. NotFound if unknown.
	Branch(ctx context.Context, id string) (Branch, error)

	// RevokedSince (part of hub.Log, see Events) returns the ids of devices
	// revoked at or after since, in one read, so a sync hub can re-check
	// every live connection at once instead of one read per device.
}

// Activity is what a device recently pushed, as the server holds it.
type Activity struct {
	Events     []PushedEvent
	Rejections []RecordedRejection
}

// PushedEvent is a stored event with its device sequence, when the server
// stored it and how it attributed it (admit.Decision.Attest).
type PushedEvent struct {
	DeviceSeq int64
	StoredAt  time.Time
	Attest    string
	Event     event.Event
}

// RecordedRejection is a push_reject the server keeps against a device's
// sequence.
type RecordedRejection struct {
	DeviceSeq  int64
	EventID    string
	Code       int
	Reason     string
	RejectedAt time.Time
}

// Branch is a branch of the organisation: where devices are enrolled and
// complaints filed.
type Branch struct {
	ID   string
	Name string // shown to staff and customers
}

// Events is the event log: what devices push in, what the server makes
// itself, and what the server hands back out by scope. It is the sync hub's
// Log (docs/SYNC.md sections 6 and 7, sync/synctest checks an
// implementation), plus the reads the rest of the server makes.
//
// Push applies the admission rules of package server/admit, which every
// backend shares: it looks up what admit.Batch.Keys asks for inside the
// push's transaction, calls Decide, and writes the decisions. A Filed event
// that is stored also adds its complaint to the complaints projection. A
// rejection is recorded against (device, Seq), so the sequence is consumed
// (the ack passes it) and a resend gets the same rejection instead of a
// loop. Errors beyond hub.Log's: Invalid for an empty or over-long batch.
type Events interface {
	hub.Log

	// AllEventsAfter is EventsAfter over every scope, for the server's own
	// consumers (the case engine, reports, a standby), never for a device:
	// a device's scope comes from its enrolment.
	AllEventsAfter(ctx context.Context, after int64, limit int) ([]StoredEvent, error)

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
	MaxBatch = wire.MaxEventsPerBatch // events in one Push or Append
	MaxPage  = 10000                  // events returned by one EventsAfter
)

// Enrolment is a one-time enrolment code as stored: its hash, never the
// code, and what it makes of the device that redeems it.
type Enrolment struct {
	Branch    string
	CodeHash  []byte
	ExpiresAt time.Time
	Role      device.Role
	Teams     []string // for a team terminal
}

// Device is an enrolled branch device (kiosk, staff or team terminal).
type Device struct {
	ID             string
	Branch         string
	Role           device.Role
	Teams          []string // the teams a team terminal serves
	CredentialHash []byte
	// Prefix is the device's fleet-unique tracking-code prefix
	// (trackcode.PrefixLen symbols), assigned at enrolment and never reused.
	Prefix     string
	EnrolledAt time.Time
	RevokedAt  time.Time // zero while the device is allowed to sync
	// AckedSeq is the highest contiguous device sequence stored: where the
	// device's resend starts after a reconnect.
	AckedSeq int64
	// What the device said at its last hello (zero time: never connected,
	// or not yet written): the highest sequence it had assigned then, so
	// LastDeviceSeq - AckedSeq is its backlog as the server last saw it.
	LastHelloAt   time.Time
	LastDeviceSeq int64
	Software      string
}

// Revoked reports whether the device has been revoked.
func (d Device) Revoked() bool { return !d.RevokedAt.IsZero() }

// StoredEvent is an event with the global sequence the server gave it: the
// cursor devices resume from.
type StoredEvent = wire.ScopedEvent

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
