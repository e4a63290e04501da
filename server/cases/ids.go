package cases

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	"ombud/server/sla"
	"ombud/shared/lifecycle"
)

// idDomain separates the engine's hashes from any other use of SHA-256 over
// the same strings; bump it only with a migration of the ids' meaning.
const idDomain = "ombud/server/cases/v1"

// derivedID makes the id of an event the engine appends: shaped as a UUIDv7
// (uid.Valid accepts it, and the time field keeps the log's id index
// append-mostly), with the 74 bits a random UUIDv7 would draw taken instead
// from a hash of what caused the event. The same cause always gives the same
// id, and Append stores an id once, so a decision replayed after a crash,
// by a Rebuild or by a second engine is stored once. at must be a time taken
// from the cause (an event's clock), not the wall clock, or replays would
// differ in the time field.
func derivedID(at time.Time, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(idDomain))
	for _, p := range parts {
		// Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	sum := h.Sum(nil)

	var b [16]byte
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(at.UnixMilli()))
	copy(b[0:6], ms[2:8])
	copy(b[6:16], sum[:10])
	b[6] = 0x70 | b[6]&0x0F // version 7
	b[8] = 0x80 | b[8]&0x3F // RFC 9562 variant

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

// escalationID is the id of the Escalated event for a breach of target on
// case cs. It is keyed by (complaint, target), not by the deadline: each
// target can be breached once per case (acknowledgement happens once, and
// "respond" counts the first response, which a reopen does not reset), but
// the deadline of a breached target can still move — a re-assessment changes
// the policy, an operator edits holidays and restarts — and keying by it
// would escalate the same lateness again, for every breached case at once
// after such an edit.
func escalationID(cs lifecycle.Case, target sla.Target) string {
	return derivedID(cs.FiledAt.Time(), cs.ID, "escalate", string(target))
}
