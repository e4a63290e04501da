package improve_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"ombud/server/improve"
	"ombud/server/kpi"
	"ombud/server/storage"
	"ombud/server/storage/postgres"
	"ombud/server/storage/postgres/pgtest"
	"ombud/server/storage/sqlite"
)

// store is what the tests need: the improve storage and the figures'.
type store interface {
	storage.Improve
	kpi.Store
}

// stores runs f on SQLite and on PostgreSQL (a fresh schema).
func stores(t *testing.T, f func(t *testing.T, st store)) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ombud.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		f(t, st)
	})
	t.Run("postgres", func(t *testing.T) {
		st, err := postgres.Open(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		f(t, st)
	})
}

func opening() improve.Opening {
	return improve.Opening{Problem: "Card declined at the terminal", Cause: "equipment", Group: "g1",
		Action: "Replace the terminals' firmware", Owner: "mia", Due: "2026-06-30", CheckDays: 30}
}

// TestActionLifecycle: an action is opened, moved and judged by events
// with their actors; moves the state does not allow and verdicts before
// done are refused and store nothing; a stale copy conflicts.
func TestActionLifecycle(t *testing.T) { stores(t, testActionLifecycle) }

func testActionLifecycle(t *testing.T, st store) {
	ctx := context.Background()
	clock := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	s := improve.Actions{Store: st, Now: func() time.Time { return clock }}
	a, err := s.Open(ctx, "sue", opening())
	if err != nil {
		t.Fatal(err)
	}
	if a.State != improve.Planned || a.OpenedBy != "sue" || !a.OpenedAt.Equal(clock) || a.Cause != "equipment" {
		t.Fatalf("opened: %+v", a)
	}
	if _, err := s.Judge(ctx, a, "max", improve.Judgement{Effective: true, Note: "fine"}); !errors.Is(err, improve.ErrInput) {
		t.Errorf("verdict on a planned action: %v", err)
	}
	stale := a
	if a, err = s.MoveTo(ctx, a, "sue", improve.InProgress, "started"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MoveTo(ctx, stale, "bob", improve.Done, ""); storage.ErrorCode(err) != storage.Conflict {
		t.Errorf("move from a stale copy: %v, want a conflict", err)
	}
	if a, err = s.Change(ctx, a, "sue", improve.Change{Owner: "lea", Due: "2026-07-15"}); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(48 * time.Hour)
	if a, err = s.MoveTo(ctx, a, "lea", improve.Done, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MoveTo(ctx, a, "lea", improve.Effective, ""); !errors.Is(err, improve.ErrInput) {
		t.Errorf("moving to verified effective without a verdict: %v", err)
	}
	if a, err = s.Judge(ctx, a, "max", improve.Judgement{Effective: false, Note: "still declined", Before: 9, After: 11}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != improve.NotEffective || got.Owner != "lea" || got.Due != "2026-07-15" || got.VerdictBy != "max" ||
		got.Verdict.After != 11 || !got.DoneAt.Equal(clock) || len(got.History) != 5 {
		t.Errorf("folded: %+v", got)
	}
	actors := []string{}
	for _, e := range got.History {
		actors = append(actors, e.ActorID+":"+e.Type)
	}
	if want := "[sue:opened sue:moved sue:changed lea:moved max:verdict]"; want != fmtList(actors) {
		t.Errorf("history %v, want %s", actors, want)
	}
	// Not effective: back to work, which clears the verdict.
	if a, err = s.MoveTo(ctx, got, "lea", improve.InProgress, "second attempt"); err != nil || a.Verdict != nil {
		t.Errorf("again: %+v %v", a, err)
	}
	// The recurring groups' decisions share the table, not the list.
	if err := st.AddRecurringDecision(ctx, storage.RecurringDecision{Kind: "dismiss", Complaint: "c1", ActorID: "sue", At: clock}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddRecurringDecision(ctx, storage.RecurringDecision{Kind: "merge", Complaint: "c1", ActorID: "sue", At: clock}); storage.ErrorCode(err) != storage.Invalid {
		t.Errorf("a merge without its target: %v", err)
	}
	if ds, err := st.RecurringDecisions(ctx); err != nil || len(ds) != 1 || ds[0].Kind != "dismiss" || ds[0].Complaint != "c1" || ds[0].ActorID != "sue" || !ds[0].At.Equal(clock) {
		t.Errorf("decisions: %+v %v", ds, err)
	}
	if _, err := s.Get(ctx, storage.RecurringStream); !errors.Is(err, improve.ErrNotFound) {
		t.Errorf("the decisions' stream read as an action: %v", err)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].State != improve.InProgress {
		t.Errorf("list: %+v %v", list, err)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, improve.ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
}

func fmtList(xs []string) string {
	s := "["
	for i, x := range xs {
		if i > 0 {
			s += " "
		}
		s += x
	}
	return s + "]"
}

func TestOpeningChecks(t *testing.T) {
	for name, change := range map[string]func(*improve.Opening){
		"no problem":    func(o *improve.Opening) { o.Problem = " " },
		"bad cause":     func(o *improve.Opening) { o.Cause = "gremlins" },
		"no owner":      func(o *improve.Opening) { o.Owner = "" },
		"bad due":       func(o *improve.Opening) { o.Due = "soon" },
		"no check":      func(o *improve.Opening) { o.CheckDays = 0 },
		"nothing links": func(o *improve.Opening) { o.Group, o.Cases = "", nil },
	} {
		o := opening()
		change(&o)
		if _, err := o.Check(); !errors.Is(err, improve.ErrInput) {
			t.Errorf("%s: %v", name, err)
		}
	}
	o := opening()
	o.Problem = "  Card \x1b[2Jdeclined "
	if c, err := o.Check(); err != nil || c.Problem != "Card declined" && c.Problem != "Card [2Jdeclined" {
		t.Errorf("cleaned: %q %v", c.Problem, err)
	}
}

// TestEffectivenessCheck: complaints of the action's cause filed in the
// check period before it was done against the same period after, within
// the scope; "other" counts every other cause.
func TestEffectivenessCheck(t *testing.T) { stores(t, testEffectivenessCheck) }

func testEffectivenessCheck(t *testing.T, st store) {
	ctx := context.Background()
	done := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	var facts []kpi.Fact
	add := func(id, branch, cause string, filed time.Time) {
		facts = append(facts, kpi.Fact{ComplaintID: id, Code: id, Day: filed.Format(kpi.DayLayout), Branch: branch,
			Category: "cards", Channel: "kiosk", State: "closed", FiledAt: filed, ClosedAt: filed.Add(time.Hour), RootCause: cause})
	}
	for i := range 6 {
		add("b"+string(rune('a'+i)), "main", "equipment", done.AddDate(0, 0, -1-i*4)) // 6 in the 30 days before
	}
	add("old", "main", "equipment", done.AddDate(0, 0, -31))   // before the period
	add("n1", "north", "equipment", done.AddDate(0, 0, -2))    // another branch
	add("p1", "main", "pricing", done.AddDate(0, 0, -2))       // another cause
	add("a1", "main", "equipment", done.Add(time.Hour))        // 2 after
	add("a2", "main", "equipment", done.AddDate(0, 0, 29))     //
	add("late", "main", "equipment", done.AddDate(0, 0, 30))   // after the period
	add("o1", "main", "other: door", done.AddDate(0, 0, -3))   //
	add("o2", "main", "other: window", done.AddDate(0, 0, -4)) //
	if err := st.SaveFacts(ctx, 0, 1, facts); err != nil {
		t.Fatal(err)
	}
	a := improve.Action{Opening: opening(), DoneAt: done}
	count := func(cause string, from, to time.Time) (int64, error) {
		return st.CauseCounts(ctx, storage.Scope{Branches: []string{"main"}}, cause, from, to)
	}
	ef, err := improve.Check(a, done.AddDate(0, 0, 10), count)
	if err != nil {
		t.Fatal(err)
	}
	if ef.Before != 6 || ef.After != 2 || !ef.Fell || ef.Ready {
		t.Errorf("check after 10 days: %+v, want 6 before, 2 after, fell, not ready", ef)
	}
	if ef, _ = improve.Check(a, done.AddDate(0, 0, 30), count); !ef.Ready {
		t.Error("not ready after the check period")
	}
	a.Cause = "other: anything"
	if ef, _ = improve.Check(a, done, count); ef.Before != 2 || ef.After != 0 {
		t.Errorf("other: %+v, want 2 before", ef)
	}
	if ef, _ := improve.Check(improve.Action{Opening: opening()}, done, count); ef != (improve.Effect{}) {
		t.Errorf("not done: %+v", ef)
	}
}
