package kpi_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"ombud/server/admit"
	"ombud/server/kpi"
	"ombud/server/storage"
	"ombud/server/storage/postgres"
	"ombud/server/storage/postgres/pgtest"
	"ombud/server/storage/sqlite"
	"ombud/shared/complaint"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/sla"
	staffacct "ombud/shared/staff"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// Two business days to acknowledge, ten to respond, Monday to Friday
// 09:00-17:00 in Paris.
const slaConfig = `{
  "calendars": {"default": {"time_zone": "Europe/Paris", "hours": {
    "mon": ["09:00-17:00"], "tue": ["09:00-17:00"], "wed": ["09:00-17:00"],
    "thu": ["09:00-17:00"], "fri": ["09:00-17:00"]}}},
  "policies": [{"acknowledge": "16h", "respond": "80h"}]
}`

var paris = mustZone("Europe/Paris")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// at is a wall time in Paris, March 2026; 2 March is a Monday.
func at(day, hour, minute int) time.Time { return time.Date(2026, 3, day, hour, minute, 0, 0, paris) }

type env struct {
	t     testing.TB
	store envStore
	dev   storage.Device
	seq   int64
	sla   *sla.Config
	// after, if set, runs after every push (live upkeep).
	after func()
}

// envStore is what the tests use of a store: every backend's.
type envStore interface {
	storage.Store
	kpi.Store
}

// admitOld accepts the tests' events of March 2026.
var admitOld = admit.Policy{MaxOffline: 100 * 365 * 24 * time.Hour}

// backends runs test on each storage backend, as a subtest; newEnv makes
// an env on that backend.
func backends(t *testing.T, test func(t *testing.T, newEnv func(testing.TB) *env)) {
	for _, b := range []struct {
		name string
		open func(testing.TB) envStore
	}{
		{"sqlite", func(tb testing.TB) envStore {
			s, err := sqlite.OpenWith(context.Background(), filepath.Join(tb.TempDir(), "ombud.db"), sqlite.Options{Admission: admitOld})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { s.Close() })
			return s
		}},
		{"postgres", func(tb testing.TB) envStore {
			s, err := postgres.OpenWith(context.Background(), pgtest.DSN(tb), postgres.Options{Admission: admitOld})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { s.Close() })
			return s
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			test(t, func(tb testing.TB) *env { return newEnvOn(tb, b.open(tb)) })
		})
	}
}

// newEnv is an env on SQLite.
func newEnv(t testing.TB) *env {
	t.Helper()
	s, err := sqlite.OpenWith(context.Background(), filepath.Join(t.TempDir(), "ombud.db"), sqlite.Options{Admission: admitOld})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return newEnvOn(t, s)
}

func newEnvOn(t testing.TB, s envStore) *env {
	t.Helper()
	cfg, err := sla.Parse([]byte(slaConfig))
	if err != nil {
		t.Fatal(err)
	}
	v := &env{t: t, store: s, sla: cfg}
	ctx := context.Background()
	if err := s.CreateBranch(ctx, "north", "North"); err != nil {
		t.Fatal(err)
	}
	code := sha256.Sum256([]byte("code"))
	if err := s.CreateEnrolment(ctx, storage.Enrolment{Branch: "north", CodeHash: code[:], ExpiresAt: time.Now().Add(time.Hour), Role: device.Staff}); err != nil {
		t.Fatal(err)
	}
	cred := sha256.Sum256([]byte("cred"))
	if v.dev, err = s.RedeemEnrolment(ctx, code[:], time.Now(), "term-1", cred[:]); err != nil {
		t.Fatal(err)
	}
	pin, err := staffacct.HashPINWith("482913", staffacct.TestCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateStaff(ctx, staffacct.Account{ID: "staff-1", Name: "Staff One", Role: staffacct.Supervisor, Branch: "north", PINHash: pin}); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *env) follower() *kpi.Follower {
	v.t.Helper()
	f, err := kpi.New(kpi.Config{Log: v.store, Store: v.store, SLA: v.sla, Location: paris, PageSize: 2})
	if err != nil {
		v.t.Fatal(err)
	}
	return f
}

func (v *env) push(e event.Event) {
	v.t.Helper()
	v.seq++
	res, err := v.store.Push(context.Background(), v.dev.ID, []wire.DeviceEvent{{Seq: v.seq, Event: e}})
	if err != nil {
		v.t.Fatal(err)
	}
	if len(res.Rejected) > 0 {
		v.t.Fatalf("push rejected: %+v", res.Rejected)
	}
	if v.after != nil {
		v.after()
	}
}

func (v *env) file(when time.Time, category string) string {
	v.t.Helper()
	code, err := trackcode.Generate(v.dev.Prefix)
	if err != nil {
		v.t.Fatal(err)
	}
	c := complaint.Complaint{
		ID: uid.NewAt(when), Code: string(code), Branch: "north", Device: v.dev.ID,
		Channel: complaint.ChannelKiosk, Category: category, Description: "the card was declined",
		Language: "en", FiledAt: when.UTC(),
	}
	e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: v.dev.ID}, stamp(when))
	if err != nil {
		v.t.Fatal(err)
	}
	v.push(e)
	return c.ID
}

