package uid_test

import (
	"testing"
	"time"

	"ombud/shared/uid"
)

func TestNewIsValidUniqueAndTimeOrdered(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	base := time.UnixMilli(1_700_000_000_000)
	for i := 0; i < 1000; i++ {
		id := uid.NewAt(base.Add(time.Duration(i) * time.Millisecond))
		if !uid.Valid(id) {
			t.Fatalf("%q is not a valid UUIDv7", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		if id <= prev {
			t.Fatalf("%q does not sort after %q", id, prev)
		}
		prev = id
	}
}

func TestValidRejects(t *testing.T) {
	for _, s := range []string{"", "not-a-uuid", "0190d7e4-7c1a-4b2e-8d3f-1234567890ab", "0190D7E4-7C1A-7B2E-8D3F-1234567890AB", "0190d7e4-7c1a-7b2e-cd3f-1234567890ab"} {
		if uid.Valid(s) {
			t.Errorf("Valid(%q) = true, want false", s)
		}
	}
}
