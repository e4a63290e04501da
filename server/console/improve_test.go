package console_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"ombud/server/kpi"
	"ombud/shared/sla"
	"ombud/shared/staff"
)

var figRE = regexp.MustCompile(`(?s)<table class="list figures" id="figures">.*?</table>`)

// waitFigure polls the improvement page until the figure id's current
// value is want, and returns the page.
func (c *client) waitFigure(t *testing.T, path, id, want string) string {
	t.Helper()
	re := regexp.MustCompile(`<tr id="fig-` + id + `"><th scope="row">[^<]*</th><td>([^<]*)</td>`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, body := c.get(path)
		if st != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, st, body)
		}
		m := re.FindStringSubmatch(body)
		if m != nil && m[1] == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("figure %s: got %v, want %q", id, m, want)
		}
		<-time.After(20 * time.Millisecond) // poll the condition again; the deadline above bounds the wait
	}
}

// TestImprovePage: the figures follow the log on the real server, within
// the person's branches only; another branch's figures and agents are
// refused; customer-chosen text is escaped; the exports match the page
// and are audited; and a rebuild from the log shows the same figures.
func TestImprovePage(t *testing.T) {
	e := newEnv(t)
	e.person(t, "mona", staff.Manager, "main")
	e.person(t, "sue", staff.Supervisor, "north")
	e.person(t, "al", staff.Agent, "main")
	a := e.file(t, "main", "cards", "Carte refusée au terminal.")
	e.file(t, "main", `<b>x</b>"cat`, "Frais.")
	e.file(t, "north", "cards", "Carte avalée.")

	mona := e.client(t)
	mona.signIn("mona")
	if st, _, _ := mona.post("/console/case/"+a.ID+"/acknowledge", url.Values{}); st != http.StatusSeeOther {
		t.Fatalf("acknowledge: %d", st)
	}
	const page = "/console/improve?period=month"
	mona.waitFigure(t, page, "received", "2") // main's two, not north's
	mona.waitFigure(t, page, "backlog", "2")
	body := mona.waitFigure(t, page, "ack-sla", "100.0 %")
	if strings.Contains(body, "<b>x</b>") || !strings.Contains(body, "&lt;b&gt;x&lt;/b&gt;") {
		t.Error("the category a kiosk sent is not escaped on the page")
	}
	for _, want := range []string{`id="volume-summary"`, "<svg", "<rect", "Backlog by age", "branch main",
		"Satisfaction over the last 12 periods", "Ratings of 4 or 5 stars: — in", `id="link-recurring"`,
		"Complaints by branch and category", "the most complaints were at main"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	// Scope: sue (north) may not ask for main; an agent may not see figures.
	sue := e.client(t)
	sue.signIn("sue")
	if st, _ := sue.get("/console/improve?branch=main"); st != http.StatusForbidden {
		t.Errorf("supervisor of north asking for main: %d, want 403", st)
	}
	if st, _ := sue.get("/console/improve/export?what=cases&format=csv&branch=main"); st != http.StatusForbidden {
		t.Errorf("export of another branch: %d, want 403", st)
	}
	sue.waitFigure(t, page, "received", "1")
	al := e.client(t)
	al.signIn("al")
	if st, _ := al.get("/console/improve"); st != http.StatusForbidden {
		t.Errorf("agent: %d, want 403", st)
	}
	if st, _ := mona.get(page + "&date=31-12-2026"); st != http.StatusBadRequest {
		t.Errorf("bad date: %d, want 400", st)
	}

	// Exports.
	st, out := mona.get("/console/improve/export?period=month&what=cases&format=csv")
	if st != http.StatusOK {
		t.Fatalf("csv export: %d %s", st, out)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0][0] != "code" || len(recs[0]) != 17 {
		t.Fatalf("csv export: %q", recs)
	}
	if !strings.Contains(out, a.Code) || strings.Contains(out, "Carte") {
		t.Errorf("csv export lacks the case's code or holds its text: %s", out)
	}
	st, out = mona.get("/console/improve/export?period=month&what=figures&format=json")
	var figs struct {
		Scope   string `json:"scope"`
		Figures []struct{ ID, Value string }
	}
	if err := json.Unmarshal([]byte(out), &figs); st != http.StatusOK || err != nil {
		t.Fatalf("json figures: %d %v %s", st, err, out)
	}
	if figs.Scope != "branch main" || figs.Figures[0].ID != "received" || figs.Figures[0].Value != "2" {
		t.Errorf("json figures: %+v", figs)
	}
	audit, err := e.st.ConsoleAudit(context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	exports := 0
	for _, x := range audit {
		if x.Action == "export" && x.StaffID == "mona" {
			exports++
		}
	}
	if exports != 2 {
		t.Errorf("audited exports by mona: %d, want 2 (%+v)", exports, audit)
	}

	// A rebuild from the log gives the page the same figures.
	before := figRE.FindString(body)
	cfg, err := sla.Fallback(2, 15, time.Local)
	if err != nil {
		t.Fatal(err)
	}
	f, err := kpi.New(kpi.Config{Log: e.st, Store: e.st, SLA: cfg, Location: time.Local})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, after := mona.get(page)
	if got := figRE.FindString(after); got != before || before == "" {
		t.Errorf("figures after a rebuild differ:\n%s\nbefore:\n%s", got, before)
	}
}