func stamp(t time.Time) hlc.Timestamp { return hlc.Make(t.UnixMilli(), 0) }

func (v *env) mk(id string, typ event.Type, when time.Time, actor event.Actor, data any) event.Event {
	v.t.Helper()
	var raw json.RawMessage
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			v.t.Fatal(err)
		}
		raw = b
	}
	return event.Event{ID: uid.NewAt(when), ComplaintID: id, Type: typ, Actor: actor, At: stamp(when), Branch: "north", Data: raw}
}

var staffActor = event.Actor{Kind: event.ActorStaff, ID: "staff-1"}

func (v *env) act(id string, typ event.Type, when time.Time, data any) {
	v.t.Helper()
	v.push(v.mk(id, typ, when, staffActor, data))
}

// rate is the customer's rating from the tracking page (Append).
func (v *env) rate(id string, when time.Time, stars int) {
	v.t.Helper()
	e := v.mk(id, event.SatisfactionRated, when, event.Actor{Kind: event.ActorCustomer}, event.Rating{Stars: stars})
	if _, err := v.store.Append(context.Background(), []event.Event{e}); err != nil {
		v.t.Fatal(err)
	}
	if v.after != nil {
		v.after()
	}
}

var assess = event.Assessment{Severity: event.SeverityMedium, Priority: 3}

// seed files three complaints in the first week of March 2026 whose
// figures are worked out by hand in TestFiguresByHand.
func (v *env) seed() {
	yes := true
	// A: acknowledged in 2 h, answered in 48 h, closed with the customer's
	// acceptance but rated 2 stars (not satisfied). (The lifecycle refuses
	// closing over a refusal before the customer's time to answer is up.)
	a := v.file(at(2, 10, 0), "payments")
	v.act(a, event.Acknowledged, at(2, 12, 0), nil)
	v.act(a, event.Assessed, at(2, 12, 5), assess)
	v.act(a, event.Responded, at(4, 10, 0), event.Text{Text: "refund"})
	v.act(a, event.Closed, at(4, 11, 0), event.Closure{CustomerAccepted: &yes})
	v.rate(a, at(4, 12, 0), 2)
	// B: acknowledged after 72 h (late: due Wednesday 11:00), escalated,
	// not answered, still open.
	b := v.file(at(2, 11, 0), "payments")
	v.act(b, event.Acknowledged, at(5, 11, 0), nil)
	v.act(b, event.Escalated, at(5, 11, 30), event.Escalation{Level: 1, Text: "late"})
	// C: acknowledged in 30 min, answered in 6 h, closed, rated 5,
	// reopened, answered and closed again.
	c := v.file(at(3, 9, 0), "billing")
	v.act(c, event.Acknowledged, at(3, 9, 30), nil)
	v.act(c, event.Assessed, at(3, 9, 35), assess)
	v.act(c, event.Responded, at(3, 15, 0), event.Text{Text: "fixed"})
	v.act(c, event.Closed, at(3, 15, 30), event.Closure{CustomerAccepted: &yes})
	v.rate(c, at(3, 16, 0), 5)
	v.act(c, event.Reopened, at(4, 9, 0), event.Text{Text: "still broken"})
	v.act(c, event.Responded, at(4, 14, 0), event.Text{Text: "fixed again"})
	v.act(c, event.Closed, at(4, 15, 0), event.Closure{CustomerAccepted: &yes})
}

