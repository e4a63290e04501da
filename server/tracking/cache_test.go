package tracking_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"ombud/shared/event"
	"ombud/shared/uid"
)

// The page keeps folded cases and rendered pages in memory; none of it may
// outlive a stored event, whoever stores it.
func TestPageShowsEventsStoredBehindItsBack(t *testing.T) {
	e := newEnv(t, nil)
	c := e.file(t)
	for range 2 { // the second read is served from the cache
		if r := e.get(t, "/t/"+c.Code); !strings.Contains(r.body, "We have your complaint") {
			t.Fatalf("received page: %d", r.status)
		}
		e.get(t, "/api/v1/track/"+c.Code)
	}

	// Straight into storage, not through the page's handlers.
	data, err := json.Marshal(event.Text{Text: "Stored by someone else."})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Append(context.Background(), []event.Event{{ID: uid.New(), ComplaintID: c.ID, Type: event.MessageSent,
		Actor: event.Actor{Kind: event.ActorSystem}, At: e.clock.Now(), Branch: c.Branch, Data: data}}); err != nil {
		t.Fatal(err)
	}
	if r := e.get(t, "/t/"+c.Code); !strings.Contains(r.body, "Stored by someone else.") {
		t.Errorf("page after Append lacks the appended event:\n%s", r.body)
	}
	if r := e.get(t, "/api/v1/track/"+c.Code); !strings.Contains(r.body, "Stored by someone else.") {
		t.Errorf("api after Append lacks the appended event: %s", r.body)
	}

	// Through a device's push, as sync stores staff's work.
	e.staff(t, c, event.Acknowledged, nil)
	if r := e.get(t, "/t/"+c.Code); !strings.Contains(r.body, "We are handling your complaint.") {
		t.Errorf("page after a push still shows the old status:\n%s", r.body)
	}
	e.staff(t, c, event.MessageSent, event.Text{Text: "Pushed from the branch."})
	if r := e.get(t, "/t/"+c.Code+"?lang=fr"); !strings.Contains(r.body, "Pushed from the branch.") {
		t.Errorf("French page after a push lacks the message:\n%s", r.body)
	}
	if r := e.get(t, "/t/"+c.Code); !strings.Contains(r.body, "Pushed from the branch.") {
		t.Errorf("page after a push lacks the message:\n%s", r.body)
	}
}

// Every page view gets its own nonces and tokens, cached page or not; the
// rest of the page is the same.
func TestEachViewGetsFreshForms(t *testing.T) {
	e := newEnv(t, nil)
	c := e.file(t)
	e.respond(t, c, "answer") // all four forms are shown
	fields := regexp.MustCompile(`name="(nonce|token)" value="[^"]*"`)
	a, b := e.get(t, "/t/"+c.Code).body, e.get(t, "/t/"+c.Code).body
	seen := map[string]bool{}
	for _, m := range append(fields.FindAllString(a, -1), fields.FindAllString(b, -1)...) {
		if seen[m] {
			t.Errorf("%s given twice", m)
		}
		seen[m] = true
	}
	if got := len(seen); got != 16 { // 4 forms, 2 fields, 2 views
		t.Errorf("%d distinct form fields in two views, want 16", got)
	}
	if strip := func(s string) string { return fields.ReplaceAllString(s, "") }; strip(a) != strip(b) {
		t.Error("two views of an unchanged case differ beyond their form fields")
	}
	for _, path := range []string{"/t/" + c.Code + "/info", "/t/" + c.Code + "/rate"} {
		_, form := formOf(t, b, path[strings.LastIndex(path, "/")+1:])
		if !uid.Valid(form.Get("nonce")) {
			t.Errorf("%s: nonce %q is not a UUIDv7", path, form.Get("nonce"))
		}
	}
}
