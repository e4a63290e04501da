package wire_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

var base = time.UnixMilli(1_700_000_000_000)

// MustEvent returns a valid event whose data holds a text of textBytes bytes.
func MustEvent(tb testing.TB, i int, textBytes int) event.Event {
	tb.Helper()
	text := strings.Repeat("word ", textBytes/5+1)[:textBytes] // spaces, as customer text has
	if textBytes >= 6 {
		text = "é<x>&" + text[6:] // non-ASCII and HTML-special characters must pass unchanged
	}
	data, err := json.Marshal(event.Text{Text: text})
	if err != nil {
		tb.Fatal(err)
	}
	at := base.Add(time.Duration(i) * time.Millisecond)
	return event.Event{
		ID:          uid.NewAt(at),
		ComplaintID: uid.NewAt(base),
		Type:        event.NoteAdded,
		Actor:       event.Actor{Kind: event.ActorStaff, ID: "staff-42"},
		At:          hlc.Make(at.UnixMilli(), uint16(i)),
		Branch:      "Main Street",
		Data:        data,
	}
}

// MustPush returns a Push of n events numbered from first.
func MustPush(tb testing.TB, first int64, n int, textBytes int) *wire.Push {
	tb.Helper()
	p := &wire.Push{}
	for i := 0; i < n; i++ {
		p.Events = append(p.Events, wire.DeviceEvent{Seq: first + int64(i), Event: MustEvent(tb, i, textBytes)})
	}
	return p
}

// MustEncode encodes msg or fails the test.
func MustEncode(tb testing.TB, msg wire.Message) []byte {
	tb.Helper()
	frame, err := wire.Encode(msg)
	if err != nil {
		tb.Fatalf("Encode(%T): %v", msg, err)
	}
	return frame
}

func TestRoundTrip(t *testing.T) {
	withoutData := MustEvent(t, 7, 0)
	withoutData.Data = nil
	withoutData.Actor = event.Actor{Kind: event.ActorCustomer}
	tests := []struct {
		name string
		msg  wire.Message
	}{
		{"client hello", &wire.ClientHello{Versions: []int{1, 2}, DeviceID: "dev-7", Software: "kiosk 0.3.1",
			Cursors: map[string]int64{"branch:Main": 42, "team:billing": 0}, DeviceSeq: 17}},
		{"client hello fresh device", &wire.ClientHello{Versions: []int{1}, DeviceID: "dev-8", Software: "kiosk 0.3.1"}},
		{"server hello", &wire.ServerHello{Version: 1, ServerTime: hlc.Make(base.UnixMilli(), 3), DeviceSeq: 12,
			Scopes: []string{"branch:Main", "team:billing"}}},
		{"server hello nothing held", &wire.ServerHello{Version: 1, ServerTime: 1}},
		{"push", MustPush(t, 13, 3, 40)},
		{"push one event without data", &wire.Push{Events: []wire.DeviceEvent{{Seq: 1, Event: withoutData}}}},
		{"push ack", &wire.PushAck{Seq: 15}},
		{"push reject", &wire.PushReject{Seq: 14, EventID: uid.NewAt(base), Code: wire.CloseForbiddenEvent,
			Reason: "branch \"North\" is not this device's"}},
		{"events", &wire.Events{Scope: "branch:Main", From: 40, Next: 99, Events: []wire.ScopedEvent{
			{Seq: 41, Event: MustEvent(t, 1, 10)}, {Seq: 97, Event: MustEvent(t, 2, 300)}}}},
		{"events empty advances cursor", &wire.Events{Scope: "branch:Main", From: 99, Next: 120}},
		{"events ack", &wire.EventsAck{Scope: "branch:Main", Cursor: 120}},
	}
	seen := map[wire.Type]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := MustEncode(t, tt.msg)
			got, err := wire.Decode(frame)
			if err != nil {
				t.Fatalf("Decode(%s): %v", frame, err)
			}
			if !reflect.DeepEqual(got, tt.msg) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, tt.msg)
			}
			if !strings.HasPrefix(string(frame), `{"v":1,"type":"`+string(tt.msg.Type())+`","body":{`) {
				t.Fatalf("envelope: %s", frame)
			}
			seen[got.Type()] = true
		})
	}
	for _, typ := range []wire.Type{wire.TypeClientHello, wire.TypeServerHello, wire.TypePush, wire.TypePushAck,
		wire.TypePushReject, wire.TypeEvents, wire.TypeEventsAck} {
		if !seen[typ] {
			t.Errorf("no round trip for %s", typ)
		}
	}
}

