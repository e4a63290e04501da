package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"ombud/server/kpi"
	"ombud/server/storage"
)

// Corrective actions and the cause counts (storage.Improve).

func testImproveActionEvents(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.MustOpen(t)
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	ev := func(id, action string) storage.ActionEvent {
		return storage.ActionEvent{ID: id, ActionID: action, Type: "opened", ActorID: "sup", At: at, Data: json.RawMessage(`{"title":"fix the reader"}`)}
	}
	_, err := s.AppendActionEvent(ctx, storage.ActionEvent{ID: "x", ActionID: "a"}, 0)
	wantCode(t, err, storage.Invalid)
	a1, err := s.AppendActionEvent(ctx, ev("e1", "a"), 0)
	if err != nil || a1.Seq == 0 {
		t.Fatalf("first event = %+v, %v", a1, err)
	}
	_, err = s.AppendActionEvent(ctx, ev("e2", "a"), 0) // read before e1
	wantCode(t, err, storage.Conflict)
	_, err = s.AppendActionEvent(ctx, ev("e1", "b"), 0) // the id again
	wantCode(t, err, storage.Conflict)

	// Changes to one action made at once: exactly one wins.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for i := range 6 {
		wg.Go(func() {
			_, err := s.AppendActionEvent(ctx, ev(fmt.Sprintf("race-%d", i), "a"), a1.Seq)
			mu.Lock()
			defer mu.Unlock()
			switch storage.ErrorCode(err) {
			case "":
				wins++
			case storage.Conflict:
			default:
				t.Errorf("append: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent changes won, want 1", wins)
	}
	if _, err := s.AppendActionEvent(ctx, ev("b1", "b"), 0); err != nil {
		t.Fatal(err)
	}
	got, err := s.ActionEvents(ctx, "a")
	if err != nil || len(got) != 2 || got[0].ID != "e1" || !got[0].At.Equal(at) || string(got[0].Data) != `{"title":"fix the reader"}` {
		t.Fatalf("events of a = %+v, %v", got, err)
	}
	if none, err := s.ActionEvents(ctx, "nope"); err != nil || len(none) != 0 {
		t.Fatalf("events of an unknown action = %+v, %v", none, err)
	}
	var all []storage.ActionEvent
	for after := int64(0); ; {
		page, err := s.ActionEventsAfter(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all, after = append(all, page...), page[len(page)-1].Seq
	}
	if len(all) != 3 || all[2].ID != "b1" {
		t.Fatalf("every event = %+v", all)
	}
	_, err = s.ActionEventsAfter(ctx, 0, 0)
	wantCode(t, err, storage.Invalid)
}

func testImproveCauseCounts(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.MustOpen(t)
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	fact := func(id, branch, cause string, filed time.Time) kpi.Fact {
		return kpi.Fact{ComplaintID: id, Code: "C" + id, Day: filed.Format(kpi.DayLayout), Branch: branch, Category: "cards",
			Channel: "kiosk", State: "received", FiledAt: filed, RootCause: cause, Seq: 1}
	}
	facts := []kpi.Fact{
		fact("1", "north", "equipment.card-reader", day),
		fact("2", "north", "equipment.card-reader", day.Add(24*time.Hour)),
		fact("3", "south", "equipment.card-reader", day),
		fact("4", "north", "other: the lift", day),
		fact("5", "north", "", day),
	}
	if err := s.SaveFacts(ctx, 0, 1, facts); err != nil {
		t.Fatal(err)
	}
	back, err := s.Facts(ctx, kpi.Query{All: true, From: "2026-03-01", To: "2026-03-31"}, 10)
	if err != nil || len(back) != 5 {
		t.Fatalf("facts = %+v, %v", back, err)
	}
	for _, f := range back {
		if want := facts[f.ComplaintID[0]-'1'].RootCause; f.RootCause != want {
			t.Errorf("fact %s: root cause %q, want %q", f.ComplaintID, f.RootCause, want)
		}
	}
	north := storage.Scope{Branches: []string{"north"}}
	for _, c := range []struct {
		scope    storage.Scope
		cause    string
		from, to time.Time
		want     int64
	}{
		{north, "equipment.card-reader", day, day.Add(48 * time.Hour), 2},
		{north, "equipment.card-reader", day, day.Add(time.Hour), 1},
		{storage.Scope{All: true}, "equipment.card-reader", day, day.Add(48 * time.Hour), 3},
		{north, "other", day, day.Add(time.Hour), 1},
		{storage.Scope{}, "equipment.card-reader", day, day.Add(48 * time.Hour), 0},
	} {
		if n, err := s.CauseCounts(ctx, c.scope, c.cause, c.from, c.to); err != nil || n != c.want {
			t.Errorf("count %s in %+v from %v to %v = %d, %v; want %d", c.cause, c.scope, c.from, c.to, n, err, c.want)
		}
	}
}
