package sqlite_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
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

// TestQueueCases: scope (branches, then team queues from other branches),
// filters, soonest deadline first and cases without one after, counts per
// queue with overdue and at-risk.
func TestQueueCases(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	row := func(id, branch, queue string, state lifecycle.State, due time.Duration) storage.CaseRow {
		r := storage.CaseRow{ComplaintID: id, Code: "C" + id, Branch: branch, State: state, Queue: queue, Category: "fees",
			FiledAt: now.Add(-time.Hour), UpdatedAt: now}
		if due != 0 {
			r.NextDue = now.Add(due)
		}
		return r
	}
	rows := []storage.CaseRow{
		row("a", "north", "branch:north", lifecycle.Received, 2*time.Hour),
		row("b", "north", "branch:north", lifecycle.Acknowledged, -time.Hour),
		row("c", "north", "branch:north", lifecycle.Closed, 0),
		row("d", "south", "team:fraud", lifecycle.Received, time.Hour),
		row("e", "south", "branch:south", lifecycle.Received, -2*time.Hour),
		row("f", "north", "team:fraud", lifecycle.Received, 0),
	}
	if err := s.SaveCases(ctx, 0, 1, rows); err != nil {
		t.Fatal(err)
	}
	ids := func(f storage.CaseFilter) string {
		t.Helper()
		got, _, err := s.QueueCases(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range got {
			out = append(out, r.ComplaintID)
		}
		return strings.Join(out, ",")
	}
	sc := storage.Scope{Branches: []string{"north"}, Teams: []string{"fraud"}}
	for _, c := range []struct {
		name string
		f    storage.CaseFilter
		want string
	}{
		{"open, in scope, by deadline", storage.CaseFilter{Scope: sc, Open: true}, "b,d,a,f"},
		{"every state", storage.CaseFilter{Scope: sc}, "b,d,a,c,f"},
		{"one queue", storage.CaseFilter{Scope: sc, Queue: "team:fraud"}, "d,f"},
		{"one state", storage.CaseFilter{Scope: sc, States: []lifecycle.State{lifecycle.Acknowledged}}, "b"},
		{"another branch's filter stays in scope", storage.CaseFilter{Scope: sc, Branch: "south"}, "d"},
		{"everything", storage.CaseFilter{Scope: storage.Scope{All: true}, Open: true, Limit: 3}, "e,b,d"},
	} {
		if got := ids(c.f); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	counts, err := s.QueueCounts(ctx, sc, now, now.Add(90*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.QueueCount{{Queue: "branch:north", Open: 2, Overdue: 1}, {Queue: "team:fraud", Open: 2, AtRisk: 1}}
	if !slices.Equal(counts, want) {
		t.Errorf("counts = %+v, want %+v", counts, want)
	}
}