// frame builds an envelope around body; v is the protocol version.
func frame(v int, typ, body string) []byte {
	return []byte(fmt.Sprintf(`{"v":%d,"type":%q,"body":%s}`, v, typ, body))
}

// eventJSON is a valid event as JSON, with fields overridden by kv pairs
// (a value of "" deletes the field).
func eventJSON(t *testing.T, kv ...string) string {
	t.Helper()
	var m map[string]json.RawMessage
	b, _ := json.Marshal(MustEvent(t, 1, 20))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(m, kv[i])
		} else {
			m[kv[i]] = json.RawMessage(kv[i+1])
		}
	}
	out, _ := json.Marshal(m)
	return string(out)
}

func pushJSON(t *testing.T, seqs []int64, events ...string) string {
	t.Helper()
	var parts []string
	for i, s := range seqs {
		var ev string
		if i < len(events) {
			ev = events[i]
		} else {
			b, _ := json.Marshal(MustEvent(t, i, 20)) // distinct ids: only the rule under test is broken
			ev = string(b)
		}
		parts = append(parts, fmt.Sprintf(`{"seq":%d,"event":%s}`, s, ev))
	}
	return `{"events":[` + strings.Join(parts, ",") + `]}`
}

func TestDecodeRejects(t *testing.T) {
	ok := pushJSON(t, []int64{1})
	if _, err := wire.Decode(frame(1, "push", ok)); err != nil {
		t.Fatalf("the valid base case fails: %v", err)
	}
	tooMany := make([]int64, wire.MaxEventsPerBatch+1)
	for i := range tooMany {
		tooMany[i] = int64(i + 1)
	}
	bigData := `{"text":"` + strings.Repeat("a", wire.MaxEventDataBytes) + `"}`
	tests := []struct {
		name  string
		frame []byte
		code  wire.CloseCode
		in    string // in the reason
	}{
		{"oversize frame", append(frame(1, "push", ok), make([]byte, wire.MaxFrameBytes)...), wire.CloseTooBig, "exceeds"},
		{"invalid UTF-8 in a string", frame(1, "client_hello", "{\"versions\":[1],\"device_id\":\"d\xff\",\"software\":\"s\"}"), wire.CloseInvalidUTF8, "UTF-8"},
		{"invalid UTF-8 in event data", frame(1, "push", pushJSON(t, []int64{1}, eventJSON(t, "data", "{\"text\":\"\xc3\x28\"}"))), wire.CloseInvalidUTF8, "UTF-8"},
		{"lone surrogate escape", frame(1, "client_hello", `{"versions":[1],"device_id":"d\ud800","software":"s"}`), wire.CloseInvalidUTF8, "surrogate"},
		{"reversed surrogate pair", frame(1, "client_hello", `{"versions":[1],"device_id":"d\udc00\ud800","software":"s"}`), wire.CloseInvalidUTF8, "surrogate"},
		{"not JSON", []byte("hello"), wire.CloseProtocolError, "malformed JSON"},
		{"truncated JSON", frame(1, "push", ok)[:40], wire.CloseProtocolError, "JSON"},
		{"trailing data", append(frame(1, "push_ack", `{"seq":1}`), " {}"...), wire.CloseProtocolError, "after the JSON"},
		{"unknown type", frame(1, "teleport", `{}`), wire.CloseProtocolError, "unknown message type"},
		{"missing type", []byte(`{"v":1,"body":{"seq":1}}`), wire.CloseProtocolError, "missing type"},
		{"missing version", []byte(`{"type":"push_ack","body":{"seq":1}}`), wire.CloseProtocolError, "version"},
		{"newer version push", frame(2, "push", ok), wire.CloseUnsupportedVersion, "version 2"},
		{"missing body", []byte(`{"v":1,"type":"push_ack"}`), wire.CloseProtocolError, "missing body"},
		{"null body", frame(1, "push_ack", `null`), wire.CloseProtocolError, "not positive"},
		{"unknown envelope field", []byte(`{"v":1,"type":"push_ack","body":{"seq":1},"x":1}`), wire.CloseProtocolError, "unknown field"},
		{"unknown body field", frame(1, "push_ack", `{"seq":1,"sneaky":true}`), wire.CloseProtocolError, `unknown field "sneaky"`},
		{"wrong field type", frame(1, "push_ack", `{"seq":"1"}`), wire.CloseProtocolError, "seq"},
		{"fractional seq", frame(1, "push_ack", `{"seq":1.5}`), wire.CloseProtocolError, "seq"},
		{"hello missing versions", frame(1, "client_hello", `{"device_id":"d","software":"s"}`), wire.CloseProtocolError, "missing versions"},
		{"hello missing device id", frame(1, "client_hello", `{"versions":[1],"software":"s"}`), wire.CloseProtocolError, "device_id"},
		{"hello control char in device id", frame(1, "client_hello", `{"versions":[1],"device_id":"d\u001b[2J","software":"s"}`), wire.CloseProtocolError, "control"},
		{"hello negative cursor", frame(1, "client_hello", `{"versions":[1],"device_id":"d","software":"s","cursors":{"b":-1}}`), wire.CloseProtocolError, "negative cursor"},
		{"hello negative device seq", frame(1, "client_hello", `{"versions":[1],"device_id":"d","software":"s","device_seq":-3}`), wire.CloseProtocolError, "negative"},
		{"server hello missing time", frame(1, "server_hello", `{"version":1,"device_seq":0}`), wire.CloseProtocolError, "server_time"},
		{"push no events", frame(1, "push", `{"events":[]}`), wire.CloseProtocolError, "no events"},
		{"push too many events", frame(1, "push", pushJSON(t, tooMany)), wire.CloseProtocolError, "at most"},
		{"push zero seq", frame(1, "push", pushJSON(t, []int64{0, 1})), wire.CloseProtocolError, "not positive"},
		{"push negative seq", frame(1, "push", pushJSON(t, []int64{-2, -1})), wire.CloseProtocolError, "not positive"},
		{"push gap", frame(1, "push", pushJSON(t, []int64{4, 5, 7})), wire.CloseProtocolError, "contiguous"},
		{"push descending", frame(1, "push", pushJSON(t, []int64{5, 4})), wire.CloseProtocolError, "contiguous"},
		{"push duplicate seq", frame(1, "push", pushJSON(t, []int64{5, 5})), wire.CloseProtocolError, "contiguous"},
		{"event id not a UUID", frame(1, "push", pushJSON(t, []int64{1}, eventJSON(t, "id", `"not-a-uuid"`))), wire.CloseProtocolError, "id is not a UUIDv7"},
		{"event id UUIDv4", frame(1, "push", pushJSON(t, []int64{1}, eventJSON(t, "id", `"0190a4a4-8b1e-4c3d-9e2f-0123456789ab"`))), wire.CloseProtocolError, "id is not a UUIDv7"},
		{"event id upper case", frame(1, "push", pushJSON(t, []int64{1}, eventJSON(t, "id", `"0190A4A4-8B1E-7C3D-9E2F-0123456789AB"`))), wire.CloseProtocolError, "id is not a UUIDv7"},
		{"event missing id", frame(1, "push", pushJSON(t, []int64{1}, eventJSON(t, "id", ""))), wire.CloseProtocolError, "id is not a UUIDv7"},
		{"event missing complaint", frame(1, "push", pushJSON(t, []int64{1}, eventJSON(t, "complaint_id", ""))), wire.CloseProtocolError, "complaint_id"},
		{"event missing type", frame(1, "push", pushJSON(t, []int64{1}, eventJSON(t, "type", ""))), wire.CloseProtocolError, "type"},
		{"event missing actor", frame(1, "push", pushJSON(t, []int64{1}, eventJSON(t, "actor", ""))), wire.CloseProtocolError, "actor.kind"},
		{"event missing at", frame(1, "push", pushJSON(t, []int64{1}, eventJSON(t, "at", ""))), wire.CloseProtocolError, "missing at"},
		{"event negative at", frame(1, "push", pushJSON(t, []int64{1}, eventJSON(t, "at", "-1"))), wire.CloseProtocolError, "at"},
		{"event missing branch", frame(1, "push", pushJSON(t, []int64{1}, eventJSON(t, "branch", ""))), wire.CloseProtocolError, "branch"},
		{"event data not an object", frame(1, "push", pushJSON(t, []int64{1}, eventJSON(t, "data", `"text"`))), wire.CloseProtocolError, "object"},
		{"event data null", frame(1, "push", pushJSON(t, []int64{1}, eventJSON(t, "data", `null`))), wire.CloseProtocolError, "object"},
		{"event data too big", frame(1, "push", pushJSON(t, []int64{1}, eventJSON(t, "data", bigData))), wire.CloseProtocolError, "data exceeds"},
		{"push ack zero", frame(1, "push_ack", `{"seq":0}`), wire.CloseProtocolError, "not positive"},
		{"push reject not a reject code", frame(1, "push_reject", fmt.Sprintf(`{"seq":1,"event_id":%q,"code":4009,"reason":"x"}`, uid.NewAt(base))), wire.CloseProtocolError, "reject code"},
		{"push reject no reason", frame(1, "push_reject", fmt.Sprintf(`{"seq":1,"event_id":%q,"code":4003}`, uid.NewAt(base))), wire.CloseProtocolError, "reason"},
		{"events zero next", frame(1, "events", `{"scope":"b","from":0,"next":0}`), wire.CloseProtocolError, "next"},
		{"events next before from", frame(1, "events", `{"scope":"b","from":9,"next":8}`), wire.CloseProtocolError, "next"},
		{"events negative from", frame(1, "events", `{"scope":"b","from":-1,"next":8}`), wire.CloseProtocolError, "negative"},
		{"events missing scope", frame(1, "events", `{"from":0,"next":8}`), wire.CloseProtocolError, "scope"},
		{"events seq not after from", frame(1, "events", `{"scope":"b","from":5,"next":9,"events":[{"seq":5,"event":`+eventJSON(t)+`}]}`), wire.CloseProtocolError, "not in"},
		{"events seq past next", frame(1, "events", `{"scope":"b","from":5,"next":9,"events":[{"seq":10,"event":`+eventJSON(t)+`}]}`), wire.CloseProtocolError, "not in"},
		{"events ack zero", frame(1, "events_ack", `{"scope":"b","cursor":0}`), wire.CloseProtocolError, "not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := wire.Decode(tt.frame)
			if err == nil {
				t.Fatalf("Decode succeeded: %#v", msg)
			}
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatalf("error %v (%T) is not a *wire.Error", err, err)
			}
			if we.Code != tt.code || !strings.Contains(we.Reason, tt.in) {
				t.Fatalf("got %d %q, want %d with %q", we.Code, we.Reason, tt.code, tt.in)
			}
			if len(we.Reason) > 200 {
				t.Fatalf("reason of %d bytes: %q", len(we.Reason), we.Reason)
			}
		})
	}
}

