package console_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"html"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

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
	_, body := z.get("/console/2fa")
	if !strings.Contains(body, "Set up your second step") || strings.Contains(body, `href="/console/admin`) {
		t.Errorf("first sign-in does not offer TOTP enrolment, or shows the console's links half-way")
	}
	// The QR code is the otpauth URL of the key shown beside it: read it
	// as a phone would, and answer with its code.
	uri := decodeQR(t, between(body, `src="data:image/png;base64,`, `"`))
	key, err := otp.NewKeyFromURL(uri)
	if err != nil || key.Secret() != between(body, `<code id="secret">`, "<") || key.AccountName() != "zoe" {
		t.Fatalf("QR holds %q (%v), want the shown key for zoe", uri, err)
	}
	code, _ := totp.GenerateCode(key.Secret(), time.Now())
	if st, _, _ := z.post("/console/enrol", url.Values{"code": {"123456"}}); st != http.StatusUnauthorized {
		t.Errorf("enrolment with a wrong code: %d", st)
	}
	st, body, _ := z.post("/console/enrol", url.Values{"code": {code}})
	recovery := between(body, `<ol id="codes" class="codes"><li><code>`, "<")
	if st != http.StatusOK || recovery == "" {
		t.Fatalf("enrolment: %d, no recovery codes", st)
	}
	if st, _ := z.get("/console/"); st != http.StatusOK {
		t.Errorf("queues after enrolment: %d", st)
	}
	// Later, with a recovery code instead of the phone; once only.
	for i, want := range []int{http.StatusSeeOther, http.StatusUnauthorized} {
		r := e.client(t)
		r.get("/console/signin")
		r.post("/console/signin", url.Values{"id": {"zoe"}, "password": {password}})
		r.get("/console/2fa")
		if st, _, _ := r.post("/console/2fa", url.Values{"recovery": {strings.ToUpper(recovery)}}); st != want {
			t.Errorf("recovery code, use %d: %d, want %d", i+1, st, want)
		}
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
	st, body, _ = c.post("/console/admin/devices/enrol", url.Values{"branch": {"main"}, "role": {"team"}, "teams": {"fraud"}, "ttl": {"1h"}})
	code = between(body, `<code id="code" class="big">`, "<")
	if st != http.StatusOK || code == "" {
		t.Fatalf("enrolment code: %d %q", st, code)
	}
	if uri := decodeQR(t, between(body, `src="data:image/png;base64,`, `"`)); !strings.Contains(uri, "code="+code) || !strings.HasPrefix(uri, "ombud-enrol:?") {
		t.Errorf("enrolment QR holds %q", uri)
	}
	got, err := enrol.Redeem(ctx, e.st, enrol.Request{Code: code, DeviceName: "fraud-desk"}, time.Now())
	if err != nil || got.Device.Role != device.Team {
		t.Errorf("redeeming the console's code: %+v, %v", got, err)
	}

	c.get("/console/admin/staff")
	if st, _, _ := c.post("/console/admin/staff/zoe/revoke", nil); st != http.StatusUnprocessableEntity {
		t.Errorf("revoke without confirming: %d, want 422", st)
	}
	if st, _, _ := c.post("/console/admin/staff/zoe/revoke", url.Values{"confirm": {"on"}}); st != http.StatusSeeOther {
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

// decodeQR reads the QR code in a base64 PNG as a phone's camera would.
func decodeQR(t *testing.T, b64 string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(html.UnescapeString(b64))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.GetText()
}
