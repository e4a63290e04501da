package filing_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/kiosk/store/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if template.dir != "" {
		os.RemoveAll(template.dir)
	}
	os.Exit(code)
}

// BenchmarkFile measures what a customer waits for after pressing "send":
// validation, the transaction and its fsync. The percentiles matter more
// than the mean: one slow fsync is a customer staring at a spinner.
func BenchmarkFile(b *testing.B) {
	e := MustService(b, nil)
	d := draftWithContact()
	d.Description = strings.Repeat("The card machine charged me twice. ", 14) // ~500 bytes
	ctx := context.Background()
	durations := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		if _, err := e.svc.File(ctx, d); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	reportPercentiles(b, durations)
}

func reportPercentiles(b *testing.B, durations []time.Duration) {
	if len(durations) == 0 {
		return
	}
	slices.Sort(durations)
	at := func(p float64) float64 {
		i := min(int(p*float64(len(durations))+0.5), len(durations)) - 1
		return float64(durations[max(i, 0)]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// template is a database holding 100,000 complaints, made once per test
// binary because seeding takes seconds; TestMain removes it.
var template struct {
	once sync.Once
	dir  string
	path string
	err  error
}

const seedComplaints = 100_000

func templateDB(b *testing.B) string {
	b.Helper()
	template.once.Do(func() {
		template.dir, template.err = os.MkdirTemp("", "ombud-bench-")
		if template.err == nil {
			template.path = filepath.Join(template.dir, "kiosk.db")
			template.err = storetest.Seed(template.path, seedComplaints)
		}
	})
	if template.err != nil {
		b.Fatalf("seed template: %v", template.err)
	}
	return template.path
}

// BenchmarkOpenWith100k is the kiosk's start-up on a database with a long
// history: it must not grow with the number of complaints (compare
// BenchmarkOpenEmpty).
func BenchmarkOpenWith100k(b *testing.B) {
	path := templateDB(b)
	st, err := store.Open(context.Background(), path, nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		b.Fatal(err)
	}
	n, err := st.Count(context.Background())
	st.Close()
	if err != nil || n < seedComplaints-10 {
		b.Fatalf("template holds %d complaints, %v", n, err)
	}
	benchOpen(b, path)
}

// BenchmarkOpenEmpty is start-up on a database with no complaints.
func BenchmarkOpenEmpty(b *testing.B) {
	path := filepath.Join(b.TempDir(), "kiosk.db")
	st, err := store.Open(context.Background(), path, nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	benchOpen(b, path)
}

func benchOpen(b *testing.B, path string) {
	ctx := context.Background()
	for b.Loop() {
		st, err := store.Open(ctx, path, nil, cases.NewProjection(cases.Options{}))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.Identity(ctx); err != nil {
			b.Fatal(err)
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed())/float64(time.Millisecond)/float64(b.N), "ms/op")
}
