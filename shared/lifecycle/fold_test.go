package lifecycle_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/lifecycle"
)

// story is a whole case: filed, handled, closed, reopened, answered again,
// closed with a refusal and rated, with notes, messages and an information
// request along the way.
func story(tb testing.TB) []event.Event {
	tb.Helper()
	no, yes := false, true
	return []event.Event{
		MustFiled(tb, "e01", 100),
		MustEvent(tb, "e02", 110, event.Acknowledged, nil),
		MustEvent(tb, "e03", 120, event.Assigned, event.Assignment{Queue: "billing", Rule: "category"}),
		MustEvent(tb, "e04", 130, event.Assessed, event.Assessment{Severity: event.SeverityMedium, Priority: 3, Category: "fees"}),
		MustEvent(tb, "e05", 140, event.InfoRequested, event.Text{Text: "Which card?"}),
		MustEvent(tb, "e06", 150, event.InfoProvided, event.Text{Text: "Visa"}),
		MustEvent(tb, "e07", 160, event.InvestigationBegan, nil),
		MustEvent(tb, "e08", 170, event.NoteAdded, event.Text{Text: "double charge confirmed"}),
		MustEvent(tb, "e09", 180, event.Escalated, event.Escalation{Text: "amount over limit"}),
		MustEvent(tb, "e10", 190, event.Responded, event.Text{Text: "Refund issued"}),
		MustEvent(tb, "e11", 200, event.Closed, event.Closure{CustomerAccepted: &yes}),
		MustEvent(tb, "e12", 210, event.Reopened, event.Text{Text: "refund not received"}),
		MustEvent(tb, "e13", 220, event.Assessed, event.Assessment{Severity: event.SeverityHigh, Priority: 1}),
		MustEvent(tb, "e14", 230, event.MessageSent, event.Text{Text: "Looking into it"}),
		// The customer had until 245 to answer: the refusal staff record
		// at 250 may close the case.
		MustEvent(tb, "e15", 240, event.Responded, event.Decision{Text: "Refund re-sent", AnswerBy: hlc.Timestamp(245).Time()}),
		MustEvent(tb, "e16", 250, event.Closed, event.Closure{CustomerAccepted: &no, Text: "recourse: ombudsman"}),
		MustEvent(tb, "e17", 260, event.SatisfactionRated, event.Rating{Stars: 2}),
		MustEvent(tb, "e18", 270, event.RootCauseSet, event.Text{Text: "payment gateway retry"}),
	}
}

func TestFoldStory(t *testing.T) {
	c, err := lifecycle.Fold(story(t))
	if err != nil {
		t.Fatal(err)
	}
	no := false
	want := lifecycle.Case{
		ID: complaintID, Code: "K7QM4XRT9B2C", Branch: "Main", Category: "fees",
		State:    lifecycle.Closed,
		Severity: event.SeverityHigh, Priority: 1, Queue: "billing",
		Escalated: true, EscalationLevel: 1,
		ReopenCount: 1, ReopenedAt: 210,
		FiledAt: 100, AcknowledgedAt: 110, RespondedAt: 190, AnsweredAt: 240, ClosedAt: 250,
		CustomerAccepted: &no,
		Rating:           &event.Rating{Stars: 2},
		RootCause:        "payment gateway retry",
		LastEventAt:      270, LastEventID: "e18",
		Complaint: testComplaint(complaintID),
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Fold:\n got %+v\nwant %+v", c, want)
	}
}

