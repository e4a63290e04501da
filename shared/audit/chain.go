// Package audit makes the server's event log tamper-evident: every stored
// event carries a hash chained to the previous event in global sequence
// order, so an edited, deleted, inserted or reordered row breaks the chain
// at a sequence the verifier names.
//
// The chain is computed here, in Go, and only here: a storage backend calls
// Link inside the transaction that stores the events (it knows the previous
// row's hash and the sequences it gives) and stores the result beside the
// row; Verify walks the rows back in order. No SQL computes a hash, so every
// backend (SQLite, PostgreSQL) produces the same chain for the same log.
//
//	payload_hash = SHA-256(data)
//	hash         = SHA-256("ombud-audit-v1\x00" || prev_hash || canonical(row))
//
// canonical(row) is, in this order: seq (8 bytes big-endian), id, device id,
// device seq (8 bytes big-endian, 0 for server events), complaint id,
// branch, type, actor kind, actor id (each string as a uvarint length then
// its bytes), at (8 bytes big-endian) and payload_hash (32 bytes). The first
// event's prev_hash is 32 zero bytes (Genesis).
//
// Redaction (retention, erasure) replaces an event's payload and keeps its
// payload_hash, so the chain still verifies; the row is marked redacted,
// and the verifier then asks that a redaction event for the same complaint
// follows it in the log (Row.Redacted, Verify's redactions argument).
//
// What the chain cannot do on its own: someone who can write the database
// and knows this algorithm can rewrite every row after an edit so the chain
// verifies again. Record the head (Head) elsewhere, regularly (`server audit
// head`, the admin API, /metrics); verifying against a recorded head catches
// any rewrite of the rows up to it.
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Size is the length of every hash in the chain.
const Size = sha256.Size

// Hash is one link of the chain, or a payload's hash.
type Hash [Size]byte

// Genesis is the prev_hash of the first event.
var Genesis Hash

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// HashOf reads a stored hash; ok is false for a missing or malformed one.
func HashOf(b []byte) (h Hash, ok bool) {
	if len(b) != Size {
		return h, false
	}
	copy(h[:], b)
	return h, true
}

// PayloadHash is the hash of an event's payload as first stored.
func PayloadHash(data []byte) Hash { return sha256.Sum256(data) }

// Record is what the chain covers of one stored event.
type Record struct {
	Seq         int64
	ID          string
	DeviceID    string // "" for server events
	DeviceSeq   int64  // 0 for server events
	ComplaintID string
	Branch      string
	Type        string
	ActorKind   string
	ActorID     string
	At          int64
	PayloadHash Hash
}

const domain = "ombud-audit-v1\x00"

// Link is the hash of r chained to prev.
func Link(prev Hash, r *Record) Hash {
	var buf [512]byte
	b := append(buf[:0], domain...)
	b = append(b, prev[:]...)
	b = r.appendCanonical(b)
	return sha256.Sum256(b)
}

func (r *Record) appendCanonical(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(r.Seq))
	b = appendString(b, r.ID)
	b = appendString(b, r.DeviceID)
	b = binary.BigEndian.AppendUint64(b, uint64(r.DeviceSeq))
	b = appendString(b, r.ComplaintID)
	b = appendString(b, r.Branch)
	b = appendString(b, r.Type)
	b = appendString(b, r.ActorKind)
	b = appendString(b, r.ActorID)
	b = binary.BigEndian.AppendUint64(b, uint64(r.At))
	return append(b, r.PayloadHash[:]...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Head is the chain's last link: the sequence of the last event and its
// hash. Its text form, "SEQ:HEX", is what an operator records.
type Head struct {
	Seq  int64
	Hash Hash
}

func (h Head) String() string { return strconv.FormatInt(h.Seq, 10) + ":" + h.Hash.String() }

// ParseHead reads "SEQ:HEX" (as Head.String writes it).
func ParseHead(s string) (Head, error) {
	var h Head
	seq, hx, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return h, errors.New("a head is SEQ:HASH, as `server audit head` prints it")
	}
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil || n < 1 {
		return h, fmt.Errorf("head sequence %q is not a positive number", seq)
	}
	b, err := hex.DecodeString(hx)
	if err != nil || len(b) != Size {
		return h, fmt.Errorf("head hash must be %d hex digits", 2*Size)
	}
	h.Seq = n
	copy(h.Hash[:], b)
	return h, nil
}

// Chain hands out links in order: a storage backend starts one from the
// last stored row (or Genesis) inside its write transaction, and calls Next
// for each row it inserts, in sequence order.
type Chain struct {
	prev Hash
}

// From starts a chain after the link prev.
func From(prev Hash) *Chain { return &Chain{prev: prev} }

// Next links r after the previous link and returns its hash.
func (c *Chain) Next(r *Record) Hash {
	c.prev = Link(c.prev, r)
	return c.prev
}

// Prev is the last link handed out (or the one the chain started from).
func (c *Chain) Prev() Hash { return c.prev }
