package wire_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"unicode"
	"unicode/utf8"

	"ombud/sync/wire"
)

// FuzzDecode checks that Decode never panics, fails only with a *wire.Error
// whose reason is safe to send and log, and that whatever it accepts is in
// canonical form: it re-encodes, decodes to the same value, and re-encodes
// to the same bytes. Memory stays bounded because Decode refuses frames over
// MaxFrameBytes before parsing (TestDecodeRefusesOversizeBeforeParsing).
// Seeds are in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := wire.Decode(data)
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatalf("error %v (%T) is not a *wire.Error", err, err)
			}
			if we.Code < 1000 || we.Code > 4999 || we.Code == wire.CloseNoStatus || we.Code == wire.CloseAbnormal {
				t.Fatalf("code %d cannot be sent", we.Code)
			}
			if len(we.Reason) > 300 || !utf8.ValidString(we.Reason) {
				t.Fatalf("unsafe reason %q", we.Reason)
			}
			for _, r := range we.Reason {
				if unicode.IsControl(r) {
					t.Fatalf("control character in reason %q", we.Reason)
				}
			}
			return
		}
		frame, err := wire.Encode(msg)
		if err != nil {
			t.Fatalf("decoded %#v does not re-encode: %v", msg, err)
		}
		again, err := wire.Decode(frame)
		if err != nil {
			t.Fatalf("re-encoded frame %q does not decode: %v", frame, err)
		}
		if !reflect.DeepEqual(again, msg) {
			t.Fatalf("round trip changed the message:\n got %#v\nwant %#v", again, msg)
		}
		if frame2, err := wire.Encode(again); err != nil || !bytes.Equal(frame2, frame) {
			t.Fatalf("encoding is not canonical:\n%q\n%q (%v)", frame, frame2, err)
		}
	})
}
