package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"ombud/server/admit"
	"ombud/server/storage"
	"ombud/shared/staff"
)

// MustBranch creates a branch.
func MustBranch(tb testing.TB, s storage.Store, id string) {
	tb.Helper()
	if err := s.CreateBranch(context.Background(), id, "Branch "+id); err != nil {
		tb.Fatalf("create branch %s: %v", id, err)
	}
}

// MustCreateStaff stores a new account and returns it as stored.
func MustCreateStaff(tb testing.TB, s storage.Store, id, branch string, role staff.Role) staff.Account {
	tb.Helper()
	ctx := context.Background()
	if err := s.CreateStaff(ctx, MustAccount(tb, id, branch, role)); err != nil {
		tb.Fatalf("create staff %s: %v", id, err)
	}
	a, err := s.StaffAccount(ctx, id)
	if err != nil {
		tb.Fatalf("read staff %s: %v", id, err)
	}
	return a
}

func mustDirectory(tb testing.TB, s storage.Store, branch string) staff.Directory {
	tb.Helper()
	d, err := s.StaffDirectory(context.Background(), branch)
	if err != nil {
		tb.Fatalf("directory of %s: %v", branch, err)
	}
	if err := d.Validate(); err != nil {
		tb.Fatalf("directory of %s is not valid: %v", branch, err)
	}
	return d
}

