package cases_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"ombud/server/cases"
	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

func TestDispatchRoutesNewCasesOnce(t *testing.T) {
	v := newEnv(t)
	e := v.engine()
	v.routes.Store(0) // New looks at the rules once, to check the escalation queue
	tests := []struct {
		name, category, description string
		queue, rule                 string
	}{
		{"words", "service", "I think this is fraud on my account", "team:safety", "fraud words"},
		{"category", "billing", "Charged twice this month", "team:billing", "billing category"},
		{"default", "service", "The queue was very long", "branch:north", "default"},
	}
	ids := make([]string, len(tests))
	for i, tt := range tests {
		ids[i] = v.file(at(6, 10, i), tt.category, tt.description)
	}
	mustCatchUp(t, e)

	// What the branch's devices receive downstream.
	byComplaint := map[string]event.Assignment{}
	stored, err := v.store.EventsAfter(context.Background(), wire.BranchScope("north"), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, se := range stored {
		if se.Event.Type != event.Assigned {
			continue
		}
		if se.Event.Actor != (event.Actor{Kind: event.ActorSystem, ID: "dispatch"}) {
			t.Errorf("assigned by %+v, want system/dispatch", se.Event.Actor)
		}
		if !uid.Valid(se.Event.ID) {
			t.Errorf("engine event id %q is not a UUIDv7", se.Event.ID)
		}
		byComplaint[se.Event.ComplaintID] = decode[event.Assignment](t, se.Event)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := byComplaint[ids[i]]
			if got.Queue != tt.queue || got.Rule != tt.rule {
				t.Errorf("assignment = %+v, want queue %q by rule %q", got, tt.queue, tt.rule)
			}
			if r := v.row(e, ids[i]); r.Queue != tt.queue || r.State != lifecycle.Received {
				t.Errorf("row queue %q state %q, want %q %q", r.Queue, r.State, tt.queue, lifecycle.Received)
			}
		})
	}
	if got := v.routes.Load(); got != int64(len(tests)) {
		t.Errorf("routing decisions = %d, want %d (one per case)", got, len(tests))
	}

	// A restart (store and engine), a full catch-up, a rebuild: no case is
	// routed again.
	v.reopen()
	e = v.engine()
	v.routes.Store(0)
	mustCatchUp(t, e)
	if err := e.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if n := len(v.eventsOf(id, event.Assigned)); n != 1 {
			t.Errorf("case %s has %d Assigned events after a restart, want 1", id, n)
		}
	}
	if got := v.routes.Load(); got != 0 {
		t.Errorf("routing decisions after restart = %d, want 0", got)
	}
}

// The cursor commit fails after the Assigned event was appended (a crash
// between the two): the retry finds the event and appends nothing.
func TestDispatchCrashBeforeCursorCommit(t *testing.T) {
	v := newEnv(t)
	failing := &failSave{Store: v.store, fail: 1}
	e := v.engine(func(c *cases.Config) { c.Store = failing })
	id := v.file(at(6, 10, 0), "billing", "Charged twice")
	if err := e.CatchUp(context.Background()); err == nil {
		t.Fatal("catch up with a failing commit: no error")
	}
	if c, _ := v.store.CasesCursor(context.Background()); c != 0 {
		t.Fatalf("cursor after a failed commit = %d, want 0", c)
	}
	mustCatchUp(t, e)
	if n := len(v.eventsOf(id, event.Assigned)); n != 1 {
		t.Errorf("Assigned events = %d, want 1", n)
	}
	if r := v.row(e, id); r.Queue != "team:billing" {
		t.Errorf("queue = %q, want team:billing", r.Queue)
	}
}

// failSave fails the first fail cursor commits.
type failSave struct {
	*sqlite.Store
	fail int
}

func (f *failSave) SaveCases(ctx context.Context, from, to int64, rows []storage.CaseRow) error {
	if f.fail > 0 {
		f.fail--
		return errors.New("disk on fire")
	}
	return f.Store.SaveCases(ctx, from, to, rows)
}

