package signin_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/kiosk/store/signin"
	"ombud/shared/staff"
)

// accounts are the staff accounts of an open database, which Close closes
// (a restart, for the lock-out).
type accounts struct {
	*signin.Accounts
	db *store.Store
}

func (a accounts) Close() error { return a.db.Close() }

// MustOpen opens the accounts of a database on a fresh file in tb's temp
// dir, closed at the end of the test.
func MustOpen(tb testing.TB) (accounts, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "kiosk.db")
	return MustOpenPath(tb, path), path
}

// MustOpenPath opens the accounts of the database at path, as the staff
// terminal does (every program opens the store with the case projection).
func MustOpenPath(tb testing.TB, path string) accounts {
	tb.Helper()
	st, err := store.Open(context.Background(), path, nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return accounts{signin.New(st), st}
}

const (
	anaPIN = "493817"
	benPIN = "720465"
	zoePIN = "815203"
)

// mustHash hashes pin at the least cost, as tests may.
func mustHash(tb testing.TB, pin string) string {
	tb.Helper()
	h, err := staff.HashPINWith(pin, staff.TestCost)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

var (
	updated = time.Date(2026, 11, 20, 8, 30, 0, 123456789, time.UTC)
	revoked = time.Date(2026, 11, 25, 17, 0, 0, 987654321, time.UTC)
)

// testDirectory is branch Main's directory at version: ana (agent), ben
// (supervisor) and zoe (revoked).
func testDirectory(tb testing.TB, version int64) staff.Directory {
	tb.Helper()
	return staff.Directory{
		Branch: "Main", Version: version, IssuedAt: updated.Add(time.Hour),
		Accounts: []staff.Account{
			{ID: "ben", Name: "Ben Okafor", Role: staff.Supervisor, Branch: "Main", PINHash: mustHash(tb, benPIN), UpdatedAt: updated},
			{ID: "ana", Name: "Ana Lima", Role: staff.Agent, Branch: "Main", PINHash: mustHash(tb, anaPIN), UpdatedAt: updated},
			{ID: "zoe", Name: "Zoé Martin", Role: staff.Agent, Branch: "Main", PINHash: mustHash(tb, zoePIN), UpdatedAt: revoked, RevokedAt: revoked},
		},
	}
}

// mustReach records a contact with the server at at, with the default
// bound, as the directory fetcher does: offline sign-in needs one.
func mustReach(tb testing.TB, st accounts, at time.Time) {
	tb.Helper()
	if err := st.Reached(context.Background(), at, 0); err != nil {
		tb.Fatal(err)
	}
}

func mustSaveDirectory(tb testing.TB, st accounts, d staff.Directory) {
	tb.Helper()
	if ok, err := st.SaveDirectory(context.Background(), d); err != nil || !ok {
		tb.Fatalf("save directory v%d: got %v, %v, want replaced", d.Version, ok, err)
	}
}

func TestDirectory(t *testing.T) {
	ctx := context.Background()
	st, path := MustOpen(t)
	got, err := st.Directory(ctx)
	if err != nil || !reflect.DeepEqual(got, staff.Directory{}) {
		t.Fatalf("no directory yet: got %+v, %v, want the zero Directory", got, err)
	}

	v2 := testDirectory(t, 2)
	mustSaveDirectory(t, st, v2)
	if got, err := st.Directory(ctx); err != nil || !reflect.DeepEqual(got, v2) {
		t.Errorf("directory:\n got %+v, %v\nwant %+v", got, err, v2)
	}

	// An older directory (a delayed message) is ignored.
	v1 := testDirectory(t, 1)
	v1.Accounts = v1.Accounts[:1]
	if ok, err := st.SaveDirectory(ctx, v1); err != nil || ok {
		t.Errorf("older directory: got %v, %v, want ignored", ok, err)
	}
	if got, _ := st.Directory(ctx); !reflect.DeepEqual(got, v2) {
		t.Errorf("after an older one: got version %d with %d accounts, want version 2 unchanged", got.Version, len(got.Accounts))
	}
	// The same version again (a resend) is harmless.
	mustSaveDirectory(t, st, v2)

	// An invalid directory is refused, and is not a storage fault.
	bad := testDirectory(t, 9)
	bad.Accounts[0].Branch = "Harbour"
	if ok, err := st.SaveDirectory(ctx, bad); err == nil || ok || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("invalid directory: got %v, %v, want a validation error", ok, err)
	}

	// A newer one replaces the whole list, and survives a restart.
	v3 := testDirectory(t, 3)
	v3.Accounts = v3.Accounts[1:2]
	mustSaveDirectory(t, st, v3)
	st.Close()
	st = MustOpenPath(t, path)
	if got, err := st.Directory(ctx); err != nil || !reflect.DeepEqual(got, v3) {
		t.Errorf("after restart:\n got %+v, %v\nwant %+v", got, err, v3)
	}
}

func TestSignIn(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	d := testDirectory(t, 1)
	mustSaveDirectory(t, st, d)
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	mustReach(t, st, now.Add(-time.Hour))
	for _, tc := range []struct {
		name, id, pin string
		want          error // nil: signed in as want id
	}{
		{"right PIN", "ana", anaPIN, nil},
		{"id typed loosely", "  ANA ", anaPIN, nil},
		{"supervisor", "ben", benPIN, nil},
		{"wrong PIN", "ana", benPIN, staff.ErrWrongCredentials},
		{"unknown id", "carl", anaPIN, staff.ErrWrongCredentials},
		{"empty", "", "", staff.ErrWrongCredentials},
		{"revoked, right PIN", "zoe", zoePIN, staff.ErrRevoked},
		{"revoked, wrong PIN", "zoe", anaPIN, staff.ErrWrongCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := st.SignIn(ctx, tc.id, tc.pin, now, staff.DefaultLockout)
			if tc.want != nil {
				if !errors.Is(err, tc.want) || a.ID != "" {
					t.Errorf("got %+v, %v, want %v", a, err, tc.want)
				}
				return
			}
			want, _ := d.Find(tc.id)
			if err != nil || !reflect.DeepEqual(a, want) {
				t.Errorf("got %+v, %v, want %+v", a, err, want)
			}
		})
	}
}