func TestDecodeReadsNewerHello(t *testing.T) {
	// A v1 server must read a v2 device's hello, fields it does not know
	// included, to negotiate down or refuse with a clear code.
	msg, err := wire.Decode(frame(2, "client_hello", `{"versions":[2,1],"device_id":"d","software":"s","capabilities":["zstd"]}`))
	if err != nil {
		t.Fatal(err)
	}
	hello := msg.(*wire.ClientHello)
	if v, err := wire.Negotiate(hello.Versions, wire.Versions()); err != nil || v != 1 {
		t.Fatalf("Negotiate = %d, %v; want 1", v, err)
	}
	// But not a v1 hello with unknown fields: that is a bug, not the future.
	if _, err := wire.Decode(frame(1, "client_hello", `{"versions":[1],"device_id":"d","software":"s","capabilities":[]}`)); err == nil {
		t.Fatal("v1 hello with an unknown field decoded")
	}
}

func TestDecodeRefusesOversizeBeforeParsing(t *testing.T) {
	big := make([]byte, wire.MaxFrameBytes+1)
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := wire.Decode(big); err == nil {
			t.Fatal("oversize frame decoded")
		}
	})
	if allocs > 10 { // the *Error and its reason (a few more under -race), never the frame
		t.Fatalf("%v allocations to refuse an oversize frame", allocs)
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	gap := MustPush(t, 1, 3, 10)
	gap.Events[2].Seq = 9
	tests := []struct {
		name string
		msg  wire.Message
		code wire.CloseCode
	}{
		{"nil", nil, wire.CloseProtocolError},
		{"push gap", gap, wire.CloseProtocolError},
		{"push over the frame limit", MustPush(t, 1, 30, 60_000), wire.CloseTooBig},
		{"hello without device", &wire.ClientHello{Versions: []int{1}, Software: "s"}, wire.CloseProtocolError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := wire.Encode(tt.msg)
			var we *wire.Error
			if !errors.As(err, &we) || we.Code != tt.code {
				t.Fatalf("Encode error = %v, want code %d", err, tt.code)
			}
		})
	}
}

