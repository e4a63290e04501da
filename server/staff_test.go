package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"

	kioskenrol "ombud/kiosk/enrol"
	"ombud/server/staffapi"
	"ombud/server/storage/sqlite"
	"ombud/shared/staff"
)

// fastPIN makes the staff commands hash at the least cost.
var fastPIN = []string{"--pin-memory", "64", "--pin-passes", "1"}

// runStaff runs `server staff ...` with input on stdin and returns its
// stdout, stderr and error.
func runStaff(input string, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"staff"}, args...), noEnv, strings.NewReader(input), &out, &errOut)
	return out.String(), errOut.String(), err
}

// mustAccount reads an account straight from the store.
func mustAccount(tb testing.TB, dir, id string) staff.Account {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "server.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	a, err := st.StaffAccount(ctx, id)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func TestStaffCommands(t *testing.T) {
	dir := t.TempDir()
	MustRun(t, "branch", "add", "--data", dir, "--id", "main", "--name", "Main Street")
	MustRun(t, "branch", "add", "--data", dir, "--id", "north", "--name", "North Road")

	add := func(id, role, branch string) []string {
		return append([]string{"add", "--data", dir, "--branch", branch, "--id", id, "--name", "Name of " + id, "--role", role}, fastPIN...)
	}
	out := MustRunInput(t, "482913\n", append([]string{"staff"}, add("Alice", "agent", "main")...)...)
	for _, want := range []string{"alice", "branch main", "synced"} {
		if !strings.Contains(out, want) {
			t.Errorf("staff add printed %q, want it to mention %q", out, want)
		}
	}
	alice := mustAccount(t, dir, "alice") // the id as sign-in compares it
	if alice.Role != staff.Agent || alice.Branch != "main" || alice.Revoked() || !staff.VerifyPIN(alice.PINHash, "482913") {
		t.Fatalf("alice = %+v, want an active agent of main with PIN 482913", alice)
	}
	// Without a trailing newline, as `printf %s` sends it.
	MustRunInput(t, "739164", append([]string{"staff"}, add("nora", "supervisor", "north")...)...)
	if n := mustAccount(t, dir, "nora"); n.Role != staff.Supervisor || !staff.VerifyPIN(n.PINHash, "739164") {
		t.Fatalf("nora = %+v, want a supervisor with PIN 739164", n)
	}

	refused := []struct {
		name    string
		input   string
		args    []string
		mention string
		usage   bool
	}{
		{"duplicate id", "482913\n", add("alice", "agent", "north"), "staff id alice is taken", false},
		{"weak PIN", "123456\n", add("bob", "agent", "main"), "too easy to guess", false},
		{"repeated PIN", "777777\n", add("bob", "agent", "main"), "too easy to guess", false},
		{"short PIN", "4829\n", add("bob", "agent", "main"), "6 to 64 characters", false},
		{"no PIN", "", add("bob", "agent", "main"), "no PIN on standard input", false},
		{"unknown branch", "482913\n", add("bob", "agent", "nowhere"), "branch nowhere not found", false},
		{"unknown role", "482913\n", add("bob", "boss", "main"), "want agent, supervisor, manager or administrator", true},
		{"bad id", "482913\n", add("b", "agent", "main"), "a staff id is 2 to 32 characters", true},
		{"hash cost too low", "482913\n", append(add("bob", "agent", "main"), "--pin-memory", "8"), "out of range", true},
		{"shorter than the operator's minimum", "48291375\n", append(add("bob", "agent", "main"), "--min-pin", "10"), "a PIN is 10 to 64 characters", false},
		{"no name", "482913\n", []string{"add", "--data", dir, "--branch", "main", "--id", "bob", "--role", "agent"}, "--name", true},
		{"no subcommand", "", nil, "staff add|pin|revoke|list", true},
		{"unknown subcommand", "", []string{"remove"}, "staff add|pin|revoke|list", true},
		{"pin for nobody", "482913\n", append([]string{"pin", "--data", dir, "--id", "ghost"}, fastPIN...), "staff account ghost not found", false},
		{"weak new PIN", "111111\n", append([]string{"pin", "--data", dir, "--id", "alice"}, fastPIN...), "too easy to guess", false},
		{"revoke nobody", "", []string{"revoke", "--data", dir, "--id", "ghost"}, "staff account ghost not found", false},
		{"revoke without id", "", []string{"revoke", "--data", dir}, "--id is required", true},
		{"list unknown branch", "", []string{"list", "--data", dir, "--branch", "nowhere"}, "branch nowhere not found", false},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runStaff(tt.input, tt.args...)
			var ue usageError
			if err == nil || !strings.Contains(err.Error(), tt.mention) || errors.As(err, &ue) != tt.usage {
				t.Errorf("staff %q = %v, want an error mentioning %q (usage error: %v)", tt.args, err, tt.mention, tt.usage)
			}
			if strings.Contains(out, "added") || strings.Contains(out, "changed") {
				t.Errorf("a refused command says it did something: %q", out)
			}
		})
	}
	if a := mustAccount(t, dir, "alice"); a.PINHash != alice.PINHash || a.Branch != "main" {
		t.Error("a refused command changed alice's account")
	}

	// A new PIN.
	out = MustRunInput(t, "905182\n", append([]string{"staff", "pin", "--data", dir, "--id", "alice"}, fastPIN...)...)
	if !strings.Contains(out, "PIN of staff alice") {
		t.Errorf("staff pin printed %q", out)
	}
	if a := mustAccount(t, dir, "alice"); !staff.VerifyPIN(a.PINHash, "905182") || staff.VerifyPIN(a.PINHash, "482913") {
		t.Error("after staff pin: the new PIN does not work or the old one still does")
	}

	// The list: every account, never a hash.
	out = MustRun(t, "staff", "list", "--data", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("staff list printed:\n%s\nwant a header and 2 accounts", out)
	}
	if !strings.HasPrefix(lines[1], "alice") || !strings.Contains(lines[1], "agent") || !strings.HasSuffix(lines[1], "active") {
		t.Errorf("alice's line = %q", lines[1])
	}
	if f := strings.Fields(lines[2]); f[0] != "nora" || !strings.Contains(lines[2], "supervisor  north") || f[len(f)-1] != "active" {
		t.Errorf("nora's line = %q", lines[2])
	}
	out = MustRun(t, "staff", "list", "--data", dir, "--branch", "north")
	if strings.Contains(out, "alice") || !strings.Contains(out, "nora") {
		t.Errorf("staff list --branch north printed:\n%s", out)
	}

	// Revocation: listed as revoked, a PIN reset refused, the id never reused.
	out = MustRun(t, "staff", "revoke", "--data", dir, "--id", "alice")
	if !strings.Contains(out, "alice") || !strings.Contains(out, "revoked") {
		t.Errorf("staff revoke printed %q", out)
	}
	first := mustAccount(t, dir, "alice").RevokedAt
	out = MustRun(t, "staff", "revoke", "--data", dir, "--id", "alice")
	if !strings.Contains(out, "already revoked") {
		t.Errorf("second staff revoke printed %q", out)
	}
	if a := mustAccount(t, dir, "alice"); !a.RevokedAt.Equal(first) {
		t.Errorf("revoking again moved the time from %v to %v", first, a.RevokedAt)
	}
	if out := MustRun(t, "staff", "list", "--data", dir, "--branch", "main"); !strings.Contains(out, "revoked") || strings.Contains(out, "active") {
		t.Errorf("staff list after the revocation:\n%s", out)
	}
	_, _, err := runStaff("310275\n", append([]string{"pin", "--data", dir, "--id", "alice"}, fastPIN...)...)
	if err == nil || !strings.Contains(err.Error(), "does not bring the account back") {
		t.Errorf("PIN reset of a revoked account = %v, want it refused", err)
	}
	_, _, err = runStaff("310275\n", add("alice", "agent", "main")...)
	if err == nil || !strings.Contains(err.Error(), "taken") {
		t.Errorf("re-adding a revoked id = %v, want it refused", err)
	}

	all := MustRun(t, "staff", "list", "--data", dir)
	for _, secret := range []string{"pbkdf2", "482913", "905182", "739164", mustAccount(t, dir, "nora").PINHash} {
		if strings.Contains(all, secret) {
			t.Errorf("staff list shows %q:\n%s", secret, all)
		}
	}
}

