package cases_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ombud/server/cases"
	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/shared/event"
	"ombud/shared/sla"
)

// slaShortAck is slaConfig with a 1h acknowledge target instead of 16h.
const slaShortAck = `{
  "calendars": {"default": {"time_zone": "Europe/Paris", "hours": {
    "mon": ["09:00-17:00"], "tue": ["09:00-17:00"], "wed": ["09:00-17:00"],
    "thu": ["09:00-17:00"], "fri": ["09:00-17:00"]}}},
  "policies": [{"acknowledge": "1h", "respond": "80h"}]
}`

func mustSLA(tb testing.TB, text string) *sla.Config {
	tb.Helper()
	cfg, err := sla.Parse([]byte(text))
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// moreThanAScan is more due cases than Tick reads in one page.
const moreThanAScan = 201

// fileMany files n cases on Friday 6 March at 16:00.
func (v *env) fileMany(n int) []string {
	v.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = v.file(at(6, 16, 0), "service", "The queue was long")
	}
	return ids
}

// After an operator lengthens the acknowledge target and restarts, the rows
// folded under the old target get their new dates at start, and a case that
// is overdue under the new target is escalated, once, however many cases
// were overdue under the old one.
func TestSLAEditRefoldsStaleRows(t *testing.T) {
	v := newEnv(t)
	long := v.sla
	v.sla = mustSLA(t, slaShortAck)
	bigPages := func(c *cases.Config) { c.PageSize = 1000 }
	e := v.engine(bigPages)
	stale := v.fileMany(moreThanAScan)
	mustCatchUp(t, e)
	if r := v.row(e, stale[0]); !r.NextDue.Equal(at(6, 17, 0)) {
		t.Fatalf("ack due under 1h%s, want Fri 17:00", fmtTimes(r.NextDue))
	}

	v.reopen()
	v.sla = long
	e = v.engine(bigPages)
	y := v.file(at(6, 9, 0), "service", "The queue was long") // ack due Mon 9 17:00
	mustCatchUp(t, e)
	for _, id := range stale {
		if r := v.row(e, id); !r.NextDue.Equal(at(10, 16, 0)) || !r.AckDue.Equal(at(10, 16, 0)) {
			t.Fatalf("case %s after the edit: ack%s next%s, want Tue 10 16:00 for both", id, fmtTimes(r.AckDue), fmtTimes(r.NextDue))
		}
	}
	mustTick(t, e, at(10, 10, 0)) // Y breached since Monday; the others not yet
	mustTick(t, e, at(10, 10, 1))
	if got := len(v.eventsOf(y, event.Escalated)); got != 1 {
		t.Errorf("Y escalations = %d, want 1", got)
	}
	for _, id := range stale {
		if n := len(v.eventsOf(id, event.Escalated)); n != 0 {
			t.Fatalf("case %s escalated %d times before its deadline", id, n)
		}
	}
}

