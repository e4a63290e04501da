package wire

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode"

	"ombud/shared/event"
	"ombud/shared/uid"
)

// The checks below are the protocol's structural rules. Domain rules (is this
// transition allowed, does this branch belong to the device) are the
// server's, answered with PushReject, because a device cannot fix them by
// reconnecting.

func (m *ClientHello) check() *Error {
	if len(m.Versions) == 0 {
		return errorf(CloseProtocolError, "client_hello: missing versions")
	}
	if len(m.Versions) > MaxVersions {
		return errorf(CloseProtocolError, "client_hello: %d versions, at most %d", len(m.Versions), MaxVersions)
	}
	for _, v := range m.Versions {
		if v < 1 {
			return errorf(CloseProtocolError, "client_hello: version %d is not positive", v)
		}
	}
	if err := checkName("client_hello.device_id", m.DeviceID, true); err != nil {
		return err
	}
	if err := checkName("client_hello.software", m.Software, true); err != nil {
		return err
	}
	if len(m.Cursors) > MaxScopes {
		return errorf(CloseProtocolError, "client_hello: %d cursors, at most %d", len(m.Cursors), MaxScopes)
	}
	for scope, cur := range m.Cursors {
		if err := checkName("client_hello.cursors scope", scope, true); err != nil {
			return err
		}
		if cur < 0 {
			return errorf(CloseProtocolError, "client_hello: negative cursor %d", cur)
		}
	}
	if len(m.Cursors) == 0 {
		m.Cursors = nil
	}
	if m.DeviceSeq < 0 {
		return errorf(CloseProtocolError, "client_hello: negative device_seq %d", m.DeviceSeq)
	}
	return nil
}

func (m *ServerHello) check() *Error {
	if m.Version < 1 {
		return errorf(CloseProtocolError, "server_hello: missing or invalid version")
	}
	if m.ServerTime == 0 {
		return errorf(CloseProtocolError, "server_hello: missing server_time")
	}
	if m.DeviceSeq < 0 {
		return errorf(CloseProtocolError, "server_hello: negative device_seq %d", m.DeviceSeq)
	}
	if len(m.Scopes) > MaxScopes {
		return errorf(CloseProtocolError, "server_hello: %d scopes, at most %d", len(m.Scopes), MaxScopes)
	}
	for _, s := range m.Scopes {
		if err := checkName("server_hello.scopes", s, true); err != nil {
			return err
		}
	}
	if len(m.Scopes) == 0 {
		m.Scopes = nil
	}
	return nil
}

func (m *Push) check() *Error {
	if len(m.Events) == 0 {
		return errorf(CloseProtocolError, "push: no events")
	}
	if len(m.Events) > MaxEventsPerBatch {
		return errorf(CloseProtocolError, "push: %d events, at most %d", len(m.Events), MaxEventsPerBatch)
	}
	first := m.Events[0].Seq
	if first < 1 {
		return errorf(CloseProtocolError, "push: event 0: seq %d is not positive", first)
	}
	for i := range m.Events {
		de := &m.Events[i]
		// Contiguity is what lets the server ack "everything up to N" with
		// one number; a gap inside a batch is a device bug.
		if de.Seq != first+int64(i) {
			return errorf(CloseProtocolError, "push: event %d: seq %d, want %d (seqs must be contiguous)", i, de.Seq, first+int64(i))
		}
		if err := checkEvent("push", i, &de.Event); err != nil {
			return err
		}
	}
	return nil
}

func (m *PushAck) check() *Error {
	if m.Seq < 1 {
		return errorf(CloseProtocolError, "push_ack: seq %d is not positive", m.Seq)
	}
	return nil
}

func (m *PushReject) check() *Error {
	if m.Seq < 1 {
		return errorf(CloseProtocolError, "push_reject: seq %d is not positive", m.Seq)
	}
	if !uid.Valid(m.EventID) {
		return errorf(CloseProtocolError, "push_reject: event_id is not a UUIDv7")
	}
	if !m.Code.IsRejectCode() {
		return errorf(CloseProtocolError, "push_reject: code %d is not a reject code", int(m.Code))
	}
	if m.Reason == "" {
		return errorf(CloseProtocolError, "push_reject: missing reason")
	}
	if len(m.Reason) > MaxReasonBytes {
		return errorf(CloseProtocolError, "push_reject: reason of %d bytes, at most %d", len(m.Reason), MaxReasonBytes)
	}
	if !printable(m.Reason) {
		return errorf(CloseProtocolError, "push_reject: reason contains control characters")
	}
	return nil
}