// Two engines on one database (two server replicas) route each case once.
func TestTwoEnginesRouteOnce(t *testing.T) {
	v := newEnv(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, v.file(at(6, 10, i), "billing", "Charged twice"))
	}
	a, b := v.engine(), v.engine()
	var wg sync.WaitGroup
	for _, e := range []*cases.Engine{a, b} {
		wg.Go(func() {
			if err := e.CatchUp(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	mustCatchUp(t, a)
	for _, id := range ids {
		if n := len(v.eventsOf(id, event.Assigned)); n != 1 {
			t.Errorf("case %s: %d Assigned events, want 1", id, n)
		}
	}
}

func TestRerouteAfterAssessment(t *testing.T) {
	v := newEnv(t)
	// The server routes at 10:05; staff act after that, and their
	// terminals' clocks have seen the dispatch events (HLC), so their
	// events order after them.
	v.clock.Set(at(6, 10, 5))
	e := v.engine()
	byRule := v.file(at(6, 10, 0), "billing", "Charged twice")
	byHand := v.file(at(6, 10, 1), "billing", "Charged twice")
	mustCatchUp(t, e)
	v.act(byHand, event.Assigned, at(6, 11, 0), event.Assignment{Queue: "team:billing"}) // a person, no rule
	for _, id := range []string{byRule, byHand} {
		v.act(id, event.Acknowledged, at(6, 11, 1), nil)
		v.act(id, event.Assessed, at(6, 11, 2), event.Assessment{Severity: event.SeverityCritical, Priority: 1})
	}
	mustCatchUp(t, e)

	if r := v.row(e, byRule); r.Queue != "team:office" {
		t.Errorf("case assigned by a rule, assessed critical: queue %q, want team:office", r.Queue)
	}
	got := v.eventsOf(byRule, event.Assigned)
	if len(got) != 2 || decode[event.Assignment](t, got[1]).Rule != "critical" {
		t.Errorf("assignments = %d, last %s; want 2, the last by rule critical", len(got), got[len(got)-1].Data)
	}
	if r := v.row(e, byHand); r.Queue != "team:billing" {
		t.Errorf("case assigned by hand: queue %q, want it left in team:billing", r.Queue)
	}

	// A re-assessment that routes to the same queue changes nothing.
	v.act(byRule, event.Assessed, at(6, 12, 0), event.Assessment{Severity: event.SeverityCritical, Priority: 2})
	mustCatchUp(t, e)
	if n := len(v.eventsOf(byRule, event.Assigned)); n != 2 {
		t.Errorf("assignments after a same-queue re-assessment = %d, want 2", n)
	}
}

// Mon-Fri 09:00-17:00 Paris, acknowledge 16h, respond 80h; filed Friday 6
// March 16:00.
func TestSLADeadlinesInProjection(t *testing.T) {
	ack := at(9, 10, 0)
	tests := []struct {
		name                     string
		steps                    func(v *env, id string)
		ackDue, respondDue, next time.Time
		waiting                  bool
	}{
		{
			name:       "filed",
			steps:      func(*env, string) {},
			ackDue:     at(10, 16, 0), // Fri 1h + Mon 8h + Tue 7h
			respondDue: at(20, 16, 0), // Fri 1h + 9 days + Fri 7h
			next:       at(10, 16, 0),
		},
		{
			name:       "acknowledged",
			steps:      func(v *env, id string) { v.act(id, event.Acknowledged, ack, nil) },
			ackDue:     at(10, 16, 0),
			respondDue: at(20, 16, 0),
			next:       at(20, 16, 0),
		},
		{
			name: "waiting on the customer",
			steps: func(v *env, id string) {
				v.act(id, event.Acknowledged, ack, nil)
				v.act(id, event.InfoRequested, at(9, 11, 0), event.Text{Text: "receipt?"})
			},
			ackDue:  at(10, 16, 0),
			waiting: true, // no respond date, nothing to watch
		},
		{
			name: "customer answered after 16 open hours",
			steps: func(v *env, id string) {
				v.act(id, event.Acknowledged, ack, nil)
				v.act(id, event.InfoRequested, at(9, 11, 0), event.Text{Text: "receipt?"})
				v.act(id, event.InfoProvided, at(11, 11, 0), event.Text{Text: "attached"})
			},
			ackDue:     at(10, 16, 0),
			respondDue: at(24, 16, 0), // 16h later: Fri 1h + Mon 8h + Tue 7h
			next:       at(24, 16, 0),
		},
		{
			name: "pause over a weekend moves nothing",
			steps: func(v *env, id string) {
				v.act(id, event.Acknowledged, ack, nil)
				v.act(id, event.InfoRequested, at(13, 17, 30), event.Text{Text: "receipt?"})
				v.act(id, event.InfoProvided, at(16, 8, 30), event.Text{Text: "attached"})
			},
			ackDue:     at(10, 16, 0),
			respondDue: at(20, 16, 0),
			next:       at(20, 16, 0),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newEnv(t)
			e := v.engine()
			id := v.file(at(6, 16, 0), "service", "The queue was long")
			tt.steps(v, id)
			mustCatchUp(t, e)
			r := v.row(e, id)
			if got, want := fmtTimes(r.AckDue, r.RespondDue, r.NextDue), fmtTimes(tt.ackDue, tt.respondDue, tt.next); got != want {
				t.Errorf("ack, respond, next due =%s, want%s", got, want)
			}
			if r.WaitingOnCustomer != tt.waiting {
				t.Errorf("waiting on customer = %v, want %v", r.WaitingOnCustomer, tt.waiting)
			}
		})
	}
}

func TestEscalationOncePerBreach(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t)
	e := v.engine()
	id := v.file(at(6, 16, 0), "service", "The queue was long")
	mustCatchUp(t, e)

	escalations := func() []event.Event { return v.eventsOf(id, event.Escalated) }
	mustTick(t, e, at(10, 15, 59)) // before the acknowledge deadline
	if n := len(escalations()); n != 0 {
		t.Fatalf("escalations before the deadline = %d, want 0", n)
	}

	v.clock.Set(at(10, 16, 30))
	mustTick(t, e, v.clock.Now())
	got := escalations()
	if len(got) != 1 {
		t.Fatalf("escalations after the acknowledge deadline = %d, want 1", len(got))
	}
	esc := decode[event.Escalation](t, got[0])
	if esc.Level != 1 || esc.Text != "acknowledgement overdue since Tue 10 Mar 2026 16:00 CET" {
		t.Errorf("escalation = %+v", esc)
	}
	if got[0].Actor != (event.Actor{Kind: event.ActorSystem, ID: "sla"}) {
		t.Errorf("escalated by %+v, want system/sla", got[0].Actor)
	}
	assigned := v.eventsOf(id, event.Assigned)
	if last := decode[event.Assignment](t, assigned[len(assigned)-1]); last.Queue != "team:escalations" {
		t.Errorf("last assignment %+v, want team:escalations", last)
	}
	r := v.row(e, id)
	if r.Queue != "team:escalations" || r.EscalationLevel != 1 || !r.NextDue.Equal(at(20, 16, 0)) {
		t.Errorf("row queue %q level %d next%s; want team:escalations, 1, the respond deadline", r.Queue, r.EscalationLevel, fmtTimes(r.NextDue))
	}

	// Again: nothing more. Then a restart (store and engine): nothing more.
	mustTick(t, e, v.clock.Now().Add(time.Hour))
	v.reopen()
	e = v.engine()
	mustTick(t, e, v.clock.Now().Add(2*time.Hour))
	if n := len(escalations()); n != 1 {
		t.Fatalf("escalations after ticking again and restarting = %d, want 1", n)
	}
	if n := len(v.eventsOf(id, event.Assigned)); n != 2 {
		t.Errorf("assignments = %d, want 2 (dispatch, escalation)", n)
	}

	// Acknowledged late; then the response deadline passes: level 2, and
	// no second move (it is already in the escalation queue).
	v.act(id, event.Acknowledged, at(11, 9, 30), nil)
	v.clock.Set(at(20, 16, 1))
	mustTick(t, e, v.clock.Now())
	mustTick(t, e, v.clock.Now().Add(time.Minute))
	got = escalations()
	if len(got) != 2 {
		t.Fatalf("escalations after the respond deadline = %d, want 2", len(got))
	}
	if esc := decode[event.Escalation](t, got[1]); esc.Level != 2 || !strings.HasPrefix(esc.Text, "response overdue since Fri 20 Mar 2026 16:00") {
		t.Errorf("second escalation = %+v", esc)
	}
	if n := len(v.eventsOf(id, event.Assigned)); n != 2 {
		t.Errorf("assignments = %d, want still 2", n)
	}
	if r := v.row(e, id); r.EscalationLevel != 2 || !r.NextDue.IsZero() {
		t.Errorf("row level %d next%s; want 2 and nothing left to watch", r.EscalationLevel, fmtTimes(r.NextDue))
	}
	if _, ok, err := e.Deadlines(ctx, id); err != nil || !ok {
		t.Errorf("Deadlines of an overdue case: ok %v err %v; want the (past) respond date", ok, err)
	}
}

// A case breached while the clock is paused is not escalated until the
// customer answers; a closed case never is.
func TestNoEscalationWhilePausedOrClosed(t *testing.T) {
	v := newEnv(t)
	e := v.engine()
	paused := v.file(at(6, 16, 0), "service", "The queue was long")
	closed := v.file(at(6, 16, 1), "service", "The queue was long")
	for _, id := range []string{paused, closed} {
		v.act(id, event.Acknowledged, at(9, 10, 0), nil)
	}
	v.act(paused, event.InfoRequested, at(9, 11, 0), event.Text{Text: "receipt?"})
	v.act(closed, event.Assessed, at(9, 11, 0), event.Assessment{Severity: event.SeverityLow, Priority: 4})
	v.act(closed, event.Responded, at(9, 12, 0), event.Text{Text: "sorry"})
	v.act(closed, event.Closed, at(9, 13, 0), event.Closure{})
	mustTick(t, e, at(27, 12, 0))
	for _, id := range []string{paused, closed} {
		if n := len(v.eventsOf(id, event.Escalated)); n != 0 {
			t.Errorf("case %s: %d escalations, want 0", id, n)
		}
	}
}

func TestRebuildEqualsIncremental(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t)
	e := v.engine()
	a := v.file(at(6, 16, 0), "billing", "Charged twice")
	b := v.file(at(6, 16, 1), "service", "fraud at the counter")
	mustCatchUp(t, e)
	c := v.file(at(9, 9, 0), "service", "The queue was long")
	v.act(a, event.Acknowledged, at(9, 10, 0), nil)
	v.act(a, event.Assessed, at(9, 10, 1), event.Assessment{Severity: event.SeverityCritical, Priority: 2})
	v.act(a, event.InfoRequested, at(9, 11, 0), event.Text{Text: "receipt?"})
	mustCatchUp(t, e)
	v.act(b, event.Acknowledged, at(9, 10, 0), nil)
	v.act(b, event.InfoRequested, at(9, 11, 0), event.Text{Text: "receipt?"})
	v.act(b, event.InfoProvided, at(10, 11, 0), event.Text{Text: "here"})
	v.act(c, event.NoteAdded, at(9, 9, 30), event.Text{Text: "called"})
	v.clock.Set(at(12, 9, 0))
	mustTick(t, e, v.clock.Now()) // c's acknowledgement is overdue
	v.act(b, event.Assessed, at(12, 10, 0), event.Assessment{Severity: event.SeverityHigh, Priority: 3})
	v.act(b, event.Responded, at(12, 11, 0), event.Text{Text: "refunded"})
	mustCatchUp(t, e)

	incremental := v.allRows()
	if len(incremental) != 3 {
		t.Fatalf("rows = %d, want 3", len(incremental))
	}
	before, _ := v.store.Stats(ctx)
	if err := e.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	rebuilt := v.allRows()
	if !reflect.DeepEqual(rebuilt, incremental) {
		t.Errorf("rebuilt projection differs:\n got %+v\nwant %+v", rebuilt, incremental)
	}
	if after, _ := v.store.Stats(ctx); after.Events != before.Events {
		t.Errorf("rebuild appended %d events, want 0", after.Events-before.Events)
	}
	if r := v.row(e, c); r.EscalationLevel != 1 {
		t.Errorf("case c escalation level %d, want 1", r.EscalationLevel)
	}
}

