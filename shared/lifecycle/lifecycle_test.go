package lifecycle_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/lifecycle"
)

const (
	complaintID = "0190d7e4-7c1a-7b2e-8d3f-1234567890ab"
	otherID     = "0190d7e4-7c1a-7b2e-8d3f-ffffffffffff"
)

// allTypes lists every event type package event defines, so a type added there
// without a row here (and in the table) fails TestEveryTypeHasARule.
var allTypes = []event.Type{
	event.Filed, event.Acknowledged, event.Assessed, event.Assigned,
	event.InvestigationBegan, event.NoteAdded, event.MessageSent,
	event.InfoRequested, event.InfoProvided, event.Escalated, event.Responded,
	event.Closed, event.Reopened, event.SatisfactionRated, event.RootCauseSet,
}

var staff = event.Actor{Kind: event.ActorStaff, ID: "staff-1"}

func testComplaint(id string) complaint.Complaint {
	return complaint.Complaint{
		ID: id, Code: "K7QM4XRT9B2C", Branch: "Main", Device: "dev-1",
		Channel: complaint.ChannelKiosk, Category: "billing", Description: "Charged twice.",
		Language: "en", FiledAt: time.UnixMilli(1_700_000_000_000).UTC(),
	}
}

// MustFiled returns the Filed event of testComplaint(complaintID) with the given id and clock.
func MustFiled(tb testing.TB, id string, at hlc.Timestamp) event.Event {
	tb.Helper()
	e, err := event.NewFiled(testComplaint(complaintID), event.Actor{Kind: event.ActorDevice, ID: "dev-1"}, at)
	if err != nil {
		tb.Fatal(err)
	}
	e.ID = id
	return e
}

// MustEvent returns an event of complaintID with data encoded as JSON (nil: no data).
func MustEvent(tb testing.TB, id string, at hlc.Timestamp, t event.Type, data any) event.Event {
	tb.Helper()
	e := event.Event{ID: id, ComplaintID: complaintID, Type: t, Actor: staff, At: at, Branch: "Main"}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			tb.Fatal(err)
		}
		e.Data = b
	}
	return e
}

// validData is a well-formed payload for each type.
func validData(t event.Type) any {
	yes := true
	switch t {
	case event.Assessed:
		return event.Assessment{Severity: event.SeverityHigh, Priority: 2, Category: "fees"}
	case event.Assigned:
		return event.Assignment{Queue: "billing", Rule: "category"}
	case event.Escalated:
		return event.Escalation{Text: "SLA breached"}
	case event.Closed:
		return event.Closure{CustomerAccepted: &yes, Text: "Refund accepted"}
	case event.SatisfactionRated:
		return event.Rating{Stars: 4, Comment: "quick"}
	default:
		return event.Text{Text: "some text"}
	}
}

func validEvent(tb testing.TB, id string, at hlc.Timestamp, t event.Type) event.Event {
	tb.Helper()
	if t == event.Filed {
		return MustFiled(tb, id, at)
	}
	return MustEvent(tb, id, at, t, validData(t))
}

func allStates() []lifecycle.State {
	return append([]lifecycle.State{lifecycle.None}, lifecycle.States()...)
}

func TestEveryTypeHasARule(t *testing.T) {
	rows := lifecycle.Transitions()
	for _, typ := range allTypes {
		if !slices.ContainsFunc(rows, func(r lifecycle.Transition) bool { return r.Type == typ }) {
			t.Errorf("event type %q has no transition", typ)
		}
		// Every type is refused somewhere (at least before filing, or after).
		err := lifecycle.Allowed(lifecycle.None, typ)
		if typ == event.Filed {
			err = lifecycle.Allowed(lifecycle.Received, typ)
		}
		var le *lifecycle.Error
		if !errors.As(err, &le) || le.Message == "" || strings.Contains(le.Message, "not a known action") {
			t.Errorf("%q: got refusal %v, want a plain-words reason", typ, err)
		}
	}
	for i, r := range rows {
		for _, r2 := range rows[i+1:] {
			if r.Type == r2.Type && r.From == r2.From {
				t.Errorf("duplicate row for %q from %q", r.Type, r.From)
			}
		}
	}
}

// TestTransitionsFromTable checks every (state, type) pair against the table:
// allowed pairs must apply and land in the table's target state; all others
// must be refused with a NotAllowed error and leave the case untouched.
func TestTransitionsFromTable(t *testing.T) {
	rows := lifecycle.Transitions()
	types := append(slices.Clone(allTypes), event.Type("frobnicated"))
	for _, s := range allStates() {
		for _, typ := range types {
			t.Run(string(s)+"/"+string(typ), func(t *testing.T) {
				i := slices.IndexFunc(rows, func(r lifecycle.Transition) bool { return r.Type == typ && r.From == s })
				c := lifecycle.Case{State: s}
				if s != lifecycle.None {
					c.ID = complaintID
				}
				before := c
				err := lifecycle.Allowed(s, typ)
				applyErr := lifecycle.Apply(&c, validEvent(t, "e1", 10, typ))
				if i >= 0 {
					if err != nil {
						t.Fatalf("Allowed: got %v, want nil", err)
					}
					if applyErr != nil {
						t.Fatalf("Apply: got %v, want nil", applyErr)
					}
					if got, want := c.State, rows[i].To; got != want {
						t.Fatalf("state after: got %q, want %q", got, want)
					}
					return
				}
				var le *lifecycle.Error
				if !errors.As(err, &le) || le.Code != lifecycle.NotAllowed || le.Message == "" {
					t.Fatalf("Allowed: got %v, want a NotAllowed *Error", err)
				}
				if !errors.As(applyErr, &le) || le.Code != lifecycle.NotAllowed || le.EventID != "e1" {
					t.Fatalf("Apply: got %v, want a NotAllowed *Error for e1", applyErr)
				}
				if !reflect.DeepEqual(c, before) {
					t.Fatalf("refused event changed the case:\n got %+v\nwant %+v", c, before)
				}
			})
		}
	}
}

