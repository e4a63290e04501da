package client

import (
	"encoding/hex"
	"fmt"

	"ombud/shared/audit"
	"ombud/sync/wire"
)

// verifyChain checks the audit-chain links the server sent with a batch
// (wire.Chain, docs/SYNC.md "Chain"): each link recomputes from the event's
// fields, an unredacted payload matches its payload hash, and when two
// received events have consecutive global sequences the later's prev is the
// earlier's hash. A device sees only its scope, a subset of the log, so
// only such consecutive pairs can be link-checked. Events without chain
// data (older servers) are accepted. The returned error names the event.
func verifyChain(evs []wire.ScopedEvent) error {
	var (
		last     audit.Hash
		lastSeq  int64
		haveLast bool
	)
	for i := range evs {
		c := evs[i].Chain
		if c == nil {
			haveLast = false
			continue
		}
		e := &evs[i].Event
		ph, err := hexHash(c.PayloadHash)
		if err != nil {
			return fmt.Errorf("event %.40q: payload_hash: %v", e.ID, err)
		}
		prev, err := hexHash(c.Prev)
		if err != nil {
			return fmt.Errorf("event %.40q: prev: %v", e.ID, err)
		}
		hash, err := hexHash(c.Hash)
		if err != nil {
			return fmt.Errorf("event %.40q: hash: %v", e.ID, err)
		}
		if !c.Redacted && audit.PayloadHash(e.Data) != ph {
			return fmt.Errorf("event %.40q (seq %d): payload does not match its hash", e.ID, c.Seq)
		}
		rec := audit.Record{Seq: c.Seq, ID: e.ID, DeviceID: c.DeviceID, DeviceSeq: c.DeviceSeq, ComplaintID: e.ComplaintID,
			Branch: e.Branch, Type: string(e.Type), ActorKind: string(e.Actor.Kind), ActorID: e.Actor.ID,
			At: int64(e.At), PayloadHash: ph}
		if audit.Link(prev, &rec) != hash {
			return fmt.Errorf("event %.40q (seq %d): chain hash does not recompute", e.ID, c.Seq)
		}
		if haveLast && c.Seq == lastSeq+1 && prev != last {
			return fmt.Errorf("event %.40q (seq %d): prev is not the hash of seq %d", e.ID, c.Seq, lastSeq)
		}
		last, lastSeq, haveLast = hash, c.Seq, true
	}
	return nil
}

func hexHash(s string) (audit.Hash, error) {
	var h audit.Hash
	if len(s) != 2*audit.Size {
		return h, fmt.Errorf("want %d hex digits, got %d", 2*audit.Size, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("not hex")
	}
	return h, nil
}