func TestDeadlinesSeam(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t)
	e := v.engine()
	id := v.file(at(6, 16, 0), "service", "The queue was long")
	check := func(name string, want cases.Step, wantOK bool) {
		t.Helper()
		got, ok, err := e.Deadlines(ctx, id)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ok != wantOK || got.Name != want.Name || !got.Due.Equal(want.Due) {
			t.Errorf("%s: Deadlines = %v %s%s, want %v %s%s", name, ok, got.Name, fmtTimes(got.Due), wantOK, want.Name, fmtTimes(want.Due))
		}
	}
	check("received", cases.Step{Name: sla.Acknowledge, Due: at(10, 16, 0)}, true)
	v.act(id, event.Acknowledged, at(9, 10, 0), nil)
	check("acknowledged", cases.Step{Name: sla.Respond, Due: at(20, 16, 0)}, true)
	v.act(id, event.InfoRequested, at(9, 11, 0), event.Text{Text: "receipt?"})
	check("waiting on the customer", cases.Step{}, false)
	v.act(id, event.InfoProvided, at(11, 11, 0), event.Text{Text: "attached"})
	v.clock.Set(at(11, 12, 0))
	check("answered", cases.Step{Name: sla.Respond, Due: at(24, 16, 0)}, true)

	if _, _, err := e.Deadlines(ctx, uid.New()); storage.ErrorCode(err) != storage.NotFound {
		t.Errorf("unknown complaint: err %v, want NotFound", err)
	}
	mustCatchUp(t, e)
	if r, err := e.Case(ctx, id); err != nil || r.State != lifecycle.Acknowledged || r.Queue != "branch:north" {
		t.Errorf("Case = %+v, %v", r, err)
	}
}

