package hub

import (
	"context"
	"errors"
	"net/http"
	"time"

	"ombud/sync/wire"
)

// The hub's two dependencies, declared here so that the server's storage and
// enrolment implement them (and say so with `var _ hub.Log = ...`) and the
// hub never imports the program that uses it. sync/synctest holds the
// conformance suite every Log implementation runs.

// Log is the server's event log as the sync hub uses it: what a device
// pushes goes in, what a device's scopes hold comes out. The rules an
// implementation must keep are docs/SYNC.md sections 6 and 7; the methods
// say which.
type Log interface {
	// Resume records that a device said hello (h: when, the highest
	// sequence it has assigned, its software; for the operator's view of
	// the fleet) and returns where its resend starts: the highest device
	// sequence up to which every sequence is durably handled (stored or
	// rejected). An unknown or revoked device is an error wrapping
	// ErrDeviceRevoked.
	Resume(ctx context.Context, deviceID string, h Hello) (ackedSeq int64, err error)

	// Push stores one push (docs/SYNC.md section 6) in one transaction and
	// answers per event: duplicates skipped, rejections recorded against
	// their (device, seq) so a resend gets the same answer, every other
	// event stored with the next global sequence. batch holds contiguous
	// ascending sequences (the wire format guarantees it); one that starts
	// beyond the device's handled sequence + 1 stores nothing and is an
	// error wrapping ErrGap. An unknown or revoked device wraps
	// ErrDeviceRevoked. The result's Rejected are in sequence order,
	// including rejections repeated for a resend.
	Push(ctx context.Context, deviceID string, batch []wire.DeviceEvent) (PushResult, error)

	// EventsAfter returns up to limit events of scope (a scope name, e.g.
	// wire.BranchScope(id)) with a global sequence above after, in global
	// sequence order. Global sequences are strictly increasing in commit
	// order, so paging with the last sequence returned sees every event
	// exactly once even while others commit. An unknown scope kind is an
	// error, never "everything".
	EventsAfter(ctx context.Context, scope string, after int64, limit int) ([]wire.ScopedEvent, error)

	// RevokedSince returns the ids of devices revoked at or after since,
	// in one read, so the hub re-checks every live connection at once.
	RevokedSince(ctx context.Context, since time.Time) ([]string, error)

	// OnCommit calls f after every commit that stored events, with the
	// scope names of what was stored (a device push, an event the server
	// made itself, a commit by another server process where the
	// implementation can see them). f runs on the committer's goroutine
	// and must not block. cancel stops the calls.
	OnCommit(f func(scopes []string)) (cancel func())
}

// Hello is what a device's hello tells the server about it.
type Hello struct {
	At        time.Time
	DeviceSeq int64  // the highest sequence the device has assigned
	Software  string // its build
}

// PushResult says what Log.Push did with a batch.
type PushResult struct {
	AckedSeq   int64             // highest contiguous device sequence durably handled (stored or rejected)
	Stored     int               // events stored for the first time
	Duplicates int               // events already stored
	Rejected   []wire.PushReject // in sequence order, including rejections repeated for a resend
}

// Device is an authenticated device as the hub serves it.
type Device struct {
	ID string
	// Scopes are the scope names the device may receive, decided by the
	// server from its enrolment, never from what it asks for. The hub
	// streams those it asks for and may have.
	Scopes []string
	// Role is what the device is (kiosk, staff, team), only to label what
	// the Observer is told; the hub decides nothing on it.
	Role string
}

// Observer is told what the hub does, for the server's metrics. Its
// methods run on the connections' goroutines and must not block.
type Observer interface {
	// Connected and Disconnected bracket a registered connection.
	Connected(d Device)
	Disconnected(d Device)
	// Pushed reports a push storage answered: what it did with it and how
	// long the call took (the commit, fsync included), or the error it
	// failed with (the connection is then closed and the device resends).
	Pushed(d Device, res PushResult, took time.Duration, err error)
	// Streamed reports an events message written to a device: how many
	// events, and the time from the commit that made its scope dirty to
	// the write (the fan-out latency; zero when the write was not caused
	// by a commit this process saw, such as a catch-up at connect).
	Streamed(d Device, events int, sinceCommit time.Duration)
}

// Authenticator checks a sync upgrade request's credential.
type Authenticator interface {
	// Authenticate returns the device the request's credential names. A
	// refused credential (unknown, wrong, revoked, malformed) is an error
	// wrapping ErrRefused, answered 401 before upgrading; any other error
	// means the check itself failed (503, the device retries).
	Authenticate(r *http.Request) (Device, error)
}

var (
	// ErrRefused marks an Authenticate error that refuses the credential.
	ErrRefused = errors.New("sync: device credential refused")
	// ErrDeviceRevoked marks a Log error for a device that is unknown or
	// revoked: its connection is closed with 4002.
	ErrDeviceRevoked = errors.New("sync: device unknown or revoked")
	// ErrGap marks a Log.Push error for a push that starts beyond the
	// device's handled sequence + 1: a transport fault (4500, reconnect).
	ErrGap = errors.New("sync: push starts after a gap in the device sequence")
)
