package slaapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ombud/server/enrol"
	"ombud/server/slaapi"
	"ombud/server/storage/sqlite"
	"ombud/shared/device"
	"ombud/shared/retention"
	"ombud/shared/sla"
)

func setup(t *testing.T) (srv *httptest.Server, cfg *sla.Config, st *sqlite.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateBranch(ctx, "north", "North"); err != nil {
		t.Fatal(err)
	}
	if cfg, err = sla.Load("../../deploy/sla.example.json"); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	slaapi.New(st, cfg, nil).Register(mux)
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, cfg, st
}

func enrolAs(t *testing.T, st *sqlite.Store, role device.Role) (id, auth string) {
	t.Helper()
	ctx := context.Background()
	code, _, err := enrol.Issue(ctx, st, enrol.Grant{Branch: "north", Role: role}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	en, err := enrol.Redeem(ctx, st, enrol.Request{Code: code, DeviceName: "device"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return en.Device.ID, "Bearer " + en.Credential
}

func get(t *testing.T, url, auth, etag string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+slaapi.Path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// Any enrolled device gets the rules the server parsed, a stranger and a
// revoked device nothing; an unchanged config costs a 304.
func TestRulesForEnrolledDevicesOnly(t *testing.T) {
	srv, cfg, st := setup(t)
	if resp, _ := get(t, srv.URL, "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no credential: %d, want 401", resp.StatusCode)
	}
	if resp, _ := get(t, srv.URL, "Bearer 0196c0de-0000-7000-8000-000000000001.AAAA", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("made-up credential: %d, want 401", resp.StatusCode)
	}
	for _, role := range []device.Role{device.Kiosk, device.Staff} {
		_, auth := enrolAs(t, st, role)
		resp, body := get(t, srv.URL, auth, "")
		if resp.StatusCode != http.StatusOK || body != string(cfg.JSON()) {
			t.Fatalf("%s: %d, body differs from the config: %v", role, resp.StatusCode, body != string(cfg.JSON()))
		}
		if again, _ := sla.Parse([]byte(body)); again == nil || again.Digest() != cfg.Digest() {
			t.Errorf("%s: the body does not parse to the same rules", role)
		}
		if resp, _ := get(t, srv.URL, auth, resp.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s with its ETag: %d, want 304", role, resp.StatusCode)
		}
	}
	id, auth := enrolAs(t, st, device.Kiosk)
	if err := st.RevokeDevice(context.Background(), id, time.Now()); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, srv.URL, auth, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked: %d, want 401", resp.StatusCode)
	}
}

// The retention policy is served the same way at PathRetention: enrolled
// devices only, the body parses back to the policy, 304 when unchanged.
func TestRetentionPolicyForEnrolledDevicesOnly(t *testing.T) {
	_, _, st := setup(t)
	pol := retention.Policy{DefaultMonths: 18, Categories: map[string]int{"billing": 30}}
	mux := http.NewServeMux()
	slaapi.NewDocument(st, slaapi.PathRetention, "retention policy", pol.Digest(), pol.JSON(), nil).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	fetch := func(auth, etag string) (int, string, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+slaapi.PathRetention, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("ETag")
	}
	if st, _, _ := fetch("", ""); st != http.StatusUnauthorized {
		t.Errorf("no credential: %d, want 401", st)
	}
	_, auth := enrolAs(t, st, device.Kiosk)
	code, body, etag := fetch(auth, "")
	got, err := retention.Parse(strings.NewReader(body))
	if code != http.StatusOK || err != nil || got.Months("billing") != 30 || got.Months("cards") != 18 {
		t.Fatalf("kiosk: %d %q %v", code, body, err)
	}
	if code, _, _ := fetch(auth, etag); code != http.StatusNotModified {
		t.Errorf("with its ETag: %d, want 304", code)
	}
}
