package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// CloseCode is a websocket close status. Codes below 4000 are the standard
// ones (RFC 6455 7.4.1) that this protocol uses; 4000-4999 are Ombud's own.
type CloseCode int

// Standard close codes that the protocol gives a meaning to.
const (
	CloseNormal          CloseCode = 1000 // the client is going away on purpose
	CloseGoingAway       CloseCode = 1001 // a proxy or browser went away
	CloseUnsupportedData CloseCode = 1003 // a binary frame: this protocol sends text frames only
	CloseNoStatus        CloseCode = 1005 // never on the wire: a close frame with no code
	CloseAbnormal        CloseCode = 1006 // never on the wire: the connection dropped without a close frame
	CloseInvalidUTF8     CloseCode = 1007 // a frame that is not valid UTF-8
	CloseTooBig          CloseCode = 1009 // a frame larger than MaxFrameBytes
	CloseInternal        CloseCode = 1011 // the server failed (e.g. storage); the detail is in its log
	CloseServiceRestart  CloseCode = 1012
	CloseTryAgainLater   CloseCode = 1013
)

// Ombud's close codes. 4003, 4004, 4006 and 4007 are never sent as close codes:
// they are PushReject codes, because closing over one event that will be
// resent after the reconnect would loop forever (see docs/SYNC.md).
const (
	CloseProtocolError      CloseCode = 4000 // malformed or out-of-order message: a bug, give up until upgraded
	CloseUnsupportedVersion CloseCode = 4001 // no common protocol version: give up until upgraded
	CloseUnauthorized       CloseCode = 4002 // credential unknown, revoked, or not this device's: give up, show staff
	CloseForbiddenEvent     CloseCode = 4003 // PushReject: the event is outside the device's scope (another branch)
	CloseConflict           CloseCode = 4004 // PushReject: the seq or event id is already held for a different event
	CloseDiverged           CloseCode = 4005 // the server holds device seqs the device does not: restored from a backup; give up, show staff
	CloseInvalidEvent       CloseCode = 4006 // PushReject: the event is well-formed but the server refuses it
	CloseAltered            CloseCode = 4007 // PushReject: the seq holds this event id with other content: the device's outbox changed
	CloseSlowConsumer       CloseCode = 4008 // the device did not keep up: reconnect and resume from its cursors
	CloseShuttingDown       CloseCode = 4009 // the server is stopping: reconnect with backoff
	CloseReplaced           CloseCode = 4010 // a newer connection for the same device took over: give up
	// CloseOutOfStep: a message arrived out of order (a push after a gap, an
	// events batch that does not start at the cursor, an ack of something
	// not sent, a window overrun). Over TCP only a cut connection, a
	// misbehaving proxy or a frame replayed from an older connection does
	// that, so it is a transport fault, not a bug: reconnect and resume from
	// the hellos and cursors, which re-establish where both sides are. In
	// the reconnect half (4500-4999) so old builds reconnect too.
	CloseOutOfStep CloseCode = 4500
)

// Reconnect reports whether a client that receives this close code should
// reconnect (with jittered exponential backoff) and resume, rather than stop
// and show staff that the device needs attention.
//
// Codes that mean "the same input would fail again" give up, so that a device
// does not loop. For codes this build does not know, the range decides:
// 4000-4499 give up, 4500-4999 reconnect, so a code added later carries its
// policy to old clients. Unknown standard codes reconnect: backoff bounds the
// cost, and a kiosk that gives up on a proxy's odd code stays offline for days.
func (c CloseCode) Reconnect() bool {
	switch c {
	case CloseNormal, CloseGoingAway, CloseNoStatus, CloseAbnormal, CloseInternal,
		CloseServiceRestart, CloseTryAgainLater, CloseSlowConsumer, CloseShuttingDown, CloseOutOfStep:
		return true
	case 1002, CloseUnsupportedData, CloseInvalidUTF8, 1008, CloseTooBig, 1010,
		CloseProtocolError, CloseUnsupportedVersion, CloseUnauthorized, CloseForbiddenEvent,
		CloseConflict, CloseDiverged, CloseInvalidEvent, CloseAltered, CloseReplaced:
		return false
	}
	if c >= 4000 && c <= 4499 {
		return false
	}
	return true
}

// IsRejectCode reports whether c may appear in a PushReject: the reject
// codes this build knows, and any code of 4000-4499 it does not, so that a
// reject code added later reaches old devices as "quarantine this event"
// (what every rejection means to a device) rather than as a protocol error.
func (c CloseCode) IsRejectCode() bool {
	switch c {
	case CloseForbiddenEvent, CloseConflict, CloseInvalidEvent, CloseAltered:
		return true
	case CloseProtocolError, CloseUnsupportedVersion, CloseUnauthorized, CloseDiverged,
		CloseSlowConsumer, CloseShuttingDown, CloseReplaced:
		return false
	}
	_, known := codeNames[c]
	return !known && c >= 4000 && c <= 4499
}

