package cases

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
)

// A case's queue line (cases.line) is its Row, Unsynced aside, in one
// BLOB: a version byte, then strings as a uvarint length and bytes, and
// numbers as varints. A change of layout takes a new version and a
// migration that rewrites the rows (Queue.RebuildCases does).
const lineVersion = 1

// encodeLine encodes r, its Unsynced count left out: the outbox changes
// that in place (AckOutbox).
func encodeLine(r Row) []byte {
	b := make([]byte, 0, 96+len(r.Summary)+len(r.Category)+len(r.Queue))
	b = append(b, lineVersion)
	for _, s := range []string{r.ComplaintID, r.Code, string(r.State), r.Queue, r.Category,
		string(r.Severity), string(r.NextStep), r.Summary} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	var flags int64
	if r.Escalated {
		flags |= 1
	}
	if r.Waiting {
		flags |= 2
	}
	var due int64
	if !r.DueAt.IsZero() {
		due = r.DueAt.UnixMilli()
	}
	for _, n := range []int64{int64(r.Priority), flags, r.FiledAt.UnixMilli(), due,
		int64(r.Refused), r.UpdatedAt.UnixMilli()} {
		b = binary.AppendVarint(b, n)
	}
	return b
}

var errBadLine = errors.New("unreadable case line")

// decodeLine reads a line. The strings share one copy of b, which the
// caller may reuse afterwards.
func decodeLine(b []byte) (Row, error) {
	var r Row
	if len(b) == 0 || b[0] != lineVersion {
		return r, fmt.Errorf("%w: version %v", errBadLine, b[:min(len(b), 1)])
	}
	s := string(b) // one allocation for every string field
	i := 1
	str := func() string {
		n, k := binary.Uvarint(b[i:])
		if k <= 0 || uint64(len(b)-i-k) < n {
			i = len(b) + 1
			return ""
		}
		i += k
		v := s[i : i+int(n)]
		i += int(n)
		return v
	}
	num := func() int64 {
		if i > len(b) {
			return 0
		}
		n, k := binary.Varint(b[i:])
		if k <= 0 {
			i = len(b) + 1
			return 0
		}
		i += k
		return n
	}
	r.ComplaintID, r.Code = str(), str()
	r.State, r.Queue, r.Category = lifecycle.State(str()), str(), str()
	r.Severity, r.NextStep, r.Summary = event.Severity(str()), sla.Step(str()), str()
	r.Priority = int(num())
	flags := num()
	r.Escalated, r.Waiting = flags&1 != 0, flags&2 != 0
	r.FiledAt = time.UnixMilli(num()).UTC()
	if due := num(); due != 0 {
		r.DueAt = time.UnixMilli(due)
	}
	r.Refused = int(num())
	r.UpdatedAt = time.UnixMilli(num()).UTC()
	if i != len(b) {
		return Row{}, errBadLine
	}
	return r, nil
}
