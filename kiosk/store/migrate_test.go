package store_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
	"ombud/shared/uid"
)

// The migrations are one ordered set for the one file, whoever owns the
// tables; the Go part of a migration is the projection's (Migrated), run in
// the migration's transaction.

// A kiosk that filed complaints before the staff terminal existed gets their
// rows when it is upgraded, from the log, in the migration itself.
func TestMigrationBackfillsCases(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kiosk.db")
	old, err := store.OpenAtVersion(ctx, path, 2, projection())
	if err != nil {
		t.Fatal(err)
	}
	id := mustIdentity(t, old)
	old.Close()

	// What the version-2 program wrote: complaints, events, outbox.
	db := rawDB(t, path)
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'cases'`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("cases table at version 2: got %d, %v, want none", tables, err)
	}
	insert := func(c *complaint.Complaint, events []event.Event, own bool) {
		t.Helper()
		if c != nil {
			if _, err := db.ExecContext(ctx, `INSERT INTO complaints (id, code, branch, device, channel,
				category, description, desired_outcome, language, filed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				c.ID, c.Code, c.Branch, c.Device, string(c.Channel), c.Category, c.Description,
				c.DesiredOutcome, c.Language, c.FiledAt.UnixMilli()); err != nil {
				t.Fatal(err)
			}
		}
		for _, e := range events {
			if _, err := db.ExecContext(ctx, `INSERT INTO events (id, complaint_id, type, actor_kind,
				actor_id, at, branch, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.ComplaintID,
				string(e.Type), string(e.Actor.Kind), e.Actor.ID, int64(e.At), e.Branch, nullJSON(e.Data)); err != nil {
				t.Fatal(err)
			}
			if own {
				if _, err := db.ExecContext(ctx, `INSERT INTO outbox (event_id, created_at) VALUES (?, 0)`, e.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	own, ownFiled := newFiling(t, id, false)
	insert(&own, []event.Event{ownFiled}, true)
	remote, remoteFiled := remoteFiling(t)
	remote.Contact = nil
	remoteFiled, _ = event.NewFiled(remote, remoteFiled.Actor, remoteFiled.At)
	ack := staffEvent(t, remote.ID, event.Acknowledged, nil)
	insert(&remote, []event.Event{remoteFiled, ack}, false)
	orphan := staffEvent(t, uid.New(), event.NoteAdded, event.Text{Text: "its filing is still on its way"})
	insert(nil, []event.Event{orphan}, false)
	db.Close()

	check := func() {
		t.Helper()
		p := cases.NewProjection(cases.Options{})
		st, err := store.Open(ctx, path, nil, p)
		if err != nil {
			t.Fatal(err)
		}
		q := cases.New(st, p)
		rows, err := q.Cases(ctx, cases.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 {
			t.Fatalf("rows after the upgrade: got %+v, want 2", rows)
		}
		row := func(id string) cases.Row {
			t.Helper()
			for _, r := range rows {
				if r.ComplaintID == id {
					return r
				}
			}
			t.Fatalf("no row for complaint %s", id)
			return cases.Row{}
		}
		if r := row(own.ID); r.State != lifecycle.Received || r.Unsynced != 1 || r.Code != own.Code {
			t.Errorf("own case: got %+v", r)
		}
		if r := row(remote.ID); r.State != lifecycle.Acknowledged || r.Unsynced != 0 || r.NextStep != sla.StepRespond {
			t.Errorf("remote case: got %+v", r)
		}
		st.Close()
	}
	check()
	check() // opening again changes nothing
	var version int
	if err := rawDB(t, path).QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&version); err != nil || version != store.SchemaVersion() {
		t.Errorf("schema version: got %d, %v, want %d", version, err, store.SchemaVersion())
	}
}

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// staffEvent makes an event of typ on complaintID by a staff member, on the
// test clock, with data (if not nil) as its payload.
func staffEvent(tb testing.TB, complaintID string, typ event.Type, data any) event.Event {
	tb.Helper()
	e := event.Event{ID: uid.New(), ComplaintID: complaintID, Type: typ,
		Actor: event.Actor{Kind: event.ActorStaff, ID: "ben"}, At: clock.Now(), Branch: "Main"}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			tb.Fatal(err)
		}
		e.Data = b
	}
	return e
}
