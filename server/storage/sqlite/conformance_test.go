package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"ombud/server/admit"
	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/server/storage/storetest"
	"ombud/sync/hub"
	"ombud/sync/synctest"
)

// TestLogConformance runs the sync hub's Log suite on SQLite files: what
// the hub relies on, checked the same way for every storage backend.
func TestLogConformance(t *testing.T) {
	t.Parallel()
	synctest.TestLog(t, synctest.LogHarness{
		Open: func(t *testing.T) hub.Log { return MustOpen(t) },
		Enrol: func(t *testing.T, log hub.Log, branch string) synctest.LogDevice {
			d := MustDevice(t, log.(storage.Store), branch)
			return synctest.LogDevice{ID: d.ID, Branch: d.Branch, Prefix: d.Prefix, Staff: staffOf(branch)}
		},
		Revoke: func(t *testing.T, log hub.Log, deviceID string) {
			if err := log.(storage.Store).RevokeDevice(context.Background(), deviceID, time.Now()); err != nil {
				t.Fatal(err)
			}
		},
	})
}

// TestStorageConformance runs the storage conformance suite on SQLite
// files.
func TestStorageConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.Harness{
		New: func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "ombud.db") },
		Open: func(tb testing.TB, path string, policy admit.Policy) storetest.Store {
			tb.Helper()
			s, err := sqlite.OpenWith(context.Background(), path, sqlite.Options{Admission: policy})
			if err != nil {
				tb.Fatalf("open %s: %v", path, err)
			}
			tb.Cleanup(func() { s.Close() })
			return s
		},
		Tamper: tamperFile,
	})
}

// dollarParam is a $N parameter, which SQLite writes ?N.
var dollarParam = regexp.MustCompile(`\$([0-9]+)`)

// tamperFile runs stmts on the database file at path through a plain
// connection (foreign keys off, as an intruder's sqlite3 shell).
func tamperFile(tb testing.TB, path string, stmts []storetest.Stmt) {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	for _, st := range stmts {
		if _, err := db.Exec(dollarParam.ReplaceAllString(st.SQL, "?$1"), st.Args...); err != nil {
			tb.Fatalf("%s: %v", st.SQL, err)
		}
	}
}

// TestDeskConformance runs the console's saved views and configuration
// versions suite on SQLite files.
func TestDeskConformance(t *testing.T) {
	t.Parallel()
	storetest.RunDesk(t, func(tb testing.TB) storetest.DeskStore { return MustOpen(tb) })
}