// Applying the events one by one, in order, gives what Fold gives.
func TestApplyInOrderMatchesFold(t *testing.T) {
	events := story(t)
	events = append(events, MustEvent(t, "e19", 280, event.Closed, nil)) // refused: already closed
	want, err := lifecycle.Fold(events)
	if err != nil {
		t.Fatal(err)
	}
	var got lifecycle.Case
	for _, e := range events {
		if err := lifecycle.Apply(&got, e); err != nil {
			var le *lifecycle.Error
			if !errors.As(err, &le) {
				t.Fatalf("Apply %s: got %v, want an *Error", e.ID, err)
			}
			got.Rejected = append(got.Rejected, lifecycle.Rejection{EventID: e.ID, Type: e.Type, Actor: e.Actor, At: e.At, Code: le.Code, Reason: le.Message})
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Apply one by one:\n got %+v\nwant %+v", got, want)
	}
}

func TestFoldStates(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int // events of the story to fold
		want lifecycle.State
	}{
		{"filed", 1, lifecycle.Received},
		{"acknowledged", 2, lifecycle.Acknowledged},
		{"assessed", 4, lifecycle.Assessed},
		{"investigating", 7, lifecycle.Investigating},
		{"responded", 10, lifecycle.Responded},
		{"closed", 11, lifecycle.Closed},
		{"reopened", 12, lifecycle.Investigating},
		{"reassessed after reopen", 13, lifecycle.Investigating},
	} {
		c, err := lifecycle.Fold(story(t)[:tc.n])
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got, want := c.State, tc.want; got != want {
			t.Errorf("%s: got %q, want %q", tc.name, got, want)
		}
		if len(c.Rejected) != 0 {
			t.Errorf("%s: rejected %+v", tc.name, c.Rejected)
		}
	}
}

func TestFoldWaitingOnCustomer(t *testing.T) {
	s := story(t)
	c, err := lifecycle.Fold(s[:5])
	if err != nil {
		t.Fatal(err)
	}
	if !c.WaitingOnCustomer || c.WaitingSince != 140 {
		t.Fatalf("after request: got waiting=%v since %v, want true since 140", c.WaitingOnCustomer, c.WaitingSince)
	}
	// A second question does not move the start of the pause.
	c, err = lifecycle.Fold(append(slices.Clone(s[:5]), MustEvent(t, "e05b", 145, event.InfoRequested, event.Text{Text: "And the date?"})))
	if err != nil {
		t.Fatal(err)
	}
	if !c.WaitingOnCustomer || c.WaitingSince != 140 {
		t.Fatalf("after second request: got waiting=%v since %v, want true since 140", c.WaitingOnCustomer, c.WaitingSince)
	}
	c, err = lifecycle.Fold(s[:6])
	if err != nil {
		t.Fatal(err)
	}
	if c.WaitingOnCustomer || c.WaitingSince != 0 {
		t.Fatalf("after answer: got waiting=%v since %v, want false since 0", c.WaitingOnCustomer, c.WaitingSince)
	}
	// A response ends the wait even when the customer never answered.
	c, err = lifecycle.Fold(append(slices.Clone(s[:5]), MustEvent(t, "e99", 300, event.Responded, event.Text{Text: "decided"})))
	if err != nil {
		t.Fatal(err)
	}
	if c.WaitingOnCustomer {
		t.Fatal("after response: still waiting on the customer")
	}
}

func TestFoldNeedsFiled(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events []event.Event
	}{
		{"empty", nil},
		{"no filed", story(t)[1:]},
		{"unreadable filed", func() []event.Event {
			e := MustFiled(t, "e01", 100)
			e.Data = json.RawMessage(`{"id":`)
			return []event.Event{e}
		}()},
		{"filed for another id", func() []event.Event {
			e := MustFiled(t, "e01", 100)
			e.ComplaintID = otherID
			return []event.Event{e}
		}()},
	} {
		c, err := lifecycle.Fold(tc.events)
		if !errors.Is(err, lifecycle.ErrNotFiled) {
			t.Errorf("%s: got %v, want ErrNotFiled", tc.name, err)
		}
		if !reflect.DeepEqual(c, lifecycle.Case{}) {
			t.Errorf("%s: got case %+v, want the zero Case", tc.name, c)
		}
	}
}

