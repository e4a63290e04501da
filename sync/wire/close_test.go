package wire_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"ombud/shared/uid"
	"ombud/sync/wire"
)

func TestCloseCodeReconnect(t *testing.T) {
	tests := []struct {
		code wire.CloseCode
		want bool
	}{
		{wire.CloseNormal, true},
		{wire.CloseGoingAway, true},
		{wire.CloseAbnormal, true},
		{wire.CloseInternal, true},
		{wire.CloseServiceRestart, true},
		{wire.CloseTryAgainLater, true},
		{wire.CloseSlowConsumer, true},
		{wire.CloseShuttingDown, true},
		{wire.CloseOutOfStep, true},
		{wire.CloseUnsupportedData, false},
		{wire.CloseInvalidUTF8, false},
		{wire.CloseTooBig, false},
		{wire.CloseProtocolError, false},
		{wire.CloseUnsupportedVersion, false},
		{wire.CloseUnauthorized, false},
		{wire.CloseForbiddenEvent, false},
		{wire.CloseConflict, false},
		{wire.CloseDiverged, false},
		{wire.CloseInvalidEvent, false},
		{wire.CloseReplaced, false},
		{4321, false}, // unknown, give-up half
		{4567, true},  // unknown, reconnect half
		{3000, true},  // unknown library code
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			if got := tt.code.Reconnect(); got != tt.want {
				t.Fatalf("%d.Reconnect() = %v, want %v", int(tt.code), got, tt.want)
			}
		})
	}
}

func TestCloseMessageRoundTrip(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes; byte 123 is inside a rune
	tests := []struct {
		name, reason, want string
	}{
		{"short", "protocol error: push: no events", "protocol error: push: no events"},
		{"empty", "", ""},
		{"cut on a rune boundary", long, strings.Repeat("é", 61)},
		{"invalid UTF-8 repaired", "bad \xff byte", "bad \uFFFD byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := wire.CloseMessage(wire.CloseProtocolError, tt.reason)
			if len(p) > 125 {
				t.Fatalf("payload of %d bytes", len(p))
			}
			code, reason, err := wire.ParseCloseMessage(p)
			if err != nil {
				t.Fatal(err)
			}
			if code != wire.CloseProtocolError || reason != tt.want || !utf8.ValidString(reason) {
				t.Fatalf("got %d %q, want %d %q", code, reason, wire.CloseProtocolError, tt.want)
			}
		})
	}
}

func TestParseCloseMessageRejects(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
	}{
		{"one byte", []byte{3}},
		{"code 999", []byte{0x03, 0xe7}},
		{"code 1005 sent", []byte{0x03, 0xed}},
		{"code 1006 sent", []byte{0x03, 0xee}},
		{"code 5000", []byte{0x13, 0x88}},
		{"invalid UTF-8 reason", append([]byte{0x0f, 0xa0}, 0xff)},
		{"too long", append([]byte{0x0f, 0xa0}, strings.Repeat("a", 124)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, reason, err := wire.ParseCloseMessage(tt.payload)
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatalf("got %d %q %v, want a *wire.Error", code, reason, err)
			}
		})
	}
	if code, _, err := wire.ParseCloseMessage(nil); err != nil || code != wire.CloseNoStatus {
		t.Fatalf("empty payload: %d, %v; want CloseNoStatus", code, err)
	}
}

func TestAsErrorHidesInternalDetail(t *testing.T) {
	we := wire.AsError(errors.New("open /var/lib/ombud/server.db: disk I/O error"))
	if we.Code != wire.CloseInternal || strings.Contains(we.Reason, "/var") {
		t.Fatalf("AsError = %+v", we)
	}
	orig := &wire.Error{Code: wire.CloseDiverged, Reason: "x"}
	if got := wire.AsError(errors.Join(errors.New("ctx"), orig)); got != orig {
		t.Fatalf("AsError lost the wrapped *Error: %+v", got)
	}
}

// A device quarantines the event of any push_reject: codes added later in
// the reject range must decode on old devices, close-only codes must not.
func TestRejectCodes(t *testing.T) {
	for code, want := range map[wire.CloseCode]bool{
		wire.CloseForbiddenEvent: true, wire.CloseConflict: true, wire.CloseInvalidEvent: true, wire.CloseAltered: true,
		4011: true, 4499: true, // not assigned yet: a future reject code
		wire.CloseProtocolError: false, wire.CloseUnauthorized: false, wire.CloseDiverged: false,
		wire.CloseShuttingDown: false, wire.CloseReplaced: false, wire.CloseOutOfStep: false,
		4999: false, wire.CloseInternal: false, 1000: false,
	} {
		if got := code.IsRejectCode(); got != want {
			t.Errorf("%d.IsRejectCode() = %v, want %v", int(code), got, want)
		}
		frame := fmt.Sprintf(`{"v":1,"type":"push_reject","body":{"seq":1,"event_id":%q,"code":%d,"reason":"r"}}`, uid.New(), int(code))
		_, err := wire.Decode([]byte(frame))
		if (err == nil) != want {
			t.Errorf("decode push_reject with code %d: err = %v, want accepted %v", int(code), err, want)
		}
	}
}
