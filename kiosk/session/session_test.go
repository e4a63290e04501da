package session_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"ombud/kiosk/session"
	"ombud/server/enrol"
	"ombud/server/staffapi"
	"ombud/server/storage/sqlite"
	"ombud/shared/device"
	"ombud/shared/staff"
)

// The client is tested against the server's real sessions endpoint
// (server/staffapi) over a real server store and real HTTP, with devices
// enrolled as terminals are.

const pin = "482913"

type fixture struct {
	store *sqlite.Store
	path  string // the server's database
	url   string
}

// newFixture serves the staff endpoints for branches north and south with
// accounts ana (north), cy (south) and old (north, revoked).
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "server.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, b := range []string{"north", "south"} {
		if err := st.CreateBranch(ctx, b, "Branch "+b); err != nil {
			t.Fatal(err)
		}
	}
	hash, err := staff.HashPINWith(pin, staff.TestCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct{ id, branch string }{{"ana", "north"}, {"cy", "south"}, {"old", "north"}} {
		if err := st.CreateStaff(ctx, staff.Account{ID: a.id, Name: "Staff " + a.id, Role: staff.Agent, Branch: a.branch, PINHash: hash}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RevokeStaff(ctx, "old", time.Now()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	staffapi.NewWith(st, staffapi.Options{PINCost: staff.TestCost}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{store: st, path: path, url: srv.URL}
}

// enrolDevice enrols a device of role at branch north and returns its
// Authorization header value.
func (f *fixture) enrolDevice(t *testing.T, role device.Role) string {
	t.Helper()
	ctx := context.Background()
	code, _, err := enrol.Issue(ctx, f.store, enrol.Grant{Branch: "north", Role: role}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	en, err := enrol.Redeem(ctx, f.store, enrol.Request{Code: code, DeviceName: "terminal"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + en.Credential
}

func (f *fixture) client(t *testing.T, auth string) *session.Client {
	t.Helper()
	// A generous bound: these tests are about what the server answers, and
	// a loaded CI machine under -race can take seconds to answer (the 4 s
	// default once timed out there).
	c, err := session.New(session.Config{ServerURL: f.url, Authorization: auth, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serverSession reads the session id as the server stored it.
func (f *fixture) serverSession(t *testing.T, id string) (staffID string, ended, ok bool) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+f.path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var endedAt sql.NullInt64
	err = db.QueryRow(`SELECT staff_id, ended_at FROM staff_sessions WHERE id = ?`, id).Scan(&staffID, &endedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return staffID, endedAt.Valid, true
}

func TestSignInStartsAndSignOutEndsASession(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.client(t, f.enrolDevice(t, device.Staff))

	s, err := c.SignIn(ctx, " Ana ", pin)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID == "" || s.StaffID != "ana" || time.Until(s.ExpiresAt) < time.Hour {
		t.Fatalf("session %+v; want one for ana, hours ahead", s)
	}
	if who, ended, ok := f.serverSession(t, s.ID); !ok || who != "ana" || ended {
		t.Fatalf("the server holds session %s as %q, ended %v, found %v; want ana's, running", s.ID, who, ended, ok)
	}
	if err := c.SignOut(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, ended, _ := f.serverSession(t, s.ID); !ended {
		t.Error("the session is not ended on the server after SignOut")
	}
	// Ending it again, or one the server does not know, is no failure.
	for _, id := range []string{s.ID, "01234567-89ab-7cde-8f01-23456789abcd"} {
		if err := c.SignOut(ctx, id); err != nil {
			t.Errorf("SignOut(%s): %v", id, err)
		}
	}
}

func TestSignInRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	terminal := f.client(t, f.enrolDevice(t, device.Staff))
	for name, tc := range map[string]struct{ id, pin string }{
		"wrong PIN":                 {"ana", "000001"},
		"unknown account":           {"nobody", pin},
		"account of another branch": {"cy", pin},
		"revoked account":           {"old", pin},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := terminal.SignIn(ctx, tc.id, tc.pin); !errors.Is(err, staff.ErrWrongCredentials) {
				t.Errorf("got %v, want staff.ErrWrongCredentials", err)
			}
		})
	}

	// The server's lock-out: its Retry-After says until when.
	var locked *staff.LockedError
	var err error
	for range staff.DefaultLockout.MaxFailures {
		_, err = terminal.SignIn(ctx, "ana", "000002")
	}
	if !errors.As(err, &locked) {
		t.Fatalf("after %d wrong PINs: %v, want a LockedError", staff.DefaultLockout.MaxFailures, err)
	}
	if d := time.Until(locked.Until); d < staff.DefaultLockout.Duration-time.Minute || d > staff.DefaultLockout.Duration+time.Second {
		t.Errorf("locked until %v from now, want about %v", d, staff.DefaultLockout.Duration)
	}

	// Refusals of the device are not the person's, and not "unreachable".
	for name, tc := range map[string]struct {
		auth   string
		status int
		code   string
	}{
		"customer kiosk":     {f.enrolDevice(t, device.Kiosk), http.StatusForbidden, "forbidden"},
		"unknown credential": {"Bearer nosuchdevice.c2VjcmV0c2VjcmV0c2VjcmV0", http.StatusUnauthorized, "unauthenticated"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.client(t, tc.auth).SignIn(ctx, "ana", pin)
			var e *session.Error
			if !errors.As(err, &e) || e.Status != tc.status || e.Code != tc.code || e.Message == "" || errors.Is(err, session.ErrUnreachable) {
				t.Errorf("got %#v, want a session.Error %d %s with a message", err, tc.status, tc.code)
			}
		})
	}
}

// Only a server that cannot answer is out of reach: a closed port, a 5xx,
// an answer that does not come in time.
func TestUnreachable(t *testing.T) {
	ctx := context.Background()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":{"code":"unavailable","message":"try again later"}}`))
	}))
	t.Cleanup(failing.Close)
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // until the test ends: the client must give up first
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(release) }) // runs before hanging.Close

	for name, u := range map[string]string{"closed": closed.URL, "5xx": failing.URL, "hanging": hanging.URL} {
		t.Run(name, func(t *testing.T) {
			c, err := session.New(session.Config{ServerURL: u, Authorization: "Bearer a.b", Timeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			if _, err := c.SignIn(ctx, "ana", pin); !errors.Is(err, session.ErrUnreachable) {
				t.Errorf("SignIn: %v, want ErrUnreachable", err)
			}
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("SignIn took %v", took)
			}
			if err := c.SignOut(ctx, "x"); !errors.Is(err, session.ErrUnreachable) {
				t.Errorf("SignOut: %v, want ErrUnreachable", err)
			}
		})
	}
}
