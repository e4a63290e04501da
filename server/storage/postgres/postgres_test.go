package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"ombud/server/storage/postgres"
	"ombud/server/storage/postgres/pgtest"
	"ombud/server/storage/storetest"
	"ombud/sync/wire"
)

func pool(tb testing.TB, dsn string) *pgxpool.Pool {
	tb.Helper()
	p, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

// Replicas starting at once on an empty database: each migration is
// applied once, every replica opens, and the schema is at the latest
// version.
func TestConcurrentStartsMigrateOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), dsn)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	ms, err := postgres.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	p := pool(t, dsn)
	var rows, latest int
	if err := p.QueryRow(context.Background(), `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&rows, &latest); err != nil {
		t.Fatal(err)
	}
	if rows != len(ms) || latest != ms[len(ms)-1].Version {
		t.Fatalf("schema_migrations: %d rows up to %d, want %d up to %d", rows, latest, len(ms), ms[len(ms)-1].Version)
	}
}

// A migration that fails half-way leaves the schema at the previous
// version: its first statements are rolled back with it.
func TestFailedMigrationLeavesThePreviousVersion(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	p := pool(t, dsn)
	ctx := context.Background()
	ms := []postgres.Migration{
		{Version: 1, Name: "0001_a.sql", SQL: `CREATE TABLE a (x INT)`},
		{Version: 2, Name: "0002_b.sql", SQL: `CREATE TABLE b (x INT); INSERT INTO a VALUES (1); SELECT 1/0`},
	}
	v, err := postgres.MigrateWith(ctx, p, ms)
	if err == nil || !strings.Contains(err.Error(), "0002_b.sql") {
		t.Fatalf("migrate = %d, %v; want an error naming 0002_b.sql", v, err)
	}
	if got, err := postgres.SchemaVersion(ctx, p); err != nil || got != 1 {
		t.Fatalf("version after the failure = %d, %v; want 1", got, err)
	}
	var b, a bool
	p.QueryRow(ctx, `SELECT to_regclass('b') IS NOT NULL, EXISTS (SELECT 1 FROM a)`).Scan(&b, &a)
	if b || a {
		t.Fatalf("the failed migration left table b (%v) or a row in a (%v)", b, a)
	}
	// Fixed, it applies.
	ms[1].SQL = `CREATE TABLE b (x INT)`
	if v, err := postgres.MigrateWith(ctx, p, ms); err != nil || v != 2 {
		t.Fatalf("migrate after the fix = %d, %v; want 2", v, err)
	}
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	s := open(t, dsn, admitZero)
	if _, err := s.Pool().Exec(context.Background(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	if s2, err := postgres.Open(context.Background(), dsn); err == nil {
		s2.Close()
		t.Fatal("opened a database with a newer schema")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Fatalf("error = %v, want one saying the schema is newer", err)
	}
}

// A wrong or unreachable database gives one line that names it without
// its password, and no panic.
func TestOpenUnreachableSaysSoWithoutThePassword(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, dsn := range []string{
		"postgres://ombud:s3cret-pw@127.0.0.1:1/ombud?sslmode=disable", // nothing listens on port 1
		"postgres://ombud:s3cret-pw@[::1/x",                            // not a URL
	} {
		s, err := postgres.Open(ctx, dsn)
		if err == nil {
			s.Close()
			t.Fatalf("opened %q", dsn)
		}
		msg := err.Error()
		if strings.Contains(msg, "s3cret") || strings.Contains(msg, "\n") {
			t.Errorf("error %q shows the password or spans lines", msg)
		}
	}
}

// An event stored through one replica reaches the other's commit feed (a
// sync hub there wakes its devices), and neither republishes its own.
func TestReplicasHearEachOthersCommits(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn, admitZero), open(t, dsn, admitZero)
	heard := make(chan []string, 16)
	b.OnCommit(func(scopes []string) { heard <- scopes })
	ownHeard := make(chan []string, 16)
	a.OnCommit(func(scopes []string) { ownHeard <- scopes })
	d := storetest.MustDevice(t, a, "A")
	if _, err := a.Push(context.Background(), d.ID, storetest.BatchOf(t, d, 1, 2)); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-heard:
		if len(got) != 1 || got[0] != wire.BranchScope("A") {
			t.Fatalf("replica B heard %v, want [branch:A]", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("replica B never heard replica A's commit")
	}
	if got := <-ownHeard; len(got) != 1 {
		t.Fatalf("replica A published %v", got)
	}
	// A's own watcher must not publish the same commit again: wait past
	// two poll intervals for a second publication that must not come.
	select {
	case got := <-ownHeard:
		t.Fatalf("replica A published its own commit twice (%v)", got)
	case <-time.After(600 * time.Millisecond):
	}
}

// The lease: exactly one of two replicas runs the work; when the holder's
// session ends, the other takes over.
func TestLeaseMovesWhenTheHolderDies(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn, admitZero), open(t, dsn, admitZero)
	var mu sync.Mutex
	running := map[string]bool{}
	maxTogether := 0
	work := func(name string) func(context.Context) {
		return func(ctx context.Context) {
			mu.Lock()
			running[name] = true
			n := 0
			for _, r := range running {
				if r {
					n++
				}
			}
			maxTogether = max(maxTogether, n)
			mu.Unlock()
			<-ctx.Done()
			mu.Lock()
			running[name] = false
			mu.Unlock()
		}
	}
	held := func() string {
		mu.Lock()
		defer mu.Unlock()
		for n, r := range running {
			if r {
				return n
			}
		}
		return ""
	}
	ctxA, stopA := context.WithCancel(context.Background())
	doneA := make(chan struct{})
	go func() { a.Lead(ctxA, 50*time.Millisecond, work("a"), nil); close(doneA) }()
	waitFor(t, func() bool { return held() == "a" })
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	doneB := make(chan struct{})
	go func() { b.Lead(ctxB, 50*time.Millisecond, work("b"), nil); close(doneB) }()
	// B keeps trying while A holds it; A dies (its lease session ends).
	stopA()
	<-doneA
	waitFor(t, func() bool { return held() == "b" })
	stopB()
	<-doneB
	if maxTogether != 1 {
		t.Fatalf("%d replicas ran the work at once", maxTogether)
	}
}

func waitFor(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal(errors.New("condition not met in 15s"))
		}
		<-time.After(10 * time.Millisecond) // poll the condition again; the deadline above bounds the wait
	}
}

// When the database drops the replica's connections (a restart, a
// failover), a push fails rather than being acknowledged, and the next one
// goes through on fresh connections: nothing acknowledged is lost, and the
// store recovers by itself.
func TestPushAfterTheDatabaseDropsConnections(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t) + "&application_name=ombud_drop_test_" + strings.ReplaceAll(t.Name(), "/", "_")
	s := open(t, dsn, admitZero)
	d := storetest.MustDevice(t, s, "A")
	ctx := context.Background()
	batch := storetest.BatchOf(t, d, 1, 2, 3, 4)
	if _, err := s.Push(ctx, d.ID, batch[:2]); err != nil {
		t.Fatal(err)
	}
	admin := pgtest.Connect(t)
	var n int
	if err := admin.QueryRow(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`,
		"ombud_drop_test_"+strings.ReplaceAll(t.Name(), "/", "_")).Scan(&n); err != nil || n == 0 {
		t.Fatalf("terminated %d connections: %v", n, err)
	}
	// The first push may meet a dead connection: then it must fail, not
	// acknowledge.
	res, err := s.Push(ctx, d.ID, batch[2:])
	if err == nil && res.AckedSeq != 4 {
		t.Fatalf("push after the drop = %+v, want acked 4 or an error", res)
	}
	waitFor(t, func() bool {
		res, err = s.Push(ctx, d.ID, batch[2:])
		return err == nil
	})
	if res.AckedSeq != 4 {
		t.Fatalf("push after recovery = %+v, want acked 4", res)
	}
	if st, err := s.Stats(ctx); err != nil || st.Events != 4 {
		t.Fatalf("stats = %+v, %v; want 4 events, each once", st, err)
	}
}

// The tracking secret is made once and every replica reads the same.
func TestSecretIsSharedByReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn, admitZero), open(t, dsn, admitZero)
	ctx := context.Background()
	sa, err := a.Secret(ctx, "tracking", 32)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Secret(ctx, "tracking", 32)
	if err != nil {
		t.Fatal(err)
	}
	if len(sa) != 32 || string(sa) != string(sb) {
		t.Fatalf("replicas got different secrets (%x, %x)", sa, sb)
	}
	if _, err := a.Secret(ctx, "tracking", 16); err == nil {
		t.Fatal("a secret of another size was accepted")
	}
}
