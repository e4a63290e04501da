package audit_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"ombud/shared/audit"
)

// chain builds n rows linked from Genesis, seqs 1..n.
func chain(n int) []audit.Row {
	rows := make([]audit.Row, n)
	c := audit.From(audit.Genesis)
	for i := range rows {
		data := []byte(fmt.Sprintf(`{"text":"event %d"}`, i+1))
		r := audit.Row{Record: audit.Record{
			Seq: int64(i + 1), ID: fmt.Sprintf("e%d", i+1), ComplaintID: fmt.Sprintf("c%d", i%3),
			Branch: "Main", Type: "note_added", ActorKind: "staff", ActorID: "s1", At: int64(1000 + i),
			DeviceID: "d1", DeviceSeq: int64(i + 1), PayloadHash: audit.PayloadHash(data),
		}, Data: data}
		h := c.Next(&r.Record)
		r.Hash = h[:]
		rows[i] = r
	}
	return rows
}

func verify(rows []audit.Row, head *audit.Head, red map[string]int64) (*audit.Break, audit.Head) {
	v := audit.NewVerifier(head, red)
	for _, r := range rows {
		v.Add(r)
	}
	return v.Finish()
}

func TestCleanChainVerifies(t *testing.T) {
	rows := chain(10)
	brk, head := verify(rows, nil, nil)
	if brk != nil {
		t.Fatal(brk)
	}
	if head.Seq != 10 || head.Hash.String() != fmt.Sprintf("%x", rows[9].Hash) {
		t.Fatalf("head = %v", head)
	}
	h, err := audit.ParseHead(head.String())
	if err != nil || h != head {
		t.Fatalf("ParseHead(%q) = %v, %v", head, h, err)
	}
	if brk, _ := verify(rows, &h, nil); brk != nil {
		t.Fatalf("against its own head: %v", brk)
	}
	if brk, _ := verify(nil, nil, nil); brk != nil {
		t.Fatalf("empty log: %v", brk)
	}
}

func TestBreaks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func([]audit.Row) []audit.Row
		seq    int64
		kind   audit.Kind
	}{
		{"edited payload", func(r []audit.Row) []audit.Row { r[4].Data = []byte(`{"text":"forged"}`); return r }, 5, audit.Payload},
		{"edited payload and its hash", func(r []audit.Row) []audit.Row {
			r[4].Data = []byte(`{"text":"forged"}`)
			r[4].PayloadHash = audit.PayloadHash(r[4].Data)
			return r
		}, 5, audit.Altered},
		{"edited column", func(r []audit.Row) []audit.Row { r[6].ActorID = "s2"; return r }, 7, audit.Altered},
		{"deleted row", func(r []audit.Row) []audit.Row { return append(r[:3:3], r[4:]...) }, 4, audit.Deleted},
		{"deleted rows", func(r []audit.Row) []audit.Row { return append(r[:3:3], r[6:]...) }, 4, audit.Deleted},
		{"deleted next to last", func(r []audit.Row) []audit.Row { return append(r[:8:8], r[9]) }, 9, audit.Deleted},
		{"deleted first", func(r []audit.Row) []audit.Row { return r[1:] }, 1, audit.Deleted},
		{"inserted, shifting the rest up", func(r []audit.Row) []audit.Row {
			out := append([]audit.Row(nil), r[:4]...)
			fake := r[2]
			fake.ID, fake.Seq = "forged", 5
			out = append(out, fake)
			for _, x := range r[4:] {
				x.Seq++
				out = append(out, x)
			}
			return out
		}, 5, audit.Inserted},
		{"reordered pair", func(r []audit.Row) []audit.Row {
			r[3], r[4] = r[4], r[3]
			r[3].Seq, r[4].Seq = 4, 5
			return r
		}, 4, audit.Reordered},
		{"added at the end", func(r []audit.Row) []audit.Row {
			x := r[9]
			x.Seq, x.ID = 11, "forged"
			return append(r, x)
		}, 11, audit.Altered},
		{"hash missing", func(r []audit.Row) []audit.Row { r[2].Hash = nil; return r }, 3, audit.Altered},
		{"redacted without an event", func(r []audit.Row) []audit.Row { r[1].Data, r[1].Redacted = nil, true; return r }, 2, audit.Unexplained},
	} {
		t.Run(tc.name, func(t *testing.T) {
			brk, _ := verify(tc.mutate(chain(10)), nil, nil)
			if brk == nil || brk.Seq != tc.seq || brk.Kind != tc.kind {
				t.Fatalf("break = %v, want %q at %d", brk, tc.kind, tc.seq)
			}
		})
	}
}

