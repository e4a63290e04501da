package model_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/staffui/model"
	"ombud/kiosk/store/cases"
	"ombud/kiosk/termapp/keys"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/lifecycle"
	"ombud/shared/staff"
)

func types(as []model.CaseAction) []event.Type {
	out := make([]event.Type, len(as))
	for i, a := range as {
		out[i] = a.Type
	}
	return out
}

func TestOfferedFollowsLifecycleAndRole(t *testing.T) {
	for _, tc := range []struct {
		state lifecycle.State
		role  staff.Role
		want  []event.Type
	}{
		{lifecycle.Received, staff.Agent, []event.Type{event.Acknowledged, event.NoteAdded, event.MessageSent,
			event.Assigned, event.Escalated}},
		{lifecycle.Assessed, staff.Agent, []event.Type{event.Assessed, event.InvestigationBegan, event.NoteAdded,
			event.MessageSent, event.InfoRequested, event.Assigned, event.Escalated, event.Responded, event.RootCauseSet}},
		{lifecycle.Closed, staff.Agent, []event.Type{event.NoteAdded, event.MessageSent, event.RootCauseSet}},
		{lifecycle.Closed, staff.Supervisor, []event.Type{event.NoteAdded, event.MessageSent, event.Reopened, event.RootCauseSet}},
		{lifecycle.Responded, staff.Role("visitor"), nil},
	} {
		t.Run(string(tc.state)+"/"+string(tc.role), func(t *testing.T) {
			got := types(model.Offered(tc.state, tc.role))
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			for _, typ := range got {
				if lifecycle.Allowed(tc.state, typ) != nil || !staff.Can(tc.role, typ) {
					t.Errorf("%s offered but not allowed", typ)
				}
				if why := model.Refusal(model.English, tc.state, tc.role, typ); why != "" {
					t.Errorf("%s offered, yet refused: %s", typ, why)
				}
			}
		})
	}
}

func TestNoCustomerActions(t *testing.T) {
	for _, a := range model.CaseActions() {
		switch a.Type {
		case event.Filed, event.InfoProvided, event.SatisfactionRated:
			t.Errorf("%s is the customer's, but staff are offered it", a.Type)
		}
	}
	if why := model.Refusal(model.English, lifecycle.Responded, staff.Supervisor, event.SatisfactionRated); !strings.Contains(why, "customer") {
		t.Errorf("rating refusal %q", why)
	}
}

func TestRefusalSaysWhy(t *testing.T) {
	if got, want := model.Refusal(model.English, lifecycle.Closed, staff.Agent, event.Reopened), "only a supervisor may do this"; got != want {
		t.Errorf("agent reopen: got %q, want %q", got, want)
	}
	if got := model.Refusal(model.English, lifecycle.Received, staff.Supervisor, event.Responded); !strings.Contains(got, "after assessment") {
		t.Errorf("respond on receipt: got %q", got)
	}
	// The state answers first when neither allows it.
	if got := model.Refusal(model.English, lifecycle.Investigating, staff.Agent, event.Reopened); got != "only a closed case can be reopened" {
		t.Errorf("agent reopen of open case: got %q", got)
	}
}

func TestHotkeysUniqueAndBound(t *testing.T) {
	var got model.Command // what the last key pressed asked for
	do := func(c model.Command) { got = c }
	for _, s := range []model.Screen{model.SignIn, model.Queue, model.Case, model.Form, model.Search, model.Help, model.Notice, model.Result} {
		seen := map[keys.Key]string{}
		for _, b := range model.Keymap(s, true, do) {
			for _, k := range b.Keys {
				if prev, ok := seen[k]; ok && prev != b.Desc {
					t.Errorf("%s: key %s bound to %q and %q", s, k, prev, b.Desc)
				}
				seen[k] = b.Desc
			}
		}
	}
	bs := model.Keymap(model.Case, false, do)
	for _, a := range model.CaseActions() {
		got = model.Command{}
		b, ok := keys.Lookup(bs, tcell.NewEventKey(tcell.KeyRune, a.Key, tcell.ModNone))
		if ok {
			b.Action()
		}
		if !ok || got.Action != model.ActCaseAction || got.Event != a.Type {
			t.Errorf("key %c: got %+v, want %s", a.Key, got, a.Type)
		}
	}
	if _, ok := keys.Lookup(bs, tcell.NewEventKey(tcell.KeyCtrlQ, 0, tcell.ModCtrl)); ok {
		t.Error("Ctrl-Q bound although quitting is off")
	}
	got = model.Command{}
	b, ok := keys.Lookup(model.Keymap(model.Queue, true, do), tcell.NewEventKey(tcell.KeyCtrlQ, 'q', tcell.ModCtrl))
	if ok {
		b.Action()
	}
	if !ok || got.Action != model.ActQuit {
		t.Errorf("Ctrl-Q with quitting on: %+v", got)
	}
	if got := model.Hints(model.Keymap(model.Queue, false, do)); got != "Enter open · / search · f filter · n new · ? help · q sign out" {
		t.Errorf("queue hints: %q", got)
	}
}

