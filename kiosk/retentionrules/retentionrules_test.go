package retentionrules_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"ombud/kiosk/retentionrules"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/shared/retention"
)

// TestFetchKeepsAndRefuses: a policy the server sends is put in force and
// kept in the device's database (a new Rules on the same file starts with
// it, offline); an unchanged one costs a 304; an unusable answer (an
// unknown field, a period out of range) changes nothing, in force or
// stored, and says why.
func TestFetchKeepsAndRefuses(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "kiosk.db"), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var body atomic.Value
	body.Store(`{"default_months":30,"categories":{"billing":48}}`)
	var notModified atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != retentionrules.Path || r.Header.Get("Authorization") != "Bearer dev.secret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		b := body.Load().(string)
		p, err := retention.Parse(strings.NewReader(b))
		if err == nil && r.Header.Get("If-None-Match") == `"`+p.Digest()+`"` {
			notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write([]byte(b))
	}))
	defer srv.Close()
	cfg := retentionrules.Config{ServerURL: srv.URL, Authorization: "Bearer dev.secret", Store: st, Fallback: retention.Default()}
	r, err := retentionrules.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Current().Months("billing") != 12 || r.FromServer() {
		t.Fatalf("before any answer: %v", r.Current())
	}
	if changed, err := r.Fetch(ctx); !changed || err != nil {
		t.Fatalf("first fetch: %v %v", changed, err)
	}
	if r.Current().Months("billing") != 48 || r.Current().Months("cards") != 30 {
		t.Errorf("in force: %v", r.Current())
	}
	if changed, err := r.Fetch(ctx); changed || err != nil || notModified.Load() != 1 {
		t.Errorf("unchanged: %v %v, 304s %d", changed, err, notModified.Load())
	}
	for _, bad := range []string{`{"default_months":30,"keep_forever":true}`, `{"default_months":999}`, `not json`} {
		body.Store(bad)
		if changed, err := r.Fetch(ctx); changed || !errors.Is(err, retentionrules.ErrInvalid) {
			t.Errorf("%s: %v %v, want ErrInvalid", bad, changed, err)
		}
		if r.Current().Months("billing") != 48 {
			t.Errorf("%s changed the policy in force: %v", bad, r.Current())
		}
	}
	// Offline: a new start on the same database states the stored policy.
	cfg.ServerURL = "http://127.0.0.1:1"
	again, err := retentionrules.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again.Current().Months("billing") != 48 || !again.FromServer() {
		t.Errorf("after a restart: %v (from server %v)", again.Current(), again.FromServer())
	}
}
