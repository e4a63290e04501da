package staffapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"ombud/server/enrol"
	"ombud/server/httpapi"
	"ombud/server/staffapi"
	"ombud/server/storage/sqlite"
	"ombud/shared/device"
	"ombud/shared/staff"
)

// clock is a settable clock for the lock-out.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// mustSessionServer serves the sessions endpoints on a real store with the
// given clock and the cheapest PIN cost.
func mustSessionServer(tb testing.TB, st *sqlite.Store, c *clock) *httptest.Server {
	tb.Helper()
	mux := http.NewServeMux()
	staffapi.NewWith(st, staffapi.Options{Now: c.Now, PINCost: staff.TestCost, SessionTTL: time.Hour}).Register(mux)
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return srv
}

func call(tb testing.TB, srv *httptest.Server, method, path, authorization, body string) answer {
	tb.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, raw}
}

func signIn(tb testing.TB, srv *httptest.Server, auth, id, pin string) answer {
	tb.Helper()
	b, _ := json.Marshal(map[string]string{"staff_id": id, "pin": pin})
	return call(tb, srv, http.MethodPost, staffapi.PathSessions, auth, string(b))
}

// TestSignInStartsASession: the right PIN on the account's own branch's
// staff terminal starts a session the log can attribute actions to, and
// sign-out ends it; every other case gets one and the same refusal.
func TestSignInStartsASession(t *testing.T) {
	t.Parallel()
	st := MustStore(t)
	ctx := context.Background()
	MustStaff(t, st, "nina", "north", staff.Agent)
	MustStaff(t, st, "olaf", "south", staff.Agent)
	MustStaff(t, st, "gone", "north", staff.Agent)
	if err := st.RevokeStaff(ctx, "gone", time.Now()); err != nil {
		t.Fatal(err)
	}
	_, auth := MustEnrol(t, st, "north")
	_, kiosk := mustEnrolAs(t, st, enrol.Grant{Branch: "north", Role: device.Kiosk})
	c := &clock{t: time.Now()}
	srv := mustSessionServer(t, st, c)

	a := signIn(t, srv, auth, " Nina ", "482913")
	var got struct {
		Session   string    `json:"session"`
		StaffID   string    `json:"staff_id"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if a.status != http.StatusCreated || json.Unmarshal(a.body, &got) != nil || got.StaffID != "nina" || got.Session == "" ||
		got.ExpiresAt.Sub(c.Now()).Round(time.Second) != time.Hour {
		t.Fatalf("sign-in = %d %s", a.status, a.body)
	}
	if strings.Contains(string(a.body), "argon2") || strings.Contains(string(a.body), "pbkdf2") {
		t.Fatal("the sign-in answer carries a hash")
	}
	// The session is the device's: another device cannot end it.
	_, other := MustEnrol(t, st, "north")
	wantError(t, call(t, srv, http.MethodDelete, staffapi.PathSessions+"/"+got.Session, other, ""), http.StatusNotFound, string(httpapi.CodeNotFound))
	if a := call(t, srv, http.MethodDelete, staffapi.PathSessions+"/"+got.Session, auth, ""); a.status != http.StatusNoContent {
		t.Fatalf("sign-out = %d %s", a.status, a.body)
	}

	for name, tc := range map[string]struct{ auth, id, pin string }{
		"wrong PIN":                 {auth, "nina", "000001"},
		"unknown account":           {auth, "nobody", "482913"},
		"account of another branch": {auth, "olaf", "482913"},
		"revoked account":           {auth, "gone", "482913"},
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, signIn(t, srv, tc.auth, tc.id, tc.pin), http.StatusForbidden, string(httpapi.CodeSignInRefused))
		})
	}
	wantError(t, signIn(t, srv, kiosk, "nina", "482913"), http.StatusForbidden, string(httpapi.CodeForbidden))
	wantError(t, signIn(t, srv, "Bearer nonsense", "nina", "482913"), http.StatusUnauthorized, string(httpapi.CodeUnauthenticated))
	wantError(t, call(t, srv, http.MethodPost, staffapi.PathSessions, auth, `{"staff_id":"nina","pin":"482913","extra":1}`), http.StatusBadRequest, string(httpapi.CodeBadRequest))
	wantError(t, call(t, srv, http.MethodGet, staffapi.PathSessions, auth, ""), http.StatusMethodNotAllowed, string(httpapi.CodeMethodNotAllowed))
}

// TestSignInLockOut: five wrong PINs lock the account on the server (the
// right PIN then gets "locked" too) until the lock-out passes.
func TestSignInLockOut(t *testing.T) {
	t.Parallel()
	st := MustStore(t)
	MustStaff(t, st, "nina", "north", staff.Agent)
	_, auth := MustEnrol(t, st, "north")
	c := &clock{t: time.Now()}
	srv := mustSessionServer(t, st, c)
	for i := 1; i < staff.DefaultLockout.MaxFailures; i++ {
		wantError(t, signIn(t, srv, auth, "nina", "000001"), http.StatusForbidden, string(httpapi.CodeSignInRefused))
	}
	a := signIn(t, srv, auth, "nina", "000001")
	wantError(t, a, http.StatusTooManyRequests, string(httpapi.CodeLocked))
	if a.header.Get("Retry-After") == "" {
		t.Error("a locked answer without Retry-After")
	}
	wantError(t, signIn(t, srv, auth, "nina", "482913"), http.StatusTooManyRequests, string(httpapi.CodeLocked))
	c.Add(staff.DefaultLockout.Duration + time.Second)
	if a := signIn(t, srv, auth, "nina", "482913"); a.status != http.StatusCreated {
		t.Fatalf("after the lock-out: %d %s", a.status, a.body)
	}
}

// TestSignInUpgradesAnOldHash: a right PIN whose stored hash is PBKDF2 is
// rehashed with argon2id at the server's cost, so terminals get the
// stronger hash with their next directory.
func TestSignInUpgradesAnOldHash(t *testing.T) {
	t.Parallel()
	st := MustStore(t)
	ctx := context.Background()
	MustStaff(t, st, "nina", "north", staff.Agent)
	// pbkdf2-sha256, 1,000 iterations, of "482913".
	const legacy = "pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0c2FsdA$i9Ya4IBmwN4DoWZCTJY9UoS4YV+N0+ljlzAaW7c0+AM"
	if err := st.SetStaffPIN(ctx, "nina", legacy, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, auth := MustEnrol(t, st, "north")
	srv := mustSessionServer(t, st, &clock{t: time.Now()})
	if a := signIn(t, srv, auth, "nina", "482913"); a.status != http.StatusCreated {
		t.Fatalf("sign-in with a legacy hash: %d %s", a.status, a.body)
	}
	acc, err := st.StaffAccount(ctx, "nina")
	if err != nil || !strings.HasPrefix(acc.PINHash, "argon2id$") || !staff.VerifyPIN(acc.PINHash, "482913") {
		t.Fatalf("after sign-in the hash is %q (%v), want argon2id of the same PIN", acc.PINHash, err)
	}
}