// TestCaseActionOf: the help finds the case action behind each of the case
// screen's action keys, and none behind another screen's key of the same
// letter (n is a note on a case, a new complaint on the queue).
func TestCaseActionOf(t *testing.T) {
	do := func(model.Command) {}
	found := map[event.Type]bool{}
	for _, b := range model.Keymap(model.Case, true, do) {
		if a, ok := model.CaseActionOf(model.Case, b); ok {
			if b.Desc != a.Desc {
				t.Errorf("binding %q: found %s", b.Desc, a.Type)
			}
			found[a.Type] = true
		}
	}
	for _, a := range model.CaseActions() {
		if !found[a.Type] {
			t.Errorf("no case screen binding records %s", a.Type)
		}
	}
	for _, b := range model.Keymap(model.Queue, true, do) {
		if a, ok := model.CaseActionOf(model.Queue, b); ok {
			t.Errorf("queue binding %q taken for %s", b.Desc, a.Type)
		}
	}
}

func TestPayloads(t *testing.T) {
	at := hlc.Make(time.Date(2026, 5, 12, 14, 0, 0, 0, time.UTC).UnixMilli(), 0)
	meta := model.Meta{ComplaintID: "c1", Branch: "main", Actor: "ann", At: at}
	act := func(typ event.Type) model.CaseAction {
		a, ok := model.ActionFor(typ)
		if !ok {
			t.Fatalf("no action for %s", typ)
		}
		return a
	}
	for _, tc := range []struct {
		typ     event.Type
		in      model.Input
		want    string // JSON data; "" none
		wantErr model.Field
	}{
		{typ: event.Acknowledged},
		{typ: event.Assessed, in: model.Input{Severity: event.SeverityHigh, Priority: 2, Category: " billing "},
			want: `{"severity":"high","priority":2,"category":"billing"}`},
		{typ: event.Assessed, in: model.Input{Severity: event.SeverityHigh}, wantErr: model.FieldPriority},
		{typ: event.Assessed, in: model.Input{Priority: 1}, wantErr: model.FieldSeverity},
		{typ: event.NoteAdded, in: model.Input{Text: " \x1b[31mcalled\x1b[0m back\r\n "}, want: `{"text":"called back"}`},
		{typ: event.NoteAdded, in: model.Input{Text: "  "}, wantErr: model.FieldText},
		{typ: event.Assigned, in: model.Input{Queue: "billing-2"}, want: `{"queue":"billing-2"}`},
		{typ: event.Assigned, wantErr: model.FieldQueue},
		{typ: event.Escalated, in: model.Input{Text: "angry"}, want: `{"text":"angry"}`},
		{typ: event.Closed, in: model.Input{Accepted: model.Accepted}, want: `{"customer_accepted":true}`},
		{typ: event.Closed, in: model.Input{Accepted: model.Declined, Text: "ombudsman"}, want: `{"customer_accepted":false,"text":"ombudsman"}`},
		{typ: event.Closed, want: `{}`},
		{typ: event.Closed, in: model.Input{Accepted: model.Accepted, RootCause: "equipment"}, want: `{"customer_accepted":true,"root_cause":"equipment"}`},
		{typ: event.Closed, in: model.Input{RootCause: "gremlins"}, wantErr: model.FieldRootCause},
		{typ: event.RootCauseSet, in: model.Input{Text: strings.Repeat("x", model.MaxText+1)}, wantErr: model.FieldText},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			e, err := model.NewEvent(act(tc.typ), tc.in, meta)
			if tc.want == "" && tc.typ != event.Acknowledged {
				ie, ok := errors.AsType[*model.InputError](err)
				if !ok || ie.Field != tc.wantErr {
					t.Fatalf("got %v, want an error on field %d", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(e.Data) != tc.want {
				t.Errorf("data: got %s, want %s", e.Data, tc.want)
			}
			if e.Type != tc.typ || e.ComplaintID != "c1" || e.Branch != "main" || e.At != at ||
				e.Actor != (event.Actor{Kind: event.ActorStaff, ID: "ann"}) || e.ID == "" {
				t.Errorf("event %+v", e)
			}
			// What is built must be what the fold accepts.
			var c lifecycle.Case
			filed := mustFiled(t)
			if err := lifecycle.Apply(&c, filed); err != nil {
				t.Fatal(err)
			}
			if tc.typ == event.Closed || tc.typ == event.RootCauseSet {
				return // need a longer history; the payload shape is checked above
			}
			e.ComplaintID = filed.ComplaintID
			if tc.typ != event.Acknowledged {
				ack, _ := model.NewEvent(act(event.Acknowledged), model.Input{}, model.Meta{ComplaintID: filed.ComplaintID, Actor: "ann", At: filed.At + 1})
				if err := lifecycle.Apply(&c, ack); err != nil {
					t.Fatal(err)
				}
			}
			e.At = filed.At + 2
			if err := lifecycle.Apply(&c, e); err != nil && tc.typ != event.Acknowledged {
				t.Errorf("fold refused the event: %v", err)
			}
		})
	}
}

func mustFiled(t *testing.T) event.Event {
	t.Helper()
	c := complaint.Complaint{ID: "0196c0de-0000-7000-8000-000000000001", Code: "DWSRS7EZTW89", Branch: "main",
		Channel: complaint.ChannelKiosk, Category: "billing", Description: "charged twice", Language: "en",
		FiledAt: time.Date(2026, 5, 12, 13, 0, 0, 0, time.UTC)}
	e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: "d1"}, hlc.Make(c.FiledAt.UnixMilli(), 0))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func rows(ids ...string) []cases.Row {
	out := make([]cases.Row, len(ids))
	for i, id := range ids {
		out[i] = cases.Row{ComplaintID: id}
	}
	return out
}