func TestNewRefusesUndeclaredEscalationQueue(t *testing.T) {
	v := newEnv(t)
	for _, q := range []string{"team:nobody", "escalations", "branch:"} {
		cfg := v.config()
		cfg.EscalationQueue = q
		if _, err := cases.New(cfg); err == nil {
			t.Errorf("New with escalation queue %q: no error", q)
		}
	}
}

// Run wakes on the store's commit feed (the poll is an hour here), routes,
// and stops with its context; its own assignments reach the feed, which is
// how the sync hub hears of them.
func TestRunFollowsTheCommitFeed(t *testing.T) {
	v := newEnv(t)
	var mu sync.Mutex
	var fed []string
	stop := v.store.OnCommit(func(scopes []string) {
		mu.Lock()
		fed = append(fed, scopes...)
		mu.Unlock()
	})
	defer stop()
	e := v.engine(func(c *cases.Config) { c.Poll, c.Interval = time.Hour, time.Hour })
	first := v.file(at(6, 16, 0), "service", "The queue was long")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()

	routed := func(id, queue string) func() bool {
		return func() bool {
			r, err := e.Case(ctx, id)
			return err == nil && r.Queue == queue
		}
	}
	// Run's first pass routes what is already stored; after that only the
	// feed (or an hour) wakes the follower: nobody calls Notify here.
	waitFor(t, "the first case routed", routed(first, "branch:north"))
	second := v.file(at(6, 16, 1), "billing", "Charged twice")
	waitFor(t, "the second case routed", routed(second, "team:billing"))
	mu.Lock()
	// Two filings pushed, two assignments appended, all of branch north;
	// the second assignment routes its case to a team queue, so its commit
	// also wakes that team's stream (team scopes have their own streams).
	if want := []string{"branch:north", "branch:north", "branch:north", "branch:north", "team:billing"}; !reflect.DeepEqual(fed, want) {
		t.Errorf("commit feed = %v, want %v", fed, want)
	}
	mu.Unlock()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}

