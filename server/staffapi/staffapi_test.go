package staffapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ombud/server/enrol"
	"ombud/server/httpapi"
	"ombud/server/staffapi"
	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/shared/device"
	"ombud/shared/staff"
)

// MustStore opens a real store in tb's temp dir with branches north and
// south, closed at cleanup.
func MustStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "server.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	for _, b := range []string{"north", "south"} {
		if err := st.CreateBranch(ctx, b, "Branch "+b); err != nil {
			tb.Fatal(err)
		}
	}
	return st
}

// MustEnrol enrols a staff terminal into branch as a terminal does (a code
// from enrol.Issue, redeemed) and returns its Authorization header value.
func MustEnrol(tb testing.TB, st storage.Devices, branch string) (deviceID, authorization string) {
	tb.Helper()
	return mustEnrolAs(tb, st, enrol.Grant{Branch: branch, Role: device.Staff})
}

func mustEnrolAs(tb testing.TB, st storage.Devices, g enrol.Grant) (deviceID, authorization string) {
	tb.Helper()
	ctx := context.Background()
	code, _, err := enrol.Issue(ctx, st, g, time.Hour, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	en, err := enrol.Redeem(ctx, st, enrol.Request{Code: code, DeviceName: "Staff terminal"}, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return en.Device.ID, "Bearer " + en.Credential
}

var pinHash = sync.OnceValue(func() string {
	h, err := staff.HashPINWith("482913", staff.TestCost)
	if err != nil {
		panic(err)
	}
	return h
})

func MustStaff(tb testing.TB, st storage.Staff, id, branch string, role staff.Role) {
	tb.Helper()
	a := staff.Account{ID: id, Name: "Staff " + id, Role: role, Branch: branch, PINHash: pinHash()}
	if err := st.CreateStaff(context.Background(), a); err != nil {
		tb.Fatal(err)
	}
}

// MustServer serves the handler over real HTTP.
func MustServer(tb testing.TB, st staffapi.Store) *httptest.Server {
	tb.Helper()
	mux := http.NewServeMux()
	mux.Handle(staffapi.PathDirectory, staffapi.New(st, nil))
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return srv
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func get(tb testing.TB, srv *httptest.Server, method, authorization, ifNoneMatch string) answer {
	tb.Helper()
	req, err := http.NewRequest(method, srv.URL+staffapi.PathDirectory, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, body}
}

// wantError checks an error answer's status and JSON code.
func wantError(tb testing.TB, a answer, status int, code string) {
	tb.Helper()
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(a.body, &body); err != nil {
		tb.Fatalf("error body %q: %v", a.body, err)
	}
	if a.status != status || body.Error.Code != code || body.Error.Message == "" {
		tb.Fatalf("answer = %d %s, want %d with code %q and a message", a.status, a.body, status, code)
	}
	if got := a.header.Get("Cache-Control"); got != "no-store" {
		tb.Errorf("Cache-Control = %q, want no-store", got)
	}
}

func directoryOf(tb testing.TB, a answer) staff.Directory {
	tb.Helper()
	if a.status != http.StatusOK {
		tb.Fatalf("status %d %s, want 200", a.status, a.body)
	}
	d, err := staff.DecodeDirectory(a.body)
	if err != nil {
		tb.Fatalf("the terminal would refuse the directory: %v\n%s", err, a.body)
	}
	return d
}

func ids(d staff.Directory) []string {
	var out []string
	for _, a := range d.Accounts {
		out = append(out, a.ID)
	}
	return out
}

func TestDirectoryOfTheDevicesBranch(t *testing.T) {
	t.Parallel()
	st := MustStore(t)
	ctx := context.Background()
	MustStaff(t, st, "nina", "north", staff.Supervisor)
	MustStaff(t, st, "adam", "north", staff.Agent)
	MustStaff(t, st, "sami", "south", staff.Agent)
	MustStaff(t, st, "gone", "north", staff.Agent)
	if err := st.RevokeStaff(ctx, "gone", time.Now()); err != nil {
		t.Fatal(err)
	}
	_, north := MustEnrol(t, st, "north")
	_, south := MustEnrol(t, st, "south")
	srv := MustServer(t, st)

	a := get(t, srv, http.MethodGet, north, "")
	d := directoryOf(t, a)
	if d.Branch != "north" || !slices.Equal(ids(d), []string{"adam", "gone", "nina"}) {
		t.Fatalf("north's directory = branch %s, %v; want north, [adam gone nina]", d.Branch, ids(d))
	}
	if g, _ := d.Find("gone"); !g.Revoked() {
		t.Error("the revoked account is not marked revoked")
	}
	if n, _ := d.Find("nina"); n.Role != staff.Supervisor || !staff.VerifyPIN(n.PINHash, "482913") {
		t.Errorf("nina = %+v, want a supervisor with her PIN's hash", n)
	}
	for h, want := range map[string]string{
		"ETag":          `"` + strconv.FormatInt(d.Version, 10) + `"`,
		"Cache-Control": "no-store",
		"Content-Type":  "application/json; charset=utf-8",
	} {
		if got := a.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if strings.Contains(string(a.body), "sami") {
		t.Error("north's directory holds south's account")
	}

	s := directoryOf(t, get(t, srv, http.MethodGet, south, ""))
	if s.Branch != "south" || !slices.Equal(ids(s), []string{"sami"}) {
		t.Fatalf("south's directory = branch %s, %v; want south, [sami]", s.Branch, ids(s))
	}

	// HEAD: the headers alone.
	h := get(t, srv, http.MethodHead, north, "")
	if h.status != http.StatusOK || len(h.body) != 0 || h.header.Get("ETag") != a.header.Get("ETag") {
		t.Errorf("HEAD = %d, %d bytes, ETag %q; want 200, no body, %q", h.status, len(h.body), h.header.Get("ETag"), a.header.Get("ETag"))
	}
}

func TestDirectoryNotModified(t *testing.T) {
	t.Parallel()
	st := MustStore(t)
	ctx := context.Background()
	MustStaff(t, st, "nina", "north", staff.Agent)
	_, north := MustEnrol(t, st, "north")
	srv := MustServer(t, st)

	first := get(t, srv, http.MethodGet, north, "")
	etag := first.header.Get("ETag")
	d := directoryOf(t, first)
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		a := get(t, srv, http.MethodGet, north, inm)
		if a.status != http.StatusNotModified || len(a.body) != 0 || a.header.Get("ETag") != etag {
			t.Errorf("If-None-Match %s: %d %q, ETag %q; want 304, no body, %s", inm, a.status, a.body, a.header.Get("ETag"), etag)
		}
	}
	// Another branch's change leaves the ETag alone.
	MustStaff(t, st, "sami", "south", staff.Agent)
	if a := get(t, srv, http.MethodGet, north, etag); a.status != http.StatusNotModified {
		t.Errorf("after a change at south: %d, want 304", a.status)
	}
	// Each change of the branch gives a new directory and a new ETag.
	for _, change := range []func() error{
		func() error { return st.SetStaffPIN(ctx, "nina", pinHash(), time.Now()) },
		func() error { return st.RevokeStaff(ctx, "nina", time.Now()) },
	} {
		if err := change(); err != nil {
			t.Fatal(err)
		}
		a := get(t, srv, http.MethodGet, north, etag)
		next := directoryOf(t, a)
		if next.Version <= d.Version || a.header.Get("ETag") == etag {
			t.Fatalf("after a change: version %d, ETag %s; want more than %d and not %s", next.Version, a.header.Get("ETag"), d.Version, etag)
		}
		d, etag = next, a.header.Get("ETag")
	}
	if n, _ := d.Find("nina"); !n.Revoked() {
		t.Error("the last directory does not show the revocation")
	}
}

func TestDirectoryRefusesCredentials(t *testing.T) {
	t.Parallel()
	st := MustStore(t)
	ctx := context.Background()
	MustStaff(t, st, "nina", "north", staff.Agent)
	id, north := MustEnrol(t, st, "north")
	_, other := MustEnrol(t, st, "north")
	srv := MustServer(t, st)
	otherSecret := other[strings.IndexByte(other, '.'):]

	for name, auth := range map[string]string{
		"none":           "",
		"not bearer":     "Basic " + strings.TrimPrefix(north, "Bearer "),
		"malformed":      "Bearer nonsense",
		"wrong secret":   "Bearer " + id + otherSecret,
		"unknown device": "Bearer nosuchdevice" + otherSecret,
	} {
		t.Run(name, func(t *testing.T) {
			a := get(t, srv, http.MethodGet, auth, "")
			wantError(t, a, http.StatusUnauthorized, string(httpapi.CodeUnauthenticated))
			if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", a.header.Get("WWW-Authenticate"))
			}
			if strings.Contains(string(a.body), "pbkdf2") || a.header.Get("ETag") != "" {
				t.Error("a refused request got directory data")
			}
		})
	}

	if err := enrol.Revoke(ctx, st, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	a := get(t, srv, http.MethodGet, north, "")
	wantError(t, a, http.StatusUnauthorized, string(httpapi.CodeRevoked))
	if strings.Contains(string(a.body), "pbkdf2") {
		t.Error("a revoked device got directory data")
	}
	// The other device of the branch is unaffected.
	directoryOf(t, get(t, srv, http.MethodGet, other, ""))

	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		a := get(t, srv, m, other, "")
		wantError(t, a, http.StatusMethodNotAllowed, string(httpapi.CodeMethodNotAllowed))
		if a.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: Allow = %q", m, a.header.Get("Allow"))
		}
	}
}

// TestDirectoryOnlyForStaffTerminals: a customer kiosk of the branch, whose
// credential is valid, gets 403 and no PIN hash: whoever takes a kiosk from
// the lobby finds none on it.
func TestDirectoryOnlyForStaffTerminals(t *testing.T) {
	t.Parallel()
	st := MustStore(t)
	MustStaff(t, st, "nina", "north", staff.Agent)
	_, kiosk := mustEnrolAs(t, st, enrol.Grant{Branch: "north", Role: device.Kiosk})
	srv := MustServer(t, st)
	a := get(t, srv, http.MethodGet, kiosk, "")
	wantError(t, a, http.StatusForbidden, string(httpapi.CodeForbidden))
	if strings.Contains(string(a.body), "nina") || strings.Contains(string(a.body), "pbkdf2") || a.header.Get("ETag") != "" {
		t.Errorf("a kiosk got directory data: %s", a.body)
	}
}

// TestDirectoryStoreFailure: a store that cannot answer gives 503 (try
// again), not 401 (enrol again).
func TestDirectoryStoreFailure(t *testing.T) {
	t.Parallel()
	st := MustStore(t)
	_, north := MustEnrol(t, st, "north")
	srv := MustServer(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	a := get(t, srv, http.MethodGet, north, "")
	wantError(t, a, http.StatusServiceUnavailable, string(httpapi.CodeUnavailable))
	if a.header.Get("Retry-After") == "" {
		t.Error("no Retry-After on 503")
	}
}

// failingDirectory is a store whose devices answer but whose directory
// read fails: the real store cannot fail on one query alone.
type failingDirectory struct{ *sqlite.Store }

func (failingDirectory) StaffDirectory(context.Context, string) (staff.Directory, error) {
	return staff.Directory{}, errors.New("disk I/O error at /var/lib/ombud/server.db")
}

func TestDirectoryReadFailure(t *testing.T) {
	t.Parallel()
	st := MustStore(t)
	_, north := MustEnrol(t, st, "north")
	srv := MustServer(t, failingDirectory{st})
	a := get(t, srv, http.MethodGet, north, "")
	wantError(t, a, http.StatusServiceUnavailable, string(httpapi.CodeUnavailable))
	if strings.Contains(string(a.body), "/var/lib") {
		t.Errorf("the answer leaks the cause: %s", a.body)
	}
}
