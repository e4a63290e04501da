package sqlite_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/sync/wire"
)

// searchable files a complaint with description text at a device of
// branch, with a case row queued to queue, and returns its id and code.
func searchable(tb testing.TB, s *sqlite.Store, branch, queue, text string) (string, string) {
	tb.Helper()
	ctx := context.Background()
	d := MustDevice(tb, s, branch)
	e := filedEvent(tb, d)
	c, err := e.Complaint()
	if err != nil {
		tb.Fatal(err)
	}
	c.Description = text
	if e.Data, err = json.Marshal(c); err != nil {
		tb.Fatal(err)
	}
	if res, err := s.Push(ctx, d.ID, []wire.DeviceEvent{{Seq: 1, Event: e}}); err != nil || res.Stored != 1 {
		tb.Fatalf("push: %+v %v", res, err)
	}
	cur, err := s.CasesCursor(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	row := storage.CaseRow{ComplaintID: c.ID, Code: c.Code, Branch: branch, State: lifecycle.Received, Queue: queue,
		Category: c.Category, FiledAt: c.FiledAt, UpdatedAt: c.FiledAt, Seq: cur + 1}
	if err := s.SaveCases(ctx, cur, cur+1, []storage.CaseRow{row}); err != nil {
		tb.Fatal(err)
	}
	return c.ID, c.Code
}

// TestSearchCases: words match without accents or case, as prefixes, all
// of them; the index follows events as they are stored (a message added
// later is found); scope keeps other branches' cases out unless queued to
// one of the person's teams; a code matches exactly.
func TestSearchCases(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	north, northCode := searchable(t, s, "north", "branch:north", "Ma carte a été VOLÉE au distributeur")
	south, _ := searchable(t, s, "south", "team:fraud", "Carte volée à Lille, paiement inconnu")
	ids := func(sc storage.Scope, q string) map[string]bool {
		t.Helper()
		rows, err := s.SearchCases(ctx, sc, q, 10)
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		out := map[string]bool{}
		for _, r := range rows {
			out[r.ComplaintID] = true
		}
		return out
	}
	northOnly := storage.Scope{Branches: []string{"north"}}
	if got := ids(northOnly, "vole carte"); !got[north] || got[south] {
		t.Errorf("'vole carte' in north: %v", got)
	}
	if got := ids(storage.Scope{Branches: []string{"north"}, Teams: []string{"fraud"}}, "volee"); !got[north] || !got[south] {
		t.Errorf("'volee' with the fraud team: %v, want both", got)
	}
	if got := ids(storage.Scope{All: true}, "distrib"); !got[north] || got[south] {
		t.Errorf("prefix 'distrib': %v", got)
	}
	if got := ids(storage.Scope{All: true}, "carte lille"); got[north] || !got[south] {
		t.Errorf("every word required: %v", got)
	}
	if got := ids(northOnly, northCode); !got[north] {
		t.Errorf("code look-up: %v", got)
	}
	// A message stored later is indexed with it.
	d := MustDevice(t, s, "north")
	msg := event.Event{ID: "m-1", ComplaintID: north, Type: event.MessageSent, Actor: event.Actor{Kind: event.ActorStaff, ID: "staff-north"},
		At: clock.Now(), Branch: "north", Data: json.RawMessage(`{"text":"Remboursement effectué"}`)}
	if res, err := s.Push(ctx, d.ID, []wire.DeviceEvent{{Seq: 1, Event: msg}}); err != nil || res.Stored != 1 {
		t.Fatalf("push message: %+v %v", res, err)
	}
	if got := ids(northOnly, "rembourse EFFECTUE"); !got[north] {
		t.Errorf("message text not found: %v", got)
	}
}

// FuzzSearchQuery: whatever a person types, the search answers without
// an error (nothing of it reaches FTS5 as syntax).
func FuzzSearchQuery(f *testing.F) {
	s := MustOpen(f)
	searchable(f, s, "north", "branch:north", "Frais prélevés deux fois")
	for _, q := range []string{"frais", `"`, "NEAR(a b)", "a OR b", "*", "-x", "col:val", "^début", "été*", "\x00", "(((", "a AND NOT b"} {
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
