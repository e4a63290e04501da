package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"ombud/shared/staff"
)

// TestE2EConsoleOnPostgreSQL: the real server on PostgreSQL serves the
// console: a person signs in with password and second factor, finds a case
// by words typed without accents or capitals (and not another branch's),
// opens one by its tracking code, sees the improvement figures; every
// event stored meanwhile is chained, and the chain verifies.
func TestE2EConsoleOnPostgreSQL(t *testing.T) {
	e := newPGEnv(t)
	ctx := context.Background()
	e.person(t, "ana", staff.Supervisor, "main")
	mine := e.file(t, "main", "cards", "Ma carte a été VOLÉE au distributeur.")
	other := e.file(t, "north", "cards", "Carte volée à Lille.")
	c := e.client(t)
	c.signIn("ana")

	st, body := c.get("/console/search?q=" + url.QueryEscape("vole carte"))
	if st != http.StatusOK || !strings.Contains(body, mine.Code) {
		t.Errorf("search 'vole carte': %d, want %s in\n%s", st, mine.Code, body)
	}
	if strings.Contains(body, other.Code) {
		t.Errorf("search shows a case of another branch")
	}
	if st, _ := c.get("/console/search?q=" + url.QueryEscape("DISTRIB")); st != http.StatusOK {
		t.Errorf("search by prefix: %d", st)
	}
	if st, _ := c.get("/console/search?q=" + strings.ToLower(mine.Code)); st != http.StatusSeeOther {
		t.Errorf("search by code: %d, want a redirect to the case", st)
	}
	if st, _ := c.get("/console/search?q=" + url.QueryEscape(`"NEAR( OR * & | ! :*`)); st != http.StatusOK {
		t.Errorf("search syntax in the query: %d", st)
	}
	if st, body := c.get("/console/improve?period=month"); st != http.StatusOK {
		t.Errorf("improvement figures on PostgreSQL: %d\n%s", st, body)
	}
	if au, err := e.st.ConsoleAudit(ctx, 10); err != nil || len(au) == 0 || au[0].StaffID != "ana" {
		t.Errorf("console audit trail = %+v, %v", au, err)
	}

	rep, err := e.st.AuditVerify(ctx, nil)
	if err != nil || rep.Break != nil || rep.Rows < 2 {
		t.Fatalf("audit chain on PostgreSQL: %+v, %v", rep, err)
	}
	head, err := e.st.AuditHead(ctx)
	if err != nil || head != rep.Head {
		t.Fatalf("head = %v, %v; verified %v", head, err, rep.Head)
	}
	// The case engine's events (stored by the server under the lease)
	// are in the chain too.
	evs, err := e.st.ComplaintEvents(ctx, mine.ID)
	if err != nil || len(evs) == 0 {
		t.Fatalf("events of %s: %d, %v", mine.ID, len(evs), err)
	}
}