func (m *Events) check() *Error {
	if err := checkName("events.scope", m.Scope, true); err != nil {
		return err
	}
	if m.From < 0 {
		return errorf(CloseProtocolError, "events: negative from %d", m.From)
	}
	if m.Next < 1 || m.Next < m.From {
		return errorf(CloseProtocolError, "events: next %d must be positive and at least from %d", m.Next, m.From)
	}
	if len(m.Events) > MaxEventsPerBatch {
		return errorf(CloseProtocolError, "events: %d events, at most %d", len(m.Events), MaxEventsPerBatch)
	}
	prev := m.From
	for i := range m.Events {
		se := &m.Events[i]
		if se.Seq <= prev || se.Seq > m.Next {
			return errorf(CloseProtocolError, "events: event %d: seq %d not in (%d, %d] after the previous event", i, se.Seq, prev, m.Next)
		}
		prev = se.Seq
		if err := checkEvent("events", i, &se.Event); err != nil {
			return err
		}
	}
	if len(m.Events) == 0 {
		m.Events = nil
	}
	return nil
}

func (m *EventsAck) check() *Error {
	if err := checkName("events_ack.scope", m.Scope, true); err != nil {
		return err
	}
	if m.Cursor < 1 {
		return errorf(CloseProtocolError, "events_ack: cursor %d is not positive", m.Cursor)
	}
	return nil
}

// checkEvent enforces what every node needs of an event to store it and
// route it; the event's meaning is the domain's concern.
func checkEvent(msg string, i int, e *event.Event) *Error {
	bad := func(what string) *Error {
		return errorf(CloseProtocolError, "%s: event %d: %s", msg, i, what)
	}
	if !uid.Valid(e.ID) {
		return bad("id is not a UUIDv7")
	}
	if !uid.Valid(e.ComplaintID) {
		return bad("complaint_id is not a UUIDv7")
	}
	if !token(string(e.Type)) {
		return bad("type must be 1-128 bytes of a-z, 0-9, _")
	}
	if !token(string(e.Actor.Kind)) {
		return bad("actor.kind must be 1-128 bytes of a-z, 0-9, _")
	}
	if err := checkName("actor.id", e.Actor.ID, false); err != nil {
		return bad(err.Reason)
	}
	if e.At == 0 {
		return bad("missing at")
	}
	if err := checkName("branch", e.Branch, true); err != nil {
		return bad(err.Reason)
	}
	if e.Data != nil {
		if len(e.Data) > MaxEventDataBytes {
			return bad("data exceeds " + strconv.Itoa(MaxEventDataBytes) + " bytes")
		}
		// Canonical form: compact, so a decoded event re-encodes to the same
		// bytes (json.Marshal would compact it anyway) and hashes stably.
		if hasSpace(e.Data) {
			var buf bytes.Buffer
			buf.Grow(len(e.Data))
			if err := json.Compact(&buf, e.Data); err != nil {
				return bad("data is not JSON")
			}
			e.Data = buf.Bytes()
		}
		if e.Data[0] != '{' {
			return bad("data must be a JSON object")
		}
	}
	return nil
}

// hasSpace reports whether raw JSON (already validated by the decoder) holds
// whitespace outside its strings, i.e. is not compact. This byte loop is far
// cheaper than json.Compact, and customer text is full of spaces inside
// strings that need no work.
func hasSpace(b []byte) bool {
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++ // the escaped byte cannot end the string
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\r' || c == '\n'):
			return true
		}
	}
	return false
}

func checkName(field, s string, required bool) *Error {
	switch {
	case s == "" && required:
		return errorf(CloseProtocolError, "missing %s", field)
	case len(s) > MaxNameBytes:
		return errorf(CloseProtocolError, "%s of %d bytes, at most %d", field, len(s), MaxNameBytes)
	case !printable(s):
		return errorf(CloseProtocolError, "%s contains control characters", field)
	}
	return nil
}

// printable refuses control and format characters: identifiers end up in
// logs and on staff screens, where they could forge lines or reorder text.
func printable(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

func token(s string) bool {
	if s == "" || len(s) > MaxNameBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
