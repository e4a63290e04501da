package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"ombud/shared/staff"
)

var viewRE = regexp.MustCompile(`data-view="([^"]+)"><a href="/console/views/[^"]+">([^<]+)</a>`)

// viewsOn returns the saved views a queue page lists, name -> id.
func viewsOn(page string) map[string]string {
	out := map[string]string{}
	for _, m := range viewRE.FindAllStringSubmatch(page, -1) {
		out[m[2]] = m[1]
	}
	return out
}

// TestSavedViews: a person saves the queue's filters under a name, sees it
// listed, opens it (the queue with those filters), and deletes it; another
// person neither sees, opens nor deletes it; a supervisor's view shared
// with their team is listed and opened by its members, who cannot delete
// it; sharing is refused to an agent and to a team one is not in; unknown
// filters are not kept.
func TestSavedViews(t *testing.T) {
	e := newEnv(t)
	e.person(t, "ann", staff.Agent, "main")
	e.person(t, "bob", staff.Agent, "main", "fraud")
	e.person(t, "sue", staff.Supervisor, "main", "fraud")
	e.file(t, "main", "billing", "Frais inconnus.")
	ann, bob, sue := e.client(t), e.client(t), e.client(t)
	ann.signIn("ann")
	bob.signIn("bob")
	sue.signIn("sue")

	st, page := ann.get("/console/?state=all&category=billing")
	if st != http.StatusOK || !strings.Contains(page, `name="query" value="category=billing&amp;state=all"`) {
		t.Fatalf("queue page %d does not offer to save its filters:\n%s", st, page)
	}
	st, _, loc := ann.post("/console/views", url.Values{"name": {"Billing, all"}, "query": {"category=billing&state=all&evil=1&priority=x"}})
	if st != http.StatusSeeOther || loc != "/console/?category=billing&state=all" {
		t.Fatalf("save: %d to %q", st, loc)
	}
	_, page = ann.get("/console/")
	id := viewsOn(page)["Billing, all"]
	if id == "" {
		t.Fatalf("saved view not listed:\n%s", page)
	}
	if st, _, _ := ann.post("/console/views", url.Values{"name": {"Billing, all"}, "query": {"state=open"}}); st != http.StatusUnprocessableEntity {
		t.Errorf("same name twice: %d, want 422", st)
	}
	if st, _, _ := ann.post("/console/views", url.Values{"name": {"  "}}); st != http.StatusUnprocessableEntity {
		t.Errorf("no name: %d, want 422", st)
	}
	res, err := ann.http.Get(e.base + "/console/views/" + id)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/?category=billing&state=all" {
		t.Errorf("open: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}

	// Another person: not listed, not opened, not deleted.
	_, page = bob.get("/console/")
	if _, ok := viewsOn(page)["Billing, all"]; ok {
		t.Error("bob sees ann's private view")
	}
	if st, _ := bob.get("/console/views/" + id); st != http.StatusNotFound {
		t.Errorf("bob opens ann's view: %d, want 404", st)
	}
	if st, _, _ := bob.post("/console/views/"+id+"/delete", nil); st != http.StatusNotFound {
		t.Errorf("bob deletes ann's view: %d, want 404", st)
	}
	if _, err := e.st.View(context.Background(), id); err != nil {
		t.Errorf("ann's view after bob's attempt: %v", err)
	}

	// Sharing: an agent may not; a supervisor only with their own team.
	if st, _, _ := bob.post("/console/views", url.Values{"name": {"x"}, "query": {"state=open"}, "team": {"fraud"}}); st != http.StatusForbidden {
		t.Errorf("agent shares: %d, want 403", st)
	}
	if st, _, _ := sue.post("/console/views", url.Values{"name": {"x"}, "query": {"state=open"}, "team": {"loans"}}); st != http.StatusForbidden {
		t.Errorf("supervisor shares with another team: %d, want 403", st)
	}
	_, page = sue.get("/console/")
	if !strings.Contains(page, `<option value="fraud">team fraud</option>`) {
		t.Error("supervisor is not offered to share with their team")
	}
	if st, _, _ := sue.post("/console/views", url.Values{"name": {"Fraud queue"}, "query": {"queue=team:fraud"}, "team": {"fraud"}}); st != http.StatusSeeOther {
		t.Fatalf("supervisor shares: %d", st)
	}
	_, page = bob.get("/console/")
	shared := viewsOn(page)["Fraud queue"]
	if shared == "" || !strings.Contains(page, "shared with fraud by sue") {
		t.Fatalf("bob does not see sue's shared view:\n%s", page)
	}
	if st, _ := bob.get("/console/views/" + shared); st != http.StatusSeeOther {
		t.Errorf("bob opens the shared view: %d, want 303 to the queue", st)
	}
	if st, _, _ := bob.post("/console/views/"+shared+"/delete", nil); st != http.StatusForbidden {
		t.Errorf("bob deletes sue's shared view: %d, want 403", st)
	}
	_, page = ann.get("/console/")
	if _, ok := viewsOn(page)["Fraud queue"]; ok {
		t.Error("ann, not in fraud, sees the team's view")
	}
	if st, _ := ann.get("/console/views/" + shared); st != http.StatusNotFound {
		t.Errorf("ann opens fraud's view: %d, want 404", st)
	}

	// Without the form token, nothing is deleted; with it, the owner deletes.
	if st, _, _ := ann.post("/console/views/"+id+"/delete", url.Values{"csrf": {"forged"}}); st != http.StatusForbidden {
		t.Errorf("delete without the token: %d", st)
	}
	if st, _, _ := ann.post("/console/views/"+id+"/delete", nil); st != http.StatusSeeOther {
		t.Errorf("owner deletes: %d", st)
	}
	_, page = ann.get("/console/")
	if len(viewsOn(page)) != 0 {
		t.Errorf("views left after delete: %v", viewsOn(page))
	}
}
