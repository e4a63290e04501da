package audit_test

import (
	"testing"

	"ombud/shared/audit"
)

// BenchmarkLink is the chain's cost per event under the writer: one
// SHA-256 over the previous hash and the short columns (the payload's hash
// is computed before the writer is taken).
func BenchmarkLink(b *testing.B) {
	r := audit.Record{Seq: 1, ID: "01939a7e-5c2b-7d4e-8f00-0123456789ab", DeviceID: "dev-12", DeviceSeq: 42,
		ComplaintID: "01939a7e-5c2b-7d4e-8f00-0123456789ac", Branch: "main", Type: "note_added",
		ActorKind: "staff", ActorID: "staff-main", At: 1 << 40, PayloadHash: audit.PayloadHash([]byte("x"))}
	c := audit.From(audit.Genesis)
	for i := 0; i < b.N; i++ {
		r.Seq++
		c.Next(&r)
	}
}

// BenchmarkPayloadHash500 is the payload hash of a 500-byte event, taken
// outside the writer (in Push, before the group commit).
func BenchmarkPayloadHash500(b *testing.B) {
	data := make([]byte, 500)
	b.SetBytes(500)
	for i := 0; i < b.N; i++ {
		audit.PayloadHash(data)
	}
}