var codeNames = map[CloseCode]string{
	CloseNormal: "normal", CloseGoingAway: "going away", CloseUnsupportedData: "unsupported data",
	CloseNoStatus: "no status", CloseAbnormal: "abnormal closure", CloseInvalidUTF8: "invalid UTF-8",
	CloseTooBig: "message too big", CloseInternal: "internal error", CloseServiceRestart: "service restart",
	CloseTryAgainLater: "try again later", CloseProtocolError: "protocol error",
	CloseUnsupportedVersion: "unsupported version", CloseUnauthorized: "unauthorized",
	CloseForbiddenEvent: "forbidden event", CloseConflict: "conflict", CloseDiverged: "diverged",
	CloseInvalidEvent: "invalid event", CloseAltered: "altered", CloseSlowConsumer: "slow consumer",
	CloseShuttingDown: "shutting down", CloseReplaced: "replaced", CloseOutOfStep: "out of step",
}

func (c CloseCode) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("close code %d", int(c))
}

// Error is a protocol failure. Code says how to close the connection (or, for
// reject codes, how to reject an event); Reason is written for the peer and
// never contains the peer's own bytes beyond quoted, length-limited field
// names, so it is safe to send back and to log.
type Error struct {
	Code   CloseCode
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("wire: %s (%d): %s", e.Code, int(e.Code), e.Reason)
}

func errorf(code CloseCode, format string, args ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// AsError returns err as a *Error. Errors that are not protocol errors become
// CloseInternal with a generic reason: their text may hold internal detail
// (paths, SQL) that the peer must not see; log err itself.
func AsError(err error) *Error {
	var we *Error
	if errors.As(err, &we) {
		return we
	}
	if errors.Is(err, websocket.ErrReadLimit) {
		return errorf(CloseTooBig, "frame exceeds %d bytes", MaxFrameBytes)
	}
	return &Error{Code: CloseInternal, Reason: "internal error"}
}

// maxCloseReason is what fits in a close frame: 125-byte control payload
// minus the 2-byte code.
const maxCloseReason = 123

// CloseMessage returns the payload of a close frame with code and reason,
// the reason cut to the 123 bytes a control frame allows, on a UTF-8
// boundary (a peer must fail a close frame whose reason is not valid UTF-8).
func CloseMessage(code CloseCode, reason string) []byte {
	return websocket.FormatCloseMessage(int(code), truncateReason(reason))
}

func truncateReason(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxCloseReason {
		return s
	}
	i := maxCloseReason
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// ParseCloseMessage reads the payload of a received close frame. An empty
// payload means CloseNoStatus. Codes that must never be sent (below 1000,
// 1004-1006, 1015, 1016-2999 unassigned, 5000+) and reasons that are not
// valid UTF-8 are errors, as RFC 6455 requires.
func ParseCloseMessage(payload []byte) (CloseCode, string, error) {
	if len(payload) == 0 {
		return CloseNoStatus, "", nil
	}
	if len(payload) < 2 {
		return 0, "", errorf(CloseProtocolError, "close payload of %d byte", len(payload))
	}
	if len(payload) > 2+maxCloseReason {
		return 0, "", errorf(CloseProtocolError, "close payload of %d bytes", len(payload))
	}
	code := CloseCode(binary.BigEndian.Uint16(payload))
	if !validSentCode(code) {
		return 0, "", errorf(CloseProtocolError, "close code %d may not be sent", int(code))
	}
	reason := payload[2:]
	if !utf8.Valid(reason) {
		return 0, "", errorf(CloseInvalidUTF8, "close reason is not valid UTF-8")
	}
	return code, string(reason), nil
}

func validSentCode(c CloseCode) bool {
	switch {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// CloseStatus extracts the close code and reason from an error returned by
// (*websocket.Conn).ReadMessage. A connection that dropped without a close
// frame reports CloseAbnormal, which says "reconnect".
func CloseStatus(err error) (CloseCode, string) {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return CloseCode(ce.Code), ce.Text
	}
	return CloseAbnormal, ""
}

// WriteClose sends a close frame for err (see AsError) and returns. It is safe
// to call from any goroutine (gorilla allows WriteControl concurrently with
// the reader and writer). The caller still owns the connection: it should keep
// reading until the peer's close frame or a deadline, then Close, so the peer
// reads the reason before the socket goes (closing at once can reset the TCP
// connection and lose the frame).
func WriteClose(conn *websocket.Conn, err error, deadline time.Time) error {
	we := AsError(err)
	if !validSentCode(we.Code) {
		we = &Error{Code: CloseInternal, Reason: we.Reason}
	}
	if werr := conn.WriteControl(websocket.CloseMessage, CloseMessage(we.Code, we.Reason), deadline); werr != nil {
		return fmt.Errorf("write close %d: %w", int(we.Code), werr)
	}
	return nil
}