func TestRefusalsSayWhy(t *testing.T) {
	for _, tc := range []struct {
		s    lifecycle.State
		typ  event.Type
		want string // substring of the message; empty: allowed
	}{
		{lifecycle.Investigating, event.Closed, "a case can only be closed after a response has been recorded"},
		{lifecycle.Received, event.Assessed, "after it has been acknowledged"},
		{lifecycle.Acknowledged, event.Acknowledged, "only be acknowledged once"},
		{lifecycle.Closed, event.Assigned, "must be reopened first"},
		{lifecycle.Closed, event.Closed, "already closed"},
		{lifecycle.None, event.NoteAdded, "not been filed yet"},
		{lifecycle.Received, event.Filed, "already been filed"},
		{lifecycle.Responded, event.Reopened, "only a closed case can be reopened"},
		{lifecycle.Assessed, event.SatisfactionRated, "after a response has been recorded"},
		{lifecycle.Investigating, event.InvestigationBegan, "only begin once"},
		{lifecycle.Responded, event.Responded, "only once until the case is reopened"},
		{lifecycle.Received, event.InfoRequested, "after acknowledgement"},
		{lifecycle.Assessed, "frobnicated", "not a known action"},
		{lifecycle.Investigating, event.Assessed, ""},
		{lifecycle.Closed, event.Reopened, ""},
		{lifecycle.Closed, event.NoteAdded, ""},
		{lifecycle.Closed, event.RootCauseSet, ""},
		{lifecycle.Responded, event.InfoProvided, ""},
	} {
		err := lifecycle.Allowed(tc.s, tc.typ)
		if tc.want == "" {
			if err != nil {
				t.Errorf("Allowed(%q, %q): got %v, want nil", tc.s, tc.typ, err)
			}
			continue
		}
		var le *lifecycle.Error
		if !errors.As(err, &le) || !strings.Contains(le.Message, tc.want) {
			t.Errorf("Allowed(%q, %q): got %v, want a message containing %q", tc.s, tc.typ, err, tc.want)
		}
	}
}

func TestActions(t *testing.T) {
	for _, s := range allStates() {
		var want []event.Type
		for _, typ := range allTypes {
			if lifecycle.Allowed(s, typ) == nil {
				want = append(want, typ)
			}
		}
		got := lifecycle.Actions(s)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Actions(%q): got %v, want %v", s, got, want)
		}
	}
	if got, want := lifecycle.Actions(lifecycle.None), []event.Type{event.Filed}; !slices.Equal(got, want) {
		t.Errorf("Actions(None): got %v, want %v", got, want)
	}
	got := lifecycle.Actions(lifecycle.Closed)
	want := []event.Type{event.NoteAdded, event.MessageSent, event.Reopened, event.SatisfactionRated, event.RootCauseSet}
	if !slices.Equal(got, want) {
		t.Errorf("Actions(Closed): got %v, want %v", got, want)
	}
}

func TestPublic(t *testing.T) {
	internal := []event.Type{event.Assessed, event.Assigned, event.NoteAdded, event.Escalated, event.RootCauseSet, "frobnicated"}
	for _, typ := range append(slices.Clone(allTypes), "frobnicated") {
		if got, want := lifecycle.Public(typ), !slices.Contains(internal, typ); got != want {
			t.Errorf("Public(%q): got %v, want %v", typ, got, want)
		}
	}
}

func TestPayloadValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		ok   bool
	}{
		{"assessment ok", event.Assessment{Severity: event.SeverityLow, Priority: 4}.Validate(), true},
		{"assessment no severity", event.Assessment{Priority: 1}.Validate(), false},
		{"assessment priority 0", event.Assessment{Severity: event.SeverityLow}.Validate(), false},
		{"assessment priority 5", event.Assessment{Severity: event.SeverityLow, Priority: 5}.Validate(), false},
		{"assignment ok", event.Assignment{Queue: "q"}.Validate(), true},
		{"assignment no queue", event.Assignment{Rule: "r"}.Validate(), false},
		{"escalation default", event.Escalation{}.Validate(), true},
		{"escalation negative", event.Escalation{Level: -1}.Validate(), false},
		{"rating 1", event.Rating{Stars: 1}.Validate(), true},
		{"rating 5", event.Rating{Stars: 5}.Validate(), true},
		{"rating 0", event.Rating{}.Validate(), false},
		{"rating 6", event.Rating{Stars: 6}.Validate(), false},
	} {
		if got, want := tc.err == nil, tc.ok; got != want {
			t.Errorf("%s: got error %v, want ok=%v", tc.name, tc.err, want)
		}
	}
}

// Escalation must stay readable from events written with event.Text.
func TestEscalationReadsText(t *testing.T) {
	b, err := json.Marshal(event.Text{Text: "angry customer"})
	if err != nil {
		t.Fatal(err)
	}
	var esc event.Escalation
	if err := json.Unmarshal(b, &esc); err != nil {
		t.Fatal(err)
	}
	if got, want := esc, (event.Escalation{Text: "angry customer"}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