func TestQueueKeepsSelectionOnTheCase(t *testing.T) {
	var q model.Cases
	if q.Index() != -1 {
		t.Fatalf("empty queue index %d", q.Index())
	}
	q.SetRows(rows("a", "b", "c"))
	q.Move(1)
	if r, _ := q.Selected(); r.ComplaintID != "b" {
		t.Fatalf("selected %q", r.ComplaintID)
	}
	q.SetRows(rows("z", "a", "b", "c")) // a case due sooner arrived
	if r, _ := q.Selected(); r.ComplaintID != "b" || q.Index() != 2 {
		t.Errorf("after insert: %q at %d, want b at 2", r.ComplaintID, q.Index())
	}
	q.SetRows(rows("z", "a", "c")) // b left the filter: the next one down
	if r, _ := q.Selected(); r.ComplaintID != "c" {
		t.Errorf("after removal: %q, want c", r.ComplaintID)
	}
	q.Move(10)
	if q.Index() != 2 {
		t.Errorf("clamped index %d", q.Index())
	}
	q.SelectID("new") // filed, not listed yet
	q.SetRows(rows("z", "new", "a", "c"))
	if r, _ := q.Selected(); r.ComplaintID != "new" {
		t.Errorf("pending selection: %q", r.ComplaintID)
	}
}

func TestFilter(t *testing.T) {
	f := model.DefaultFilter()
	f.Category, f.Priority, f.Search = "billing", 2, " refund "
	sf := f.Store()
	if !slices.Equal(sf.States, []lifecycle.State{lifecycle.Received, lifecycle.Acknowledged, lifecycle.Assessed,
		lifecycle.Investigating, lifecycle.Responded}) || sf.Category != "billing" || sf.Priority != 2 || sf.Search != "refund" || sf.Limit != model.MaxRows {
		t.Errorf("store filter %+v", sf)
	}
	if got, want := f.Describe(model.English), `open cases · category billing · priority 2 · search "refund"`; got != want {
		t.Errorf("describe: got %q, want %q", got, want)
	}
	code := model.Filter{Status: model.OpenStatus, Search: "dwsr-s7ez-tw89"}
	if got := code.Store(); got.States != nil || got.Search != "dwsr-s7ez-tw89" {
		t.Errorf("a whole code searches every status: %+v", got)
	}
	if got, want := code.Describe(model.English), `all cases · search "dwsr-s7ez-tw89"`; got != want {
		t.Errorf("describe: got %q, want %q", got, want)
	}
	if got := (model.Filter{Status: model.AllStatuses}).Store().States; got != nil {
		t.Errorf("all: %v", got)
	}
	if got := (model.Filter{Status: model.StatusFilter(lifecycle.Closed)}).Store().States; !slices.Equal(got, []lifecycle.State{lifecycle.Closed}) {
		t.Errorf("closed: %v", got)
	}
}

