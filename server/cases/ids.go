package cases

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"time"

	"ombud/shared/lifecycle"
	"ombud/shared/sla"

	"ombud/shared/uid"
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
	return uid.FromBits(at, [10]byte(h.Sum(nil)))
}

// escalationID is the id of the Escalated event for a breach of target on
// case cs. It is keyed by (complaint, target), not by the deadline: each
// target can be breached once per case (acknowledgement happens once, and
// "respond" counts the first response, which a reopen does not reset), but
// the deadline of a breached target can still move — a re-assessment changes
// the policy, an operator edits holidays and restarts — and keying by it
// would escalate the same lateness again, for every breached case at once
// after such an edit.
//
// A reopen's new answer (sla.Reanswer) is owed once per reopen, so its key
// adds the reopen's number.
func escalationID(cs lifecycle.Case, target sla.Target) string {
	if target == sla.Reanswer {
		return derivedID(cs.FiledAt.Time(), cs.ID, "escalate", string(target), strconv.Itoa(cs.ReopenCount))
	}
	return derivedID(cs.FiledAt.Time(), cs.ID, "escalate", string(target))
}
