package slarules_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"ombud/kiosk/slarules"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"path/filepath"
	"testing"
	"time"

	"ombud/server/enrol"
	"ombud/server/slaapi"
	"ombud/server/storage/sqlite"
	"ombud/shared/device"
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

// A device keeps the rules it received and uses them offline; before any
// answer it uses its fallback; an unusable answer changes nothing.
func TestDeviceKeepsRulesOffline(t *testing.T) {
	srv, cfg, st := setup(t)
	_, auth := enrolAs(t, st, device.Kiosk)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kiosk.db")
	ks, err := store.Open(ctx, path, nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	fallback, err := sla.Fallback(2, 15, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	r, err := slarules.New(ctx, slarules.Config{ServerURL: srv.URL, Authorization: auth, Store: ks, Fallback: fallback})
	if err != nil {
		t.Fatal(err)
	}
	if r.Current() != fallback || r.FromServer() {
		t.Fatal("before any answer: want the fallback")
	}
	if changed, err := r.Fetch(ctx); err != nil || !changed || r.Current().Digest() != cfg.Digest() {
		t.Fatalf("fetch: changed %v, %v", changed, err)
	}
	if changed, err := r.Fetch(ctx); err != nil || changed {
		t.Fatalf("second fetch: changed %v, %v; want a 304", changed, err)
	}
	ks.Close()
	srv.Close()

	ks, err = store.Open(ctx, path, nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	r, err = slarules.New(ctx, slarules.Config{ServerURL: srv.URL, Authorization: auth, Store: ks, Fallback: fallback})
	if err != nil {
		t.Fatal(err)
	}
	if !r.FromServer() || r.Current().Digest() != cfg.Digest() {
		t.Fatal("offline after a restart: want the server's rules as stored")
	}
	if _, err := r.Fetch(ctx); err == nil {
		t.Fatal("fetch from a stopped server: no error")
	}
	// A server that answers garbage does not replace them.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"calendars": 1}`) }))
	defer bad.Close()
	r, _ = slarules.New(ctx, slarules.Config{ServerURL: bad.URL, Authorization: auth, Store: ks, Fallback: fallback})
	if _, err := r.Fetch(ctx); err == nil || r.Current().Digest() != cfg.Digest() {
		t.Fatalf("garbage answer: %v, rules replaced %v", err, r.Current().Digest() != cfg.Digest())
	}
}
