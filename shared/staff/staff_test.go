package staff_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"ombud/shared/event"
	"ombud/shared/staff"
)

func mustHash(tb testing.TB, pin string) string {
	tb.Helper()
	h, err := staff.HashPINWith(pin, staff.TestCost)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func TestPINHashVerifies(t *testing.T) {
	h := mustHash(t, "482913")
	if !staff.VerifyPIN(h, "482913") {
		t.Fatal("right PIN refused")
	}
	for _, wrong := range []string{"482914", "", "4829130", " 482913"} {
		if staff.VerifyPIN(h, wrong) {
			t.Errorf("wrong PIN %q accepted", wrong)
		}
	}
	if strings.Contains(h, "482913") {
		t.Fatal("hash holds the PIN")
	}
	if h2 := mustHash(t, "482913"); h2 == h {
		t.Fatal("two hashes of one PIN are equal: no salt")
	}
	// A tampered or truncated hash matches nothing rather than panicking,
	// and one asking for absurd work is not obeyed.
	for _, bad := range []string{"", "x", h[:len(h)-3], strings.Replace(h, "argon2id", "argon2i", 1),
		strings.Replace(h, "v=19", "v=16", 1), strings.Replace(h, "m=64,", "m=8,", 1),
		strings.Replace(h, "m=64,", "m=99999999,", 1), strings.Replace(h, "t=1,", "t=99,", 1),
		strings.Replace(h, "p=1", "p=4", 1), strings.Replace(h, "m=64,", "m=064,", 1)} {
		if staff.VerifyPIN(bad, "482913") {
			t.Errorf("malformed hash %q matched", bad)
		}
	}
}

// TestLegacyPBKDF2HashesVerify: PINs hashed before argon2id (PBKDF2-SHA256)
// still sign in, are reported for rehashing, and a decoy copies their cost.
func TestLegacyPBKDF2HashesVerify(t *testing.T) {
	// pbkdf2-sha256, 1,000 iterations, of "482913" (made by the previous
	// version of HashPINCost).
	const legacy = "pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0c2FsdA$i9Ya4IBmwN4DoWZCTJY9UoS4YV+N0+ljlzAaW7c0+AM"
	if !staff.VerifyPIN(legacy, "482913") || staff.VerifyPIN(legacy, "482914") {
		t.Fatal("legacy hash does not verify its PIN alone")
	}
	if !staff.NeedsRehash(legacy, staff.TestCost) {
		t.Error("a legacy hash is not reported for rehashing")
	}
	if d := staff.DecoyHash(legacy); !strings.HasPrefix(d, "pbkdf2-sha256$1000$") || staff.VerifyPIN(d, "482913") {
		t.Errorf("decoy of a legacy hash = %q", d)
	}
	h := mustHash(t, "482913")
	if staff.NeedsRehash(h, staff.TestCost) || !staff.NeedsRehash(h, staff.DefaultCost) {
		t.Error("NeedsRehash does not compare costs")
	}
}

func TestDefaultCostIsSlow(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes at full cost")
	}
	h, err := staff.HashPIN("482913")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "argon2id$v=19$m=65536,t=3,p=1$") || !staff.VerifyPIN(h, "482913") {
		t.Fatalf("hash %q", h)
	}
}

