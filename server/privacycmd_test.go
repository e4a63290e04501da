package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ombud/server/privacy"
	"ombud/shared/complaint"
)

func mustFail(t *testing.T, want string, args ...string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, noEnv, nil, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("server %v: %v (printed %q), want an error saying %q", args, err, out.String(), want)
	}
}

func dbHolds(t *testing.T, dir, s string) bool {
	t.Helper()
	for _, f := range []string{"server.db", "server.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// TestErasureFourEyesHoldsAccessAndRestore: an erasure request by contact
// e-mail across cases needs a second supervisor; a legal hold keeps one
// case, with its reason in the outcome; subject access exports what is
// held; every step is in the privacy log; and a plain copy of the database
// taken before the erasure, restored, is redacted again from the ledger.
func TestErasureFourEyesHoldsAccessAndRestore(t *testing.T) {
	dir := t.TempDir()
	contact := &complaint.Contact{Name: "Erin Ease", Email: "Erase.Me@Example.org", Phone: "+33 6 00 00 00 01",
		ConsentAt: time.Now().UTC(), NoticeVersion: "kiosk-privacy-1/en"}
	mine := fileComplaints(t, dir, 3, contact)
	other := fileComplaints(t, dir, 1, &complaint.Contact{Email: "someone.else@example.org", ConsentAt: time.Now().UTC(), NoticeVersion: "kiosk-privacy-1/en"})
	for _, c := range append(mine, other...) {
		if !dbHolds(t, dir, c.Description) {
			t.Fatalf("the database never held %q", c.Description)
		}
	}
	// A plain file copy, as a backup tool that copies files would take.
	backup := filepath.Join(t.TempDir(), "server.db")
	copyTestFile(t, filepath.Join(dir, "server.db"), backup)
	// And one by `server backup`.
	backupFile := filepath.Join(t.TempDir(), "ombud.backup")
	MustRun(t, "backup", "--data", dir, "--to", backupFile)

	for _, a := range []struct{ id, role string }{{"sup-a", "supervisor"}, {"sup-b", "supervisor"}, {"agent-c", "agent"}} {
		MustRunInput(t, "482913\n", "staff", "add", "--data", dir, "--branch", "main", "--id", a.id, "--name", a.id,
			"--role", a.role, "--pin-memory", "64", "--pin-passes", "1")
	}
	held := mine[1]
	MustRun(t, "hold", "set", "--data", dir, "--by", "sup-a", "--code", held.Code, "--reason", "litigation 2026-17")
	if out := MustRun(t, "hold", "list", "--data", dir); !strings.Contains(out, "litigation 2026-17") {
		t.Fatalf("hold list: %s", out)
	}

	mustFail(t, "is not a supervisor", "erasure", "request", "--data", dir, "--by", "agent-c", "--email", "erase.me@example.org", "--reason", "asked by letter")
	out := MustRun(t, "erasure", "request", "--data", dir, "--by", "sup-a", "--email", "  ERASE.me@example.ORG ", "--reason", "asked at the counter, ID checked")
	if !strings.Contains(out, "3 complaint(s)") {
		t.Fatalf("request: %s", out)
	}
	id := strings.Fields(strings.TrimPrefix(out, "Erasure request "))[0]
	mustFail(t, "a second supervisor must approve", "erasure", "approve", "--data", dir, "--by", "sup-a", "--id", id)
	mustFail(t, "is not a supervisor", "erasure", "approve", "--data", dir, "--by", "agent-c", "--id", id)
	out = MustRun(t, "erasure", "approve", "--data", dir, "--by", "sup-b", "--id", id)
	if !strings.Contains(out, "2 redacted, 0 already redacted; complaint "+held.ID+" skipped: litigation 2026-17") {
		t.Fatalf("approve: %s", out)
	}
	mustFail(t, "is done already", "erasure", "approve", "--data", dir, "--by", "sup-b", "--id", id)
	for _, c := range mine {
		if got, want := dbHolds(t, dir, c.Description), c.ID == held.ID; got != want {
			t.Errorf("after the erasure, the database holds %q: %v, want %v", c.Description, got, want)
		}
	}
	if !dbHolds(t, dir, other[0].Description) {
		t.Error("another person's complaint was erased")
	}

	// Subject access: by the e-mail, the held case with its words; the
	// others without.
	jsonFile, htmlFile := filepath.Join(t.TempDir(), "x.json"), filepath.Join(t.TempDir(), "x.html")
	MustRun(t, "subject-access", "--data", dir, "--by", "sup-b", "--code", held.Code, "--json", jsonFile, "--html", htmlFile)
	var x privacy.Export
	b, _ := os.ReadFile(jsonFile)
	if err := json.Unmarshal(b, &x); err != nil || len(x.Cases) != 1 || x.Cases[0].Description != held.Description ||
		x.Cases[0].Contact == nil || x.Cases[0].Contact.Email != contact.Email || x.Cases[0].Events[0].By != "kiosk" {
		t.Fatalf("export = %s (%v)", b, err)
	}
	page, _ := os.ReadFile(htmlFile)
	if !strings.Contains(string(page), held.Description) || !strings.Contains(string(page), "Erase.Me@Example.org") {
		t.Errorf("the HTML page lacks the case:\n%s", page)
	}
	erased := mine[0]
	MustRun(t, "subject-access", "--data", dir, "--by", "sup-b", "--code", erased.Code, "--json", jsonFile)
	b, _ = os.ReadFile(jsonFile)
	x = privacy.Export{}
	if err := json.Unmarshal(b, &x); err != nil || len(x.Cases) != 1 || x.Cases[0].Description != "" || x.Cases[0].Contact != nil ||
		!strings.HasPrefix(x.Cases[0].Redacted, "erasure: erasure request "+id) {
		t.Fatalf("export of an erased case = %s (%v)", b, err)
	}

	logOut := MustRun(t, "privacy-log", "--data", dir)
	for _, want := range []string{"hold.set", "erasure.request", "erasure.refused", "erasure.approve", "redact", "subject-access"} {
		if !strings.Contains(logOut, want) {
			t.Errorf("privacy log lacks %s:\n%s", want, logOut)
		}
	}
	if strings.Contains(strings.ToLower(logOut), "erase.me@example.org") {
		t.Errorf("privacy log holds the e-mail address:\n%s", logOut)
	}

	// Restore the copy taken before the erasure: the words are back,
	// until the ledger is applied again.
	for _, f := range []string{"server.db-wal", "server.db-shm"} {
		os.Remove(filepath.Join(dir, f))
	}
	copyTestFile(t, backup, filepath.Join(dir, "server.db"))
	if !dbHolds(t, dir, mine[0].Description) {
		t.Fatal("the restored copy does not hold the erased words: the test proves nothing")
	}
	out = MustRun(t, "erasure", "reapply", "--data", dir)
	if !strings.Contains(out, "2 complaint(s) redacted again") {
		t.Fatalf("reapply: %s", out)
	}
	for _, c := range mine {
		if got, want := dbHolds(t, dir, c.Description), c.ID == held.ID; got != want {
			t.Errorf("after reapplying, the database holds %q: %v, want %v", c.Description, got, want)
		}
	}
	if out := MustRun(t, "erasure", "reapply", "--data", dir); !strings.Contains(out, "0 complaint(s) redacted again") {
		t.Errorf("reapply twice: %s", out)
	}
	if out := MustRun(t, "audit", "verify", "--data", dir); !strings.Contains(out, "OK:") {
		t.Errorf("audit verify: %s", out)
	}

	// `server restore` of a backup taken before the erasure reapplies the
	// ledger itself.
	out = MustRun(t, "restore", "--data", dir, "--from", backupFile)
	if !strings.Contains(out, "Redaction ledger reapplied: 2 complaint(s) redacted again") {
		t.Fatalf("restore: %s", out)
	}
	for _, c := range mine {
		if got, want := dbHolds(t, dir, c.Description), c.ID == held.ID; got != want {
			t.Errorf("after the restore, the database holds %q: %v, want %v", c.Description, got, want)
		}
	}
}

func copyTestFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