// Wrong PINs lock the account, and a restart does not lift the lock.
func TestSignInLockout(t *testing.T) {
	ctx := context.Background()
	st, path := MustOpen(t)
	mustSaveDirectory(t, st, testDirectory(t, 1))
	l := staff.Lockout{MaxFailures: 3, Duration: time.Minute}
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	mustReach(t, st, now)

	for i := range 2 {
		if _, err := st.SignIn(ctx, "ana", "000000", now.Add(time.Duration(i)*time.Second), l); !errors.Is(err, staff.ErrWrongCredentials) {
			t.Fatalf("wrong PIN %d: got %v, want ErrWrongCredentials", i+1, err)
		}
	}
	third := now.Add(2 * time.Second)
	_, err := st.SignIn(ctx, "ANA", "000000", third, l)
	var le *staff.LockedError
	if !errors.As(err, &le) || !le.Until.Equal(third.Add(time.Minute)) {
		t.Fatalf("third wrong PIN: got %v, want locked until %v", err, third.Add(time.Minute))
	}
	// Other accounts are not affected.
	if _, err := st.SignIn(ctx, "ben", benPIN, third, l); err != nil {
		t.Errorf("another account: %v", err)
	}

	st.Close()
	st = MustOpenPath(t, path)
	// Locked: even the right PIN is not checked.
	if _, err := st.SignIn(ctx, "ana", anaPIN, third.Add(30*time.Second), l); !errors.As(err, &le) {
		t.Fatalf("right PIN while locked, after restart: got %v, want LockedError", err)
	}
	// Once the lock has passed, the right PIN signs in and clears the count.
	if a, err := st.SignIn(ctx, "ana", anaPIN, third.Add(time.Minute), l); err != nil || a.ID != "ana" {
		t.Fatalf("after the lock: got %+v, %v", a, err)
	}
	for i := range 2 {
		if _, err := st.SignIn(ctx, "ana", "000000", third.Add(2*time.Minute), l); !errors.Is(err, staff.ErrWrongCredentials) {
			t.Fatalf("wrong PIN %d after success: got %v, want ErrWrongCredentials (count cleared)", i+1, err)
		}
	}
	// An unknown id never locks, and never says it is unknown.
	for range 5 {
		if _, err := st.SignIn(ctx, "carl", "000000", now, l); !errors.Is(err, staff.ErrWrongCredentials) {
			t.Fatalf("unknown id: got %v, want ErrWrongCredentials", err)
		}
	}
}

// Failures of an account that leaves the directory are forgotten with it.
func TestSignInFailuresPruned(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	d := testDirectory(t, 1)
	mustSaveDirectory(t, st, d)
	l := staff.Lockout{MaxFailures: 2, Duration: time.Hour}
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	mustReach(t, st, now)
	for range 2 {
		st.SignIn(ctx, "ana", "000000", now, l)
	}
	var le *staff.LockedError
	if _, err := st.SignIn(ctx, "ana", anaPIN, now, l); !errors.As(err, &le) {
		t.Fatalf("got %v, want locked", err)
	}
	without := testDirectory(t, 2)
	without.Accounts = without.Accounts[:1]
	mustSaveDirectory(t, st, without)
	back := testDirectory(t, 3)
	mustSaveDirectory(t, st, back)
	if _, err := st.SignIn(ctx, "ana", anaPIN, now, l); err != nil {
		t.Errorf("after leaving and rejoining the directory: got %v, want signed in", err)
	}
}

// An unknown id is checked against a hash as costly as the directory's
// real ones: the same kind and cost as the first account's, matching no PIN.
func TestDecoyHash(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	empty, err := signin.DecoyHash(ctx, st.db)
	if err != nil || !strings.HasPrefix(empty, "argon2id$v=19$m=65536,t=3,p=1$") {
		t.Errorf("decoy with no directory = %q, %v; want one at the default cost", empty, err)
	}
	mustSaveDirectory(t, st, testDirectory(t, 1))
	h, err := signin.DecoyHash(ctx, st.db)
	if err != nil {
		t.Fatal(err)
	}
	real := testDirectory(t, 1).Accounts[0].PINHash
	if cost := strings.Split(real, "$")[2]; strings.Split(h, "$")[2] != cost {
		t.Errorf("decoy %q, want the cost of %q", h, real)
	}
	a := staff.Account{ID: "x1", Name: "X", Role: staff.Agent, Branch: "Main", PINHash: h}
	if err := a.Validate(); err != nil {
		t.Errorf("decoy hash is not well formed: %v", err)
	}
	if staff.VerifyPIN(h, "") || staff.VerifyPIN(h, anaPIN) {
		t.Error("decoy hash matched a PIN")
	}
	if again, _ := signin.DecoyHash(ctx, st.db); again == h {
		t.Error("decoy hashes repeat")
	}
}