func TestEncodeDoesNotEscapeHTML(t *testing.T) {
	p := MustPush(t, 1, 1, 30)
	p.Events[0].Event.Branch = "A&B <Main>"
	p.Events[0].Event.Data = json.RawMessage(`{"text":"<x>&"}`)
	f := MustEncode(t, p)
	if !strings.Contains(string(f), `"A&B <Main>"`) || !strings.Contains(string(f), `{"text":"<x>&"}`) {
		t.Fatalf("customer text was escaped: %s", f)
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		client, server []int
		want           int
	}{
		{[]int{1}, []int{1}, 1},
		{[]int{1, 2, 3}, []int{2, 1}, 2},
		{[]int{3, 1}, []int{1, 3}, 3},
		{[]int{2}, []int{1}, 0},
		{nil, []int{1}, 0},
		{[]int{0, -1}, []int{0, -1}, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.client, tt.server), func(t *testing.T) {
			got, err := wire.Negotiate(tt.client, tt.server)
			if tt.want == 0 {
				var we *wire.Error
				if !errors.As(err, &we) || we.Code != wire.CloseUnsupportedVersion || we.Code.Reconnect() {
					t.Fatalf("got %d, %v; want CloseUnsupportedVersion", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func BenchmarkEncodeDecodePush(b *testing.B) {
	const n = 500
	push := MustPush(b, 1, n, 300) // about 500 bytes an event once encoded
	frame := MustEncode(b, push)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f, err := wire.Encode(push)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := wire.Decode(f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(frame))/n, "bytes/event")
	b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodePush is the receiving side alone: the server during upload
// catch-up, a device during download catch-up.
func BenchmarkDecodePush(b *testing.B) {
	const n = 500
	frame := MustEncode(b, MustPush(b, 1, n, 300))
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wire.Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "events/s")
}

// TestServerHelloAlwaysNamesScopes: a device granted nothing (every
// customer kiosk) still gets the required scopes member, as [].
func TestServerHelloAlwaysNamesScopes(t *testing.T) {
	frame, err := wire.Encode(&wire.ServerHello{Version: 1, ServerTime: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(frame), `"scopes":[]`) {
		t.Fatalf("server_hello with no scopes encoded as %s", frame)
	}
	m, err := wire.Decode(frame)
	if err != nil || len(m.(*wire.ServerHello).Scopes) != 0 {
		t.Fatalf("decoded %+v, %v", m, err)
	}
}
