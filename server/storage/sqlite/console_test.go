package sqlite_test

import (
	"context"
	"testing"
	"time"

	"ombud/server/storage"
	"ombud/server/storage/storetest"
)

// The search and queue tests are storetest's (TestStorageConformance).

// FuzzSearchQuery: whatever a person types, the search answers without
// an error (nothing of it reaches FTS5 as syntax).
func FuzzSearchQuery(f *testing.F) {
	s := MustOpen(f)
	storetest.Searchable(f, s, "north", "branch:north", "Frais prélevés deux fois")
	for _, q := range []string{"frais", `"`, "NEAR(a b)", "a OR b", "*", "-x", "col:val", "^début", "été*", "\x00", "(((", "a AND NOT b"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := s.SearchCases(ctx, storage.Scope{All: true}, q, 10); err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
	})
}
