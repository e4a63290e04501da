package redact_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/lifecycle"
	"ombud/shared/redact"
)

const secret = "SECRET-personal-words"

// lifeOf is a full case: filed with contact details, handled, answered,
// closed, rated, with a root cause: every payload kind.
func lifeOf(t *testing.T) []event.Event {
	t.Helper()
	c := complaint.Complaint{ID: "c1", Code: "ABCD", Branch: "main", Device: "k1", Channel: complaint.ChannelKiosk,
		Category: "billing", Description: secret + " description", DesiredOutcome: secret + " outcome", Language: "fr",
		Contact: &complaint.Contact{Name: secret, Email: "someone@example.org", Phone: "+3312345678", ConsentAt: time.Unix(5, 0).UTC(), NoticeVersion: "kiosk-privacy-1/fr"},
		FiledAt: time.Unix(100, 0).UTC()}
	filed, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: "k1"}, hlc.Make(100_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	at := int64(100_000)
	mk := func(typ event.Type, v any) event.Event {
		at += 1000
		var data []byte
		if v != nil {
			data, _ = json.Marshal(v)
		}
		return event.Event{ID: "e" + string(typ), ComplaintID: "c1", Type: typ, Actor: event.Actor{Kind: event.ActorStaff, ID: "alice"},
			At: hlc.Make(at, 0), Branch: "main", Data: data}
	}
	yes := true
	return []event.Event{
		filed,
		mk(event.Acknowledged, nil),
		mk(event.Assessed, event.Assessment{Severity: event.SeverityHigh, Priority: 2}),
		mk(event.Assigned, event.Assignment{Queue: "branch:main", Rule: "default"}),
		mk(event.NoteAdded, event.Text{Text: secret + " note"}),
		mk(event.InfoRequested, event.Text{Text: secret + " question"}),
		mk(event.InfoProvided, event.Text{Text: secret + " answer"}),
		mk(event.Escalated, event.Escalation{Level: 1, Text: secret + " overdue"}),
		mk(event.InvestigationBegan, nil),
		mk(event.MessageSent, event.Text{Text: secret + " message"}),
		mk(event.Responded, event.Text{Text: secret + " decision"}),
		mk(event.Closed, event.Closure{CustomerAccepted: &yes, Text: secret + " closing", RootCause: "process"}),
		mk(event.SatisfactionRated, event.Rating{Stars: 4, Comment: secret + " comment"}),
		mk(event.RootCauseSet, event.Text{Text: "double billing run"}),
	}
}

func TestRedactionKeepsTheFoldButNotTheWords(t *testing.T) {
	events := lifeOf(t)
	before, err := lifecycle.Fold(events)
	if err != nil || len(before.Rejected) > 0 {
		t.Fatalf("fold: %v %+v", err, before.Rejected)
	}
	red := make([]event.Event, len(events))
	for i, e := range events {
		redact.Event(&e)
		if strings.Contains(string(e.Data), secret) || strings.Contains(string(e.Data), "example.org") || strings.Contains(string(e.Data), "12345678") {
			t.Errorf("%s still holds personal data: %s", e.Type, e.Data)
		}
		// Idempotent: a terminal that redacts again gets the same bytes.
		if again, changed := redact.Payload(e.Type, e.Data); changed || string(again) != string(e.Data) {
			t.Errorf("%s redacted twice differs: %s then %s", e.Type, e.Data, again)
		}
		red[i] = e
	}
	red = append(red, event.Event{ID: "ezz", ComplaintID: "c1", Type: event.Redacted, Actor: event.Actor{Kind: event.ActorSystem, ID: "retention"},
		At: hlc.Make(200_000, 0), Branch: "main", Data: []byte(`{"reason":"retention","policy":"12 months"}`)})
	after, err := lifecycle.Fold(red)
	if err != nil || len(after.Rejected) > 0 {
		t.Fatalf("fold after redaction: %v %+v", err, after.Rejected)
	}
	if after.Redaction == nil || after.Redaction.Reason != event.RedactRetention {
		t.Fatalf("redaction = %+v", after.Redaction)
	}
	// Everything the statistics read is unchanged.
	want := before
	want.Complaint = redact.Complaint(before.Complaint)
	want.Rating = &event.Rating{Stars: 4}
	want.Redaction, want.LastEventAt, want.LastEventID = after.Redaction, after.LastEventAt, after.LastEventID
	if !reflect.DeepEqual(after, want) {
		t.Fatalf("fold after redaction:\n got %+v\nwant %+v", after, want)
	}
	if after.Complaint.Category != "billing" || after.Complaint.Code != "ABCD" || after.Complaint.Language != "fr" || after.Complaint.Contact != nil || after.Complaint.Description != "" {
		t.Fatalf("complaint after redaction = %+v", after.Complaint)
	}
}

func TestUnknownAndMalformedPayloadsGoWhole(t *testing.T) {
	for _, tc := range []struct {
		typ  event.Type
		data string
	}{{"future_type", `{"text":"x"}`}, {event.Escalated, `not json`}, {event.Filed, `[1,2]`}} {
		if got, changed := redact.Payload(tc.typ, []byte(tc.data)); !changed || len(got) != 0 {
			t.Errorf("Payload(%s, %s) = %s, %v; want nothing", tc.typ, tc.data, got, changed)
		}
	}
}

// The root cause recorded at closure (ISO 10002 9.7) is the organisation's
// finding, not the customer's words: it outlives the retention period, so
// the corrective actions' effectiveness checks still count it.
func TestClosureKeepsItsRootCause(t *testing.T) {
	events := lifeOf(t)
	events = events[:len(events)-1] // no later RootCauseSet to hide the closure's
	for i := range events {
		redact.Event(&events[i])
	}
	c, err := lifecycle.Fold(events)
	if err != nil || len(c.Rejected) > 0 {
		t.Fatalf("fold: %v %+v", err, c.Rejected)
	}
	if c.RootCause != "process" {
		t.Fatalf("root cause after redaction = %q, want the closure's %q", c.RootCause, "process")
	}
}
