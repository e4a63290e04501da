// Package wire owns the sync protocol's messages as they travel between a
// device and the server: their Go types, their JSON encoding inside a
// version/type envelope, the limits every message must meet, the websocket
// close codes (and whether each means "reconnect" or "give up"), and protocol
// version negotiation. It holds no connection state: the hub and the client
// loop (other packages under sync/) own sockets, queues and storage.
//
// Decoding is strict because the server trusts nothing a device sends and a
// device trusts nothing a proxy may have altered: every failure is a *Error
// whose Code is the close code to send and whose Reason is safe to send.
// The protocol itself is specified in docs/SYNC.md.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"ombud/shared/event"
	"ombud/shared/hlc"
)

// Version is the newest protocol version this package speaks.
const Version = 1

// Versions returns every version this package speaks, for a ClientHello's
// Versions and the server's side of Negotiate. A fresh slice each call, so no
// caller can change what another offers.
func Versions() []int { return []int{Version} }

// Limits. They bound the server's memory per connection (guarantee 7) and
// must be the same on both sides, so they are part of the protocol version.
const (
	// MaxFrameBytes bounds one websocket message. Set the reader's
	// SetReadLimit to it; Decode checks it before parsing anything.
	MaxFrameBytes = 1 << 20
	// MaxEventsPerBatch bounds the events in one Push or Events message.
	// Senders fill a batch until either this or MaxFrameBytes would be passed.
	MaxEventsPerBatch = 1000
	// MaxEventDataBytes bounds one event's Data (a filed complaint with a
	// 2,000-character description in any script is well under it).
	MaxEventDataBytes = 64 << 10
	// MaxNameBytes bounds identifiers: device ids, scopes, branches, actor
	// ids, software versions, event types.
	MaxNameBytes = 128
	// MaxReasonBytes bounds a PushReject reason; it is the close-frame limit
	// too, so a reason can travel either way unchanged.
	MaxReasonBytes = maxCloseReason
	// MaxScopes bounds the cursors in a ClientHello and the scopes in a ServerHello.
	MaxScopes = 64
	// MaxVersions bounds the versions a ClientHello may offer.
	MaxVersions = 16
	// Window is how many Push messages a device may have unacknowledged, and
	// how many Events messages the server may have unacknowledged, on one
	// connection. Pipelining hides the commit latency at the other end; the
	// bound keeps each side's queue small.
	Window = 4
)

// Type names a message in the envelope. Names never change once shipped.
type Type string

const (
	TypeClientHello Type = "client_hello"
	TypeServerHello Type = "server_hello"
	TypePush        Type = "push"
	TypePushAck     Type = "push_ack"
	TypePushReject  Type = "push_reject"
	TypeEvents      Type = "events"
	TypeEventsAck   Type = "events_ack"
)

// Message is one protocol message. The set is closed: only this package's
// types implement it, so Decode's type switch is exhaustive.
type Message interface {
	Type() Type
	// check validates the message and puts it in canonical form (empty
	// collections nil, event data compacted), so that a decoded message
	// re-encodes to bytes that decode to the same value.
	check() *Error
}

// ClientHello is the first message on a connection, from the device.
type ClientHello struct {
	Versions []int  `json:"versions"`  // protocol versions the device speaks
	DeviceID string `json:"device_id"` // must match the credential's device
	Software string `json:"software"`  // the device's build, for the server's log and fleet view
	// Cursors is the last global sequence stored per scope (0 or absent:
	// from the beginning). It is the subscription: the server streams each
	// scope it grants from here.
	Cursors map[string]int64 `json:"cursors,omitempty"`
	// DeviceSeq is the highest device sequence the device has ever assigned
	// (0: none). The server compares it with what it holds to detect a
	// device restored from an old backup (CloseDiverged).
	DeviceSeq int64 `json:"device_seq"`
}