func TestFoldRejects(t *testing.T) {
	base := story(t)[:7] // investigating
	wrongComplaint := MustEvent(t, "x3", 175, event.NoteAdded, event.Text{Text: "n"})
	wrongComplaint.ComplaintID = otherID
	for _, tc := range []struct {
		name  string
		extra []event.Event
		want  []lifecycle.Rejection // only EventID, Code and a Reason substring are compared
		state lifecycle.State
	}{
		{
			name:  "before filed",
			extra: []event.Event{MustEvent(t, "x1", 50, event.NoteAdded, event.Text{Text: "early"})},
			want:  []lifecycle.Rejection{{EventID: "x1", Code: lifecycle.NotAllowed, Reason: "not been filed yet"}},
			state: lifecycle.Investigating,
		},
		{
			name: "two staff respond at once: the lower id wins",
			extra: []event.Event{
				MustEvent(t, "r-b", 200, event.Responded, event.Text{Text: "B's answer"}),
				MustEvent(t, "r-a", 200, event.Responded, event.Text{Text: "A's answer"}),
			},
			want:  []lifecycle.Rejection{{EventID: "r-b", Code: lifecycle.NotAllowed, Reason: "only once"}},
			state: lifecycle.Responded,
		},
		{
			name:  "close before response",
			extra: []event.Event{MustEvent(t, "x2", 200, event.Closed, nil)},
			want:  []lifecycle.Rejection{{EventID: "x2", Code: lifecycle.NotAllowed, Reason: "after a response has been recorded"}},
			state: lifecycle.Investigating,
		},
		{
			name:  "other complaint",
			extra: []event.Event{wrongComplaint},
			want:  []lifecycle.Rejection{{EventID: "x3", Code: lifecycle.OtherComplaint, Reason: "another complaint"}},
			state: lifecycle.Investigating,
		},
		{
			name:  "bad assessment",
			extra: []event.Event{MustEvent(t, "x4", 200, event.Assessed, event.Assessment{Severity: "dire", Priority: 1})},
			want:  []lifecycle.Rejection{{EventID: "x4", Code: lifecycle.InvalidData, Reason: "severity"}},
			state: lifecycle.Investigating,
		},
		{
			name:  "unreadable assignment",
			extra: []event.Event{{ID: "x5", ComplaintID: complaintID, Type: event.Assigned, At: 200, Data: json.RawMessage(`[1]`)}},
			want:  []lifecycle.Rejection{{EventID: "x5", Code: lifecycle.InvalidData, Reason: "could not be read"}},
			state: lifecycle.Investigating,
		},
		{
			name: "same id, different event",
			extra: []event.Event{
				// Clashes with InvestigationBegan e07 at 160, which sorts first
				// and so keeps the id.
				MustEvent(t, "e07", 165, event.Closed, nil),
			},
			want:  []lifecycle.Rejection{{EventID: "e07", Code: lifecycle.DuplicateID, Reason: "different event"}},
			state: lifecycle.Investigating,
		},
		{
			name:  "second filed",
			extra: []event.Event{MustFiled(t, "x6", 200)},
			want:  []lifecycle.Rejection{{EventID: "x6", Code: lifecycle.NotAllowed, Reason: "already been filed"}},
			state: lifecycle.Investigating,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := lifecycle.Fold(append(slices.Clone(base), tc.extra...))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := c.State, tc.state; got != want {
				t.Errorf("state: got %q, want %q", got, want)
			}
			if got, want := len(c.Rejected), len(tc.want); got != want {
				t.Fatalf("rejected: got %+v, want %d", c.Rejected, want)
			}
			for i, w := range tc.want {
				g := c.Rejected[i]
				if g.EventID != w.EventID || g.Code != w.Code || !strings.Contains(g.Reason, w.Reason) {
					t.Errorf("rejected[%d]: got %+v, want id %s code %s reason containing %q", i, g, w.EventID, w.Code, w.Reason)
				}
			}
		})
	}
}

func TestFoldAppliesDuplicatesOnce(t *testing.T) {
	events := story(t)[:7]
	esc := MustEvent(t, "esc", 200, event.Escalated, event.Escalation{Text: "slow"})
	events = append(events, esc, esc, esc, events[0], events[3])
	c, err := lifecycle.Fold(events)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.EscalationLevel, 1; got != want {
		t.Errorf("escalation level: got %d, want %d", got, want)
	}
	if len(c.Rejected) != 0 {
		t.Errorf("rejected: got %+v, want none", c.Rejected)
	}
}

