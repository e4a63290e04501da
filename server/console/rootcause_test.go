package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/staff"
)

// TestCloseRecordsRootCause: the console's close form requires a root
// cause from the taxonomy or "other" with a description; what is chosen
// travels in the closure's payload through the admission rules and is
// the case's root cause, shown on its timeline.
func TestCloseRecordsRootCause(t *testing.T) {
	e := newEnv(t)
	e.person(t, "ana", staff.Agent, "main")
	a := e.client(t)
	a.signIn("ana")
	decided := func(text string) string {
		cp := e.file(t, "main", "cards", text)
		for _, step := range []struct {
			action string
			form   url.Values
		}{
			{"acknowledge", url.Values{}},
			{"assess", url.Values{"severity": {string(event.SeverityMedium)}, "priority": {"3"}}},
			{"respond", url.Values{"text": {"We returned your card."}}},
		} {
			a.get("/console/case/" + cp.ID)
			if st, body, _ := a.post("/console/case/"+cp.ID+"/"+step.action, step.form); st != http.StatusSeeOther {
				t.Fatalf("%s: %d %s", step.action, st, body)
			}
		}
		return cp.ID
	}
	id := decided("The machine kept my card.")
	st, body := a.get("/console/case/" + id)
	if st != http.StatusOK || !strings.Contains(body, `<option value="equipment"`) || !strings.Contains(body, `name="cause_other"`) {
		t.Fatalf("the close form does not offer the taxonomy: %d", st)
	}
	for _, bad := range []url.Values{
		{"accepted": {"yes"}},
		{"accepted": {"yes"}, "cause": {"gremlins"}},
		{"accepted": {"yes"}, "cause": {"other"}, "cause_other": {"  "}},
	} {
		if st, body, _ := a.post("/console/case/"+id+"/close", bad); st != http.StatusUnprocessableEntity || !strings.Contains(body, "Choose the root cause") {
			t.Errorf("close with %v: %d, want 422 asking for the root cause", bad, st)
		}
	}
	if st, body, _ := a.post("/console/case/"+id+"/close", url.Values{"accepted": {"yes"}, "cause": {"equipment"}}); st != http.StatusSeeOther {
		t.Fatalf("close: %d %s", st, body)
	}
	c := e.fold(t, id)
	if c.State != lifecycle.Closed || c.RootCause != "equipment" {
		t.Errorf("state %s cause %q, want closed with equipment", c.State, c.RootCause)
	}
	if _, body := a.get("/console/case/" + id); !strings.Contains(body, "root cause: Equipment or terminal fault") {
		t.Error("the timeline does not show the root cause")
	}

	id = decided("Door locked at noon.")
	a.get("/console/case/" + id)
	if st, body, _ := a.post("/console/case/"+id+"/close", url.Values{"accepted": {"yes"}, "cause": {"other"}, "cause_other": {"Door <b>locked</b>"}}); st != http.StatusSeeOther {
		t.Fatalf("close with other: %d %s", st, body)
	}
	if c := e.fold(t, id); c.RootCause != "other: Door <b>locked</b>" {
		t.Errorf("cause %q", c.RootCause)
	}
	if _, body := a.get("/console/case/" + id); !strings.Contains(body, "root cause: Other: Door &lt;b&gt;locked&lt;/b&gt;") {
		t.Error("the other cause is not shown escaped")
	}
}

// fold folds a complaint's stored events.
func (e *env) fold(t *testing.T, id string) lifecycle.Case {
	t.Helper()
	evs, err := e.st.ComplaintEvents(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	list := make([]event.Event, len(evs))
	for i := range evs {
		list[i] = evs[i].Event
	}
	c, err := lifecycle.Fold(list)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