// sameAccount compares accounts field by field, times by instant.
func sameAccount(a, b staff.Account) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Role == b.Role && a.Branch == b.Branch && a.PINHash == b.PINHash &&
		slices.Equal(a.Teams, b.Teams) && a.RevokedAt.Equal(b.RevokedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func idsOf(accounts []staff.Account) []string {
	out := make([]string, len(accounts))
	for i, a := range accounts {
		out[i] = a.ID
	}
	return out
}

func testCreateStaff(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	MustBranch(t, s, "main")
	at := time.Date(2026, 11, 27, 9, 30, 0, 123456789, time.UTC)
	want := MustAccount(t, "alice", "main", staff.Supervisor)
	want.Name = "Alice Martin"
	want.UpdatedAt = at
	if err := s.CreateStaff(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.StaffAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !sameAccount(got, want) {
		t.Errorf("stored account = %+v, want %+v", got, want)
	}

	tests := []struct {
		name string
		edit func(*staff.Account)
		want storage.Code
	}{
		{"upper-case id", func(a *staff.Account) { a.ID = "Bob" }, storage.Invalid},
		{"no name", func(a *staff.Account) { a.Name = "  " }, storage.Invalid},
		{"unknown role", func(a *staff.Account) { a.Role = "boss" }, storage.Invalid},
		{"a PIN, not a hash", func(a *staff.Account) { a.PINHash = "482913" }, storage.Invalid},
		{"already revoked", func(a *staff.Account) { a.RevokedAt = at }, storage.Invalid},
		{"no branch", func(a *staff.Account) { a.Branch = "" }, storage.Invalid},
		{"unknown branch", func(a *staff.Account) { a.Branch = "nowhere" }, storage.NotFound},
		{"id taken", func(a *staff.Account) { a.ID = "alice" }, storage.Conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := MustAccount(t, "bob", "main", staff.Agent)
			tt.edit(&a)
			wantCode(t, s.CreateStaff(ctx, a), tt.want)
		})
	}
	if _, err := s.StaffAccount(ctx, "bob"); storage.ErrorCode(err) != storage.NotFound {
		t.Errorf("StaffAccount(bob) after refused creations: %v, want NotFound", err)
	}

	// A revoked id is still taken.
	if err := s.RevokeStaff(ctx, "alice", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.CreateStaff(ctx, MustAccount(t, "alice", "main", staff.Agent)), storage.Conflict)
}

func testStaffDirectoryVersion(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	MustBranch(t, s, "north")
	MustBranch(t, s, "south")

	empty := mustDirectory(t, s, "north")
	if empty.Version != 0 || len(empty.Accounts) != 0 || empty.Branch != "north" {
		t.Fatalf("empty directory = %+v, want version 0, no accounts", empty)
	}
	if time.Since(empty.IssuedAt) > time.Minute || empty.IssuedAt.Location() != time.UTC {
		t.Errorf("IssuedAt = %v, want now in UTC", empty.IssuedAt)
	}
	_, err := s.StaffDirectory(ctx, "nowhere")
	wantCode(t, err, storage.NotFound)

	last := empty.Version
	// step makes one change and checks north's version moved on (or not).
	step := func(what string, change func() error, northChanges bool) staff.Directory {
		t.Helper()
		if err := change(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		d := mustDirectory(t, s, "north")
		switch {
		case northChanges && d.Version <= last:
			t.Fatalf("%s: version %d, want more than %d", what, d.Version, last)
		case !northChanges && d.Version != last:
			t.Fatalf("%s: version %d, want it to stay %d", what, d.Version, last)
		}
		last = d.Version
		return d
	}
	create := func(id, branch string) func() error {
		return func() error { return s.CreateStaff(ctx, MustAccount(t, id, branch, staff.Agent)) }
	}
	step("create carol", create("carol", "north"), true)
	step("create alice", create("alice", "north"), true)
	step("create sam at south", create("sam", "south"), false)
	newHash, err := staff.HashPINWith("739164", staff.TestCost)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	step("new PIN for carol", func() error { return s.SetStaffPIN(ctx, "carol", newHash, now) }, true)
	step("new PIN for sam", func() error { return s.SetStaffPIN(ctx, "sam", newHash, now) }, false)
	step("revoke alice", func() error { return s.RevokeStaff(ctx, "alice", now) }, true)
	step("revoke alice again", func() error { return s.RevokeStaff(ctx, "alice", now.Add(time.Hour)) }, false)
	d := step("create bob", create("bob", "north"), true)

	// Sorted by id, revoked accounts included, no other branch's.
	if got, want := idsOf(d.Accounts), []string{"alice", "bob", "carol"}; !slices.Equal(got, want) {
		t.Fatalf("north accounts = %v, want %v", got, want)
	}
	if !d.Accounts[0].Revoked() || d.Accounts[1].Revoked() {
		t.Errorf("alice revoked %v, bob revoked %v; want true, false", d.Accounts[0].Revoked(), d.Accounts[1].Revoked())
	}
	if d.Accounts[2].PINHash != newHash || !staff.VerifyPIN(d.Accounts[2].PINHash, "739164") {
		t.Errorf("carol's hash is not the new PIN's")
	}
	if south := mustDirectory(t, s, "south"); !slices.Equal(idsOf(south.Accounts), []string{"sam"}) {
		t.Errorf("south accounts = %v, want [sam]", idsOf(south.Accounts))
	}

	// The version survives a restart: it is stored, not counted in memory.
	path := h.New(t)
	a := h.Open(t, path, admit.Policy{})
	MustBranch(t, a, "x")
	MustCreateStaff(t, a, "xavier", "x", staff.Agent)
	before := mustDirectory(t, a, "x").Version
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := h.Open(t, path, admit.Policy{})
	if got := mustDirectory(t, b, "x").Version; got != before {
		t.Fatalf("version after reopen = %d, want %d", got, before)
	}
	MustCreateStaff(t, b, "xena", "x", staff.Agent)
	if got := mustDirectory(t, b, "x").Version; got <= before {
		t.Fatalf("version after a change past a reopen = %d, want more than %d", got, before)
	}
}

func testSetStaffPIN(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	MustBranch(t, s, "main")
	old := MustCreateStaff(t, s, "alice", "main", staff.Agent)
	Hash, err := staff.HashPINWith("739164", staff.TestCost)
	if err != nil {
		t.Fatal(err)
	}
	at := old.UpdatedAt.Add(time.Hour)
	if err := s.SetStaffPIN(ctx, "alice", Hash, at); err != nil {
		t.Fatal(err)
	}
	got, err := s.StaffAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !staff.VerifyPIN(got.PINHash, "739164") || staff.VerifyPIN(got.PINHash, "482913") {
		t.Error("the new PIN does not work, or the old one still does")
	}
	if !got.UpdatedAt.Equal(at) {
		t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, at)
	}

	wantCode(t, s.SetStaffPIN(ctx, "ghost", Hash, at), storage.NotFound)
	wantCode(t, s.SetStaffPIN(ctx, "alice", "739164", at), storage.Invalid)
	wantCode(t, s.SetStaffPIN(ctx, "alice", "pbkdf2-sha256$10$c2FsdA$a2V5", at), storage.Invalid)
	wantCode(t, s.SetStaffPIN(ctx, "alice", Hash, time.Time{}), storage.Invalid)

	// A revoked account is not brought back by a new PIN.
	if err := s.RevokeStaff(ctx, "alice", at); err != nil {
		t.Fatal(err)
	}
	before := mustDirectory(t, s, "main")
	wantCode(t, s.SetStaffPIN(ctx, "alice", pinHash(), at.Add(time.Hour)), storage.Invalid)
	after, err := s.StaffAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if after.PINHash != Hash || !after.Revoked() {
		t.Errorf("after a refused reset: %+v, want the hash unchanged and still revoked", after)
	}
	if v := mustDirectory(t, s, "main").Version; v != before.Version {
		t.Errorf("version after a refused reset = %d, want %d", v, before.Version)
	}
}

func testRevokeStaff(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	MustBranch(t, s, "main")
	MustCreateStaff(t, s, "alice", "main", staff.Agent)
	first := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	if err := s.RevokeStaff(ctx, "alice", first); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeStaff(ctx, "alice", first.Add(time.Hour)); err != nil {
		t.Fatalf("revoking again: %v, want nil", err)
	}
	a, err := s.StaffAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !a.RevokedAt.Equal(first) || !a.UpdatedAt.Equal(first) {
		t.Errorf("revoked at %v, updated at %v; want both the first revocation, %v", a.RevokedAt, a.UpdatedAt, first)
	}
	wantCode(t, s.RevokeStaff(ctx, "ghost", first), storage.NotFound)
	wantCode(t, s.RevokeStaff(ctx, "alice", time.Time{}), storage.Invalid)
	_, err = s.StaffAccount(ctx, "ghost")
	wantCode(t, err, storage.NotFound)
}

func testListStaff(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	MustBranch(t, s, "north")
	MustBranch(t, s, "south")
	MustBranch(t, s, "west")
	MustCreateStaff(t, s, "zoe", "north", staff.Agent)
	MustCreateStaff(t, s, "adam", "south", staff.Supervisor)
	MustCreateStaff(t, s, "bea", "north", staff.Supervisor)
	if err := s.RevokeStaff(ctx, "zoe", time.Now()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		branch string
		want   []string
	}{
		{"", []string{"bea", "zoe", "adam"}}, // by branch, then id
		{"north", []string{"bea", "zoe"}},
		{"south", []string{"adam"}},
		{"west", []string{}},
	}
	for _, tt := range tests {
		got, err := s.ListStaff(ctx, tt.branch)
		if err != nil {
			t.Fatalf("ListStaff(%q): %v", tt.branch, err)
		}
		if !slices.Equal(idsOf(got), tt.want) {
			t.Errorf("ListStaff(%q) = %v, want %v", tt.branch, idsOf(got), tt.want)
		}
	}
	_, err := s.ListStaff(ctx, "nowhere")
	wantCode(t, err, storage.NotFound)
}