var north = kpi.Query{Branches: []string{"north"}}

func mustCompute(tb testing.TB, r kpi.Reader, q kpi.Query, p kpi.Period, now time.Time) kpi.Figures {
	tb.Helper()
	f, err := kpi.Compute(context.Background(), r, q, p, now)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func TestFiguresByHand(t *testing.T) { backends(t, testFiguresByHand) }

func testFiguresByHand(t *testing.T, newEnv func(testing.TB) *env) {
	v := newEnv(t)
	v.seed()
	if err := v.follower().CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	march := kpi.PeriodOf("month", at(6, 0, 0))
	now := at(6, 16, 0) // Friday
	f := mustCompute(t, v.store, north, march, now)

	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
	check("received", f.Received, int64(3))
	// Acknowledged in 30 min, 2 h and 72 h: nearest-rank median 2 h, p90 72 h.
	check("ack median", f.AckMedian, kpi.Duration{D: 2 * time.Hour, OK: true})
	check("ack p90", f.AckP90, kpi.Duration{D: 72 * time.Hour, OK: true})
	// Answered in 6 h and 48 h (the first response counts, not the one after the reopen).
	check("respond median", f.RespondMedian, kpi.Duration{D: 6 * time.Hour, OK: true})
	check("respond p90", f.RespondP90, kpi.Duration{D: 48 * time.Hour, OK: true})
	check("ack within SLA", f.AckSLA, kpi.Ratio{Num: 2, Den: 3})
	// B's answer is due on Monday 16 March: not late yet.
	check("respond within SLA", f.RespondSLA, kpi.Ratio{Num: 2, Den: 2})
	check("escalations", f.EscalationRate, kpi.Ratio{Num: 1, Den: 3})
	check("reopen rate", f.ReopenRate, kpi.Ratio{Num: 1, Den: 2})
	check("not satisfied", f.NotSatisfiedRate, kpi.Ratio{Num: 1, Den: 2})
	check("rating response rate", f.ResponseRate, kpi.Ratio{Num: 2, Den: 2})
	check("stars", f.Stars, [5]int64{0, 1, 0, 0, 1})
	check("stars mean", f.StarsMean, 3.5)
	check("backlog total", f.BacklogTotal, int64(1))
	check("backlog 3-7 days", f.Backlog[2].Count, int64(1))
	check("ratio text", f.AckSLA.String(), "66.7 %")

	// A week later B's answer is late: it counts against the SLA.
	f = mustCompute(t, v.store, north, march, at(17, 9, 0))
	check("respond within SLA later", f.RespondSLA, kpi.Ratio{Num: 2, Den: 3})

	// Scope: a branch the person may not see shows nothing, and a category.
	f = mustCompute(t, v.store, kpi.Query{Branches: []string{"south"}}, march, now)
	check("other branch", f.Received, int64(0))
	check("other branch backlog", f.BacklogTotal, int64(0))
	f = mustCompute(t, v.store, kpi.Query{All: true, Category: "billing"}, march, now)
	check("billing", f.Received, int64(1))
	f = mustCompute(t, v.store, kpi.Query{}, march, now)
	check("no branches", f.Received, int64(0))

	// The previous period is empty; the trend puts March last.
	f = mustCompute(t, v.store, north, march.Prev(), now)
	check("february", f.Received, int64(0))
	tr, err := kpi.Trend(context.Background(), v.store, north, march, 12)
	if err != nil {
		t.Fatal(err)
	}
	check("trend length", len(tr), 12)
	check("trend last", tr[11].Received, int64(3))
	check("trend first label", tr[0].Period.Label(), "2025-04")
	check("trend february", tr[10].Received, int64(0))
	cw, err := kpi.WeeklyByCategory(context.Background(), v.store, north, at(6, 0, 0), 4)
	if err != nil {
		t.Fatal(err)
	}
	check("categories", cw.Categories, []string{"payments", "billing"})
	check("payments weekly", cw.Counts[0], []int64{0, 0, 0, 2})
}

// TestLiveEqualsRebuild: figures kept up after every event equal the
// figures of a rebuild from the log, and so do the stored rows.
func TestLiveEqualsRebuild(t *testing.T) { backends(t, testLiveEqualsRebuild) }

func testLiveEqualsRebuild(t *testing.T, newEnv func(testing.TB) *env) {
	v := newEnv(t)
	fl := v.follower()
	v.after = func() {
		if err := fl.CatchUp(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	v.seed()
	march := kpi.PeriodOf("month", at(6, 0, 0))
	now := at(6, 16, 0)
	q := kpi.Query{All: true}
	live := mustCompute(t, v.store, q, march, now)
	liveDays := mustDays(t, v.store, q.In(march))
	liveFacts := mustFacts(t, v.store, q.In(march))

	if err := v.follower().Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	rebuilt := mustCompute(t, v.store, q, march, now)
	if !reflect.DeepEqual(live, rebuilt) {
		t.Errorf("live figures\n%+v\nrebuilt\n%+v", live, rebuilt)
	}
	if got := mustDays(t, v.store, q.In(march)); !reflect.DeepEqual(liveDays, got) {
		t.Errorf("day rows: live %+v, rebuilt %+v", liveDays, got)
	}
	if got := mustFacts(t, v.store, q.In(march)); !reflect.DeepEqual(liveFacts, got) {
		t.Errorf("facts: live %+v, rebuilt %+v", liveFacts, got)
	}
	if live.Received != 3 || live.Closed != 2 {
		t.Errorf("live figures are not the seeded ones: %+v", live.DayCounts)
	}
}

// TestRunFollowsCommits: the running follower picks up a commit through
// the feed.
func TestRunFollowsCommits(t *testing.T) { backends(t, testRunFollowsCommits) }

func testRunFollowsCommits(t *testing.T, newEnv func(testing.TB) *env) {
	v := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); v.follower().Run(ctx) }()
	defer func() { cancel(); <-done }()
	v.file(at(2, 10, 0), "payments")
	march := kpi.PeriodOf("month", at(6, 0, 0))
	deadline := time.Now().Add(time.Minute) // against a hang, not a speed goal
	for mustCompute(t, v.store, north, march, at(6, 16, 0)).Received != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the follower did not count the complaint filed")
		}
		<-time.After(5 * time.Millisecond) // poll the condition again; the deadline above bounds the wait
	}
}

