package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"ombud/shared/event"
	"ombud/shared/staff"
)

// TestPrivacyPage: erasure and subject access at the console. An agent
// may not open the page; a supervisor records a request, and approving it
// themself is refused by the server (four eyes) and audited; a second
// supervisor's approval erases the case at once, except a case under a
// legal hold, whose reason the page and the outcome show; a subject-access
// export downloads as JSON and as a readable page holding the customer's
// words (escaped); each action is in the console's audit trail.
func TestPrivacyPage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.person(t, "sup-a", staff.Supervisor, "main")
	e.person(t, "sup-b", staff.Supervisor, "main")
	e.person(t, "agent", staff.Agent, "main")
	free := e.file(t, "main", "billing", "ERASE-ME frais <b>inconnus</b>")
	held := e.file(t, "main", "billing", "KEEP-ME dossier au tribunal")
	if _, err := e.srv.Privacy().SetHold(ctx, "sup-b", held.Code, "court order 42/2026"); err != nil {
		t.Fatal(err)
	}

	agent := e.client(t)
	agent.signIn("agent")
	if st, _ := agent.get("/console/privacy"); st != http.StatusForbidden {
		t.Errorf("agent: %d, want 403", st)
	}
	a, b := e.client(t), e.client(t)
	a.signIn("sup-a")
	b.signIn("sup-b")
	st, page := a.get("/console/privacy")
	if st != http.StatusOK || !strings.Contains(page, "court order 42/2026") {
		t.Fatalf("privacy page (%d) does not show the hold's reason:\n%s", st, page)
	}

	request := func(c *client, code string) string {
		t.Helper()
		st, body, loc := c.post("/console/privacy/erasure", url.Values{"kind": {"code"}, "value": {code}, "reason": {"asked at the desk, code on the receipt"}})
		if st != http.StatusSeeOther {
			t.Fatalf("request: %d %s", st, body)
		}
		id := strings.TrimPrefix(mustQuery(t, loc, "done"), "recorded ")
		if !strings.HasPrefix(id, "er-") {
			t.Fatalf("redirect %q names no request", loc)
		}
		return id
	}
	if st, body, _ := a.post("/console/privacy/erasure", url.Values{"kind": {"code"}, "value": {free.Code}, "reason": {" "}}); st != http.StatusUnprocessableEntity || !strings.Contains(body, "say why") {
		t.Errorf("a request without a reason: %d", st)
	}
	id := request(a, free.Code)
	st, body, _ := a.post("/console/privacy/erasure/"+id+"/approve", nil)
	if st != http.StatusForbidden || !strings.Contains(body, "second supervisor") {
		t.Errorf("approved by the one who recorded it: %d\n%s", st, body)
	}
	if n := len(ofType(e.events(t, free.ID), event.Redacted)); n != 0 {
		t.Fatalf("erased on one person's word (%d redactions)", n)
	}
	if st, body, _ := b.post("/console/privacy/erasure/"+id+"/approve", nil); st != http.StatusSeeOther {
		t.Fatalf("approval by a second supervisor: %d %s", st, body)
	}
	if n := len(ofType(e.events(t, free.ID), event.Redacted)); n != 1 {
		t.Errorf("after approval: %d redactions, want 1", n)
	}
	if st, _, _ := b.post("/console/privacy/erasure/"+id+"/approve", nil); st != http.StatusConflict {
		t.Errorf("approved twice: %d, want 409", st)
	}

	// The held case: approved, skipped, and the outcome says why.
	hid := request(b, held.Code)
	if st, body, _ := a.post("/console/privacy/erasure/"+hid+"/approve", nil); st != http.StatusSeeOther {
		t.Fatalf("approval of the held case's request: %d %s", st, body)
	}
	if n := len(ofType(e.events(t, held.ID), event.Redacted)); n != 0 {
		t.Errorf("a held case was erased")
	}
	if _, page := a.get("/console/privacy"); !strings.Contains(page, "skipped: court order 42/2026") {
		t.Errorf("the outcome does not name the hold's reason:\n%s", page)
	}

	// Subject access: the held case still holds the words.
	st, body, _ = a.post("/console/privacy/access", url.Values{"kind": {"code"}, "value": {held.Code}, "format": {"json"}})
	var x struct {
		Cases []struct{ Code, Description string }
	}
	if err := json.Unmarshal([]byte(body), &x); st != http.StatusOK || err != nil || len(x.Cases) != 1 || x.Cases[0].Description != held.Description {
		t.Errorf("JSON export (%d, %v): %s", st, err, body)
	}
	st, body, _ = a.post("/console/privacy/access", url.Values{"kind": {"code"}, "value": {free.Code}, "format": {"html"}})
	if st != http.StatusOK || !strings.Contains(body, "<html") || strings.Contains(body, "ERASE-ME") {
		t.Errorf("HTML export of the erased case (%d) shows its words or is not a page:\n%s", st, body)
	}
	if st, _, _ := agent.post("/console/privacy/access", url.Values{"kind": {"code"}, "value": {held.Code}, "format": {"json"}}); st != http.StatusForbidden {
		t.Errorf("agent export: %d, want 403", st)
	}

	es, err := e.st.ConsoleAudit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, x := range es {
		got[x.Action]++
		if strings.Contains(x.Detail, "ERASE-ME") || strings.Contains(x.Detail, "KEEP-ME") {
			t.Errorf("audit trail holds a customer's words: %+v", x)
		}
	}
	for action, n := range map[string]int{"erasure_request": 2, "erasure_refused": 1, "erasure_approve": 2, "subject_access": 2} {
		if got[action] != n {
			t.Errorf("audit trail: %d %s, want %d (%v)", got[action], action, n, got)
		}
	}
}

func mustQuery(t *testing.T, loc, key string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get(key)
}

// events is the server's stored events of a complaint.
func (e *env) events(t *testing.T, complaintID string) []event.Event {
	t.Helper()
	stored, err := e.st.ComplaintEvents(context.Background(), complaintID)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]event.Event, len(stored))
	for i := range stored {
		out[i] = stored[i].Event
	}
	return out
}

func ofType(es []event.Event, typ event.Type) []event.Event {
	var out []event.Event
	for _, e := range es {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}
