// Package uid makes the ids of complaints and events on any node without a
// round trip: UUIDv7 (RFC 9562), time-ordered so that SQLite indexes on them
// stay append-mostly, with 74 random bits so two devices never collide.
package uid

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
)

// New returns a fresh UUIDv7 in its canonical 36-character text form.
func New() string { return NewAt(time.Now()) }

// NewAt returns a UUIDv7 whose time field is t.
func NewAt(t time.Time) string {
	var rnd [10]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		panic(fmt.Sprintf("uid: crypto/rand failed: %v", err)) // the OS is broken; no safe fallback
	}
	return FromBits(t, rnd)
}

// FromBits returns the UUIDv7 with time field t and its other 74 bits taken
// from bits (the version and variant overwrite 6 of the 80). Callers that
// need an id derived deterministically from a cause, or unpredictable
// without drawing on the kernel for every id, pass a hash or an HMAC.
func FromBits(t time.Time, bits [10]byte) string {
	var b [16]byte
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(t.UnixMilli()))
	copy(b[0:6], ts[2:8])
	copy(b[6:16], bits[:])
	b[6] = 0x70 | b[6]&0x0F // version 7
	b[8] = 0x80 | b[8]&0x3F // RFC 9562 variant
	return format(b)
}

func format(b [16]byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

// Valid reports whether s is a canonical lower-case UUID of version 7.
func Valid(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	for i := 0; i < 36; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s[14] == '7' && (s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b')
}
