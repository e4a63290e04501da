package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"ombud/server/storage/sqlite"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// TestUpgradeToServerEventsKeepsTheLog builds a database at schema 2 with
// events in it (and a sequence that had run ahead, as after archiving),
// opens it with the current code, and checks that the rebuilt events table
// keeps every event, its sequence and the counter.
func TestUpgradeToServerEventsKeepsTheLog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", sqlite.DSN(path, false))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := sqlite.MigrateTo(ctx, db, 2); err != nil {
		t.Fatal(err)
	}
	// The same rows Push would write, by hand, since the current code can
	// only write the current schema.
	const code = "ABC000000000" // the projection does not re-check codes
	complaintID, eventID := uid.New(), uid.New()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO branches (id, name, created_at) VALUES ('A', 'Branch A', 1)`, nil},
		{`INSERT INTO devices (id, branch_id, credential_hash, prefix, enrolled_at) VALUES ('dev', 'A', x'00', 'ABC', 1)`, nil},
		{`INSERT INTO events (seq, id, device_id, device_seq, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at)
			VALUES (7, ?, 'dev', 1, ?, 'A', 'filed', 'device', 'dev', 5, NULL, 1)`, []any{eventID, complaintID}},
		{`INSERT INTO complaints (id, code, branch, category, filed_at, filed_event_id) VALUES (?, ?, 'A', 'billing', 1, ?)`, []any{complaintID, code, eventID}},
		{`UPDATE sqlite_sequence SET seq = 41 WHERE name = 'events'`, nil},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := MustOpenPath(t, path)
	evs := allEvents(t, s, wire.BranchScope("A"))
	if len(evs) != 1 || evs[0].Seq != 7 || evs[0].Event.ID != eventID {
		t.Fatalf("events after upgrade = %+v", evs)
	}
	got, err := s.Append(ctx, []event.Event{{ID: uid.New(), ComplaintID: complaintID, Type: event.InfoProvided,
		Actor: event.Actor{Kind: event.ActorCustomer}, At: clock.Now(), Branch: "A"}})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Seq != 42 {
		t.Errorf("first sequence after upgrade = %d, want 42 (never reuse a sequence)", got[0].Seq)
	}
	// Foreign keys are back on for the writer after the migration.
	if _, err := sqlite.WriterDB(s).ExecContext(ctx, `INSERT INTO complaints (id, code, branch, category, filed_at, filed_event_id)
		VALUES ('x', 'y', 'A', 'c', 1, 'no such event')`); err == nil {
		t.Error("a complaint referencing a missing event was accepted: foreign keys are off")
	}
}

// TestUpgradeToDeviceRoles: devices enrolled before roles become customer
// kiosks, the least privileged role; one that had recorded staff actions
// is listed for the operator to review until its role is set; a clock
// reading far past its storage time is brought down to the bound.
func TestUpgradeToDeviceRoles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", sqlite.DSN(path, false))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := sqlite.MigrateTo(ctx, db, 6); err != nil {
		t.Fatal(err)
	}
	stored := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	farAhead := int64(hlc.Make(stored.AddDate(5, 0, 0).UnixMilli(), 0))
	honest := int64(hlc.Make(stored.Add(-time.Minute).UnixMilli(), 3))
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO branches (id, name, created_at) VALUES ('A', 'Branch A', 1)`, nil},
		{`INSERT INTO devices (id, branch_id, credential_hash, prefix, enrolled_at) VALUES ('kiosk', 'A', x'00', 'ABC', 1), ('desk', 'A', x'01', 'ABD', 1)`, nil},
		{`INSERT INTO events (id, device_id, device_seq, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at)
			VALUES ('e1', 'kiosk', 1, 'c1', 'A', 'filed', 'device', 'kiosk', ?, NULL, ?),
			       ('e2', 'desk', 1, 'c1', 'A', 'note_added', 'staff', 'ann', ?, NULL, ?)`,
			[]any{honest, stored.UnixNano(), farAhead, stored.UnixNano()}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := MustOpenPath(t, path)
	for _, id := range []string{"kiosk", "desk"} {
		if d, err := s.Device(ctx, id); err != nil || d.Role != device.Kiosk {
			t.Errorf("device %s after the upgrade: %+v, %v; want a kiosk", id, d, err)
		}
	}
	if ids, err := s.DevicesToReview(ctx); err != nil || !slices.Equal(ids, []string{"desk"}) {
		t.Fatalf("devices to review = %v, %v; want [desk]", ids, err)
	}
	evs := allEvents(t, s, wire.BranchScope("A"))
	want := map[string]hlc.Timestamp{"e1": hlc.Timestamp(honest), "e2": hlc.Make(stored.Add(hlc.MaxAhead).UnixMilli(), 0)}
	for _, e := range evs {
		if e.Event.At != want[e.Event.ID] {
			t.Errorf("event %s at %v, want %v", e.Event.ID, e.Event.At, want[e.Event.ID])
		}
	}
	if err := s.SetDeviceRole(ctx, "desk", device.Staff, nil); err != nil {
		t.Fatal(err)
	}
	if ids, err := s.DevicesToReview(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("after the operator set its role: %v, %v", ids, err)
	}
}
