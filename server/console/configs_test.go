package console_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"ombud/server/enrol"
	"ombud/server/storage"
	"ombud/shared/device"
	"ombud/shared/staff"
)

// slaServed returns what /api/v1/sla serves an enrolled device, and its
// ETag.
func slaServed(t *testing.T, e *env, auth string) (string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.base+"/api/v1/sla", nil)
	req.Header.Set("Authorization", auth)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/api/v1/sla: %d %s", res.StatusCode, b)
	}
	return string(b), res.Header.Get("ETag")
}

// TestSLAAdministration: an administrator adds a holiday and edits a
// calendar's opening hours at the console; each change is checked by the
// file's parser, recorded (who, when, a version), in force at once for
// what /api/v1/sla serves the devices and for the case engine's deadlines;
// a refused edit names the problem and changes nothing; a check alone
// applies nothing; a holiday is removed, and a rollback restores it; the
// history shows what changed.
func TestSLAAdministration(t *testing.T) {
	e := newEnv(t)
	e.person(t, "ada", staff.Administrator, "main")
	ctx := context.Background()
	code, _, err := enrol.Issue(ctx, e.st, enrol.Grant{Branch: "main", Role: device.Kiosk}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	en, err := enrol.Redeem(ctx, e.st, enrol.Request{Code: code, DeviceName: "k"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + en.Credential
	before, etag0 := slaServed(t, e, auth)

	ada := e.client(t)
	ada.signIn("ada")
	st, page := ada.get("/console/admin/sla")
	if st != http.StatusOK || !strings.Contains(page, `id="cal-default"`) || !strings.Contains(page, "Which wins") {
		t.Fatalf("SLA page %d:\n%s", st, page)
	}
	if st, _, _ := ada.post("/console/admin/sla/holidays", url.Values{"list": {"fr"}, "date": {"2026-12-25"}, "name": {"Noël"}}); st != http.StatusSeeOther {
		t.Fatalf("add holiday: %d", st)
	}
	// Open round the clock, in UTC, with the list: a case filed now is due
	// to be acknowledged 16 business hours later, exactly.
	allDay := url.Values{"calendar": {"default"}, "time_zone": {"UTC"}, "lists": {"fr"}}
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"} {
		allDay.Set(d, "00:00-24:00")
	}
	if st, body, _ := ada.post("/console/admin/sla/hours", allDay); st != http.StatusSeeOther {
		t.Fatalf("hours: %d\n%s", st, body)
	}
	served, etag := slaServed(t, e, auth)
	if etag == etag0 || !strings.Contains(served, "2026-12-25") || !strings.Contains(served, `"sun"`) || served == before {
		t.Errorf("devices are served the old rules (etag %s → %s):\n%s", etag0, etag, served)
	}
	c := e.file(t, "main", "billing", "Frais.")
	row := e.waitCase(t, c.ID, func(r storage.CaseRow) bool { return !r.AckDue.IsZero() })
	if got := row.AckDue.Sub(c.FiledAt); got < 16*time.Hour-time.Second || got > 16*time.Hour+time.Second {
		t.Errorf("acknowledge due %s after filing, want 16h on a round-the-clock calendar", got)
	}

	// Refused: an impossible hour (the parser's message, nothing changed).
	bad := url.Values{"calendar": {"default"}, "time_zone": {"UTC"}, "mon": {"25:00-26:00"}}
	st, page, _ = ada.post("/console/admin/sla/hours", bad)
	if st != http.StatusUnprocessableEntity || !strings.Contains(page, "Refused, nothing was changed") || !strings.Contains(page, "line") {
		t.Errorf("bad hours: %d\n%s", st, page)
	}
	st, page, _ = ada.post("/console/admin/sla", url.Values{"body": {"{\n  \"calendars\": {},\n  \"policies\": []\n}"}, "action": {"apply"}})
	if st != http.StatusUnprocessableEntity || !strings.Contains(page, "line") || !strings.Contains(page, "default") {
		t.Errorf("bad file: %d\n%s", st, page)
	}
	// A check applies nothing.
	st, page, _ = ada.post("/console/admin/sla", url.Values{"body": {before}, "action": {"check"}})
	if st != http.StatusOK || !strings.Contains(page, "Valid") {
		t.Errorf("check: %d\n%s", st, page)
	}
	if now, _ := slaServed(t, e, auth); now != served {
		t.Error("refused edits or a check changed what is served")
	}
	vs, err := e.st.ConfigVersions(ctx, storage.ConfigSLA, 10)
	if err != nil || len(vs) != 2 || vs[0].StaffID != "ada" || vs[0].Source != storage.SourceConsole || !strings.Contains(vs[1].Note, "2026-12-25") {
		t.Fatalf("versions: %+v %v", vs, err)
	}

	// Remove the holiday, then roll back to the version that had it.
	if st, _, _ := ada.post("/console/admin/sla/holidays", url.Values{"list": {"fr"}, "date": {"2026-12-25"}, "remove": {"on"}}); st != http.StatusSeeOther {
		t.Fatalf("remove holiday: %d", st)
	}
	if now, _ := slaServed(t, e, auth); strings.Contains(now, "2026-12-25") {
		t.Error("removed holiday still served")
	}
	if st, _, _ := ada.post("/console/admin/sla/rollback", url.Values{"version": {"2"}}); st != http.StatusSeeOther {
		t.Fatalf("rollback: %d", st)
	}
	if now, _ := slaServed(t, e, auth); now != served {
		t.Errorf("after rolling back to version 2, served:\n%s\nwant:\n%s", now, served)
	}
	if st, _, _ := ada.post("/console/admin/sla/rollback", url.Values{"version": {"99"}}); st != http.StatusUnprocessableEntity {
		t.Errorf("rollback to a missing version: %d", st)
	}
	st, page = ada.get("/console/admin/sla?show=1")
	if st != http.StatusOK || !strings.Contains(page, `<span class="dadd">&#43;         &#34;date&#34;: &#34;2026-12-25&#34;,</span>`) {
		t.Errorf("version 1's changes not shown:\n%s", page)
	}
	vs, _ = e.st.ConfigVersions(ctx, storage.ConfigSLA, 10)
	if len(vs) != 4 || vs[0].Source != storage.SourceRollback {
		t.Errorf("versions after rollback: %+v", vs)
	}
	audit, _ := e.st.ConsoleAudit(ctx, 20)
	n := 0
	for _, a := range audit {
		if a.Action == "admin_config_sla" && a.StaffID == "ada" {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d SLA changes audited, want 4", n)
	}
}

// TestDispatchAdministration: the rules in force are shown; a bad version
// is refused with the loader's line and changes nothing; a good one is in
// force for the next case; the history keeps both versions and a rollback
// restores the first.
func TestDispatchAdministration(t *testing.T) {
	e := newEnv(t)
	e.person(t, "ada", staff.Administrator, "main")
	ada := e.client(t)
	ada.signIn("ada")
	st, page := ada.get("/console/admin/dispatch")
	if st != http.StatusOK || !strings.Contains(page, "every case goes to its filing branch") {
		t.Fatalf("dispatch page %d:\n%s", st, page)
	}
	bad := "{\n  \"queues\": [{\"id\": \"fraud\"}],\n  \"rules\": [{\"name\": \"x\", \"queue\": \"team:nope\"}]\n}"
	st, page, _ = ada.post("/console/admin/dispatch", url.Values{"body": {bad}, "action": {"apply"}})
	if st != http.StatusUnprocessableEntity || !strings.Contains(page, "line 3") || !strings.Contains(page, "nope") {
		t.Errorf("bad rules: %d\n%s", st, page)
	}
	good := "{\n  \"queues\": [{\"id\": \"fraud\", \"name\": \"Fraud\"}],\n  \"rules\": [{\"name\": \"cards\", \"when\": {\"category\": [\"cards\"]}, \"queue\": \"team:fraud\"}]\n}\n"
	if st, page, _ := ada.post("/console/admin/dispatch", url.Values{"body": {good}, "action": {"apply"}, "note": {"cards to fraud"}}); st != http.StatusSeeOther {
		t.Fatalf("apply: %d\n%s", st, page)
	}
	c := e.file(t, "main", "cards", "Carte volée.")
	if row := e.waitCase(t, c.ID, func(r storage.CaseRow) bool { return r.Queue != "" }); row.Queue != "team:fraud" {
		t.Errorf("case queued to %q after the new rules, want team:fraud", row.Queue)
	}
	other := "{\n  \"queues\": [{\"id\": \"cards\"}],\n  \"rules\": [{\"name\": \"cards\", \"when\": {\"category\": [\"cards\"]}, \"queue\": \"team:cards\"}]\n}\n"
	if st, _, _ := ada.post("/console/admin/dispatch", url.Values{"body": {other}, "action": {"apply"}}); st != http.StatusSeeOther {
		t.Fatal("second version")
	}
	st, page = ada.get("/console/admin/dispatch?show=2")
	if st != http.StatusOK || !strings.Contains(page, `<span class="ddel">-   &#34;queues&#34;: [{&#34;id&#34;: &#34;fraud&#34;, &#34;name&#34;: &#34;Fraud&#34;}],</span>`) {
		t.Errorf("version 2's changes not shown:\n%s", page)
	}
	if st, _, _ := ada.post("/console/admin/dispatch/rollback", url.Values{"version": {"1"}}); st != http.StatusSeeOther {
		t.Fatal("rollback")
	}
	c = e.file(t, "main", "cards", "Carte perdue.")
	if row := e.waitCase(t, c.ID, func(r storage.CaseRow) bool { return r.Queue != "" }); row.Queue != "team:fraud" {
		t.Errorf("after the rollback, case queued to %q, want team:fraud", row.Queue)
	}
	_, page = ada.get("/console/admin/dispatch")
	if !strings.Contains(page, "team:fraud") || !strings.Contains(page, "cards to fraud") || !strings.Contains(page, "rolled back to version 1") {
		t.Errorf("page after rollback:\n%s", page)
	}
}