// ServerHello answers a ClientHello that the server accepts. A refusal is a
// close frame instead (CloseUnsupportedVersion, CloseUnauthorized, ...).
type ServerHello struct {
	Version    int           `json:"version"`     // chosen by Negotiate; every later message uses it
	ServerTime hlc.Timestamp `json:"server_time"` // the server's clock: devices Observe it so their events order after the server's
	// DeviceSeq is the highest device sequence the server has durably
	// stored for this device (0: none). The device resends from its lowest
	// unacknowledged outbox entry, which is at most DeviceSeq+1 (docs/SYNC.md
	// section 6: it is not an acknowledgement).
	DeviceSeq int64    `json:"device_seq"`
	Scopes    []string `json:"scopes"` // the scopes the server will stream, each from the device's cursor (0 if it sent none); [] when none
}

// MarshalJSON writes Scopes as [] when there are none: the member is
// required (docs/SYNC.md), and a customer kiosk is always granted none.
func (m ServerHello) MarshalJSON() ([]byte, error) {
	type plain ServerHello // without this method
	if m.Scopes == nil {
		m.Scopes = []string{}
	}
	return json.Marshal(plain(m))
}

// DeviceEvent is an event in the device's outbox order.
type DeviceEvent struct {
	Seq   int64       `json:"seq"` // per-device sequence, 1, 2, 3, ... without gaps
	Event event.Event `json:"event"`
}

// Push carries outbox events upstream, their device sequences contiguous.
type Push struct {
	Events []DeviceEvent `json:"events"`
}

// PushAck says every device sequence up to and including Seq is durably
// handled (stored, or rejected with a PushReject sent before this ack).
type PushAck struct {
	Seq int64 `json:"seq"`
}

// PushReject says the server will never store the event at Seq. The sequence
// is consumed all the same (the server records the rejection, so a resend
// gets the same answer and later acks can pass it): the device moves the
// event to quarantine for staff to see instead of resending it forever.
type PushReject struct {
	Seq     int64     `json:"seq"`
	EventID string    `json:"event_id"`
	Code    CloseCode `json:"code"` // CloseForbiddenEvent, CloseConflict or CloseInvalidEvent
	Reason  string    `json:"reason"`
}

// ScopedEvent is an event in the server's global order.
type ScopedEvent struct {
	Seq   int64       `json:"seq"` // global sequence; a scope sees a subsequence, so gaps are normal
	Event event.Event `json:"event"`
	// Chain is the event's link in the server's audit chain (shared/audit),
	// so the device can check it (docs/SYNC.md, "Chain"). Optional: older
	// servers, and scopes whose reads do not fill it, send none.
	Chain *Chain `json:"chain,omitempty"`
}

// Chain is what a device needs to recompute one link of the audit chain:
// hash = SHA-256("ombud-audit-v1\x00" || prev || canonical(event fields,
// Seq, DeviceID, DeviceSeq, PayloadHash)). Hashes are lower-case hex.
type Chain struct {
	Seq         int64  `json:"seq"`                  // global sequence the link covers
	DeviceID    string `json:"device_id,omitempty"`  // "" for server events
	DeviceSeq   int64  `json:"device_seq,omitempty"` // 0 for server events
	PayloadHash string `json:"payload_hash"`         // SHA-256 of the payload as first stored
	Prev        string `json:"prev"`                 // the link of the event at Seq-1
	Hash        string `json:"hash"`                 // this event's link
	Redacted    bool   `json:"redacted,omitempty"`   // the payload was replaced; PayloadHash is the original's
}

// Events carries stored events downstream for one scope: every event of the
// scope with From < Seq <= Next, in ascending order. Next may pass the last
// event (the server looked further and found nothing for this scope); an
// empty batch just advances the cursor.
type Events struct {
	Scope  string        `json:"scope"`
	From   int64         `json:"from"` // must equal the device's stored cursor, or a batch was lost: protocol error
	Next   int64         `json:"next"` // the cursor to store with these events, in the same transaction
	Events []ScopedEvent `json:"events,omitempty"`
}

// EventsAck says the device has committed a scope's events up to Cursor; it
// opens the server's send window (Window) again.
type EventsAck struct {
	Scope  string `json:"scope"`
	Cursor int64  `json:"cursor"`
}

