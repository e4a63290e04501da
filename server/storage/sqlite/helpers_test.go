package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"ombud/server/storage/storetest"

	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

// MustOpen opens a store on a fresh file in tb's temp dir, closed at cleanup.
func MustOpen(tb testing.TB) *sqlite.Store {
	tb.Helper()
	return MustOpenPath(tb, filepath.Join(tb.TempDir(), "ombud.db"))
}

// MustOpenPath opens the store at path, closed at cleanup.
func MustOpenPath(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return s
}

// The storage test helpers live in storetest, shared with the conformance
// suite both backends run; these names keep the SQLite-only tests short.
var (
	MustDevice  = storetest.MustDevice
	staffOf     = storetest.StaffOf
	MustAccount = storetest.MustAccount
	batchOf     = storetest.BatchOf
	seqRange    = storetest.SeqRange
	mustStats   = storetest.MustStats
	allEvents   = storetest.AllEvents
	clock       = storetest.Clock
)

func mkdir(dir string) error { return os.MkdirAll(dir, 0o755) }

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func mustPush(tb testing.TB, s storage.Store, d storage.Device, batch []wire.DeviceEvent) hub.PushResult {
	tb.Helper()
	res, err := s.Push(context.Background(), d.ID, batch)
	if err != nil {
		tb.Fatalf("push %d events from %s: %v", len(batch), d.ID, err)
	}
	return res
}

func checkRejections(tb testing.TB, got, want []wire.PushReject) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("rejections = %+v, want %d: %+v", got, len(want), want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Seq != w.Seq || g.EventID != w.EventID || g.Code != w.Code {
			tb.Errorf("rejection %d = %+v, want seq %d event %s code %d", i, g, w.Seq, w.EventID, w.Code)
		}
		if g.Reason == "" || len(g.Reason) > 123 {
			tb.Errorf("rejection %d reason %q: want 1-123 bytes", i, g.Reason)
		}
	}
}