// Two escalations to the same explicit level (a manager and the SLA clock at
// once) count once; implicit ones each go up a level.
func TestFoldEscalationLevels(t *testing.T) {
	base := story(t)[:7]
	c, err := lifecycle.Fold(append(slices.Clone(base),
		MustEvent(t, "a", 200, event.Escalated, event.Escalation{Level: 2}),
		MustEvent(t, "b", 200, event.Escalated, event.Escalation{Level: 2}),
		MustEvent(t, "c", 210, event.Escalated, event.Escalation{Level: 1}),
	))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.EscalationLevel, 2; !c.Escalated || got != want {
		t.Errorf("explicit: got escalated=%v level %d, want true level %d", c.Escalated, got, want)
	}
	c, err = lifecycle.Fold(append(slices.Clone(base),
		MustEvent(t, "a", 200, event.Escalated, nil),
		MustEvent(t, "b", 210, event.Escalated, event.Text{Text: "again"}),
	))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.EscalationLevel, 2; got != want {
		t.Errorf("implicit: got level %d, want %d", got, want)
	}
}

func TestFoldLeavesInputAlone(t *testing.T) {
	events := story(t)
	slices.Reverse(events)
	before := slices.Clone(events)
	if _, err := lifecycle.Fold(events); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(events, before) {
		t.Fatal("Fold reordered or changed its input")
	}
}

func TestApplyOrder(t *testing.T) {
	s := story(t)
	var c lifecycle.Case
	for _, e := range s[:3] {
		if err := lifecycle.Apply(&c, e); err != nil {
			t.Fatal(err)
		}
	}
	before := c
	for _, e := range []event.Event{s[2], s[1], MustEvent(t, "e00", 120, event.NoteAdded, event.Text{Text: "tie, lower id"})} {
		err := lifecycle.Apply(&c, e)
		var le *lifecycle.Error
		if !errors.As(err, &le) || le.Code != lifecycle.OutOfOrder {
			t.Errorf("Apply %s: got %v, want OutOfOrder", e.ID, err)
		}
	}
	if err := lifecycle.Apply(&c, MustEvent(t, "e99", 120, event.NoteAdded, event.Text{Text: "tie, higher id"})); err != nil {
		t.Errorf("Apply at the same clock with a higher id: got %v, want nil", err)
	}
	if err := lifecycle.Apply(&before, event.Event{ComplaintID: complaintID, Type: event.NoteAdded, At: 500}); err == nil {
		t.Error("Apply of an event without id: got nil, want an error")
	}
}

// manyEvents is the story plus concurrent and duplicated events, so that
// order really matters: ties on the clock, refusals that depend on what came
// first, duplicates and a clashing id.
func manyEvents(tb testing.TB) []event.Event {
	tb.Helper()
	yes := true
	events := story(tb)
	events = append(events,
		MustEvent(tb, "c1", 190, event.Responded, event.Text{Text: "rival answer"}),
		MustEvent(tb, "c2", 190, event.Closed, event.Closure{CustomerAccepted: &yes}),
		MustEvent(tb, "c3", 200, event.Reopened, nil),
		MustEvent(tb, "c4", 200, event.Escalated, event.Escalation{Level: 3}),
		MustEvent(tb, "c5", 205, event.InfoRequested, event.Text{Text: "?"}),
		MustEvent(tb, "c6", 50, event.NoteAdded, event.Text{Text: "before filing"}),
		MustEvent(tb, "c7", 260, event.SatisfactionRated, event.Rating{Stars: 5}),
		MustEvent(tb, "e10", 190, event.NoteAdded, event.Text{Text: "clashes with e10"}),
		MustFiled(tb, "c8", 100),
	)
	events = append(events, events[3], events[9], events[20])
	return events
}

