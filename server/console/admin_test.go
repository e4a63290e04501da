package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"ombud/server/enrol"
	"ombud/shared/device"
	"ombud/shared/staff"
)

// TestAdministration: an administrator adds an account with a console
// password (who can then sign in), changes its role and teams and its
// console scope, issues an enrolment code that really enrols a team
// terminal, revokes the account, adds a branch; each change is in the
// audit trail; the file-based commands' storage sees the same accounts.
func TestAdministration(t *testing.T) {
	e := newEnv(t)
	e.person(t, "root", staff.Administrator, "main")
	c := e.client(t)
	c.signIn("root")
	ctx := context.Background()

	c.get("/console/admin/staff")
	if st, body, _ := c.post("/console/admin/staff", url.Values{"id": {"Zoe"}, "name": {"Zoé Martin"}, "branch": {"north"}, "role": {"agent"}, "password": {"password1234"}}); st != http.StatusUnprocessableEntity || !strings.Contains(body, "most common") {
		t.Errorf("common password: %d", st)
	}
	if st, _, _ := c.post("/console/admin/staff", url.Values{"id": {"Zoe"}, "name": {"Zoé Martin"}, "branch": {"north"}, "role": {"agent"}, "password": {password}}); st != http.StatusSeeOther {
		t.Fatalf("add: %d", st)
	}
	a, err := e.st.ConsoleAccount(ctx, "zoe")
	if err != nil || a.Role != staff.Agent || a.Branch != "north" || a.PasswordHash == "" {
		t.Fatalf("added account = %+v, %v", a, err)
	}
	// The new person signs in: first the password, then TOTP enrolment.
	z := e.client(t)
	z.get("/console/signin")
	if st, _, loc := z.post("/console/signin", url.Values{"id": {"zoe"}, "password": {password}}); st != http.StatusSeeOther || loc != "/console/2fa" {
		t.Errorf("new account's sign-in: %d %s", st, loc)
	}
	if _, body := z.get("/console/2fa"); !strings.Contains(body, "Set up your second step") || !strings.Contains(body, "data:image/png;base64,") {
		t.Errorf("first sign-in does not offer TOTP enrolment with a QR code")
	}

	c.get("/console/admin/staff")
	if st, _, _ := c.post("/console/admin/staff/zoe/role", url.Values{"role": {"supervisor"}, "teams": {"fraud"}}); st != http.StatusSeeOther {
		t.Errorf("role: %d", st)
	}
	if st, _, _ := c.post("/console/admin/staff/zoe/scope", url.Values{"branches": {"main"}}); st != http.StatusSeeOther {
		t.Errorf("scope: %d", st)
	}
	if a, _ = e.st.ConsoleAccount(ctx, "zoe"); a.Role != staff.Supervisor || len(a.Teams) != 1 || a.Teams[0] != "fraud" || len(a.Branches) != 1 {
		t.Errorf("after changes: %+v", a)
	}
	if st, _, _ := c.post("/console/admin/staff/root/role", url.Values{"role": {"agent"}}); st != http.StatusUnprocessableEntity {
		t.Errorf("demoting oneself: %d, want refused", st)
	}

	c.get("/console/admin/devices")
	st, body, _ := c.post("/console/admin/devices/enrol", url.Values{"branch": {"main"}, "role": {"team"}, "teams": {"fraud"}, "ttl": {"1h"}})
	code := between(body, `<code id="code" class="big">`, "<")
	if st != http.StatusOK || code == "" || !strings.Contains(body, "data:image/png;base64,") {
		t.Fatalf("enrolment code: %d %q", st, code)
	}
	got, err := enrol.Redeem(ctx, e.st, enrol.Request{Code: code, DeviceName: "fraud-desk"}, time.Now())
	if err != nil || got.Device.Role != device.Team {
		t.Errorf("redeeming the console's code: %+v, %v", got, err)
	}

	c.get("/console/admin/staff")
	if st, _, _ := c.post("/console/admin/staff/zoe/revoke", nil); st != http.StatusSeeOther {
		t.Errorf("revoke: %d", st)
	}
	if acct, _ := e.st.StaffAccount(ctx, "zoe"); !acct.Revoked() {
		t.Errorf("zoe not revoked")
	}
	c.get("/console/admin/branches")
	if st, _, _ := c.post("/console/admin/branches", url.Values{"id": {"east"}, "name": {"East branch"}}); st != http.StatusSeeOther {
		t.Errorf("add branch: %d", st)
	}
	if _, err := e.st.Branch(ctx, "east"); err != nil {
		t.Errorf("branch east: %v", err)
	}
	audit, _ := e.st.ConsoleAudit(ctx, 100)
	seen := map[string]bool{}
	for _, a := range audit {
		seen[a.Action] = true
		if strings.Contains(a.Detail, password) || strings.Contains(a.Detail, code) {
			t.Errorf("audit holds a secret: %+v", a)
		}
	}
	for _, want := range []string{"admin_staff_add", "admin_staff_role", "admin_staff_scope", "admin_enrol_code", "admin_staff_revoke", "admin_branch_add"} {
		if !seen[want] {
			t.Errorf("audit lacks %s", want)
		}
	}
}
