package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"ombud/shared/staff"
)

var anchorRE = regexp.MustCompile(`name="complaint" value="([0-9a-f-]{36})"><button type="submit">Dismiss`)

// TestRecurringProblems: complaints that say the same thing in several
// branches are one group with its count, branches and growth; a
// supervisor's merge and dismissal are remembered; an agent is refused;
// a decision naming a complaint out of scope is refused.
func TestRecurringProblems(t *testing.T) {
	e := newEnv(t)
	e.person(t, "sue", staff.Supervisor, "main")
	e.st.SetConsoleBranches(t.Context(), "sue", []string{"*"}, time.Now())
	e.person(t, "nic", staff.Supervisor, "north")
	e.person(t, "ana", staff.Agent, "main")
	for _, x := range []struct{ branch, text string }{
		{"main", "Ma carte a été refusée au terminal de paiement."},
		{"north", "Le terminal a refusé ma carte bancaire."},
		{"main", "Carte refusée trois fois au terminal du guichet."},
		{"north", "J'ai attendu plus d'une heure dans la file."},
		{"main", "Attente de 50 minutes, la file n'avançait pas."},
		{"main", "Le parking est <b>payant</b> maintenant."},
	} {
		e.file(t, x.branch, "cards", x.text)
	}
	sue, ana := e.client(t), e.client(t)
	sue.signIn("sue")
	ana.signIn("ana")
	if st, _ := ana.get("/console/recurring"); st != http.StatusForbidden {
		t.Errorf("agent: %d", st)
	}
	wait := func(ok func(string) bool) string {
		deadline := time.Now().Add(60 * time.Second)
		for {
			st, body := sue.get("/console/recurring?period=week")
			if st == http.StatusOK && ok(body) {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("recurring page not as expected: %d\n%s", st, body)
			}
			<-time.After(100 * time.Millisecond) // the figures follow the log; the deadline bounds the wait
		}
	}
	body := wait(func(b string) bool { return strings.Contains(b, "3 complaints in 2 branches this period, up from 0") })
	if !strings.Contains(body, "2 complaints in 2 branches this period, up from 0") || !strings.Contains(body, `id="growing">1 growing`) {
		t.Errorf("groups:\n%s", body)
	}
	if strings.Contains(body, "parking") {
		t.Error("a complaint said once is shown as recurring")
	}
	anchors := anchorRE.FindAllStringSubmatch(body, -1)
	if len(anchors) != 2 {
		t.Fatalf("anchors: %v", anchors)
	}
	// Merge the queue group into the card group, then dismiss it.
	if st, _, loc := sue.post("/console/recurring/merge", url.Values{"complaint": {anchors[1][1]}, "into": {anchors[0][1]}, "back": {"?period=week"}}); st != http.StatusSeeOther || loc != "/console/recurring?period=week" {
		t.Fatalf("merge: %d %s", st, loc)
	}
	wait(func(b string) bool { return strings.Contains(b, "5 complaints in 2 branches") })
	if st, _, _ := sue.post("/console/recurring/dismiss", url.Values{"complaint": {anchors[0][1]}}); st != http.StatusSeeOther {
		t.Fatalf("dismiss: %d", st)
	}
	body = wait(func(b string) bool { return strings.Contains(b, "No complaint was said twice") })
	if !strings.Contains(body, "1 dismissed") {
		t.Error("the dismissal is not counted")
	}
	nic := e.client(t)
	nic.signIn("nic")
	nic.get("/console/recurring")
	if st, _, _ := nic.post("/console/recurring/split", url.Values{"complaint": {anchors[0][1]}}); st != http.StatusNotFound {
		t.Errorf("north's supervisor splitting a main complaint: %d, want 404", st)
	}
}