func TestPeriods(t *testing.T) {
	d := time.Date(2026, 12, 2, 15, 0, 0, 0, paris) // a Wednesday
	for _, c := range []struct{ kind, label, from, to, prev string }{
		{"week", "2026-W49", "2026-11-30", "2026-12-06", "2026-W48"},
		{"month", "2026-12", "2026-12-01", "2026-12-31", "2026-11"},
		{"quarter", "2026-Q4", "2026-10-01", "2026-12-31", "2026-Q3"},
	} {
		p := kpi.PeriodOf(c.kind, d)
		if p.Label() != c.label || p.From.Format(kpi.DayLayout) != c.from || p.To.Format(kpi.DayLayout) != c.to || p.Prev().Label() != c.prev {
			t.Errorf("%s: got %s %s..%s prev %s", c.kind, p.Label(), p.From.Format(kpi.DayLayout), p.To.Format(kpi.DayLayout), p.Prev().Label())
		}
	}
}

func mustDays(tb testing.TB, r kpi.Reader, q kpi.Query) []kpi.DayRow {
	tb.Helper()
	d, err := r.DayRows(context.Background(), q)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func mustFacts(tb testing.TB, r kpi.Reader, q kpi.Query) []kpi.Fact {
	tb.Helper()
	f, err := r.Facts(context.Background(), q, 1000)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}