func TestValidatePIN(t *testing.T) {
	for _, ok := range []string{"482913", "correct horse", "90210x", "135790"} {
		if err := staff.ValidatePIN(ok); err != nil {
			t.Errorf("ValidatePIN(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "12345", "111111", "123456", "987654", "abcdef", "12\x1b[3m", strings.Repeat("x1", 33), "\xff\xfe1234"} {
		if err := staff.ValidatePIN(bad); err == nil {
			t.Errorf("ValidatePIN(%q) accepted", bad)
		}
	}
}

func TestRoles(t *testing.T) {
	if !staff.Can(staff.Agent, event.Acknowledged) || !staff.Can(staff.Agent, event.Closed) {
		t.Fatal("agent cannot work a case")
	}
	if staff.Can(staff.Agent, event.Reopened) || staff.Why(staff.Agent, event.Reopened) == "" {
		t.Fatal("agent may reopen")
	}
	if !staff.Can(staff.Supervisor, event.Reopened) || staff.Why(staff.Supervisor, event.Reopened) != "" {
		t.Fatal("supervisor may not reopen")
	}
	if staff.Can("boss", event.NoteAdded) {
		t.Fatal("unknown role may act")
	}
}

func TestLockout(t *testing.T) {
	l := staff.Lockout{MaxFailures: 3, Duration: time.Minute}
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	if locked, _ := l.Locked(2, now, now); locked {
		t.Fatal("locked below the limit")
	}
	locked, until := l.Locked(3, now, now.Add(30*time.Second))
	if !locked || !until.Equal(now.Add(time.Minute)) {
		t.Fatalf("Locked = %v until %v", locked, until)
	}
	if locked, _ := l.Locked(3, now, now.Add(time.Minute)); locked {
		t.Fatal("still locked after the duration")
	}
	var le *staff.LockedError = &staff.LockedError{Until: until}
	if !strings.Contains(le.Error(), "try again") {
		t.Fatal(le.Error())
	}
}

func validDirectory(tb testing.TB) staff.Directory {
	return staff.Directory{Branch: "main", Version: 3, IssuedAt: time.Unix(1_800_000_000, 0).UTC(), Accounts: []staff.Account{
		{ID: "alice", Name: "Alice Martin", Role: staff.Agent, Branch: "main", PINHash: mustHash(tb, "482913"), UpdatedAt: time.Unix(1_700_000_000, 0).UTC()},
		{ID: "bob.s", Name: "Bob Stone", Role: staff.Supervisor, Branch: "main", PINHash: mustHash(tb, "735102"),
			RevokedAt: time.Unix(1_750_000_000, 0).UTC(), UpdatedAt: time.Unix(1_750_000_000, 0).UTC()},
	}}
}

func TestDirectoryRoundTrip(t *testing.T) {
	d := validDirectory(t)
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := staff.DecodeDirectory(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Accounts) != 2 || !got.Accounts[1].Revoked() || got.Accounts[0].Revoked() || got.Version != 3 {
		t.Fatalf("decoded %+v", got)
	}
	if a, ok := got.Find("  ALICE "); !ok || a.Name != "Alice Martin" {
		t.Fatalf("Find = %+v, %v", a, ok)
	}
	if _, ok := got.Find("carol"); ok {
		t.Fatal("found an unknown id")
	}
}

func TestDirectoryRefusesBadInput(t *testing.T) {
	mutate := func(f func(*staff.Directory)) []byte {
		d := validDirectory(t)
		f(&d)
		b, _ := json.Marshal(d)
		return b
	}
	cases := map[string][]byte{
		"not json":        []byte("{"),
		"trailing data":   append(mutate(func(*staff.Directory) {}), []byte(" {}")...),
		"unknown field":   []byte(`{"branch":"main","version":1,"accounts":[],"admin":true}`),
		"no branch":       mutate(func(d *staff.Directory) { d.Branch = "" }),
		"other branch":    mutate(func(d *staff.Directory) { d.Accounts[0].Branch = "north" }),
		"duplicate id":    mutate(func(d *staff.Directory) { d.Accounts[1].ID = "alice" }),
		"bad role":        mutate(func(d *staff.Directory) { d.Accounts[0].Role = "root" }),
		"bad id":          mutate(func(d *staff.Directory) { d.Accounts[0].ID = "Alice Smith" }),
		"control in name": mutate(func(d *staff.Directory) { d.Accounts[0].Name = "Al\x1b[2Jice" }),
		"weak hash":       mutate(func(d *staff.Directory) { d.Accounts[0].PINHash = "pbkdf2-sha256$1$AAAAAAAAAAA$AAAA" }),
		"negative ver":    mutate(func(d *staff.Directory) { d.Version = -1 }),
		"too large":       []byte(strings.Repeat(" ", staff.MaxDirectoryBytes+1)),
	}
	for name, data := range cases {
		if _, err := staff.DecodeDirectory(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if errors.Is(nil, staff.ErrRevoked) {
		t.Fatal("unreachable")
	}
}

// FuzzDecodeDirectory: whatever the server (or a man in the middle without
// TLS) sends, decoding never panics, and what it accepts is valid.
func FuzzDecodeDirectory(f *testing.F) {
	good, _ := json.Marshal(validDirectory(f))
	f.Add(good)
	f.Add([]byte(`{"branch":"main","version":0,"issued_at":"2026-01-01T00:00:00Z","accounts":[]}`))
	f.Add([]byte(`{"branch":"main","accounts":[{"id":"a"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := staff.DecodeDirectory(data)
		if err != nil {
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("accepted an invalid directory: %v", err)
		}
	})
}
