package directory_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"ombud/kiosk/directory"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/kiosk/store/signin"
	"ombud/server/enrol"
	"ombud/server/staffapi"
	"ombud/server/storage/sqlite"
	"ombud/shared/device"
	"ombud/shared/staff"
)

// The fetcher is tested against the server's real directory endpoint
// (server/staffapi) over a real server store and real HTTP, with a device
// enrolled as a terminal is (an enrolment code issued and redeemed).

// The terminal keeps its directory in the kiosk database's accounts.
var _ directory.Store = (*signin.Accounts)(nil)

type fixture struct {
	server  *sqlite.Store
	url     string
	auth    string // the terminal's Authorization header value
	kiosk   *signin.Accounts
	fetcher *directory.Fetcher
}

var pinHash = sync.OnceValue(func() string {
	h, err := staff.HashPINWith("482913", staff.TestCost)
	if err != nil {
		panic(err)
	}
	return h
})

func addStaff(t *testing.T, st *sqlite.Store, id, branch string) {
	t.Helper()
	a := staff.Account{ID: id, Name: "Staff " + id, Role: staff.Agent, Branch: branch, PINHash: pinHash()}
	if err := st.CreateStaff(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

// enrolDevice enrols a device into branch and returns its Authorization
// header value.
func enrolDevice(t *testing.T, st *sqlite.Store, branch string) string {
	t.Helper()
	ctx := context.Background()
	code, _, err := enrol.Issue(ctx, st, enrol.Grant{Branch: branch, Role: device.Staff}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	en, err := enrol.Redeem(ctx, st, enrol.Request{Code: code, DeviceName: "Staff terminal"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + en.Credential
}

// newFixture starts the server's directory endpoint with branches north
// and south, accounts ana and bo at north and cy at south, and a terminal
// enrolled at north with its own kiosk store.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	srvStore, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srvStore.Close() })
	for _, b := range []string{"north", "south"} {
		if err := srvStore.CreateBranch(ctx, b, "Branch "+b); err != nil {
			t.Fatal(err)
		}
	}
	addStaff(t, srvStore, "ana", "north")
	addStaff(t, srvStore, "bo", "north")
	addStaff(t, srvStore, "cy", "south")

	mux := http.NewServeMux()
	mux.Handle(staffapi.PathDirectory, staffapi.New(srvStore, nil))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	kst, err := store.Open(ctx, filepath.Join(t.TempDir(), "kiosk.db"), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kst.Close() })

	f := &fixture{server: srvStore, url: srv.URL, auth: enrolDevice(t, srvStore, "north"), kiosk: signin.New(kst)}
	f.fetcher = f.newFetcher(t, f.auth, "north")
	return f
}

func (f *fixture) newFetcher(t *testing.T, auth, branch string) *directory.Fetcher {
	t.Helper()
	fe, err := directory.New(directory.Config{ServerURL: f.url, Authorization: auth, Branch: branch, Store: f.kiosk})
	if err != nil {
		t.Fatal(err)
	}
	return fe
}

func (f *fixture) stored(t *testing.T) staff.Directory {
	t.Helper()
	d, err := f.kiosk.Directory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func accountIDs(d staff.Directory) map[string]staff.Account {
	m := map[string]staff.Account{}
	for _, a := range d.Accounts {
		m[a.ID] = a
	}
	return m
}

func TestFetchStoresTheBranchDirectoryThenRevalidates(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	changed, err := f.fetcher.Fetch(ctx)
	if err != nil || !changed {
		t.Fatalf("first Fetch = %v, %v; want changed, nil", changed, err)
	}
	d := f.stored(t)
	if d.Branch != "north" || d.Version <= 0 {
		t.Fatalf("stored directory branch %q version %d; want north, a positive version", d.Branch, d.Version)
	}
	got := accountIDs(d)
	if len(got) != 2 || got["ana"].ID == "" || got["bo"].ID == "" {
		t.Fatalf("stored accounts %v; want ana and bo (north only)", got)
	}
	if got["ana"].PINHash != pinHash() || got["ana"].Revoked() {
		t.Errorf("ana stored as %+v; want her PIN hash, not revoked", got["ana"])
	}
	if s := f.fetcher.Status(); s.Err != "" || s.Version != d.Version {
		t.Errorf("Status = %+v; want no error, version %d", s, d.Version)
	}

	// Unchanged on the server: a 304, nothing replaced.
	changed, err = f.fetcher.Fetch(ctx)
	if err != nil || changed {
		t.Fatalf("second Fetch = %v, %v; want unchanged (304), nil", changed, err)
	}
	if again := f.stored(t); again.Version != d.Version || len(again.Accounts) != 2 {
		t.Errorf("after the 304 the stored directory is version %d with %d accounts; want %d with 2",
			again.Version, len(again.Accounts), d.Version)
	}

	// A new Fetcher on the same store starts from the stored version, so
	// it revalidates too rather than downloading again.
	changed, err = f.newFetcher(t, f.auth, "north").Fetch(ctx)
	if err != nil || changed {
		t.Fatalf("Fetch by a new fetcher on the same store = %v, %v; want unchanged, nil", changed, err)
	}
}

func TestFetchPicksUpARevocation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.fetcher.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	before := f.stored(t).Version
	if err := f.server.RevokeStaff(ctx, "bo", time.Now()); err != nil {
		t.Fatal(err)
	}
	changed, err := f.fetcher.Fetch(ctx)
	if err != nil || !changed {
		t.Fatalf("Fetch after the revocation = %v, %v; want changed, nil", changed, err)
	}
	d := f.stored(t)
	if d.Version <= before {
		t.Errorf("version after the revocation %d; want above %d", d.Version, before)
	}
	got := accountIDs(d)
	if !got["bo"].Revoked() {
		t.Errorf("bo stored as %+v; want revoked", got["bo"])
	}
	if got["ana"].Revoked() {
		t.Errorf("ana stored as revoked; only bo was")
	}
	// The revocation stays: the next fetch is a 304.
	if changed, err := f.fetcher.Fetch(ctx); err != nil || changed {
		t.Fatalf("Fetch after storing the revocation = %v, %v; want unchanged, nil", changed, err)
	}
	if !accountIDs(f.stored(t))["bo"].Revoked() {
		t.Error("bo no longer revoked after the 304")
	}
}

func TestRefusedCredentialKeepsTheStoredDirectory(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.fetcher.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	want := f.stored(t)

	// A wrong secret for the enrolled device, and a device never enrolled.
	for _, auth := range []string{f.auth + "x", "Bearer nosuchdevice.c2VjcmV0c2VjcmV0c2VjcmV0"} {
		fe := f.newFetcher(t, auth, "north")
		changed, err := fe.Fetch(ctx)
		if !errors.Is(err, directory.ErrRefused) || changed {
			t.Errorf("Fetch with credential %q = %v, %v; want ErrRefused", auth, changed, err)
		}
		if s := fe.Status(); s.Err == "" {
			t.Errorf("Status after the refusal has no error")
		}
	}
	// The terminal keeps what it had: sign-in goes on offline.
	got := f.stored(t)
	if got.Version != want.Version || len(got.Accounts) != len(want.Accounts) {
		t.Errorf("after refusals the stored directory is version %d with %d accounts; want %d with %d",
			got.Version, len(got.Accounts), want.Version, len(want.Accounts))
	}
}

func TestDirectoryOfAnotherBranchIsRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.fetcher.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	want := f.stored(t)

	// A device enrolled at south gets south's directory, which a terminal
	// configured for north must not store.
	fe := f.newFetcher(t, enrolDevice(t, f.server, "south"), "north")
	changed, err := fe.Fetch(ctx)
	if !errors.Is(err, directory.ErrInvalid) || changed {
		t.Fatalf("Fetch of south's directory by a north terminal = %v, %v; want ErrInvalid", changed, err)
	}
	got := f.stored(t)
	if got.Branch != "north" || got.Version != want.Version {
		t.Errorf("stored directory now branch %q version %d; want north version %d", got.Branch, got.Version, want.Version)
	}
	if _, ok := accountIDs(got)["cy"]; ok {
		t.Error("south's account cy was stored at a north terminal")
	}
}

// A server restored from a backup sends a lower version: the terminal keeps
// what it has (it may hold later revocations) and says so, instead of
// looking healthy.
func TestOlderServerDirectoryIsReported(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.fetcher.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	held := f.stored(t)
	held.Version += 100 // as if this terminal had seen a hundred later changes
	if _, err := f.kiosk.SaveDirectory(ctx, held); err != nil {
		t.Fatal(err)
	}
	fe := f.newFetcher(t, f.auth, "north")
	changed, err := fe.Fetch(ctx)
	if changed || !errors.Is(err, directory.ErrInvalid) || !strings.Contains(err.Error(), "older") {
		t.Fatalf("Fetch = %v, %v; want unchanged and an ErrInvalid saying the server's directory is older", changed, err)
	}
	if got := f.stored(t).Version; got != held.Version {
		t.Fatalf("stored version %d; want %d kept", got, held.Version)
	}
	if fe.Status().Err == "" {
		t.Fatal("Status shows no error")
	}
}

// Every answer, a new directory or a 304, is a contact with the server,
// recorded with the bound on offline sign-in the server states; a refusal
// is not.
func TestFetchRecordsTheContact(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	contact := func() signin.Contact {
		t.Helper()
		c, err := f.kiosk.Contact(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := contact(); !c.At.IsZero() {
		t.Fatalf("contact before any fetch: %+v", c)
	}
	refused := f.newFetcher(t, f.auth+"x", "north")
	if _, err := refused.Fetch(ctx); !errors.Is(err, directory.ErrRefused) {
		t.Fatalf("refused fetch: %v", err)
	}
	if c := contact(); !c.At.IsZero() {
		t.Fatalf("a refusal recorded a contact: %+v", c)
	}

	before := time.Now()
	if _, err := f.fetcher.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	first := contact()
	if first.At.Before(before.Truncate(time.Millisecond)) || first.MaxOffline != 72*time.Hour {
		t.Fatalf("contact after a 200: %+v; want now and the server's default 72h", first)
	}
	// The server's operator sets another bound; a 304 brings it, and is a
	// contact too.
	mux := http.NewServeMux()
	staffapi.NewWith(f.server, staffapi.Options{MaxOffline: 5 * time.Hour}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	fe, err := directory.New(directory.Config{ServerURL: srv.URL, Authorization: f.auth, Branch: "north", Store: f.kiosk})
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := fe.Fetch(ctx); err != nil || changed {
		t.Fatalf("Fetch = %v, %v; want a 304", changed, err)
	}
	if c := contact(); c.MaxOffline != 5*time.Hour || c.At.Before(first.At) {
		t.Fatalf("contact after the 304: %+v; want the new bound, no earlier than %v", c, first.At)
	}
}

// A team terminal's directory is its teams' accounts, whatever their
// branch; one for other teams, or a branch's, is refused.
func TestTeamTerminalStoresItsTeamsDirectory(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, a := range []staff.Account{
		{ID: "fay", Name: "Fay", Role: staff.Agent, Branch: "north", Teams: []string{"fraud"}, PINHash: pinHash()},
		{ID: "gus", Name: "Gus", Role: staff.Supervisor, Branch: "south", Teams: []string{"fraud", "billing"}, PINHash: pinHash()},
		{ID: "hal", Name: "Hal", Role: staff.Agent, Branch: "south", Teams: []string{"billing"}, PINHash: pinHash()},
	} {
		if err := f.server.CreateStaff(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	code, _, err := enrol.Issue(ctx, f.server, enrol.Grant{Branch: "north", Role: device.Team, Teams: []string{"fraud"}}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	en, err := enrol.Redeem(ctx, f.server, enrol.Request{Code: code, DeviceName: "Fraud desk"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + en.Credential

	// Configured for other teams: refused, nothing stored.
	wrong, err := directory.New(directory.Config{ServerURL: f.url, Authorization: auth, Branch: "north", Teams: []string{"billing"}, Store: f.kiosk})
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := wrong.Fetch(ctx); !errors.Is(err, directory.ErrInvalid) || changed {
		t.Fatalf("fraud's directory at a terminal set up for billing: %v, %v; want ErrInvalid", changed, err)
	}
	// A branch terminal's fetcher with the team credential: refused too.
	if changed, err := f.newFetcher(t, auth, "north").Fetch(ctx); !errors.Is(err, directory.ErrInvalid) || changed {
		t.Fatalf("a team directory at a branch terminal: %v, %v; want ErrInvalid", changed, err)
	}
	if got := f.stored(t); len(got.Accounts) != 0 {
		t.Fatalf("refused directories stored %d accounts", len(got.Accounts))
	}

	fe, err := directory.New(directory.Config{ServerURL: f.url, Authorization: auth, Branch: "north", Teams: []string{"fraud"}, Store: f.kiosk})
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := fe.Fetch(ctx); err != nil || !changed {
		t.Fatalf("Fetch = %v, %v; want the fraud team's directory stored", changed, err)
	}
	ids := accountIDs(f.stored(t))
	if len(ids) != 2 || ids["fay"].ID == "" || ids["gus"].ID == "" {
		t.Fatalf("stored accounts %v, want fay (north) and gus (south), the fraud team's", ids)
	}
}
