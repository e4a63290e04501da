package sqlite_test

import (
	"context"
	"testing"
	"time"

	"ombud/server/storage"
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
