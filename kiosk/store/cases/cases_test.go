package cases_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
)

var (
	ana = event.Actor{Kind: event.ActorStaff, ID: "ana"}
	ben = event.Actor{Kind: event.ActorStaff, ID: "ben"}
)

const branchScope = "branch:Main"

// staffEvent makes an event of typ on complaintID by actor, on the test
// clock, with data (if not nil) as its payload.
func staffEvent(tb testing.TB, complaintID string, typ event.Type, actor event.Actor, data any) event.Event {
	tb.Helper()
	e := event.Event{ID: uid.New(), ComplaintID: complaintID, Type: typ, Actor: actor,
		At: clock.Now(), Branch: "Main"}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			tb.Fatal(err)
		}
		e.Data = b
	}
	return e
}

func mustAct(tb testing.TB, st db, e event.Event) lifecycle.Case {
	tb.Helper()
	c, err := st.Act(context.Background(), e)
	if err != nil {
		tb.Fatalf("act %s: %v", e.Type, err)
	}
	return c
}

func mustCases(tb testing.TB, st db, f cases.Filter) []cases.Row {
	tb.Helper()
	rows, err := st.Cases(context.Background(), f)
	if err != nil {
		tb.Fatalf("cases %+v: %v", f, err)
	}
	return rows
}

// mustRow returns the queue row of complaintID.
func mustRow(tb testing.TB, st db, complaintID string) cases.Row {
	tb.Helper()
	for _, r := range mustCases(tb, st, cases.Filter{}) {
		if r.ComplaintID == complaintID {
			return r
		}
	}
	tb.Fatalf("no row for complaint %s", complaintID)
	return cases.Row{}
}

func ids(rows []cases.Row) []string {
	out := []string{}
	for _, r := range rows {
		out = append(out, r.ComplaintID)
	}
	return out
}

// fileAt files a complaint filed at the given time with the given text.
func fileAt(tb testing.TB, st db, filed time.Time, category, description string) complaint.Complaint {
	tb.Helper()
	id := mustIdentity(tb, st)
	c, _ := newFiling(tb, id, false)
	c.FiledAt, c.Category, c.Description = filed.UTC().Truncate(time.Millisecond), category, description
	e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: id.DeviceID}, clock.Now())
	if err != nil {
		tb.Fatal(err)
	}
	mustFile(tb, st, c, e)
	return c
}

func TestFileMakesRow(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	c, e := newFiling(t, mustIdentity(t, st), true)
	c.Description = "  Charged\ttwice\nfor one order. " + strings.Repeat("Then again. ", 20)
	e, err := event.NewFiled(c, e.Actor, e.At)
	if err != nil {
		t.Fatal(err)
	}
	mustFile(t, st, c, e)

	got := mustRow(t, st, c.ID)
	want := cases.Row{
		ComplaintID: c.ID, Code: c.Code, State: lifecycle.Received, Category: "billing",
		FiledAt: c.FiledAt, NextStep: sla.StepAcknowledge,
		DueAt:    mustPromise(t, e.At.Time(), c.Category)[0],
		Unsynced: 1, UpdatedAt: e.At.Time(),
	}
	if !got.DueAt.Equal(want.DueAt) {
		t.Errorf("due: got %v, want %v", got.DueAt, want.DueAt)
	}
	got.DueAt = want.DueAt
	summary := got.Summary
	got.Summary = ""
	if !reflect.DeepEqual(got, want) {
		t.Errorf("row:\n got %+v\nwant %+v", got, want)
	}
	if n := len([]rune(summary)); n != 120 || !strings.HasPrefix(summary, "Charged twice for one order. Then again.") ||
		!strings.HasSuffix(summary, "…") {
		t.Errorf("summary: got %q (%d runes), want the description on one line, cut to 120 runes", summary, n)
	}
	if got.Overdue(want.DueAt) || !got.Overdue(want.DueAt.Add(time.Second)) {
		t.Error("Overdue: want false at the due time, true after it")
	}
	counts, err := st.CaseCounts(ctx)
	if want := map[lifecycle.State]int{lifecycle.Received: 1}; err != nil || !reflect.DeepEqual(counts, want) {
		t.Errorf("counts: got %v, %v, want %v", counts, err, want)
	}
}