// TestStaffDirectoryServed: the directory endpoint is mounted by serve and
// answers an enrolled device with the accounts the CLI adds while the server
// runs.
func TestStaffDirectoryServed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	MustRun(t, "branch", "add", "--data", dir, "--id", "main", "--name", "Main Street")
	srv := MustServe(t, noEnv, "--data", dir)
	url := "http://" + srv.addr
	cred, err := kioskenrol.Enrol(ctx, nil, url, MustCode(t, dir, "--role", "staff"), "Staff terminal")
	if err != nil {
		t.Fatal(err)
	}
	get := func(etag string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url+staffapi.PathDirectory, nil)
		req.Header.Set("Authorization", cred.AuthorizationHeader())
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	resp, body := get("")
	d, err := staff.DecodeDirectory(body)
	if resp.StatusCode != http.StatusOK || err != nil || len(d.Accounts) != 0 {
		t.Fatalf("empty directory: %d %s (%v)", resp.StatusCode, body, err)
	}
	etag := resp.Header.Get("ETag")

	MustRunInput(t, "482913\n", append([]string{"staff", "add", "--data", dir, "--branch", "main", "--id", "alice",
		"--name", "Alice Martin", "--role", "agent"}, fastPIN...)...)
	resp, body = get(etag)
	if d, err = staff.DecodeDirectory(body); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("directory after staff add: %d %s (%v)", resp.StatusCode, body, err)
	}
	if a, ok := d.Find("alice"); !ok || !staff.VerifyPIN(a.PINHash, "482913") {
		t.Fatalf("directory after staff add = %+v, want alice with her PIN", d)
	}
	if resp, _ := get(resp.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
		t.Errorf("same ETag again: %d, want 304", resp.StatusCode)
	}
	if strings.Contains(srv.log.String(), "pbkdf2") {
		t.Error("the server log holds a PIN hash")
	}
}

