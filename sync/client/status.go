package client

import (
	"fmt"
	"net/http"
	"time"

	"ombud/sync/wire"
)

// State is where the client's loop is.
type State int

const (
	Offline    State = iota // not connected: not started, waiting to reconnect, or stopped
	Connecting              // dialling or exchanging hellos
	Online                  // hellos exchanged: pushing and receiving
	GaveUp                  // stopped for good: only staff (re-enrolment) or an upgrade helps
)

var stateNames = [...]string{Offline: "offline", Connecting: "connecting", Online: "online", GaveUp: "gave up"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state %d", int(s))
}

// Status is what staff see of the sync client.
type Status struct {
	State State
	// Pending is the number of outbox entries the server has not yet
	// acknowledged (complaints filed here that the server may not hold).
	Pending     int
	LastSuccess time.Time      // the last successful exchange; zero if never
	LastError   string         // why the last connection ended, or why the client gave up; safe to show
	CloseCode   wire.CloseCode // the close code behind LastError, 0 if none
	// WaitingSince is when the outbox last went from empty to not empty:
	// how long complaints have been waiting to be sent. Zero when Pending
	// is 0.
	WaitingSince time.Time
	// Drops counts the connections that ended with pushes unacknowledged
	// since WaitingSince: the link, not the server, is failing.
	Drops int
}

// StallAfter is how long a backlog may wait, with connections dropping
// mid-push, before Unstable says so.
const StallAfter = 2 * time.Minute

// Unstable reports whether the device is not catching up because its link
// keeps dropping: complaints have waited StallAfter or longer and
// connections have dropped while sending them. Staff see it (Summary); the
// server sees the same device's backlog in its hellos.
func (s Status) Unstable(now time.Time) bool {
	return s.Pending > 0 && s.Drops > 0 && !s.WaitingSince.IsZero() && now.Sub(s.WaitingSince) >= StallAfter
}

// Summary says in a few words how sync is doing, for staff: e.g. "online",
// "offline, 3 waiting", "link unstable, 120 waiting for 14 minutes".
func (s Status) Summary(now time.Time) string {
	switch {
	case s.State == GaveUp:
		return "sync stopped: " + s.LastError
	case s.Unstable(now):
		return fmt.Sprintf("link unstable, %d waiting for %s", s.Pending, waited(now.Sub(s.WaitingSince)))
	case s.Pending > 0:
		return fmt.Sprintf("%s, %d waiting", s.State, s.Pending)
	}
	return s.State.String()
}

// waited writes a wait in the largest whole unit: "3 minutes", "2 hours",
// "4 days".
func waited(d time.Duration) string {
	n, unit := int(d/time.Minute), "minute"
	switch {
	case d >= 48*time.Hour:
		n, unit = int(d/(24*time.Hour)), "day"
	case d >= 2*time.Hour:
		n, unit = int(d/time.Hour), "hour"
	}
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// GiveUpError is what Run returns when reconnecting cannot help: the server
// (or this client) closed with a give-up code, or the upgrade was refused
// with 401. Its message tells staff what to do.
type GiveUpError struct {
	Code       wire.CloseCode // the close code; 4002 also for a 401 at the upgrade
	HTTPStatus int            // 401 when the upgrade itself was refused, else 0
	Reason     string         // the close reason as sent (safe: section 8 keeps peer data out of it)
}

func (e *GiveUpError) Error() string {
	msg := advice(e.Code, e.HTTPStatus)
	switch {
	case e.HTTPStatus != 0:
		return fmt.Sprintf("%s (HTTP %d at the upgrade)", msg, e.HTTPStatus)
	case e.Reason != "":
		return fmt.Sprintf("%s (close %d %s: %s)", msg, int(e.Code), e.Code, e.Reason)
	}
	return fmt.Sprintf("%s (close %d %s)", msg, int(e.Code), e.Code)
}

// advice says in a few words what happened and who can fix it.
func advice(code wire.CloseCode, httpStatus int) string {
	if httpStatus == http.StatusUnauthorized {
		return "device not enrolled or revoked: ask staff to re-enrol this kiosk"
	}
	switch code {
	case wire.CloseUnauthorized:
		return "revoked: ask staff to re-enrol this kiosk"
	case wire.CloseDiverged:
		return "diverged: the server holds events this kiosk no longer has (restored from a backup?): " +
			"ask staff to re-enrol it under a new id"
	case wire.CloseUnsupportedVersion:
		return "unsupported protocol version: upgrade this kiosk"
	case wire.CloseReplaced:
		return "replaced: another process is using this kiosk's credential; stop one of them"
	case wire.CloseProtocolError, wire.CloseUnsupportedData, wire.CloseInvalidUTF8, wire.CloseTooBig:
		return "protocol error: upgrade this kiosk or the server"
	}
	return "the server refused to sync: ask staff"
}

// closedError is a connection the server closed with a reconnect code.
type closedError struct {
	Code   wire.CloseCode
	Reason string
}

func (e *closedError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("connection closed: %d %s", int(e.Code), e.Code)
	}
	return fmt.Sprintf("connection closed: %d %s: %s", int(e.Code), e.Code, e.Reason)
}

// localClose is a failure this device detected on a live connection: the
// session sends a close frame with Code and Reason before it hangs up, and
// Run acts on Err (a *GiveUpError for a give-up code).
type localClose struct {
	Code   wire.CloseCode
	Reason string
	Err    error
}

func (e *localClose) Error() string { return e.Err.Error() }
func (e *localClose) Unwrap() error { return e.Err }

// protocolError is this device giving up on a server that broke the
// protocol: a bug that reconnecting would repeat.
func protocolError(format string, args ...any) error {
	reason := fmt.Sprintf(format, args...)
	return &localClose{Code: wire.CloseProtocolError, Reason: reason,
		Err: &GiveUpError{Code: wire.CloseProtocolError, Reason: reason}}
}

// outOfStep is this device seeing a message out of order (an events batch
// that does not start at the cursor, an ack of something not sent): over
// TCP only a cut connection, a misbehaving proxy or a replayed frame does
// that, so it closes with 4500 and reconnects; the hellos and cursors put
// both sides back in step.
func outOfStep(format string, args ...any) error {
	reason := fmt.Sprintf(format, args...)
	return &localClose{Code: wire.CloseOutOfStep, Reason: reason,
		Err: &closedError{Code: wire.CloseOutOfStep, Reason: reason}}
}

// storageError is this device's own storage failing mid-session: close with
// 1011 and reconnect (the disk may recover; the cursors make it safe).
func storageError(err error) error {
	return &localClose{Code: wire.CloseInternal, Reason: "device storage failed", Err: err}
}

// chainError is a batch whose audit chain does not check (verifyChain):
// the server would resend the same events, so the client gives up rather
// than reconnect, and staff see why (Status.LastError, State GaveUp).
func chainError(format string, args ...any) error {
	return protocolError("audit chain check failed: "+format, args...)
}