func (*ClientHello) Type() Type { return TypeClientHello }
func (*ServerHello) Type() Type { return TypeServerHello }
func (*Push) Type() Type        { return TypePush }
func (*PushAck) Type() Type     { return TypePushAck }
func (*PushReject) Type() Type  { return TypePushReject }
func (*Events) Type() Type      { return TypeEvents }
func (*EventsAck) Type() Type   { return TypeEventsAck }

// envelope is the outer JSON object of every frame:
// {"v":1,"type":"push","body":{...}}.
type envelope struct {
	V    int             `json:"v"`
	Type Type            `json:"type"`
	Body json.RawMessage `json:"body"`
}

type outEnvelope struct {
	V    int     `json:"v"`
	Type Type    `json:"type"`
	Body Message `json:"body"`
}

// Encode validates msg and returns its frame. It fails with a *Error when msg
// breaks a rule Decode would enforce: sending it would only get the
// connection closed, so the bug shows at the sender.
func Encode(msg Message) ([]byte, error) {
	if msg == nil {
		return nil, errorf(CloseProtocolError, "nil message")
	}
	if err := msg.check(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Customer text is full of < > &; escaping them only grows frames, and
	// nothing embeds these frames in HTML.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(outEnvelope{V: Version, Type: msg.Type(), Body: msg}); err != nil {
		return nil, fmt.Errorf("encode %s: %w", msg.Type(), err)
	}
	frame := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(frame) > MaxFrameBytes {
		return nil, errorf(CloseTooBig, "%s frame of %d bytes exceeds %d", msg.Type(), len(frame), MaxFrameBytes)
	}
	return frame, nil
}

// Decode parses and validates one frame. Every failure is a *Error.
//
// A hello of a newer version than this package knows is decoded leniently
// (unknown fields ignored), so that an old server can read a new device's
// hello and negotiate down or refuse with CloseUnsupportedVersion instead
// of a confusing protocol error. Everything else is strict.
func Decode(frame []byte) (Message, error) {
	if len(frame) > MaxFrameBytes {
		return nil, errorf(CloseTooBig, "frame of %d bytes exceeds %d", len(frame), MaxFrameBytes)
	}
	// encoding/json silently turns invalid UTF-8 and lone surrogate escapes
	// into U+FFFD; a strict decoder must refuse them instead of storing
	// altered text in the audit trail.
	if !utf8.Valid(frame) {
		return nil, errorf(CloseInvalidUTF8, "frame is not valid UTF-8")
	}
	if off := loneSurrogate(frame); off >= 0 {
		return nil, errorf(CloseInvalidUTF8, "lone UTF-16 surrogate escape at byte %d", off)
	}
	env, fast := splitEnvelope(frame)
	if !fast {
		if err := unmarshalStrict(frame, &env, true); err != nil {
			return nil, jsonError("envelope", err)
		}
	}
	if env.V < 1 {
		return nil, errorf(CloseProtocolError, "envelope: missing or invalid version")
	}
	var msg Message
	switch env.Type {
	case TypeClientHello:
		msg = new(ClientHello)
	case TypeServerHello:
		msg = new(ServerHello)
	case TypePush:
		msg = new(Push)
	case TypePushAck:
		msg = new(PushAck)
	case TypePushReject:
		msg = new(PushReject)
	case TypeEvents:
		msg = new(Events)
	case TypeEventsAck:
		msg = new(EventsAck)
	case "":
		return nil, errorf(CloseProtocolError, "envelope: missing type")
	default:
		return nil, errorf(CloseProtocolError, "unknown message type %.32q", env.Type)
	}
	hello := env.Type == TypeClientHello || env.Type == TypeServerHello
	if env.V > Version && !hello {
		return nil, errorf(CloseUnsupportedVersion, "%s in protocol version %d; this peer speaks %v", env.Type, env.V, Versions())
	}
	if len(env.Body) == 0 {
		return nil, errorf(CloseProtocolError, "%s: missing body", env.Type)
	}
	if err := unmarshalStrict(env.Body, msg, !(hello && env.V > Version)); err != nil {
		if fast {
			// The body slice may have taken in what the envelope decoder
			// would call its own error: let it say which.
			var slow envelope
			if err := unmarshalStrict(frame, &slow, true); err != nil {
				return nil, jsonError("envelope", err)
			}
		}
		return nil, jsonError(string(env.Type), err)
	}
	if err := msg.check(); err != nil {
		return nil, err
	}
	return msg, nil
}

