package storage

import (
	"context"
	"time"

	"ombud/shared/event"
)

// Privacy is what retention, erasure, legal holds and subject access need
// (package server/privacy). The rules (what is personal, when a case is
// due, who may approve) are the privacy package's and shared/redact's; the
// store only applies them in one transaction.
type Privacy interface {
	// Redact removes the personal data from every stored event of the
	// complaint (shared/redact.Payload), keeping each payload's hash so
	// the audit chain verifies, marks those rows redacted, empties the
	// payloads of its outbound jobs (skipping pending ones), and appends
	// marker, its Redacted event, in the same transaction. done is false
	// when the complaint was redacted already (its later events, if any,
	// are redacted all the same, and no second marker is stored).
	// NotFound for an unknown complaint; Conflict, naming the reason, for
	// one under a legal hold.
	Redact(ctx context.Context, complaintID string, marker event.Event, at time.Time) (done bool, err error)

	// Sweep makes what redactions replaced leave the database's files
	// (a WAL checkpoint; nothing to do for a server database). done is
	// false when it must be tried again later.
	Sweep(ctx context.Context) (done bool, err error)

	// ClosedCases lists closed cases not redacted yet, closed before
	// before, ordered by complaint id after after, at most limit.
	ClosedCases(ctx context.Context, before time.Time, after string, limit int) ([]ClosedCase, error)

	// ScanFiled calls fn with the Filed event of every complaint whose
	// text is still held (not redacted), in sequence order.
	ScanFiled(ctx context.Context, fn func(StoredEvent) error) error

	// SetHold puts a complaint under a legal hold (replacing the reason
	// of an existing one). NotFound for an unknown complaint.
	SetHold(ctx context.Context, h Hold) error
	// ClearHold lifts it; NotFound if there was none.
	ClearHold(ctx context.Context, complaintID string) error
	// Holds lists every hold, by complaint id.
	Holds(ctx context.Context) ([]Hold, error)

	// CreateErasure records a pending request. Conflict if the id exists.
	CreateErasure(ctx context.Context, r ErasureRequest) error
	// Erasure returns a request; NotFound if unknown.
	Erasure(ctx context.Context, id string) (ErasureRequest, error)
	// Erasures lists requests, newest first.
	Erasures(ctx context.Context) ([]ErasureRequest, error)
	// CloseErasure moves a pending request to state (done or cancelled)
	// with who approved it and the outcome. Conflict if it is not pending
	// any more (two approvals racing: one wins).
	CloseErasure(ctx context.Context, id, state, by string, at time.Time, outcome string) error

	// LogPrivacy appends to the privacy log; PrivacyLog reads it, newest
	// first.
	LogPrivacy(ctx context.Context, e PrivacyEntry) error
	PrivacyLog(ctx context.Context, limit int) ([]PrivacyEntry, error)
}

// ClosedCase is a retention candidate.
type ClosedCase struct {
	ComplaintID string
	Code        string
	Category    string
	ClosedAt    time.Time
}

// Hold is a legal hold on one complaint.
type Hold struct {
	ComplaintID string
	Reason      string
	SetBy       string
	SetAt       time.Time
}

// Erasure request states.
const (
	ErasurePending   = "pending"
	ErasureDone      = "done"
	ErasureCancelled = "cancelled"
)

// ErasureRequest is a customer's request to erase their data, recorded by
// one supervisor and carried out when another approves it.
type ErasureRequest struct {
	ID          string
	Subject     string   // "code:<code>", "email:<hash>", "phone:<hash>": never an address
	Complaints  []string // the complaint ids it covers
	Reason      string
	RequestedBy string
	RequestedAt time.Time
	State       string
	ApprovedBy  string
	ApprovedAt  time.Time
	Outcome     string
}

// PrivacyEntry is one line of the privacy log.
type PrivacyEntry struct {
	At      time.Time
	Actor   string // a staff id, "operator", or "system/retention"
	Action  string // e.g. "erasure.request", "erasure.approve", "hold.set", "redact", "subject-access"
	Subject string // a complaint id, a request id or a hashed contact
	Detail  string // plain words, never personal data
}
