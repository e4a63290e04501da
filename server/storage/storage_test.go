package storage_test

import (
	"errors"
	"fmt"
	"testing"

	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/trackcode"
)

func TestPrefixForSequenceIsABijection(t *testing.T) {
	seen := make(map[string]int64, storage.PrefixSpace)
	for n := int64(1); n <= storage.PrefixSpace; n++ {
		p, err := storage.PrefixForSequence(n)
		if err != nil {
			t.Fatalf("PrefixForSequence(%d): %v", n, err)
		}
		if len(p) != trackcode.PrefixLen || !trackcode.ValidPrefix(p) {
			t.Fatalf("PrefixForSequence(%d) = %q, not a valid trackcode prefix", n, p)
		}
		if m, ok := seen[p]; ok {
			t.Fatalf("prefix %q given to both %d and %d", p, m, n)
		}
		seen[p] = n
		if _, err := trackcode.Generate(p); err != nil {
			t.Fatalf("trackcode.Generate(%q): %v", p, err)
		}
	}
	first, _ := storage.PrefixForSequence(1)
	second, _ := storage.PrefixForSequence(2)
	if first == "000" || first[0] == second[0] {
		t.Errorf("first prefixes %q, %q: want no placeholder look and different first symbols", first, second)
	}
	for _, n := range []int64{0, -1, storage.PrefixSpace + 1} {
		if _, err := storage.PrefixForSequence(n); storage.ErrorCode(err) != storage.Conflict {
			t.Errorf("PrefixForSequence(%d) error code = %q, want %q", n, storage.ErrorCode(err), storage.Conflict)
		}
	}
}

func TestErrorCodeAndMessage(t *testing.T) {
	wrapped := fmt.Errorf("handler: %w", storage.Errorf(storage.NotFound, "device %s not found", "d1"))
	cause := &storage.Error{Code: storage.NotFound, Message: "complaint not found", Err: complaint.ErrNotFound}
	tests := []struct {
		name     string
		err      error
		wantCode storage.Code
		wantMsg  string
	}{
		{"nil", nil, "", ""},
		{"domain", wrapped, storage.NotFound, "device d1 not found"},
		{"other", errors.New("disk I/O error at /var/lib/x"), storage.Internal, "internal error"},
		{"with cause", cause, storage.NotFound, "complaint not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := storage.ErrorCode(tt.err); got != tt.wantCode {
				t.Errorf("ErrorCode = %q, want %q", got, tt.wantCode)
			}
			if got := storage.ErrorMessage(tt.err); got != tt.wantMsg {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.wantMsg)
			}
		})
	}
	if !errors.Is(cause, complaint.ErrNotFound) {
		t.Error("errors.Is(cause, complaint.ErrNotFound) = false")
	}
}
