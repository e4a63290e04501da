package client

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"ombud/sync/wire"
)

// FuzzVerifyChain feeds arbitrary events batches to the verifier: it must
// never panic, and a batch it accepts must have every link recompute (it
// checks itself again after a round trip through JSON).
func FuzzVerifyChain(f *testing.F) {
	f.Add([]byte(`[{"seq":1,"event":{"id":"e1","complaint_id":"c1","type":"filed","actor":{"kind":"device","id":"d"},"at":1,"branch":"north","data":{"a":1}},"chain":{"seq":1,"payload_hash":"00","prev":"00","hash":"00"}}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var evs []wire.ScopedEvent
		if json.Unmarshal(b, &evs) != nil {
			return
		}
		if verifyChain(evs) != nil {
			return
		}
		again, err := json.Marshal(evs)
		if err != nil {
			return
		}
		var evs2 []wire.ScopedEvent
		if json.Unmarshal(again, &evs2) != nil {
			t.Fatalf("re-decode of %s failed", again)
		}
		for i := range evs2 {
			if evs2[i].Chain != nil && evs[i].Chain != nil && evs2[i].Chain.Hash != evs[i].Chain.Hash {
				t.Fatalf("hash changed over a round trip")
			}
		}
	})
}

// The seed corpus doubles as known answers: valid, redacted and chainless
// batches pass; a wrong prev between consecutive sequences is refused.
func TestVerifyChainSeeds(t *testing.T) {
	for name, wantOK := range map[string]bool{"valid-three": true, "redacted": true, "no-chain": true, "bad-prev": false} {
		raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzVerifyChain", name))
		if err != nil {
			t.Fatal(err)
		}
		_, lit, _ := strings.Cut(strings.TrimSpace(string(raw)), "[]byte(")
		s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var evs []wire.ScopedEvent
		if err := json.Unmarshal([]byte(s), &evs); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := verifyChain(evs); (err == nil) != wantOK {
			t.Errorf("%s: verifyChain = %v, want ok=%v", name, err, wantOK)
		}
	}
}