// Rows the scan cannot act on (here written by an engine with another SLA
// config on the same database, after this one checked its config) fill more
// than a page of the scan: Tick still reaches the overdue case behind them,
// and saves the stale rows afresh so they leave the scan.
func TestTickLooksPastRowsItCannotAct(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t)
	e := v.engine(func(c *cases.Config) { c.PageSize = 1000 })
	stale := v.fileMany(moreThanAScan)
	y := v.file(at(6, 9, 0), "service", "The queue was long")
	mustCatchUp(t, e)

	rows := v.allRows()
	for i := range rows {
		if rows[i].ComplaintID != y {
			rows[i].NextDue, rows[i].AckDue = at(6, 17, 0), at(6, 17, 0)
		}
	}
	cursor, err := v.store.CasesCursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.store.SaveCases(ctx, cursor, cursor, rows); err != nil {
		t.Fatal(err)
	}

	mustTick(t, e, at(10, 10, 0))
	if got := len(v.eventsOf(y, event.Escalated)); got != 1 {
		t.Errorf("Y escalations = %d, want 1", got)
	}
	for _, id := range stale {
		if n := len(v.eventsOf(id, event.Escalated)); n != 0 {
			t.Fatalf("case %s escalated %d times before its deadline", id, n)
		}
		if r := v.row(e, id); !r.NextDue.Equal(at(10, 16, 0)) {
			t.Fatalf("case %s after the tick: next%s, want Tue 10 16:00", id, fmtTimes(r.NextDue))
		}
	}
	due, err := v.store.CasesDue(ctx, at(10, 10, 0), storage.DueKey{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 0 {
		t.Errorf("%d rows still due after the tick, want 0", len(due))
	}
}

// A shortened target applies from the first tick after the restart, not
// from the case's next event.
func TestShortenedTargetEscalatesAtNextTick(t *testing.T) {
	v := newEnv(t)
	e := v.engine()
	id := v.file(at(6, 16, 0), "service", "The queue was long")
	mustCatchUp(t, e)
	mustTick(t, e, at(9, 11, 0)) // due Tue 10 16:00 under 16h: nothing yet

	v.reopen()
	v.sla = mustSLA(t, slaShortAck)
	e = v.engine()
	mustTick(t, e, at(9, 11, 0))
	got := v.eventsOf(id, event.Escalated)
	if len(got) != 1 {
		t.Fatalf("escalations at the first tick under 1h = %d, want 1", len(got))
	}
	if esc := decode[event.Escalation](t, got[0]); !strings.HasPrefix(esc.Text, "acknowledgement overdue since Fri 6 Mar 2026 17:00") {
		t.Errorf("escalation text %q, want overdue since Fri 6 Mar 17:00", esc.Text)
	}
}

// countEvents counts ComplaintEvents calls: one per case folded.
type countEvents struct {
	*sqlite.Store
	n atomic.Int64
}

func (c *countEvents) ComplaintEvents(ctx context.Context, id string) ([]storage.StoredEvent, error) {
	c.n.Add(1)
	return c.Store.ComplaintEvents(ctx, id)
}

// An SLA config added to a server that already has cases gives them
// deadlines when the engine starts, before any of them has a new event; a
// restart with the same config refolds nothing; removing it takes the
// deadlines away.
func TestSLAConfigAddedGivesDeadlinesAtStart(t *testing.T) {
	v := newEnv(t)
	withSLA := v.sla
	v.sla = nil
	e := v.engine()
	id := v.file(at(6, 16, 0), "service", "The queue was long")
	mustCatchUp(t, e)
	if r := v.row(e, id); !r.AckDue.IsZero() || !r.NextDue.IsZero() {
		t.Fatalf("without an SLA config: ack%s next%s, want none", fmtTimes(r.AckDue), fmtTimes(r.NextDue))
	}

	v.reopen()
	v.sla = withSLA
	before, err := v.store.CasesConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e = v.engine(func(c *cases.Config) { c.Poll, c.Interval = time.Hour, time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	waitFor(t, "the case's deadline", func() bool {
		r, err := e.Case(ctx, id)
		return err == nil && r.NextDue.Equal(at(10, 16, 0)) && r.AckDue.Equal(at(10, 16, 0))
	})
	// The new config is recorded once every row is refolded.
	waitFor(t, "the new config recorded", func() bool {
		fp, err := v.store.CasesConfig(ctx)
		return err == nil && fp != before
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}

	v.reopen()
	counted := &countEvents{Store: v.store}
	e = v.engine(func(c *cases.Config) { c.Store = counted })
	mustCatchUp(t, e)
	if n := counted.n.Load(); n != 0 {
		t.Errorf("cases folded at a restart with the same config = %d, want 0", n)
	}

	v.reopen()
	v.sla = nil
	e = v.engine()
	mustCatchUp(t, e)
	if r := v.row(e, id); !r.AckDue.IsZero() || !r.NextDue.IsZero() {
		t.Errorf("SLA config removed: ack%s next%s, want none", fmtTimes(r.AckDue), fmtTimes(r.NextDue))
	}
}

// failEvents fails ComplaintEvents for some cases once armed.
type failEvents struct {
	*sqlite.Store
	armed   atomic.Bool
	failing map[string]bool
}

func (f *failEvents) ComplaintEvents(ctx context.Context, id string) ([]storage.StoredEvent, error) {
	if f.armed.Load() && f.failing[id] {
		return nil, errors.New("disk on fire")
	}
	return f.Store.ComplaintEvents(ctx, id)
}

// More than a page of overdue cases that cannot be read: Tick reports them
// and still escalates the overdue case behind them.
func TestTickLooksPastFailingCases(t *testing.T) {
	v := newEnv(t)
	v.sla = mustSLA(t, slaShortAck)
	store := &failEvents{Store: v.store, failing: map[string]bool{}}
	e := v.engine(func(c *cases.Config) { c.Store, c.PageSize = store, 1000 })
	for _, id := range v.fileMany(moreThanAScan) { // due Fri 17:00
		store.failing[id] = true
	}
	y := v.file(at(6, 16, 30), "service", "The queue was long") // due Mon 9 09:30
	mustCatchUp(t, e)
	store.armed.Store(true)
	if err := e.Tick(context.Background(), at(9, 10, 0)); err == nil {
		t.Error("Tick with unreadable cases: no error")
	}
	if got := len(v.eventsOf(y, event.Escalated)); got != 1 {
		t.Errorf("Y escalations = %d, want 1", got)
	}
}
