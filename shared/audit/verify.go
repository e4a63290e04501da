package audit

import "fmt"

// Row is one stored event as the verifier reads it back.
type Row struct {
	Record
	// Data is the payload as stored now (replaced, if Redacted).
	Data []byte
	// Hash is the stored chain hash; a missing or malformed one is a break.
	Hash []byte
	// Redacted says the payload was replaced by a redaction: Data no
	// longer matches PayloadHash, which a redaction event for the same
	// complaint later in the log must explain.
	Redacted bool
}

// Kind names what a break looks like.
type Kind string

const (
	// Payload: the row's payload does not match the hash stored with it
	// (edited in place), and the row is not marked redacted.
	Payload Kind = "payload edited"
	// Deleted: rows are missing; Seq is the first missing sequence.
	Deleted Kind = "row deleted"
	// Inserted: a row that was never chained sits at Seq, and the rows
	// after it chain on without it.
	Inserted Kind = "row inserted"
	// Reordered: the rows at Seq and Seq+1 hold each other's events.
	Reordered Kind = "rows reordered"
	// Altered: the row at Seq does not match its link (a changed column, a
	// changed or missing hash, or a row added at the end).
	Altered Kind = "row altered"
	// Unexplained: the row is marked redacted but no redaction event for
	// its complaint follows it.
	Unexplained Kind = "redaction without a redaction event"
	// HeadMismatch: the row at the recorded head's sequence has another
	// hash: the log up to it was rewritten.
	HeadMismatch Kind = "recorded head not in the log"
	// OutOfOrder: rows were handed to the verifier out of sequence order
	// (a caller's bug, or a corrupt index).
	OutOfOrder Kind = "rows out of order"
)

// Break is the first place the log stops verifying.
type Break struct {
	Seq    int64
	Kind   Kind
	Detail string
}

func (b *Break) Error() string {
	return fmt.Sprintf("audit chain breaks at sequence %d: %s (%s)", b.Seq, b.Kind, b.Detail)
}

// Verifier walks rows in sequence order and finds the first break. It
// holds one row back when a link fails, to tell an inserted row or a
// reordered pair from an altered one by the row after it.
type Verifier struct {
	head       *Head
	redactions map[string]int64
	prev       Hash
	prevSeq    int64
	lastSeq    int64 // the last row added, verified or not
	rows       int64
	pending    *Row
	headSeen   bool
	brk        *Break
}

// NewVerifier starts a walk from Genesis. head, if not nil, is a head
// recorded earlier: the row at its sequence must carry its hash.
// redactions maps each complaint id to the sequence of the last redaction
// event for it (so a redacted row before it is explained).
func NewVerifier(head *Head, redactions map[string]int64) *Verifier {
	return &Verifier{head: head, redactions: redactions}
}

// Add checks the next row. It returns the first break once one is found
// (and ignores rows after it).
func (v *Verifier) Add(r Row) *Break {
	if v.brk != nil {
		return v.brk
	}
	if v.rows > 0 && r.Seq <= v.lastSeq {
		return v.fail(r.Seq, OutOfOrder, fmt.Sprintf("sequence %d after %d", r.Seq, v.lastSeq))
	}
	v.rows++
	v.lastSeq = r.Seq
	if p := v.pending; p != nil {
		return v.decide(p, &r)
	}
	if !v.links(v.prev, &r, r.Seq) {
		v.pending = &r
		return nil
	}
	return v.accept(&r)
}

// links reports whether r, read as if it sat at seq, is the link after prev.
func (v *Verifier) links(prev Hash, r *Row, seq int64) bool {
	stored, ok := HashOf(r.Hash)
	if !ok {
		return false
	}
	rec := r.Record
	rec.Seq = seq
	return Link(prev, &rec) == stored
}

// accept checks a row whose link holds, then moves past it.
func (v *Verifier) accept(r *Row) *Break {
	if v.head != nil && !v.headSeen && r.Seq >= v.head.Seq {
		v.headSeen = true
		if r.Seq != v.head.Seq {
			return v.fail(v.head.Seq, HeadMismatch, fmt.Sprintf("no row at the recorded head's sequence %d", v.head.Seq))
		}
		if stored, _ := HashOf(r.Hash); stored != v.head.Hash {
			return v.fail(r.Seq, HeadMismatch, fmt.Sprintf("the row's hash %s is not the recorded %s", stored, v.head.Hash))
		}
	}
	switch {
	case r.Redacted:
		if v.redactions[r.ComplaintID] <= r.Seq {
			return v.fail(r.Seq, Unexplained, fmt.Sprintf("complaint %s has no redaction event after it", r.ComplaintID))
		}
	case PayloadHash(r.Data) != r.PayloadHash:
		return v.fail(r.Seq, Payload, "the payload's hash is not the one chained")
	}
	v.prev, _ = HashOf(r.Hash)
	v.prevSeq = r.Seq
	return nil
}

// decide names the break at p, a row whose link failed, with the help of
// the row after it.
func (v *Verifier) decide(p, next *Row) *Break {
	switch {
	case swapped(v.prev, p, next):
		return v.fail(p.Seq, Reordered, fmt.Sprintf("sequences %d and %d hold each other's events", p.Seq, next.Seq))
	case v.links(v.prev, next, next.Seq) || v.links(v.prev, next, p.Seq):
		// The next row chains on from before p (in place, or shifted up
		// by one to make room): p was put in.
		return v.fail(p.Seq, Inserted, "the rows after it chain without it")
	}
	return v.failAt(p)
}

// swapped reports whether p and next hold each other's events.
func swapped(prev Hash, p, next *Row) bool {
	a, ok1 := HashOf(next.Hash)
	b, ok2 := HashOf(p.Hash)
	if !ok1 || !ok2 {
		return false
	}
	n := next.Record
	n.Seq = p.Seq
	if Link(prev, &n) != a {
		return false
	}
	q := p.Record
	q.Seq = next.Seq
	return Link(a, &q) == b
}

// failAt names the break at p with nothing after it to compare.
func (v *Verifier) failAt(p *Row) *Break {
	if p.Seq > v.prevSeq+1 {
		return v.fail(v.prevSeq+1, Deleted, fmt.Sprintf("sequences %d to %d are missing", v.prevSeq+1, p.Seq-1))
	}
	return v.fail(p.Seq, Altered, "the row does not match its link (a changed column or hash, or a row added)")
}

func (v *Verifier) fail(seq int64, k Kind, detail string) *Break {
	v.brk = &Break{Seq: seq, Kind: k, Detail: detail}
	return v.brk
}

// Finish ends the walk: the first break, if any, and the head verified (the
// last row that links).
func (v *Verifier) Finish() (*Break, Head) {
	if v.brk == nil && v.pending != nil {
		v.failAt(v.pending)
	}
	if v.brk == nil && v.head != nil && !v.headSeen {
		v.fail(v.prevSeq+1, Deleted, fmt.Sprintf("the log ends at %d, before the recorded head at %d", v.prevSeq, v.head.Seq))
	}
	return v.brk, Head{Seq: v.prevSeq, Hash: v.prev}
}

// Rows is how many rows were added.
func (v *Verifier) Rows() int64 { return v.rows }

// Report is the outcome of a walk.
type Report struct {
	Break *Break `json:"break,omitempty"`
	// Head is the last link verified.
	Head Head  `json:"-"`
	Rows int64 `json:"rows"`
}

// Report finishes the walk and sums it up.
func (v *Verifier) Report() Report {
	brk, head := v.Finish()
	return Report{Break: brk, Head: head, Rows: v.rows}
}
