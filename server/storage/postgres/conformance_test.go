package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"ombud/server/admit"
	"ombud/server/storage"
	"ombud/server/storage/postgres"
	"ombud/server/storage/postgres/pgtest"
	"ombud/server/storage/storetest"
	"ombud/sync/hub"
	"ombud/sync/synctest"
)

// open opens a store on the database at dsn, closed at cleanup.
func open(tb testing.TB, dsn string, policy admit.Policy) *postgres.Store {
	tb.Helper()
	s, err := postgres.OpenWith(context.Background(), dsn, postgres.Options{Admission: policy, PollInterval: 200 * time.Millisecond})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

var admitZero = admit.Policy{}

var harness = storetest.Harness{
	New: pgtest.DSN,
	Open: func(tb testing.TB, dsn string, policy admit.Policy) storetest.Store {
		return open(tb, dsn, policy)
	},
	Tamper: tamperDB,
}

// tamperDB runs stmts on the database at dsn in one transaction with
// triggers off (so foreign keys are not enforced), as a superuser
// intruder could.
func tamperDB(tb testing.TB, dsn string, stmts []storetest.Stmt) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
		tb.Fatal(err)
	}
	for _, st := range stmts {
		if _, err := tx.Exec(ctx, st.SQL, st.Args...); err != nil {
			tb.Fatalf("%s: %v", st.SQL, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		tb.Fatal(err)
	}
}

// TestStorageConformance runs the storage conformance suite, each test on
// its own schema.
func TestStorageConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, harness)
}

// TestLogConformance runs the sync hub's Log suite.
func TestLogConformance(t *testing.T) {
	t.Parallel()
	synctest.TestLog(t, synctest.LogHarness{
		Open: func(t *testing.T) hub.Log { return harness.MustOpen(t) },
		Enrol: func(t *testing.T, log hub.Log, branch string) synctest.LogDevice {
			d := storetest.MustDevice(t, log.(storage.Store), branch)
			return synctest.LogDevice{ID: d.ID, Branch: d.Branch, Prefix: d.Prefix, Staff: storetest.StaffOf(branch)}
		},
		Revoke: func(t *testing.T, log hub.Log, deviceID string) {
			if err := log.(storage.Store).RevokeDevice(context.Background(), deviceID, time.Now()); err != nil {
				t.Fatal(err)
			}
		},
	})
}

// FuzzSearchQuery: whatever a person types, the search answers without an
// error (only folded letters and digits reach the tsquery).
func FuzzSearchQuery(f *testing.F) {
	s := harness.MustOpen(f)
	storetest.Searchable(f, s, "north", "branch:north", "Frais prélevés deux fois")
	for _, q := range []string{"frais", `"`, "a & b", "a | !b", "*", "-x", "col:val", "^début", "été*", "\x00", "(((", "a:* <-> b", "'"} {
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

// TestDeskConformance runs storage.Desk's suite (saved views,
// configuration versions) on PostgreSQL.
func TestDeskConformance(t *testing.T) {
	t.Parallel()
	storetest.RunDesk(t, func(tb testing.TB) storetest.DeskStore { return harness.MustOpen(tb).(*postgres.Store) })
}
