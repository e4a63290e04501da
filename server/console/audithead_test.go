package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"ombud/server/storage/sqlite"
	"ombud/shared/staff"
)

// TestAuditHeadAPI: the chain's head is served to administrators only
// (nobody is sent to sign in, an agent and a supervisor get 403), with the
// value the store holds; verifying over the console passes on a clean log
// and against the recorded head, names the sequence of a payload edited by
// direct SQL (409), refuses a head the log does not hold, and every walk
// is in the console's audit trail.
func TestAuditHeadAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.person(t, "root", staff.Administrator, "main")
	e.person(t, "agent", staff.Agent, "main")
	e.person(t, "sup", staff.Supervisor, "main")
	e.file(t, "main", "billing", "Frais inconnus.")
	e.file(t, "main", "billing", "Deuxième plainte.")

	nobody := e.client(t)
	if st, _ := nobody.get("/console/admin/audit/head"); st != http.StatusSeeOther && st != http.StatusUnauthorized {
		t.Errorf("nobody: %d, want a redirect to sign in", st)
	}
	for _, id := range []string{"agent", "sup"} {
		c := e.client(t)
		c.signIn(id)
		for _, p := range []string{"/console/admin/audit/head", "/console/admin/audit/verify"} {
			if st, body := c.get(p); st != http.StatusForbidden || strings.Contains(body, `"hash"`) {
				t.Errorf("%s %s: %d, want 403 without the head", id, p, st)
			}
		}
	}

	admin := e.client(t)
	admin.signIn("root")
	st, body := admin.get("/console/admin/audit/head")
	if st != http.StatusOK {
		t.Fatalf("head: %d %s", st, body)
	}
	var got struct {
		Seq        int64
		Hash, Head string
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("head body %q: %v", body, err)
	}
	want, err := e.st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want.Seq < 2 || got.Seq != want.Seq || got.Hash != want.Hash.String() || got.Head != want.String() {
		t.Errorf("head = %+v, store's %s", got, want)
	}

	type verdict struct {
		OK    bool
		Rows  int64
		Break *struct {
			Seq  int64
			Kind string
		}
	}
	verify := func(head string) (int, verdict) {
		t.Helper()
		p := "/console/admin/audit/verify"
		if head != "" {
			p += "?head=" + url.QueryEscape(head)
		}
		st, body := admin.get(p)
		var v verdict
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("verify body %q: %v", body, err)
		}
		return st, v
	}
	if st, v := verify(""); st != http.StatusOK || !v.OK || v.Rows != want.Seq {
		t.Errorf("clean log: %d %+v", st, v)
	}
	if st, v := verify(got.Head); st != http.StatusOK || !v.OK {
		t.Errorf("against the recorded head: %d %+v", st, v)
	}
	forged := want
	forged.Hash[0] ^= 1
	if st, v := verify(forged.String()); st != http.StatusConflict || v.OK || v.Break == nil || v.Break.Seq != want.Seq || v.Break.Kind != "recorded head not in the log" {
		t.Errorf("against a head the log does not hold: %d %+v", st, v)
	}
	if st, _ := admin.get("/console/admin/audit/verify?head=nonsense"); st != http.StatusBadRequest {
		t.Errorf("malformed head: %d, want 400", st)
	}

	w, _ := e.st.(*sqlite.Store).Pools() // this test's env is SQLite's (newEnv)
	if _, err := w.Exec(`UPDATE events SET data = CAST('{"text":"forged"}' AS BLOB) WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	if st, v := verify(""); st != http.StatusConflict || v.OK || v.Break == nil || v.Break.Seq != 1 || v.Break.Kind != "payload edited" {
		t.Errorf("edited payload: %d %+v", st, v)
	}
	es, err := e.st.ConsoleAudit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var walks []string
	for _, a := range es {
		if a.Action == "audit_verify" && a.StaffID == "root" {
			walks = append(walks, a.Detail)
		}
	}
	if len(walks) != 4 || !strings.Contains(strings.Join(walks, "\n"), "BROKEN at sequence 1") {
		t.Errorf("audit trail of the walks: %q", walks)
	}
}
