package postgres_test

import (
	"context"
	"testing"
	"time"

	"ombud/server/storage/postgres"
	"ombud/server/storage/postgres/pgtest"
)

// A migration interrupted half-way, its session ended by the server (as a
// killed process, a cut network or a restarted PostgreSQL ends it) after
// its first statements ran, leaves the schema at the previous version with
// nothing of the interrupted migration in it; the next start applies it.
func TestInterruptedMigrationLeavesThePreviousVersion(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	p := pool(t, dsn)
	admin := pool(t, pgtest.ServerDSN())
	ctx := context.Background()
	ms := []postgres.Migration{
		{Version: 1, Name: "0001_a.sql", SQL: `CREATE TABLE a (x INT)`},
		// The comment marks the session for the test to find; the sleep
		// holds the migration half-way, after its first statements.
		{Version: 2, Name: "0002_b.sql", SQL: `CREATE TABLE b (x INT); INSERT INTO a VALUES (1);
			SELECT pg_sleep(60) /* ombud-interrupted-migration */`},
	}
	done := make(chan error, 1)
	go func() {
		_, err := postgres.MigrateWith(ctx, p, ms)
		done <- err
	}()
	deadline := time.After(30 * time.Second)
	for killed := false; !killed; {
		var n int
		err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE query LIKE '%ombud-interrupted-migration%' AND pid <> pg_backend_pid()
			AND query NOT LIKE '%pg_stat_activity%'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		killed = n > 0
		select {
		case <-deadline:
			t.Fatal("the migration's session never showed in pg_stat_activity")
		case err := <-done:
			if !killed {
				t.Fatalf("migrate returned before it was interrupted: %v", err)
			}
			done <- err
		case <-time.After(20 * time.Millisecond):
		}
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the interrupted migration reported success")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("migrate did not return after its session ended")
	}
	if got, err := postgres.SchemaVersion(ctx, p); err != nil || got != 1 {
		t.Fatalf("version after the interruption = %d, %v; want 1", got, err)
	}
	var b, a bool
	if err := p.QueryRow(ctx, `SELECT to_regclass('b') IS NOT NULL, EXISTS (SELECT 1 FROM a)`).Scan(&b, &a); err != nil {
		t.Fatal(err)
	}
	if b || a {
		t.Fatalf("the interrupted migration left table b (%v) or a row in a (%v)", b, a)
	}
	ms[1].SQL = `CREATE TABLE b (x INT)`
	if v, err := postgres.MigrateWith(ctx, p, ms); err != nil || v != 2 {
		t.Fatalf("migrate after the restart = %d, %v; want 2", v, err)
	}
}
