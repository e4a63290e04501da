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

var actionLoc = regexp.MustCompile(`^/console/actions/([0-9a-f-]{36})\?done=opened$`)
var seqRE = regexp.MustCompile(`name="seq" value="(\d+)"`)

// TestCorrectiveActions: a supervisor opens an action linked to a case by
// its tracking code, moves it to done, cannot record the verdict; a
// manager can, and the history names each actor; a stale form conflicts;
// bad input is refused with a message and stores nothing; the audit trail
// records who did it.
func TestCorrectiveActions(t *testing.T) {
	e := newEnv(t)
	e.person(t, "sue", staff.Supervisor, "main")
	e.person(t, "max", staff.Manager, "main")
	e.person(t, "ana", staff.Agent, "main")
	cp := e.file(t, "main", "cards", "Card declined at the terminal.")
	sue, max, ana := e.client(t), e.client(t), e.client(t)
	sue.signIn("sue")
	max.signIn("max")
	ana.signIn("ana")

	if st, _ := ana.get("/console/actions"); st != http.StatusForbidden {
		t.Errorf("agent: %d, want 403", st)
	}
	st, body := sue.get("/console/actions")
	if st != http.StatusOK || !strings.Contains(body, "No corrective action yet") {
		t.Fatalf("list: %d", st)
	}
	form := url.Values{"problem": {"Card declined at <the> terminal"}, "cause": {"equipment"}, "cases": {cp.Code},
		"action": {"Update the terminals' firmware"}, "owner": {"max"}, "due": {"2026-12-31"}, "check_days": {"30"}}
	for name, bad := range map[string]url.Values{
		"unknown case":  {"cases": {"K7QM4XRT9B2C"}},
		"bad code":      {"cases": {"nonsense"}},
		"unknown owner": {"owner": {"nobody"}},
		"no cause":      {"cause": {""}},
		"bad due":       {"due": {"tomorrow"}},
	} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		for k, v := range bad {
			f[k] = v
		}
		if st, body, _ := sue.post("/console/actions", f); st != http.StatusUnprocessableEntity || !strings.Contains(body, `id="error"`) {
			t.Errorf("%s: %d, want 422 with a message", name, st)
		}
	}
	if _, body := sue.get("/console/actions"); !strings.Contains(body, "No corrective action yet") {
		t.Error("refused forms stored an action")
	}
	st, body, loc := sue.post("/console/actions", form)
	m := actionLoc.FindStringSubmatch(loc)
	if st != http.StatusSeeOther || m == nil {
		t.Fatalf("open: %d %s %s", st, loc, body)
	}
	page := "/console/actions/" + m[1]
	st, body = sue.get(page)
	if st != http.StatusOK || !strings.Contains(body, "Card declined at &lt;the&gt; terminal") || !strings.Contains(body, cp.Code) ||
		!strings.Contains(body, `id="state">planned`) || strings.Contains(body, `id="judge"`) {
		t.Fatalf("action page: %d\n%s", st, body)
	}
	seq := seqRE.FindStringSubmatch(body)[1]
	if st, _, _ := sue.post(page+"/move", url.Values{"state": {"done"}, "seq": {seq}}); st != http.StatusSeeOther {
		t.Fatalf("move to done: %d", st)
	}
	if st, body, _ := sue.post(page+"/move", url.Values{"state": {"in_progress"}, "seq": {seq}}); st != http.StatusConflict {
		t.Errorf("a stale form: %d, want 409\n%s", st, body)
	}
	_, body = sue.get(page)
	seq = seqRE.FindStringSubmatch(body)[1]
	if !strings.Contains(body, `id="effect-summary"`) || strings.Contains(body, `id="judge"`) {
		t.Error("done: the check should show, the verdict form only to managers")
	}
	if st, _, _ := sue.post(page+"/verdict", url.Values{"effective": {"yes"}, "note": {"fine"}, "seq": {seq}}); st != http.StatusForbidden {
		t.Errorf("a supervisor's verdict: %d, want 403", st)
	}
	_, body = max.get(page)
	if !strings.Contains(body, `id="judge"`) {
		t.Fatal("the manager is not offered the verdict")
	}
	if st, _, _ := max.post(page+"/verdict", url.Values{"effective": {"no"}, "note": {"still declined"}, "seq": {seq}}); st != http.StatusSeeOther {
		t.Fatalf("verdict: %d", st)
	}
	_, body = max.get(page)
	for _, want := range []string{`id="state">not effective`, "Verdict by max", "sue</td><td>opened", "sue</td><td>moved: now done", "max</td><td>verdict: not effective"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if _, body = sue.get("/console/actions"); !strings.Contains(body, "not effective") {
		t.Error("list does not show the state")
	}
	// The export: CSV with a formula-looking cell neutralised, NDJSON a
	// line per action; each export in the audit trail.
	st, csvBody := sue.get("/console/actions/export?format=csv")
	if st != http.StatusOK || !strings.HasPrefix(csvBody, "id,problem,cause,") || !strings.Contains(csvBody, "not_effective,max,") {
		t.Errorf("csv export: %d\n%s", st, csvBody)
	}
	st, nd := sue.get("/console/actions/export?format=ndjson")
	if st != http.StatusOK || strings.Count(nd, "\n") != 1 || !strings.Contains(nd, `"verdict_note":"still declined"`) {
		t.Errorf("ndjson export: %d\n%s", st, nd)
	}
	es, err := e.st.ConsoleAudit(context.Background(), 50)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, a := range es {
		if strings.HasPrefix(a.Action, "action_") || a.Action == "export" {
			trail = append(trail, a.StaffID+":"+a.Action)
		}
	}
	if got := strings.Join(trail, " "); got != "sue:export sue:export max:action_verdict sue:action_move sue:action_opened" {
		t.Errorf("audit trail: %s", got)
	}
}
