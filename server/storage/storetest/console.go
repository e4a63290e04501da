package storetest

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"ombud/server/storage"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/sync/wire"
)

// The console's reads (storage.Console): search and the queue page.

// Searchable files a complaint with description text at a device of
// branch, with a case row queued to queue, and returns its id and code.
func Searchable(tb testing.TB, s Store, branch, queue, text string) (string, string) {
	tb.Helper()
	ctx := context.Background()
	d := MustDevice(tb, s, branch)
	e := FiledEvent(tb, d)
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

// testConsoleSearchCases: words match without accents or case, as prefixes, all
// of them; the index follows events as they are stored (a message added
// later is found); scope keeps other branches' cases out unless queued to
// one of the person's teams; a code matches exactly.
func testConsoleSearchCases(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.MustOpen(t)
	north, northCode := Searchable(t, s, "north", "branch:north", "Ma carte a été VOLÉE au distributeur")
	south, _ := Searchable(t, s, "south", "team:fraud", "Carte volée à Lille, paiement inconnu")
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
		At: Clock.Now(), Branch: "north", Data: json.RawMessage(`{"text":"Remboursement effectué"}`)}
	if res, err := s.Push(ctx, d.ID, []wire.DeviceEvent{{Seq: 1, Event: msg}}); err != nil || res.Stored != 1 {
		t.Fatalf("push message: %+v %v", res, err)
	}
	if got := ids(northOnly, "rembourse EFFECTUE"); !got[north] {
		t.Errorf("message text not found: %v", got)
	}
}

// testConsoleQueueCases: scope (branches, then team queues from other branches),
// filters, soonest deadline first and cases without one after, counts per
// queue with overdue and at-risk.
func testConsoleQueueCases(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.MustOpen(t)
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

// testConsoleSignInState: the console's account settings, sessions, codes
// good once and the lock-out count, as the console's sign-in uses them.
func testConsoleSignInState(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.MustOpen(t)
	MustBranch(t, s, "north")
	MustBranch(t, s, "south")
	MustCreateStaff(t, s, "ann", "north", "supervisor")
	now := time.Now().UTC().Truncate(time.Microsecond)

	if a, err := s.ConsoleAccount(ctx, "ann"); err != nil || a.PasswordHash != "" || a.TOTPOn || a.ID != "ann" {
		t.Fatalf("fresh console account = %+v, %v", a, err)
	}
	_, err := s.ConsoleAccount(ctx, "nobody")
	wantCode(t, err, storage.NotFound)
	wantCode(t, s.SetConsolePassword(ctx, "nobody", "h", now), storage.NotFound)
	if err := s.SetConsolePassword(ctx, "ann", "argon-hash", now); err != nil {
		t.Fatal(err)
	}
	codes := [][]byte{Hash("r1"), Hash("r2")}
	if err := s.SetConsoleTOTP(ctx, "ann", "SECRET", true, codes, now); err != nil {
		t.Fatal(err)
	}
	if err := s.SetConsoleBranches(ctx, "ann", []string{"south"}, now); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.SetConsoleBranches(ctx, "ann", []string{"atlantis"}, now), storage.NotFound)
	a, err := s.ConsoleAccount(ctx, "ann")
	if err != nil || a.PasswordHash != "argon-hash" || a.TOTPSecret != "SECRET" || !a.TOTPOn || a.Recovery != 2 ||
		!slices.Equal(a.Branches, []string{"south"}) {
		t.Fatalf("console account = %+v, %v", a, err)
	}
	// A code's time step is good once, and never an older one.
	for _, c := range []struct {
		step int64
		ok   bool
	}{{100, true}, {100, false}, {99, false}, {101, true}} {
		if ok, err := s.UseTOTPStep(ctx, "ann", c.step); err != nil || ok != c.ok {
			t.Fatalf("use step %d = %v, %v; want %v", c.step, ok, err, c.ok)
		}
	}
	if ok, _ := s.UseRecoveryCode(ctx, "ann", Hash("r1"), now); !ok {
		t.Fatal("an unused recovery code was refused")
	}
	if ok, _ := s.UseRecoveryCode(ctx, "ann", Hash("r1"), now); ok {
		t.Fatal("a recovery code was good twice")
	}
	if a, _ := s.ConsoleAccount(ctx, "ann"); a.Recovery != 1 {
		t.Fatalf("recovery codes left = %d, want 1", a.Recovery)
	}

	sess := storage.ConsoleSession{ID: "s1", TokenHash: Hash("tok1"), StaffID: "ann", Stage: storage.StagePassword,
		StartedAt: now, SeenAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateConsoleSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.CreateConsoleSession(ctx, sess), storage.Conflict)
	other := sess
	other.ID, other.TokenHash = "s2", Hash("tok2")
	if err := s.CreateConsoleSession(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchConsoleSession(ctx, sess.TokenHash, storage.StageFull, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchConsoleSession(ctx, sess.TokenHash, storage.StageFull, now); err != nil { // an older touch moves nothing back
		t.Fatal(err)
	}
	got, err := s.ConsoleSessionByToken(ctx, sess.TokenHash)
	if err != nil || got.Stage != storage.StageFull || !got.SeenAt.Equal(now.Add(time.Minute)) || !got.EndedAt.IsZero() || got.ID != "s1" {
		t.Fatalf("session = %+v, %v", got, err)
	}
	_, err = s.ConsoleSessionByToken(ctx, Hash("nope"))
	wantCode(t, err, storage.NotFound)
	if ids, err := s.EndConsoleSessions(ctx, "ann", sess.TokenHash, now); err != nil || !slices.Equal(ids, []string{"s1"}) {
		t.Fatalf("end one = %v, %v", ids, err)
	}
	if ids, err := s.EndConsoleSessions(ctx, "ann", nil, now); err != nil || !slices.Equal(ids, []string{"s2"}) {
		t.Fatalf("end everywhere = %v, %v", ids, err)
	}

	for i := 1; i <= 3; i++ {
		if n, err := s.RecordConsoleFailure(ctx, "ann", now); err != nil || n != i {
			t.Fatalf("failure %d counted %d, %v", i, n, err)
		}
	}
	if n, last, err := s.ConsoleFailures(ctx, "ann"); err != nil || n != 3 || !last.Equal(now) {
		t.Fatalf("failures = %d at %v, %v", n, last, err)
	}
	if err := s.ClearConsoleFailures(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s.ConsoleFailures(ctx, "ann"); n != 0 {
		t.Fatalf("failures after clearing = %d", n)
	}

	for _, act := range []string{"signin", "signout"} {
		if err := s.AuditConsole(ctx, storage.AuditEntry{At: now, StaffID: "ann", Action: act, Client: "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
	}
	if au, err := s.ConsoleAudit(ctx, 10); err != nil || len(au) != 2 || au[0].Action != "signout" || au[0].Seq <= au[1].Seq {
		t.Fatalf("console audit = %+v, %v", au, err)
	}

	d1, err := s.ConsoleDevice(ctx, "north")
	if err != nil || d1.Branch != "north" {
		t.Fatalf("console device = %+v, %v", d1, err)
	}
	if d2, err := s.ConsoleDevice(ctx, "north"); err != nil || d2.ID != d1.ID {
		t.Fatalf("console device again = %+v, %v; want %s", d2, err, d1.ID)
	}
	_, err = s.ConsoleDevice(ctx, "atlantis")
	wantCode(t, err, storage.NotFound)
	if bs, err := s.ListBranches(ctx); err != nil || len(bs) != 2 || bs[0].ID != "north" {
		t.Fatalf("branches = %+v, %v", bs, err)
	}
}
