package postgres_test

import (
	"context"
	"testing"
	"time"

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