func TestCasesOrderAndFilters(t *testing.T) {
	ctx := context.Background()
	// Due dates set by the test: a case's due date is what dues holds.
	dues := map[string]time.Time{}
	path := filepath.Join(t.TempDir(), "kiosk.db")
	st := mustOpenWith(t, path, cases.Options{
		Deadline: func(c *lifecycle.Case, events []event.Event) (sla.Step, time.Time) {
			if len(events) == 0 || events[0].Type != event.Filed {
				t.Errorf("deadline: got events %v, want the log from its Filed event", events)
			}
			if due, ok := dues[c.Complaint.Description]; ok {
				return sla.StepRespond, due
			}
			return sla.StepNone, time.Time{}
		},
	})

	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	dues["a"] = t0.Add(3 * time.Hour)
	dues["b"] = t0.Add(time.Hour)
	dues["d"] = t0.Add(time.Hour)
	a := fileAt(t, st, t0, "billing", "a")
	b := fileAt(t, st, t0.Add(time.Minute), "billing", "b")
	c := fileAt(t, st, t0, "card", "c") // nothing due: last
	d := fileAt(t, st, t0.Add(2*time.Minute), "card", "d")
	e := fileAt(t, st, t0, "card", "e") // nothing due, filed as a: by id

	noneDue := []string{c.ID, e.ID}
	if e.ID < c.ID {
		noneDue = []string{e.ID, c.ID}
	}
	wantAll := append([]string{b.ID, d.ID, a.ID}, noneDue...)
	if got := ids(mustCases(t, st, cases.Filter{})); !reflect.DeepEqual(got, wantAll) {
		t.Errorf("order: got %v, want %v", got, wantAll)
	}

	mustAct(t, st, staffEvent(t, a.ID, event.Acknowledged, ana, nil))
	mustAct(t, st, staffEvent(t, a.ID, event.Assessed, ana, event.Assessment{Severity: event.SeverityHigh, Priority: 2}))
	mustAct(t, st, staffEvent(t, a.ID, event.Assigned, ana, event.Assignment{Queue: "billing"}))
	mustAct(t, st, staffEvent(t, d.ID, event.Acknowledged, ana, nil))

	for _, tc := range []struct {
		name string
		f    cases.Filter
		want []string
	}{
		{"states", cases.Filter{States: []lifecycle.State{lifecycle.Assessed, lifecycle.Acknowledged}}, []string{d.ID, a.ID}},
		{"one state", cases.Filter{States: []lifecycle.State{lifecycle.Received}}, append([]string{b.ID}, noneDue...)},
		{"category", cases.Filter{Category: "billing"}, []string{b.ID, a.ID}},
		{"priority", cases.Filter{Priority: 2}, []string{a.ID}},
		{"queue", cases.Filter{Queue: "billing"}, []string{a.ID}},
		{"queue and category", cases.Filter{Queue: "billing", Category: "card"}, []string{}},
		{"limit", cases.Filter{Limit: 2}, wantAll[:2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(mustCases(t, st, tc.f)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	row := mustRow(t, st, a.ID)
	if row.State != lifecycle.Assessed || row.Priority != 2 || row.Severity != event.SeverityHigh ||
		row.Queue != "billing" || row.Unsynced != 4 || row.NextStep != sla.StepRespond || !row.DueAt.Equal(dues["a"]) {
		t.Errorf("row after actions: got %+v", row)
	}
	counts, err := st.CaseCounts(ctx)
	want := map[lifecycle.State]int{lifecycle.Received: 3, lifecycle.Acknowledged: 1, lifecycle.Assessed: 1}
	if err != nil || !reflect.DeepEqual(counts, want) {
		t.Errorf("counts: got %v, %v, want %v", counts, err, want)
	}
}

func TestCasesSearch(t *testing.T) {
	st, _ := MustOpen(t)
	now := time.Now()
	twice := fileAt(t, st, now, "billing", "Charged TWICE for one order of 1000 cups; I want a refund.")
	card := fileAt(t, st, now, "card services", "The card machine kept my card.")
	percent := fileAt(t, st, now, "fees", "I am 100% sure the fee_rate is wrong.")
	french := fileAt(t, st, now, "guichet", "L'ÉCRAN de la borne est illisible.")
	codeOf := func(c complaint.Complaint) string { return trackcode.Code(c.Code).String() }

	for _, tc := range []struct {
		search string
		want   []complaint.Complaint
	}{
		{strings.ToLower(codeOf(card)), []complaint.Complaint{card}}, // grouped, lower case
		{" " + strings.ReplaceAll(codeOf(twice), "-", " ") + " ", []complaint.Complaint{twice}},
		{codeOf(card)[:9], []complaint.Complaint{card}},               // a prefix with a dash
		{strings.ToLower(card.Code[:8]), []complaint.Complaint{card}}, // a prefix, lower case
		{"twice refund", []complaint.Complaint{twice}},                // all words, any case
		{"refund twice missing", nil},                                 // one word missing
		{"card", []complaint.Complaint{card}},                         // code symbols, read as a word too
		{"SERVICES", []complaint.Complaint{card}},                     // the category
		{"100%", []complaint.Complaint{percent}},                      // % is literal
		{"e_i", nil},                                                  // _ is literal: "rate is" does not match
		{"fee_rate", []complaint.Complaint{percent}},
		{"écran", []complaint.Complaint{french}}, // lower-cased beyond ASCII
	} {
		got := ids(mustCases(t, st, cases.Filter{Search: tc.search}))
		want := ids(nil)
		for _, c := range tc.want {
			want = append(want, c.ID)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("search %q: got %v, want %v", tc.search, got, want)
		}
	}
	// A whole code with a typo finds nothing rather than everything.
	typo := []byte(card.Code)
	typo[5] = map[bool]byte{true: 'X', false: 'Y'}[typo[5] != 'X']
	if got := mustCases(t, st, cases.Filter{Search: string(typo)}); len(got) != 0 {
		t.Errorf("code with a typo: got %d rows, want none", len(got))
	}
}

func TestActRecordsAndRefreshes(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	c, e := newFiling(t, mustIdentity(t, st), false)
	mustFile(t, st, c, e)
	changes, cancel := st.Changes()
	defer cancel()

	ack := staffEvent(t, c.ID, event.Acknowledged, ana, nil)
	got := mustAct(t, st, ack)
	if got.State != lifecycle.Acknowledged || got.AcknowledgedAt != ack.At || got.ID != c.ID {
		t.Errorf("case: got %+v, want acknowledged at %v", got, ack.At)
	}
	awaitChange(t, changes)
	row := mustRow(t, st, c.ID)
	if row.State != lifecycle.Acknowledged || row.Unsynced != 2 || row.NextStep != sla.StepRespond ||
		!row.DueAt.Equal(mustPromise(t, e.At.Time(), c.Category)[1]) || !row.UpdatedAt.Equal(ack.At.Time()) {
		t.Errorf("row: got %+v", row)
	}
	out, err := st.OutboxAfter(ctx, 0, 10)
	if err != nil || len(out) != 2 || !reflect.DeepEqual(out[1].Event, ack) {
		t.Errorf("outbox: got %+v, %v, want the filing and the acknowledgement", out, err)
	}
	// What was filed and what was done can be read back the same.
	evs, err := st.Events(ctx, c.ID)
	if err != nil || !reflect.DeepEqual(evs, []event.Event{e, ack}) {
		t.Errorf("events: got %+v, %v", evs, err)
	}
}

func TestActRefuses(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	c, e := newFiling(t, mustIdentity(t, st), false)
	mustFile(t, st, c, e)
	before := mustRow(t, st, c.ID)

	allowedErr := lifecycle.Allowed(lifecycle.Received, event.Closed).(*lifecycle.Error)
	for _, tc := range []struct {
		name    string
		e       event.Event
		code    lifecycle.Code
		message string
	}{
		{"forbidden in the state", staffEvent(t, c.ID, event.Closed, ana, event.Closure{}),
			lifecycle.NotAllowed, allowedErr.Message},
		{"filed again", staffEvent(t, c.ID, event.Filed, ana, c),
			lifecycle.NotAllowed, "the complaint has already been filed"},
		{"invalid payload", staffEvent(t, c.ID, event.Escalated, ana, event.Escalation{Level: -1}),
			lifecycle.InvalidData, "negative"},
		{"unreadable note", func() event.Event {
			n := staffEvent(t, c.ID, event.NoteAdded, ana, nil)
			n.Data = json.RawMessage(`{"text":`)
			return n
		}(), lifecycle.InvalidData, "could not be read"},
		{"older than the log", func() event.Event {
			n := staffEvent(t, c.ID, event.NoteAdded, ana, event.Text{Text: "late"})
			n.At = e.At - 1
			return n
		}(), lifecycle.OutOfOrder, "newer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := st.Act(ctx, tc.e)
			var le *lifecycle.Error
			if !errors.As(err, &le) || le.Code != tc.code || !strings.Contains(le.Message, tc.message) {
				t.Fatalf("got %v, want a *lifecycle.Error %s saying %q", err, tc.code, tc.message)
			}
			if errors.Is(err, store.ErrUnavailable) {
				t.Error("a refusal reads as storage unavailable")
			}
			if got.State != lifecycle.Received || got.ID != c.ID {
				t.Errorf("case with the refusal: got %+v, want it as it stands", got)
			}
		})
	}
	if evs, _ := st.Events(ctx, c.ID); len(evs) != 1 {
		t.Errorf("events after refusals: got %d, want 1", len(evs))
	}
	if n, _ := st.OutboxCount(ctx); n != 1 {
		t.Errorf("outbox after refusals: got %d, want 1", n)
	}
	if after := mustRow(t, st, c.ID); !reflect.DeepEqual(after, before) {
		t.Errorf("row after refusals: got %+v, want unchanged %+v", after, before)
	}

	unknown := staffEvent(t, uid.New(), event.Acknowledged, ana, nil)
	if _, err := st.Act(ctx, unknown); !errors.Is(err, cases.ErrNoCase) {
		t.Errorf("unknown complaint: got %v, want ErrNoCase", err)
	}
	if _, err := st.CaseDetail(ctx, unknown.ComplaintID); !errors.Is(err, cases.ErrNoCase) {
		t.Errorf("detail of unknown complaint: got %v, want ErrNoCase", err)
	}
}

// An action survives the program being killed right after Act returns:
// the event, its outbox entry and the row are there on the next start.
func TestActSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	st, path := MustOpen(t)
	c, e := newFiling(t, mustIdentity(t, st), false)
	mustFile(t, st, c, e)
	ack := staffEvent(t, c.ID, event.Acknowledged, ana, nil)
	mustAct(t, st, ack)

	// Killed: no Close, so nothing is checkpointed; the next program opens
	// the files as they are.
	st = MustOpenPath(t, path)
	out, err := st.OutboxAfter(ctx, 0, 10)
	if err != nil || len(out) != 2 || out[1].Event.ID != ack.ID {
		t.Errorf("outbox after restart: got %+v, %v, want the acknowledgement second", out, err)
	}
	if row := mustRow(t, st, c.ID); row.State != lifecycle.Acknowledged || row.Unsynced != 2 {
		t.Errorf("row after restart: got %+v", row)
	}
}

func TestActUnavailable(t *testing.T) {
	ctx := context.Background()
	st, path := MustOpen(t)
	c, e := newFiling(t, mustIdentity(t, st), false)
	mustFile(t, st, c, e)

	other := rawDB(t, path)
	tx, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO sync_status (key, value) VALUES ('x', 'y')`); err != nil {
		t.Fatal(err)
	}
	ack := staffEvent(t, c.ID, event.Acknowledged, ana, nil)
	_, err = st.Act(ctx, ack)
	if !errors.Is(err, store.ErrUnavailable) || !store.Unavailable(err) {
		t.Fatalf("act while locked: got %v, want ErrUnavailable", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if row := mustRow(t, st, c.ID); row.State != lifecycle.Received || row.Unsynced != 1 {
		t.Errorf("row after failed act: got %+v, want unchanged", row)
	}
	mustAct(t, st, ack) // the same action, tried again
}

// Two terminals acknowledge the same case while apart: the earlier one
// wins everywhere, and the later one's author is told.
func TestConcurrentActionRefused(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	c, filed := newFiling(t, mustIdentity(t, st), false)
	mustFile(t, st, c, filed)

	mine := staffEvent(t, c.ID, event.Acknowledged, ana, nil)
	mine.At = filed.At + 10
	mustAct(t, st, mine)
	if got, err := st.RefusedActions(ctx, "ana"); err != nil || len(got) != 0 {
		t.Fatalf("refused before the conflict: got %+v, %v", got, err)
	}

	theirs := staffEvent(t, c.ID, event.Acknowledged, ben, nil)
	theirs.At = filed.At + 5
	note := staffEvent(t, c.ID, event.NoteAdded, ben, event.Text{Text: "called"})
	if err := st.ApplyRemote(ctx, branchScope, 0, 2, []event.Event{theirs, note}); err != nil {
		t.Fatal(err)
	}
	row := mustRow(t, st, c.ID)
	if row.State != lifecycle.Acknowledged || row.Refused != 1 || row.Unsynced != 2 {
		t.Errorf("row: got %+v, want acknowledged, 1 refused, 2 unsynced", row)
	}
	got, err := st.RefusedActions(ctx, "ana")
	if err != nil || len(got) != 1 {
		t.Fatalf("refused actions of ana: got %+v, %v, want 1", got, err)
	}
	r := got[0]
	if r.ComplaintID != c.ID || r.Code != c.Code || r.Rejection.EventID != mine.ID ||
		r.Rejection.Code != lifecycle.NotAllowed || r.Rejection.Actor != ana || r.Rejection.Reason == "" {
		t.Errorf("refused action: got %+v", r)
	}
	if got, err := st.RefusedActions(ctx, "ben"); err != nil || len(got) != 0 {
		t.Errorf("refused actions of ben: got %+v, %v, want none", got, err)
	}
	d, err := st.CaseDetail(ctx, c.ID)
	if err != nil || d.Case.AcknowledgedAt != theirs.At || len(d.Case.Rejected) != 1 || len(d.Events) != 4 {
		t.Errorf("detail: got %+v, %v", d.Case, err)
	}
}

// Events of a complaint that arrive before its Filed event make no row;
// the Filed event's batch makes it, with them.
func TestApplyRemoteBeforeFiled(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	c, filed := remoteFiling(t)
	ack := staffEvent(t, c.ID, event.Acknowledged, ben, nil)
	esc := staffEvent(t, c.ID, event.Escalated, ben, event.Escalation{Text: "vip"})
	if err := st.ApplyRemote(ctx, "team:billing", 0, 2, []event.Event{esc, ack}); err != nil {
		t.Fatal(err)
	}
	if rows := mustCases(t, st, cases.Filter{}); len(rows) != 0 {
		t.Errorf("rows before the Filed event: got %+v, want none", rows)
	}
	if _, err := st.CaseDetail(ctx, c.ID); !errors.Is(err, cases.ErrNoCase) {
		t.Errorf("detail before the Filed event: got %v, want ErrNoCase", err)
	}
	if _, err := st.Act(ctx, staffEvent(t, c.ID, event.NoteAdded, ana, event.Text{Text: "x"})); !errors.Is(err, cases.ErrNoCase) {
		t.Errorf("act before the Filed event: got %v, want ErrNoCase", err)
	}
	changes, cancel := st.Changes()
	defer cancel()
	if err := st.ApplyRemote(ctx, branchScope, 0, 1, []event.Event{filed}); err != nil {
		t.Fatal(err)
	}
	awaitChange(t, changes)
	row := mustRow(t, st, c.ID)
	if row.State != lifecycle.Acknowledged || !row.Escalated || row.Refused != 0 || row.Unsynced != 0 ||
		!row.UpdatedAt.Equal(esc.At.Time()) {
		t.Errorf("row: got %+v, want acknowledged and escalated, nothing refused or unsynced", row)
	}
}

// A catch-up batch holding many events of many cases leaves every row as
// folding each log would.
func TestApplyRemoteBatch(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	var batch []event.Event
	want := map[string]lifecycle.State{}
	for i := range 100 {
		c, filed := remoteFiling(t)
		batch = append(batch, filed)
		want[c.ID] = lifecycle.Received
		if i%2 == 0 {
			batch = append(batch, staffEvent(t, c.ID, event.Acknowledged, ben, nil),
				staffEvent(t, c.ID, event.Assessed, ben, event.Assessment{Severity: event.SeverityLow, Priority: 4}))
			want[c.ID] = lifecycle.Assessed
		}
		for range 5 {
			batch = append(batch, staffEvent(t, c.ID, event.NoteAdded, ben, event.Text{Text: "n"}))
		}
	}
	if err := st.ApplyRemote(ctx, branchScope, 0, int64(len(batch)), batch); err != nil {
		t.Fatal(err)
	}
	rows := mustCases(t, st, cases.Filter{})
	got := map[string]lifecycle.State{}
	for _, r := range rows {
		got[r.ComplaintID] = r.State
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("states: got %v, want %v", got, want)
	}
}

func TestUnsyncedFollowsOutbox(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	c, filed := newFiling(t, mustIdentity(t, st), false)
	mustFile(t, st, c, filed)                                                                                      // seq 1
	ack := staffEvent(t, c.ID, event.Acknowledged, ana, nil)                                                       //
	mustAct(t, st, ack)                                                                                            // seq 2
	assess := staffEvent(t, c.ID, event.Assessed, ana, event.Assessment{Severity: event.SeverityLow, Priority: 3}) //
	mustAct(t, st, assess)                                                                                         // seq 3
	other, otherFiled := newFiling(t, mustIdentity(t, st), false)
	mustFile(t, st, other, otherFiled) // seq 4

	unsynced := func(want, wantOther int) {
		t.Helper()
		if got := mustRow(t, st, c.ID).Unsynced; got != want {
			t.Errorf("unsynced: got %d, want %d", got, want)
		}
		if got := mustRow(t, st, other.ID).Unsynced; got != wantOther {
			t.Errorf("unsynced of the other case: got %d, want %d", got, wantOther)
		}
	}
	unsynced(3, 1)
	changes, cancel := st.Changes()
	defer cancel()
	if err := st.AckOutbox(ctx, 1); err != nil {
		t.Fatal(err)
	}
	awaitChange(t, changes)
	unsynced(2, 1)
	if err := st.AckOutbox(ctx, 1); err != nil { // again: harmless
		t.Fatal(err)
	}
	unsynced(2, 1)
	if err := st.Quarantine(ctx, 3, assess.ID, 4006, "invalid assessment"); err != nil {
		t.Fatal(err)
	}
	awaitChange(t, changes)
	unsynced(1, 1)
	d, err := st.CaseDetail(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]bool{ack.ID: true}; !reflect.DeepEqual(d.Unsynced, want) {
		t.Errorf("detail unsynced: got %v, want %v", d.Unsynced, want)
	}
	if want := map[string]string{assess.ID: "invalid assessment"}; !reflect.DeepEqual(d.Quarantined, want) {
		t.Errorf("detail quarantined: got %v, want %v", d.Quarantined, want)
	}
	if err := st.AckOutbox(ctx, 100); err != nil {
		t.Fatal(err)
	}
	unsynced(0, 0)
}

func TestCaseDetail(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	c, filed := newFiling(t, mustIdentity(t, st), true)
	mustFile(t, st, c, filed)
	ack := mustActEvent(t, st, staffEvent(t, c.ID, event.Acknowledged, ana, nil))
	req := mustActEvent(t, st, staffEvent(t, c.ID, event.InfoRequested, ana, event.Text{Text: "Which card?"}))

	d, err := st.CaseDetail(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d.Complaint, c) {
		t.Errorf("complaint: got %+v, want %+v", d.Complaint, c)
	}
	if !reflect.DeepEqual(d.Events, []event.Event{filed, ack, req}) {
		t.Errorf("events: got %+v", d.Events)
	}
	want, err := lifecycle.Fold(d.Events)
	if err != nil || !reflect.DeepEqual(d.Case, want) {
		t.Errorf("case: got %+v, want the fold %+v (%v)", d.Case, want, err)
	}
	if !d.Case.WaitingOnCustomer || d.NextStep != sla.StepNone || !d.DueAt.IsZero() {
		t.Errorf("waiting on the customer: got waiting %v, step %q due %v, want nothing due", d.Case.WaitingOnCustomer, d.NextStep, d.DueAt)
	}
	if want := map[string]bool{filed.ID: true, ack.ID: true, req.ID: true}; !reflect.DeepEqual(d.Unsynced, want) {
		t.Errorf("unsynced: got %v, want %v", d.Unsynced, want)
	}
	if len(d.Quarantined) != 0 {
		t.Errorf("quarantined: got %v, want none", d.Quarantined)
	}
	if row := mustRow(t, st, c.ID); !row.Waiting || row.NextStep != sla.StepNone || !row.DueAt.IsZero() {
		t.Errorf("row: got %+v, want waiting with nothing due", row)
	}

	// A case whose complaint has no row (its code clashed) still shows,
	// from its Filed event.
	clash, clashFiled := remoteFiling(t)
	clash.Code = c.Code
	clashFiled, err = event.NewFiled(clash, clashFiled.Actor, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.ApplyRemote(ctx, branchScope, 0, 1, []event.Event{clashFiled}); err != nil {
		t.Fatal(err)
	}
	d, err = st.CaseDetail(ctx, clash.ID)
	if err != nil || !reflect.DeepEqual(d.Complaint, clash) {
		t.Errorf("clashing complaint: got %+v, %v, want %+v", d.Complaint, err, clash)
	}
	if rows := mustCases(t, st, cases.Filter{}); len(rows) != 2 {
		t.Errorf("rows: got %d, want 2, the clashing complaint's included", len(rows))
	}
}

func mustActEvent(tb testing.TB, st db, e event.Event) event.Event {
	tb.Helper()
	mustAct(tb, st, e)
	return e
}

// awaitChange waits for a signal on ch, and then checks that no second one
// is waiting: signals coalesce.
func awaitChange(tb testing.TB, ch <-chan struct{}) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		tb.Fatal("no change signalled")
	}
	select {
	case <-ch:
		tb.Fatal("a second signal was waiting")
	default:
	}
}

func noChange(tb testing.TB, ch <-chan struct{}) {
	tb.Helper()
	select {
	case <-ch:
		tb.Fatal("a change was signalled")
	default:
	}
}

func TestChanges(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	first, cancelFirst := st.Changes()
	second, cancelSecond := st.Changes()
	defer cancelSecond()
	noChange(t, first)

	id := mustIdentity(t, st)
	c, e := newFiling(t, id, false)
	mustFile(t, st, c, e)
	// Several commits while nobody reads: one signal waits.
	mustAct(t, st, staffEvent(t, c.ID, event.Acknowledged, ana, nil))
	mustAct(t, st, staffEvent(t, c.ID, event.NoteAdded, ana, event.Text{Text: "x"}))
	awaitChange(t, first)
	awaitChange(t, second)

	// Nothing changed: no signal.
	if err := st.AckOutbox(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := st.ApplyRemote(ctx, branchScope, 0, 3, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.ApplyRemote(ctx, branchScope, 3, 4, []event.Event{e}); err != nil { // held already
		t.Fatal(err)
	}
	noChange(t, first)
	noChange(t, second)

	if _, err := st.SaveDirectory(ctx, testDirectory(t, 1)); err != nil {
		t.Fatal(err)
	}
	awaitChange(t, first)
	awaitChange(t, second)

	cancelFirst()
	cancelFirst() // harmless
	mustAct(t, st, staffEvent(t, c.ID, event.NoteAdded, ana, event.Text{Text: "y"}))
	noChange(t, first)
	awaitChange(t, second)
}

func TestRebuildCases(t *testing.T) {
	ctx := context.Background()
	st, path := MustOpen(t)
	for range 3 {
		c, e := newFiling(t, mustIdentity(t, st), false)
		mustFile(t, st, c, e)
	}
	st.Close()
	// A new policy: nothing is ever due.
	st = mustOpenWith(t, path, cases.Options{
		Deadline: func(*lifecycle.Case, []event.Event) (sla.Step, time.Time) { return sla.StepNone, time.Time{} },
	})
	for _, r := range mustCases(t, st, cases.Filter{}) {
		if r.DueAt.IsZero() {
			t.Fatalf("row before rebuild: got %+v, want the old due date kept", r)
		}
	}
	if n, err := st.RebuildCases(ctx); err != nil || n != 3 {
		t.Fatalf("rebuild: got %d, %v, want 3", n, err)
	}
	for _, r := range mustCases(t, st, cases.Filter{}) {
		if !r.DueAt.IsZero() || r.NextStep != sla.StepNone || r.Unsynced != 1 {
			t.Errorf("row after rebuild: got %+v, want nothing due", r)
		}
	}
}

// mustPromise is the default rules' receipt dates for a filing at filed:
// acknowledge by, answer by.
func mustPromise(tb testing.TB, filed time.Time, category string) [2]time.Time {
	tb.Helper()
	cfg, err := sla.Fallback(2, 15, time.Local)
	if err != nil {
		tb.Fatal(err)
	}
	ack, resp, err := cfg.Promise("", category, filed)
	if err != nil {
		tb.Fatal(err)
	}
	return [2]time.Time{ack, resp}
}