func TestRedactionKeepsTheChain(t *testing.T) {
	rows := chain(10)
	rows[1].Data, rows[1].Redacted = []byte(`{"redacted":true}`), true // complaint c1
	if brk, _ := verify(rows, nil, map[string]int64{"c1": 9}); brk != nil {
		t.Fatalf("redaction explained by seq 9: %v", brk)
	}
	if brk, _ := verify(rows, nil, map[string]int64{"c1": 2}); brk == nil || brk.Seq != 2 || brk.Kind != audit.Unexplained {
		t.Fatalf("a redaction event before the row explains nothing: %v", brk)
	}
}

func TestRecordedHead(t *testing.T) {
	rows := chain(10)
	_, head := verify(rows[:6], nil, nil)
	// The log grew after the head was recorded: still fine.
	if brk, _ := verify(rows, &head, nil); brk != nil {
		t.Fatal(brk)
	}
	// Rewritten from row 3 on with a valid chain: only the head shows it.
	forged := chain(10)
	forged[2].ActorID = "someone else"
	prev, _ := audit.HashOf(forged[1].Hash)
	c := audit.From(prev)
	for i := 2; i < 10; i++ {
		h := c.Next(&forged[i].Record)
		forged[i].Hash = h[:]
	}
	if brk, _ := verify(forged, nil, nil); brk != nil {
		t.Fatalf("a consistent rewrite verifies without a head (the reason to record one): %v", brk)
	}
	if brk, _ := verify(forged, &head, nil); brk == nil || brk.Seq != 6 || brk.Kind != audit.HeadMismatch {
		t.Fatalf("against the recorded head: %v", brk)
	}
	// The log cut short before the head.
	if brk, _ := verify(rows[:4], &head, nil); brk == nil || brk.Seq != 5 || brk.Kind != audit.Deleted {
		t.Fatalf("truncated: %v", brk)
	}
	for _, bad := range []string{"", "12", "x:00", "0:" + head.Hash.String(), "3:abcd"} {
		if _, err := audit.ParseHead(bad); err == nil {
			t.Errorf("ParseHead(%q) succeeded", bad)
		}
	}
}

// FuzzVerify: rows decoded from arbitrary bytes never panic the verifier;
// a chain built from them verifies; and flipping one chained field of one
// row is always reported at that row (or, for a deleted row, at its seq).
func FuzzVerify(f *testing.F) {
	f.Add([]byte("seed rows for the chain"), uint8(3), uint8(0))
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, uint8(0), uint8(1))
	f.Add([]byte("another"), uint8(200), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, at, how uint8) {
		// Arbitrary rows straight in: no panic, whatever they hold.
		v := audit.NewVerifier(nil, nil)
		for i := 0; i+9 <= len(in); i += 9 {
			v.Add(audit.Row{Record: audit.Record{Seq: int64(binary.BigEndian.Uint64(in[i:]) % 64), ID: string(in[i : i+1])}, Hash: in[i+1 : i+9], Redacted: in[i]&1 == 1})
		}
		v.Finish()

		// A real chain from the input.
		n := len(in)/4 + 2
		rows := make([]audit.Row, n)
		c := audit.From(audit.Genesis)
		for i := range rows {
			data := in[:i*len(in)/n]
			rows[i] = audit.Row{Record: audit.Record{Seq: int64(i + 1), ID: fmt.Sprint(i), ComplaintID: string(data), At: int64(i), PayloadHash: audit.PayloadHash(data)}, Data: data}
			h := c.Next(&rows[i].Record)
			rows[i].Hash = h[:]
		}
		if brk, _ := verify(rows, nil, nil); brk != nil {
			t.Fatalf("clean chain: %v", brk)
		}
		k := int(at) % n
		want := int64(k + 1)
		switch how % 3 {
		case 0:
			rows[k].Data = append(append([]byte(nil), rows[k].Data...), 'x')
		case 1:
			rows[k].At++
		case 2:
			if k == n-1 {
				// The last row deleted: nothing after it to show it
				// without a recorded head.
				return
			}
			rows = append(rows[:k:k], rows[k+1:]...)
		}
		if brk, _ := verify(rows, nil, nil); brk == nil || brk.Seq != want {
			t.Fatalf("mutation %d at row %d: break = %v, want at %d", how%3, k+1, brk, want)
		}
	})
}
