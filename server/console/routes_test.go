package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"ombud/server/console"
	"ombud/server/storage"
	"ombud/shared/staff"
)

// TestEveryRouteEveryRole tries every console route as nobody, as a
// half-signed-in person (password only) and as each role, signed in at a
// branch that does not hold the case the routes name: nobody gets past
// sign-in, the half session reaches only the second step, a role below a
// route's gets 403, and the case of another branch is 404 whatever the
// role (its id in the URL opens nothing). Forms without the CSRF token are
// refused for everyone.
func TestEveryRouteEveryRole(t *testing.T) {
	e := newEnv(t)
	roles := []staff.Role{staff.Agent, staff.Supervisor, staff.Manager, staff.Administrator}
	for _, r := range roles {
		e.person(t, string(r)+"-n", r, "north")
	}
	e.person(t, "half", staff.Administrator, "north")
	cp := e.file(t, "main", "billing", "Frais inconnus.")
	// A saved view of someone else's: {view} names it, and no one else
	// opens or deletes it.
	if err := e.st.SaveView(context.Background(), storage.SavedView{ID: "someone-elses", StaffID: "half", Name: "mine", Query: "state=open", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	path := func(p string) string {
		p = strings.ReplaceAll(p, "{$}", "")
		p = strings.ReplaceAll(p, "{id}", cp.ID)
		p = strings.ReplaceAll(p, "{action}", "note")
		p = strings.ReplaceAll(p, "{change}", "signout")
		p = strings.ReplaceAll(p, "{view}", "someone-elses")
		return strings.ReplaceAll(p, "{name}", "console.css")
	}
	type who struct {
		name string
		c    *client
		role staff.Role
	}
	var people []who
	people = append(people, who{"nobody", e.client(t), ""})
	half := e.client(t)
	half.get("/console/signin")
	if st, _, _ := half.post("/console/signin", url.Values{"id": {"half"}, "password": {password}}); st != http.StatusSeeOther {
		t.Fatal("half sign-in")
	}
	half.get("/console/2fa")
	people = append(people, who{"half", half, ""})
	for _, r := range roles {
		c := e.client(t)
		c.signIn(string(r) + "-n")
		people = append(people, who{string(r), c, r})
	}
	for _, rt := range console.Routes() {
		for _, p := range people {
			if rt.Path == console.Prefix+"signout" || rt.Path == console.Prefix+"signout-all" || rt.Path == console.Prefix+"events" {
				continue // tried below: they end the session or stream
			}
			t.Run(rt.Method+" "+rt.Path+" as "+p.name, func(t *testing.T) {
				var st int
				if rt.Method == "GET" {
					st, _ = p.c.get(path(rt.Path))
				} else {
					st, _, _ = p.c.post(path(rt.Path), url.Values{"text": {"x"}, "code": {"000000"}, "password": {"x"}, "id": {"x"}})
				}
				full := p.role != ""
				switch {
				case rt.Need == "":
					if st >= 500 {
						t.Errorf("public route: %d", st)
					}
				case p.name == "nobody" || (p.name == "half" && rt.Stage == "full"):
					if st != http.StatusSeeOther && st != http.StatusUnauthorized {
						t.Errorf("got %d, want redirect to sign in or 401", st)
					}
				case full && !p.role.AtLeast(rt.Need):
					if st != http.StatusForbidden {
						t.Errorf("role %s below %s: %d, want 403", p.role, rt.Need, st)
					}
				case full && (strings.Contains(rt.Path, "{id}") || strings.Contains(rt.Path, "{view}")):
					if st != http.StatusNotFound {
						t.Errorf("case of another branch or another's view: %d, want 404", st)
					}
				case full && rt.Method == "GET" && rt.Stage == "full":
					if st != http.StatusOK {
						t.Errorf("got %d, want 200", st)
					}
				}
				if rt.Method == "POST" && rt.Need != "" && p.role != "" {
					st, _, _ := p.c.post(path(rt.Path), url.Values{"csrf": {"forged"}, "text": {"x"}})
					if st != http.StatusForbidden {
						t.Errorf("without the CSRF token: %d, want 403", st)
					}
				}
			})
		}
	}
	// The live feed: refused without a session.
	if st, _ := people[0].c.get("/console/events"); st != http.StatusUnauthorized {
		t.Errorf("events as nobody: %d, want 401", st)
	}
	// Headers: the strict CSP with frame-ancestors 'none' on every page.
	res, err := http.Get(e.base + "/console/signin")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "script-src 'self'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
}
