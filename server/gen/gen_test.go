package gen_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"ombud/server/gen"
	"ombud/server/storage"
	"ombud/server/storage/sqlite"
)

// TestGenerate: the data set is what the console reads (queues, counts,
// search with accents folded, case rows), sampled ids exist, and a
// database that already has events is refused.
func TestGenerate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "server.db")
	res, err := gen.Generate(ctx, path, gen.Options{Cases: 500, Branches: 5, Seed: 7, SampleEvery: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Sample) != 5 {
		t.Errorf("%d sampled ids, want 5", len(res.Sample))
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all := storage.Scope{All: true}
	_, total, err := st.QueueCases(ctx, storage.CaseFilter{Scope: all, Limit: 10})
	if err != nil || total != 500 {
		t.Errorf("every case: %d, %v", total, err)
	}
	_, total, err = st.QueueCases(ctx, storage.CaseFilter{Scope: storage.Scope{Branches: []string{gen.BranchID(1)}}, Limit: 10})
	if err != nil || total == 0 || total == 500 {
		t.Errorf("one branch's cases: %d, %v", total, err)
	}
	counts, err := st.QueueCounts(ctx, all, time.Now(), time.Now().Add(8*time.Hour))
	if err != nil || len(counts) != 6 {
		t.Errorf("queues (5 branches and team:fraud): %+v, %v", counts, err)
	}
	found, err := st.SearchCases(ctx, all, "volee", 10)
	if err != nil || len(found) == 0 {
		t.Errorf("search for volee: %d, %v", len(found), err)
	}
	for _, id := range res.Sample {
		if _, err := st.Case(ctx, id); err != nil {
			t.Errorf("sampled case %s: %v", id, err)
		}
	}
	if _, err := gen.Generate(ctx, path, gen.Options{Cases: 1, Branches: 1}); err == nil {
		t.Error("generated into a database with events")
	}
}