func TestViewRow(t *testing.T) {
	now := time.Date(2026, 5, 20, 9, 0, 0, 0, time.UTC)
	r := cases.Row{Code: "DWSRS7EZTW89", State: lifecycle.Received, Category: "bill\x1b[31ming",
		Summary: "a\x1b]8;;http://x\x07b [red]c", DueAt: now.Add(-time.Hour), Unsynced: 1, Priority: 3}
	v := model.ViewRow(model.English, r, now, time.UTC)
	if !v.Overdue || v.Flags != "! ↑ " || v.Due != "20 May 08:00" || v.Priority != "P3" ||
		v.Code != "DWSR-S7EZ-TW89" || v.Category != "billing" || v.Summary != "ab [red]c" {
		t.Errorf("view %+v", v)
	}
	v = model.ViewRow(model.English, cases.Row{Waiting: true, Refused: 2, Escalated: true}, now, time.UTC)
	if v.Overdue || v.Due != "waiting" || v.Flags != " E ✗" || v.Priority != "" {
		t.Errorf("waiting view %+v", v)
	}
}

func TestCountsLineFits(t *testing.T) {
	counts := map[lifecycle.State]int{lifecycle.Received: 3, lifecycle.Closed: 12}
	long := model.CountsLine(model.English, counts, 200)
	if !strings.HasPrefix(long, "received 3  acknowledged 0") || !strings.HasSuffix(long, "closed 12") {
		t.Errorf("long: %q", long)
	}
	if short := model.CountsLine(model.English, counts, 60); len([]rune(short)) > 60 || !strings.HasPrefix(short, "rcv 3") {
		t.Errorf("short: %q", short)
	}
}

func TestTimeline(t *testing.T) {
	filed := mustFiled(t)
	note := event.Event{ID: "n1", ComplaintID: filed.ComplaintID, Type: event.NoteAdded,
		Actor: event.Actor{Kind: event.ActorStaff, ID: "ann"}, At: filed.At + 5,
		Data: json.RawMessage(`{"text":"rang \u001b[2Jback"}`)}
	late := event.Event{ID: "r1", ComplaintID: filed.ComplaintID, Type: event.Responded,
		Actor: event.Actor{Kind: event.ActorStaff, ID: "bob"}, At: filed.At + 6, Data: json.RawMessage(`{"text":"refund"}`)}
	d := cases.Detail{
		Case:        lifecycle.Case{Rejected: []lifecycle.Rejection{{EventID: "r1", Reason: "a response can only be recorded after assessment"}}},
		Events:      []event.Event{filed, note, late},
		Unsynced:    map[string]bool{"n1": true},
		Quarantined: map[string]string{"r1": "forbidden\x1b[0m"},
	}
	es := model.Timeline(model.English, d)
	if len(es) != 3 {
		t.Fatalf("%d entries", len(es))
	}
	if es[0].What != "Filed via kiosk" || !es[0].Public || es[0].Actor != "device d1" {
		t.Errorf("filed: %+v", es[0])
	}
	if es[1].Visibility() != "internal" || es[1].Text != "rang back" || !es[1].Unsynced || es[1].Actor != "staff ann" {
		t.Errorf("note: %+v", es[1])
	}
	if es[2].Visibility() != "public" || es[2].NotApplied == "" || es[2].Quarantined != "forbidden" {
		t.Errorf("refused: %+v", es[2])
	}
}

func TestNoticesOncePerPerson(t *testing.T) {
	var n model.Notices
	rs := []cases.RefusedAction{{Code: "DWSRS7EZTW89", Rejection: lifecycle.Rejection{EventID: "e1", Type: event.Acknowledged,
		Reason: "a complaint can only be acknowledged once"}}}
	if got := n.Unseen("ann", rs); len(got) != 1 {
		t.Fatalf("first: %v", got)
	}
	if got := n.Unseen("ann", rs); len(got) != 0 {
		t.Errorf("again: %v", got)
	}
	if got := n.Unseen("bob", rs); len(got) != 1 {
		t.Errorf("someone else: %v", got)
	}
	if got, want := model.NoticeText(model.English, rs[0]), `Your action "acknowledge" on case DWSR-S7EZ-TW89 was not applied: a complaint can only be acknowledged once`; got != want {
		t.Errorf("text: got %q, want %q", got, want)
	}
}

func TestDeadline(t *testing.T) {
	now := time.Date(2026, 5, 20, 9, 0, 0, 0, time.UTC)
	due := time.Date(2026, 5, 19, 23, 59, 59, 0, time.UTC)
	text, over := model.Deadline(model.English, "acknowledge", due, false, now, time.UTC)
	if !over || text != "Next: acknowledge by Tue 19 May 2026 23:59 — OVERDUE" {
		t.Errorf("got %q %v", text, over)
	}
	if text, over := model.Deadline(model.English, "", time.Time{}, true, now, time.UTC); over || !strings.Contains(text, "waiting on the customer") {
		t.Errorf("waiting: %q", text)
	}
}