// splitEnvelope reads the envelope of a frame in the exact shape Encode
// writes ({"v":N,"type":"T","body":...}) without decoding the body: the
// strict envelope decoder would scan and copy the whole frame only to hand
// the body on, a third of a large push's decoding. Any other shape (member
// order, whitespace, escapes, a repeated member) is not recognised, and the
// strict decoder reads it as before. The body is then decoded strictly with
// nothing after it but the envelope's closing brace.
func splitEnvelope(frame []byte) (envelope, bool) {
	const vPrefix, typePrefix, bodyPrefix = `{"v":`, `,"type":"`, `","body":`
	b, ok := bytes.CutPrefix(frame, []byte(vPrefix))
	if !ok || len(b) == 0 || b[0] < '1' || b[0] > '9' {
		return envelope{}, false
	}
	v, i := 0, 0
	for ; i < len(b) && i < 9 && '0' <= b[i] && b[i] <= '9'; i++ {
		v = v*10 + int(b[i]-'0')
	}
	if b, ok = bytes.CutPrefix(b[i:], []byte(typePrefix)); !ok {
		return envelope{}, false
	}
	i = 0
	for ; i < len(b) && i <= 32 && ('a' <= b[i] && b[i] <= 'z' || b[i] == '_'); i++ {
	}
	typ := Type(b[:i])
	if body, ok := bytes.CutPrefix(b[i:], []byte(bodyPrefix)); ok && i > 0 && i <= 32 && len(body) > 1 && body[len(body)-1] == '}' {
		return envelope{V: v, Type: typ, Body: body[:len(body)-1]}, true
	}
	return envelope{}, false
}

// unmarshalStrict is json.Unmarshal that also refuses unknown fields (when
// strict) and anything after the value.
func unmarshalStrict(data []byte, v any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errTrailing
	}
	return nil
}

var errTrailing = errors.New("data after the JSON value")

// jsonError turns a decoding failure into a Reason that names where, never
// echoing the peer's values.
func jsonError(where string, err error) *Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return errorf(CloseProtocolError, "%s: malformed JSON at byte %d", where, syn.Offset)
	case errors.As(err, &typ):
		return errorf(CloseProtocolError, "%s: field %.48q: %.24s is not a %s", where, typ.Field, typ.Value, typ.Type)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(CloseProtocolError, "%s: truncated JSON", where)
	case errors.Is(err, errTrailing):
		return errorf(CloseProtocolError, "%s: data after the JSON value", where)
	}
	// The remaining errors are unknown fields ("json: unknown field \"x\"");
	// %.64q quotes the name with control characters escaped and bounded.
	const prefix = "json: unknown field "
	if msg := err.Error(); len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		return errorf(CloseProtocolError, "%s: unknown field %.64s", where, msg[len(prefix):])
	}
	return errorf(CloseProtocolError, "%s: invalid JSON", where)
}

// loneSurrogate returns the offset of a \uD800-\uDFFF escape that is not a
// valid high-low pair, or -1. A backslash can occur only inside a string in
// valid JSON, so no string tracking is needed; malformed JSON is left for the
// parser to report.
func loneSurrogate(b []byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 >= len(b) {
			return -1
		}
		if b[i+1] != 'u' {
			i++ // skip the escaped character, which may itself be a backslash
			continue
		}
		r, ok := hex4(b, i+2)
		if !ok {
			i++
			continue
		}
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			lo, ok := -1, false
			if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
				lo, ok = hex4(b, i+8)
			}
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return i
			}
			i += 11
		case r >= 0xDC00 && r <= 0xDFFF:
			return i
		default:
			i += 5
		}
	}
	return -1
}

func hex4(b []byte, at int) (int, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	v := 0
	for _, c := range b[at : at+4] {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | int(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | int(c-'a'+10)
		case 'A' <= c && c <= 'F':
			v = v<<4 | int(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}
