package sla_test

import (
	"encoding/json"
	"testing"
	"time"

	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
)

// The fallback (no SLA file) counts Monday to Friday in the branch's zone,
// and the receipt's promise is what the clock later says.
func TestFallbackPromise(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	cfg, err := sla.Fallback(2, 15, paris)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		filed         time.Time
		wantAck, want string // dates in Paris
	}{
		{"Wednesday + 2 is Friday, + 15 three weeks on", time.Date(2026, 12, 2, 10, 0, 0, 0, paris), "2026-12-04", "2026-12-23"},
		{"Friday + 2 is Tuesday", time.Date(2026, 12, 4, 10, 0, 0, 0, paris), "2026-12-08", "2026-12-25"},
		{"Saturday counts from Monday", time.Date(2026, 12, 5, 10, 0, 0, 0, paris), "2026-12-08", "2026-12-25"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ack, resp, err := cfg.Promise("any-branch", "billing", tc.filed)
			if err != nil {
				t.Fatal(err)
			}
			if got := ack.In(paris).Format(time.DateOnly); got != tc.wantAck {
				t.Errorf("acknowledge by %s, want %s", got, tc.wantAck)
			}
			if got := resp.In(paris).Format(time.DateOnly); got != tc.want {
				t.Errorf("answer by %s, want %s", got, tc.want)
			}
		})
	}
	if cfg.Location("x") != nil && cfg.Location("x").String() != "Europe/Paris" {
		t.Errorf("location %v", cfg.Location("x"))
	}
	// The file a device receives parses to the same rules.
	again, err := sla.Parse(cfg.JSON())
	if err != nil || again.Digest() != cfg.Digest() {
		t.Fatalf("reparse: %v, digest %s vs %s", err, again.Digest(), cfg.Digest())
	}
	if _, err := sla.Fallback(0, 15, paris); err == nil {
		t.Error("0 days to acknowledge accepted")
	}
}

// The receipt's dates, the clock's deadlines for the filed case and Next
// agree: one rule.
func TestPromiseMatchesClock(t *testing.T) {
	cfg, err := sla.Load("testdata/sla.example.json")
	if err != nil {
		t.Fatal(err)
	}
	filed := time.Date(2026, 12, 2, 16, 30, 0, 0, time.UTC)
	ack, resp, err := cfg.Promise("lyon", "billing", filed)
	if err != nil {
		t.Fatal(err)
	}
	events := []event.Event{filedEvent(t, "c1", filed, "billing")}
	cs, err := lifecycle.Fold(events)
	if err != nil {
		t.Fatal(err)
	}
	step, due, err := cfg.Next(&cs, events, filed.Add(time.Minute))
	if err != nil || step != sla.StepAcknowledge || !due.Equal(ack) {
		t.Fatalf("Next = %s %v %v, want acknowledge %v", step, due, err, ack)
	}
	k, _ := cfg.Clock(cs, events)
	_, r, _ := k.Deadlines(filed)
	if !r.Equal(resp) {
		t.Fatalf("respond %v, promise %v", r, resp)
	}
}

// A reopened case ("not satisfied") owes a new answer: Next gives the
// policy's respond target counted from the reopen, and a new response
// meets it.
func TestReopenedCaseHasANewDeadline(t *testing.T) {
	cfg, err := sla.Fallback(2, 15, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	filed := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) // a Tuesday
	at := func(d int) time.Time { return filed.Add(time.Duration(d) * time.Hour) }
	no := false
	byCustomer := func(e event.Event) event.Event { e.Actor = event.Actor{Kind: event.ActorCustomer}; return e }
	events := []event.Event{
		filedEvent(t, "c1", filed, "billing"),
		ev(t, "e2", at(1), event.Acknowledged, nil),
		ev(t, "e3", at(2), event.Assessed, event.Assessment{Severity: event.SeverityLow, Priority: 3}),
		ev(t, "e4", at(3), event.Responded, event.Text{Text: "no"}),
		byCustomer(ev(t, "e5", at(48), event.Closed, event.Closure{CustomerAccepted: &no})),
		byCustomer(ev(t, "e6", at(48), event.Reopened, event.Text{Text: "not satisfied"})),
	}
	cs, err := lifecycle.Fold(events)
	if err != nil {
		t.Fatal(err)
	}
	step, due, err := cfg.Next(&cs, events, at(50))
	if err != nil {
		t.Fatal(err)
	}
	// Reopened Thursday 3 December 09:00 + 15 business days = Wednesday 23 at 17:00.
	if step != sla.StepRespond || due.Format(time.DateOnly) != "2026-12-23" {
		t.Fatalf("after the reopen: %q %v, want respond by 2026-12-23", step, due)
	}
	events = append(events, ev(t, "e7", at(60), event.Responded, event.Text{Text: "yes"}))
	cs, _ = lifecycle.Fold(events)
	// Answered again: the next step is the case closing on its own when
	// the customer's time to answer ends.
	if step, due, _ := cfg.Next(&cs, events, at(61)); step != sla.StepClose || !due.Equal(at(60).Add(lifecycle.DefaultAcceptWithin)) {
		t.Fatalf("answered again: %q %v, want close at the end of the customer's time", step, due)
	}
}

func filedEvent(tb testing.TB, id string, at time.Time, category string) event.Event {
	tb.Helper()
	data, err := json.Marshal(map[string]any{"id": id, "code": "K7QM4XRT9B2C", "branch": "lyon", "category": category,
		"description": "x", "filed_at": at, "language": "en"})
	if err != nil {
		tb.Fatal(err)
	}
	return event.Event{ID: id + "-filed", ComplaintID: id, Type: event.Filed, Actor: event.Actor{Kind: event.ActorCustomer},
		At: hlc.Make(at.UnixMilli(), 0), Branch: "lyon", Data: data}
}

func ev(tb testing.TB, id string, at time.Time, typ event.Type, payload any) event.Event {
	tb.Helper()
	var data json.RawMessage
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			tb.Fatal(err)
		}
		data = b
	}
	return event.Event{ID: id, ComplaintID: "c1", Type: typ, Actor: event.Actor{Kind: event.ActorStaff, ID: "s1"},
		At: hlc.Make(at.UnixMilli(), 0), Branch: "lyon", Data: data}
}