func TestFoldIsDeterministic(t *testing.T) {
	events := manyEvents(t)
	want, err := lifecycle.Fold(events)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Rejected) == 0 {
		t.Fatal("test log has no conflicts; it proves nothing")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		p := slices.Clone(events)
		r.Shuffle(len(p), func(a, b int) { p[a], p[b] = p[b], p[a] })
		got, err := lifecycle.Fold(p)
		if err != nil {
			t.Fatalf("permutation %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("permutation %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
}

// fuzzTypes maps a fuzz byte to an event type; the last is unknown on purpose.
var fuzzTypes = append(slices.Clone(allTypes), "frobnicated")

// fuzzEvents turns bytes into events, three bytes each: type, clock, and
// (low nibble) id and (high nibble) payload variant. Few ids and small clocks
// make duplicates, clashes and ties common.
func fuzzEvents(tb testing.TB, data []byte) []event.Event {
	tb.Helper()
	var events []event.Event
	for i := 0; i+2 < len(data) && len(events) < 64; i += 3 {
		typ := fuzzTypes[int(data[i])%len(fuzzTypes)]
		at := hlc.Timestamp(data[i+1])
		id := fmt.Sprintf("e%02d", data[i+2]&0x0f)
		v := int(data[i+2] >> 4)
		if typ == event.Filed {
			e := MustFiled(tb, id, at)
			switch v {
			case 14:
				e.Data = json.RawMessage(`{`)
			case 15:
				other, err := event.NewFiled(testComplaint(otherID), e.Actor, at)
				if err != nil {
					tb.Fatal(err)
				}
				other.ID = id
				e = other
			}
			events = append(events, e)
			continue
		}
		e := MustEvent(tb, id, at, typ, nil)
		if v == 13 {
			e.ComplaintID = otherID
		}
		e.Data = fuzzPayload(typ, v)
		events = append(events, e)
	}
	return events
}

func fuzzPayload(t event.Type, v int) json.RawMessage {
	switch t {
	case event.Assessed:
		return json.RawMessage([]string{`{"severity":"high","priority":2}`, `{"severity":"dire","priority":9}`, `{`}[v%3])
	case event.Assigned:
		return json.RawMessage([]string{`{"queue":"billing"}`, `{"queue":"fraud","rule":"r1"}`, `{"queue":""}`}[v%3])
	case event.Escalated:
		return json.RawMessage([]string{``, `{"level":2,"text":"x"}`, `{"level":-1}`, `[`}[v%4])
	case event.Closed:
		return json.RawMessage([]string{``, `{"customer_accepted":true}`, `{"customer_accepted":false}`, `"x"`}[v%4])
	case event.SatisfactionRated:
		return json.RawMessage(fmt.Sprintf(`{"stars":%d}`, v%7))
	case event.RootCauseSet:
		return json.RawMessage([]string{`{"text":"training"}`, `{"text":" "}`}[v%2])
	default:
		return json.RawMessage(`{"text":"t"}`)
	}
}

// checkInvariants holds for every case Fold returns.
func checkInvariants(t *testing.T, c lifecycle.Case, events []event.Event) {
	t.Helper()
	if !slices.Contains(lifecycle.States(), c.State) {
		t.Fatalf("state %q is not a state", c.State)
	}
	if c.Escalated != (c.EscalationLevel > 0) {
		t.Fatalf("escalated=%v with level %d", c.Escalated, c.EscalationLevel)
	}
	if c.WaitingOnCustomer && !slices.Contains([]lifecycle.State{lifecycle.Acknowledged, lifecycle.Assessed, lifecycle.Investigating}, c.State) {
		t.Fatalf("waiting on the customer in state %q", c.State)
	}
	if (c.ClosedAt != 0) != (c.State == lifecycle.Closed) {
		t.Fatalf("closed at %v in state %q", c.ClosedAt, c.State)
	}
	if c.ID != complaintID && c.ID != otherID {
		t.Fatalf("case id %q", c.ID)
	}
	if len(c.Rejected) > len(events) {
		t.Fatalf("%d rejections from %d events", len(c.Rejected), len(events))
	}
}

func FuzzFold(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 1, 2, 1, 2, 3, 2, 4, 4, 4, 10, 5, 5, 11, 6, 0x16, 12, 7, 7, 13, 8, 0x48})
	f.Add([]byte{10, 9, 1, 0, 5, 0, 10, 9, 2, 0, 5, 0, 0, 5, 0xf3})
	f.Fuzz(func(t *testing.T, data []byte) {
		events := fuzzEvents(t, data)
		want, wantErr := lifecycle.Fold(events)
		if wantErr != nil && !errors.Is(wantErr, lifecycle.ErrNotFiled) {
			t.Fatalf("Fold: got %v, want nil or ErrNotFiled", wantErr)
		}
		if wantErr == nil {
			checkInvariants(t, want, events)
		}
		h := fnv.New64a()
		h.Write(data)
		r := rand.New(rand.NewPCG(h.Sum64(), 7))
		for i := range 8 {
			p := slices.Clone(events)
			r.Shuffle(len(p), func(a, b int) { p[a], p[b] = p[b], p[a] })
			got, err := lifecycle.Fold(p)
			if !errors.Is(err, wantErr) {
				t.Fatalf("permutation %d: got error %v, want %v", i, err, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("permutation %d:\n got %+v\nwant %+v", i, got, want)
			}
		}
	})
}

// TestCustomerKeepsRecourseUntilAnswerBy (ISO 10002 8.9): after the
// decision staff may close only with the customer's acceptance until the
// decision's AnswerBy; the customer may answer any time; after AnswerBy
// anyone may close (the server's engine does, once).
func TestCustomerKeepsRecourseUntilAnswerBy(t *testing.T) {
	ms := func(m int64) hlc.Timestamp { return hlc.Make(m, 0) }
	answerBy := ms(10_000).Time()
	base := func() []event.Event {
		return []event.Event{
			MustFiled(t, "e1", ms(1000)),
			MustEvent(t, "e2", ms(2000), event.Acknowledged, nil),
			MustEvent(t, "e3", ms(3000), event.Assessed, event.Assessment{Severity: event.SeverityLow, Priority: 3}),
			MustEvent(t, "e4", ms(4000), event.Responded, event.Decision{Text: "No fault.", AnswerBy: answerBy}),
		}
	}
	yes, no := true, false
	customer := func(e event.Event) event.Event { e.Actor = event.Actor{Kind: event.ActorCustomer}; return e }
	system := func(e event.Event) event.Event { e.Actor = event.Actor{Kind: event.ActorSystem, ID: "sla"}; return e }
	for _, tc := range []struct {
		name  string
		close event.Event
		want  lifecycle.State
	}{
		{"staff close without the customer's word, before", MustEvent(t, "c", ms(5000), event.Closed, event.Closure{Text: "done"}), lifecycle.Responded},
		{"staff record a refusal, before", MustEvent(t, "c", ms(5000), event.Closed, event.Closure{CustomerAccepted: &no}), lifecycle.Responded},
		{"staff record the customer's acceptance, before", MustEvent(t, "c", ms(5000), event.Closed, event.Closure{CustomerAccepted: &yes}), lifecycle.Closed},
		{"the customer accepts, before", customer(MustEvent(t, "c", ms(5000), event.Closed, event.Closure{CustomerAccepted: &yes})), lifecycle.Closed},
		{"the engine closes, before", system(MustEvent(t, "c", ms(9999), event.Closed, nil)), lifecycle.Responded},
		{"the engine closes, at AnswerBy", system(MustEvent(t, "c", ms(10_000), event.Closed, nil)), lifecycle.Closed},
		{"staff close, after", MustEvent(t, "c", ms(10_001), event.Closed, nil), lifecycle.Closed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := lifecycle.Fold(append(base(), tc.close))
			if err != nil {
				t.Fatal(err)
			}
			if c.State != tc.want {
				t.Fatalf("state %s, want %s (rejected %+v)", c.State, tc.want, c.Rejected)
			}
			if c.State == lifecycle.Responded && !c.AnswerBy.Equal(answerBy) {
				t.Errorf("AnswerBy %v, want %v", c.AnswerBy, answerBy)
			}
		})
	}
	// A decision written without AnswerBy gives the default period.
	events := base()[:3]
	events = append(events, MustEvent(t, "e4", ms(4000), event.Responded, event.Text{Text: "No fault."}))
	c, _ := lifecycle.Fold(events)
	if want := ms(4000).Time().Add(lifecycle.DefaultAcceptWithin); !c.AnswerBy.Equal(want) {
		t.Errorf("default AnswerBy %v, want %v", c.AnswerBy, want)
	}
}
