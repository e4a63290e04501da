package console_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"ombud/server/console"
	"ombud/server/gen"
	"ombud/server/httpapi"
	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/shared/staff"
	"ombud/shared/uid"
)

// The console's benchmarks run on a data set from package server/gen
// (also `server gen`): OMBUD_BENCH_CASES cases (default 20,000;
// BENCHMARKS.md quotes the largest run) across one branch per 500 cases (at
// most 2,000). OMBUD_BENCH_DIR keeps it between runs.

type benchSet struct {
	dir      string
	branches int
	n        int
	sample   []string // complaint ids to open
}

var benchCache = map[string]*benchSet{}

func benchData(b *testing.B) *benchSet {
	b.Helper()
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("OMBUD_BENCH_CASES")); err == nil && v > 0 {
		n = v
	}
	// OMBUD_BENCH_DIR keeps the data set between runs (a million cases
	// take minutes to generate); without it, each benchmark makes its own.
	dir := os.Getenv("OMBUD_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	key := fmt.Sprint(dir, n)
	if s, ok := benchCache[key]; ok {
		return s
	}
	s := &benchSet{dir: dir, n: n, branches: min(2000, max(1, n/500))}
	// A data set left in OMBUD_BENCH_DIR by an earlier run is reused
	// when it has as many cases.
	meta := filepath.Join(dir, "bench.json")
	var kept benchMeta
	if raw, err := os.ReadFile(meta); err == nil && json.Unmarshal(raw, &kept) == nil && kept.N == n {
		s.sample = kept.Sample
	} else if sample := madeBy(b, dir, n); sample != nil {
		// Made by `server gen --data DIR --cases N` beforehand.
		s.sample = sample
		raw, _ := json.Marshal(benchMeta{N: n, Sample: s.sample})
		if err := os.WriteFile(meta, raw, 0o644); err != nil {
			b.Fatal(err)
		}
	} else {
		if err := generate(b, s); err != nil {
			b.Fatal(err)
		}
		raw, _ := json.Marshal(benchMeta{N: n, Sample: s.sample})
		if err := os.WriteFile(meta, raw, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if os.Getenv("OMBUD_BENCH_DIR") != "" {
		benchCache[key] = s
	}
	return s
}

// madeBy returns ids across the data set in dir/server.db if it holds
// exactly n cases (as `server gen` makes it), else nil.
func madeBy(b *testing.B, dir string, n int) []string {
	path := filepath.Join(dir, "server.db")
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	db, err := sql.Open("sqlite", sqlite.DSN(path, true))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var count int
	if err := db.QueryRow(`SELECT COUNT(*) FROM cases`).Scan(&count); err != nil || count != n {
		return nil
	}
	rows, err := db.Query(`SELECT complaint_id FROM cases WHERE seq % ? = 1`, n/50+1)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

type benchMeta struct {
	N      int
	Sample []string
}

func branchID(i int) string { return gen.BranchID(i) }

// generate builds the data set in s.dir/server.db.
func generate(b *testing.B, s *benchSet) error {
	res, err := gen.Generate(context.Background(), filepath.Join(s.dir, "server.db"), gen.Options{Cases: s.n, Branches: s.branches, Seed: 1})
	if err != nil {
		return err
	}
	s.sample = res.Sample
	b.Logf("generated %d cases in %d branches in %s", s.n, s.branches, res.Elapsed.Round(time.Second))
	return nil
}

// benchServer serves the console on the data set (no case engine: the
// rows are the generator's), with a signed-in session for who.
func benchServer(b *testing.B, s *benchSet, who staff.Account, branches []string) (*httptest.Server, *http.Client) {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(s.dir, "server.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if _, err := st.StaffAccount(ctx, who.ID); err != nil {
		who.PINHash, _ = staff.HashPINWith("482913", staff.TestCost)
		if err := st.CreateStaff(ctx, who); err != nil {
			b.Fatal(err)
		}
		if err := st.SetConsoleBranches(ctx, who.ID, branches, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	h, err := console.New(st, console.Options{Key: []byte("bench key"), PasswordCost: staff.TestCost})
	if err != nil {
		b.Fatal(err)
	}
	tok := uid.New() + uid.New()
	sum := hash(tok)
	now := time.Now()
	if err := st.CreateConsoleSession(ctx, storage.ConsoleSession{ID: uid.New(), TokenHash: sum, StaffID: who.ID, Stage: storage.StageFull,
		StartedAt: now, SeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	mux := httpapi.New(st, httpapi.Options{})
	h.Register(mux)
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	jar := &oneCookie{c: &http.Cookie{Name: "ombud_console", Value: tok}}
	return srv, &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type oneCookie struct{ c *http.Cookie }

func (o *oneCookie) SetCookies(*url.URL, []*http.Cookie) {}
func (o *oneCookie) Cookies(*url.URL) []*http.Cookie     { return []*http.Cookie{o.c} }

// measure GETs each path in turn b.N times and reports p50 and p99.
func measure(b *testing.B, c *http.Client, base string, paths func(i int) string, want int) {
	b.Helper()
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		res, err := c.Get(base + paths(i))
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		times = append(times, time.Since(t0))
		if res.StatusCode != want {
			b.Fatalf("%s: %d", paths(i), res.StatusCode)
		}
	}
	b.StopTimer()
	slices.Sort(times)
	pct := func(p float64) float64 {
		return float64(times[min(len(times)-1, int(float64(len(times))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkConsoleQueue: the queue page of one branch's agent, and of a
// manager over every branch (counts of every queue and the 200 soonest).
func BenchmarkConsoleQueue(b *testing.B) {
	s := benchData(b)
	b.Run("branch-agent", func(b *testing.B) {
		srv, c := benchServer(b, s, staff.Account{ID: "agent1", Name: "Agent", Role: staff.Agent, Branch: branchID(1)}, nil)
		measure(b, c, srv.URL, func(int) string { return "/console/" }, http.StatusOK)
	})
	b.Run("all-branches-manager", func(b *testing.B) {
		srv, c := benchServer(b, s, staff.Account{ID: "manager1", Name: "Manager", Role: staff.Manager, Branch: branchID(0)}, []string{"*"})
		measure(b, c, srv.URL, func(int) string { return "/console/" }, http.StatusOK)
	})
	b.Run("fraud-team", func(b *testing.B) {
		srv, c := benchServer(b, s, staff.Account{ID: "fraud1", Name: "Fraud", Role: staff.Agent, Branch: branchID(2), Teams: []string{"fraud"}}, nil)
		measure(b, c, srv.URL, func(int) string { return "/console/?queue=team:fraud" }, http.StatusOK)
	})
}

// BenchmarkConsoleSearch: full-text searches of two words by a manager
// over every branch, and by one branch's agent.
func BenchmarkConsoleSearch(b *testing.B) {
	s := benchData(b)
	queries := []string{"carte volee", "remboursement attente", "fraud payment", "pret taux", "bloque application", "decu"}
	for _, who := range []struct {
		name     string
		a        staff.Account
		branches []string
	}{
		{"all-branches", staff.Account{ID: "manager2", Name: "Manager", Role: staff.Manager, Branch: branchID(0)}, []string{"*"}},
		{"one-branch", staff.Account{ID: "agent2", Name: "Agent", Role: staff.Agent, Branch: branchID(3)}, nil},
	} {
		b.Run(who.name, func(b *testing.B) {
			srv, c := benchServer(b, s, who.a, who.branches)
			measure(b, c, srv.URL, func(i int) string { return "/console/search?q=" + url.QueryEscape(queries[i%len(queries)]) }, http.StatusOK)
		})
	}
}

// BenchmarkConsoleCase: the case page of cases across the data set.
func BenchmarkConsoleCase(b *testing.B) {
	s := benchData(b)
	srv, c := benchServer(b, s, staff.Account{ID: "manager3", Name: "Manager", Role: staff.Manager, Branch: branchID(0)}, []string{"*"})
	measure(b, c, srv.URL, func(i int) string { return "/console/case/" + s.sample[i%len(s.sample)] }, http.StatusOK)
}