// TestReadPINFromTerminal: at a terminal the PIN is asked twice, without
// echo, and must match.
func TestReadPINFromTerminal(t *testing.T) {
	tests := []struct {
		name, typed, want, mention string
	}{
		{"matching", "905182\n905182\n", "905182", ""},
		{"different", "905182\n905183\n", "", "the two PINs differ"},
		{"weak", "123456\n", "", "too easy to guess"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ptmx, tty, err := pty.Open()
			if err != nil {
				t.Skipf("no pseudo-terminal here: %v", err)
			}
			defer ptmx.Close()
			defer tty.Close()
			// Whatever the terminal echoes must be drained, or a full
			// buffer would block the reader.
			go io.Copy(io.Discard, ptmx)
			if _, err := io.WriteString(ptmx, tt.typed); err != nil {
				t.Fatal(err)
			}
			var prompt bytes.Buffer
			got, err := readPIN(tty, &prompt, staff.MinPINLen)
			switch {
			case tt.mention == "" && (err != nil || got != tt.want):
				t.Fatalf("readPIN = %q, %v; want %q", got, err, tt.want)
			case tt.mention != "" && (err == nil || !strings.Contains(err.Error(), tt.mention)):
				t.Fatalf("readPIN = %q, %v; want an error mentioning %q", got, err, tt.mention)
			}
			if !strings.HasPrefix(prompt.String(), "PIN: ") {
				t.Errorf("prompts = %q, want \"PIN: \" first", prompt.String())
			}
			if tt.mention == "" && !strings.Contains(prompt.String(), "PIN again: ") {
				t.Errorf("prompts = %q, want \"PIN again: \"", prompt.String())
			}
		})
	}
}
