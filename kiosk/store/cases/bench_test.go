package cases_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/kiosk/store/storetest"
	"ombud/shared/lifecycle"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if casesTemplate.dir != "" {
		os.RemoveAll(casesTemplate.dir)
	}
	os.Exit(code)
}

// casesTemplate is a database of 50,000 cases, made once per test binary
// (seeding takes seconds, and a benchmark function runs several times);
// TestMain removes it.
var casesTemplate struct {
	once sync.Once
	dir  string
	path string
	err  error
	took time.Duration
}

const benchCases = 50_000

func casesDB(b *testing.B) string {
	b.Helper()
	casesTemplate.once.Do(func() {
		start := time.Now()
		casesTemplate.dir, casesTemplate.err = os.MkdirTemp("", "ombud-cases-")
		if casesTemplate.err == nil {
			casesTemplate.path = filepath.Join(casesTemplate.dir, "kiosk.db")
			_, casesTemplate.err = storetest.SeedCases(casesTemplate.path, benchCases)
		}
		casesTemplate.took = time.Since(start)
	})
	if casesTemplate.err != nil {
		b.Fatalf("seed: %v", casesTemplate.err)
	}
	b.Logf("50,000 cases seeded through ApplyRemote in %v", casesTemplate.took.Round(time.Millisecond))
	return casesTemplate.path
}

// mustOpenBench opens the database at path as the staff terminal does, with
// the production options.
func mustOpenBench(b *testing.B, path string) *cases.Queue {
	b.Helper()
	p := cases.NewProjection(cases.Options{})
	st, err := store.Open(context.Background(), path, nil, p)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return cases.New(st, p)
}

// BenchmarkCasesOpen50k is what the staff terminal does to draw its queue
// with 50,000 cases in the branch: every row in queue order, and the count
// per state for the tabs.
func BenchmarkCasesOpen50k(b *testing.B) {
	path := casesDB(b)
	ctx := context.Background()
	st := mustOpenBench(b, path)
	counts, err := st.CaseCounts(ctx)
	if err != nil {
		b.Fatal(err)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	if total != benchCases {
		b.Fatalf("template holds %d cases, want %d", total, benchCases)
	}
	for b.Loop() {
		rows, err := st.Cases(ctx, cases.Filter{})
		if err != nil || len(rows) != benchCases {
			b.Fatalf("cases: got %d, %v", len(rows), err)
		}
		if _, err := st.CaseCounts(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed())/float64(time.Millisecond)/float64(b.N), "ms/op")
}

// BenchmarkCasesSearch50k is a word search and a code-prefix search over
// 50,000 cases, and the first page of an open-cases filter.
func BenchmarkCasesSearch50k(b *testing.B) {
	path := casesDB(b)
	ctx := context.Background()
	st := mustOpenBench(b, path)
	for _, f := range []struct {
		name string
		f    cases.Filter
	}{
		{"words", cases.Filter{Search: "standing landlord"}},
		{"code-prefix", cases.Filter{Search: "S2K4"}},
		{"state-page", cases.Filter{States: []lifecycle.State{lifecycle.Acknowledged, lifecycle.Assessed}, Limit: 100}},
	} {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := st.Cases(ctx, f.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The seeding helpers make what the store itself would: rows for every case.
func TestSeeds(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	filed := filepath.Join(dir, "filed.db")
	if err := storetest.Seed(filed, 300); err != nil {
		t.Fatal(err)
	}
	st := MustOpenPath(t, filed)
	if rows := mustCases(t, st, cases.Filter{}); len(rows) != 300 || rows[0].Unsynced != 1 {
		t.Errorf("Seed: got %d rows, want 300 with their filing unsynced", len(rows))
	}

	branch := filepath.Join(dir, "branch.db")
	cursor, err := storetest.SeedCases(branch, 700)
	if err != nil {
		t.Fatal(err)
	}
	st = MustOpenPath(t, branch)
	counts, err := st.CaseCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, s := range lifecycle.States() {
		if counts[s] == 0 {
			t.Errorf("SeedCases: no case %s", s)
		}
		total += counts[s]
	}
	if total != 700 || cursor < 700 {
		t.Errorf("SeedCases: got %d cases, cursor %d, want 700 and past them", total, cursor)
	}
	refused, err := st.RefusedActions(ctx, storetest.SeedStaff[1])
	if err != nil || len(refused) != 6 { // of cases 0, 97, ... 679, all but the first and last are acknowledged
		t.Errorf("SeedCases: got %d refused actions, %v, want 6", len(refused), err)
	}
}
