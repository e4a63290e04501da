package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"ombud/server/storage/sqlite"
	"ombud/sync/wire"
)

// TestPushKeepsAnOlderImportersAliases: a database written by the removed
// Ingest path may hold aliases (an event id recorded under a second slot).
// Push still treats such a slot as held by that event: a resend of it is a
// duplicate, another event there a conflict, and the ack passes it.
func TestPushKeepsAnOlderImportersAliases(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	d := MustDevice(t, s, "A")
	ctx := context.Background()
	first := batchOf(t, d, 1)
	mustPush(t, s, d, first)
	if _, err := sqlite.WriterDB(s).ExecContext(ctx,
		`INSERT INTO event_aliases (device_id, device_seq, event_id) VALUES (?, 3, ?)`, d.ID, first[0].Event.ID); err != nil {
		t.Fatal(err)
	}
	// Seq 2 fills the gap: the ack passes the alias at 3.
	if got := mustPush(t, s, d, batchOf(t, d, 2)); got.AckedSeq != 3 || got.Stored != 1 {
		t.Fatalf("push 2 = %+v, want acked 3 (over the alias), stored 1", got)
	}
	resend := []wire.DeviceEvent{{Seq: 3, Event: first[0].Event}}
	if got := mustPush(t, s, d, resend); got.Duplicates != 1 || len(got.Rejected) != 0 {
		t.Fatalf("resend at the alias = %+v, want a duplicate", got)
	}
	other := batchOf(t, d, 3)
	checkRejections(t, mustPush(t, s, d, other).Rejected, []wire.PushReject{{Seq: 3, EventID: other[0].Event.ID, Code: wire.CloseConflict}})
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ombud.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.WriterDB(s).Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := sqlite.Open(context.Background(), path); err == nil {
		s.Close()
		t.Fatal("opened a database with a newer schema")
	}
}

func TestDSNSurvivesAwkwardPaths(t *testing.T) {
	t.Parallel()
	// '?' and '#' in a directory name would end the file name in a naive DSN.
	dir := filepath.Join(t.TempDir(), "odd ?#% dir")
	if err := mkdir(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ombud.db")
	s := MustOpenPath(t, path)
	MustDevice(t, s, "A")
	if !exists(path) {
		t.Fatalf("database not created at %s", path)
	}
}