// TestUnansweredDecisionClosesOnce (ISO 10002 8.9): a decided case the
// customer did not answer closes when the decision's AnswerBy passes, once,
// whatever ticks and restarts follow; not before.
func TestUnansweredDecisionClosesOnce(t *testing.T) {
	v := newEnv(t)
	e := v.engine()
	id := v.file(at(6, 10, 0), "service", "The queue was long")
	v.act(id, event.Acknowledged, at(6, 11, 0), nil)
	v.act(id, event.Assessed, at(6, 11, 5), event.Assessment{Severity: event.SeverityLow, Priority: 3})
	answerBy := at(20, 11, 10)
	v.act(id, event.Responded, at(6, 11, 10), event.Decision{Text: "Sorry.", AnswerBy: answerBy})
	mustCatchUp(t, e)
	if r := v.row(e, id); !r.NextDue.Equal(answerBy) || r.NextTarget != "close" {
		t.Fatalf("row next %s %q, want the close at AnswerBy", fmtTimes(r.NextDue), r.NextTarget)
	}
	closed := func() []event.Event { return v.eventsOf(id, event.Closed) }
	mustTick(t, e, answerBy.Add(-time.Minute))
	if n := len(closed()); n != 0 {
		t.Fatalf("closed before AnswerBy: %d events", n)
	}
	mustTick(t, e, answerBy.Add(time.Minute))
	mustTick(t, e, answerBy.Add(2*time.Minute))
	v.reopen()
	e = v.engine()
	mustTick(t, e, answerBy.Add(time.Hour))
	got := closed()
	if len(got) != 1 || got[0].Actor != (event.Actor{Kind: event.ActorSystem, ID: "closure"}) {
		t.Fatalf("closures %+v, want one by system/closure", got)
	}
	if cl := decode[event.Closure](t, got[0]); cl.CustomerAccepted != nil {
		t.Errorf("closure %+v records an answer the customer did not give", cl)
	}
	if r := v.row(e, id); r.State != lifecycle.Closed {
		t.Errorf("row state %s, want closed", r.State)
	}
}
