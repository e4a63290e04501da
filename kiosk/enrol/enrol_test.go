package enrol_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"ombud/kiosk/enrol"
	serverenrol "ombud/server/enrol"
	"ombud/server/httpapi"
	"ombud/server/storage/sqlite"
	"ombud/shared/device"
)

type server struct {
	url string
	st  *sqlite.Store
}

// MustServer runs the real enrolment endpoint on a real store.
func MustServer(tb testing.TB) *server {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "server.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.CreateBranch(context.Background(), "main", "Main Street"); err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(st, httpapi.Options{EnrolBurst: 100, PublicURL: "https://track.example.org/"}))
	tb.Cleanup(srv.Close)
	return &server{url: srv.URL, st: st}
}

func (s *server) code(tb testing.TB, ttl time.Duration, now time.Time) string {
	tb.Helper()
	c, _, err := serverenrol.Issue(context.Background(), s.st, serverenrol.Grant{Branch: "main", Role: device.Kiosk}, ttl, now)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestEnrol(t *testing.T) {
	ctx := context.Background()
	s := MustServer(t)
	code := s.code(t, time.Hour, time.Now())
	c, err := enrol.Enrol(ctx, nil, s.url+"/", " "+strings.ToLower(code)+" ", "Front desk")
	if err != nil {
		t.Fatalf("Enrol: %v", err)
	}
	if c.ServerURL != s.url || c.Branch != "main" || c.BranchName != "Main Street" || c.Role != device.Kiosk || len(c.CodePrefix) != 3 || c.Secret == "" ||
		c.TrackingURL != "https://track.example.org" {
		t.Errorf("credential = %+v", c)
	}
	if _, err := serverenrol.Authenticate(ctx, s.st, c.AuthorizationHeader()); err != nil {
		t.Errorf("the server does not accept the credential: %v", err)
	}
	if strings.Contains(c.String(), c.Secret) {
		t.Error("Credential.String shows the secret")
	}

	id, err := enrol.EnrolAs(ctx, nil, s.url, s.code(t, time.Hour, time.Now()), "Back office", "local-id-1")
	if err != nil || id.DeviceID != "local-id-1" {
		t.Errorf("EnrolAs = %q, %v; want device local-id-1", id.DeviceID, err)
	}
	_, err = enrol.EnrolAs(ctx, nil, s.url, s.code(t, time.Hour, time.Now()), "Back office", "local-id-1")
	if err == nil || !strings.Contains(err.Error(), "already has a device with this kiosk's id") {
		t.Errorf("EnrolAs with a taken id: %v", err)
	}
}

func TestEnrolRefusals(t *testing.T) {
	ctx := context.Background()
	s := MustServer(t)
	used := s.code(t, time.Hour, time.Now())
	if _, err := enrol.Enrol(ctx, nil, s.url, used, "k"); err != nil {
		t.Fatal(err)
	}
	expired := s.code(t, time.Nanosecond, time.Now().Add(-time.Second))
	tests := []struct {
		name, code string
		is         error
		want       string
	}{
		{"expired", expired, enrol.ErrCodeExpired, "the server refused the code: it has expired; ask for a new one"},
		{"used", used, enrol.ErrCodeRefused, "the server refused the code: it is not valid"},
		{"typo", "AAAA-BBBB", enrol.ErrCodeRefused, "the server refused the code: it is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := enrol.Enrol(ctx, nil, s.url, tt.code, "k")
			var e *enrol.Error
			if !errors.Is(err, tt.is) || !strings.HasPrefix(err.Error(), tt.want) || !errors.As(err, &e) || e.Status != 403 {
				t.Errorf("err = %v, want %q (403)", err, tt.want)
			}
		})
	}
}

func TestEnrolServerTrouble(t *testing.T) {
	ctx := context.Background()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/bad-gateway/api/v1/enrol":
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		case "/limited/api/v1/enrol":
			w.Header().Set("Retry-After", "42")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":{"code":"rate_limited","message":"slow down"}}`))
		case "/odd/api/v1/enrol":
			w.WriteHeader(http.StatusTeapot)
			w.Write([]byte("{\"error\":{\"code\":\"teapot\",\"message\":\"short \\u001b[2J and stout\"}}"))
		case "/garbage/api/v1/enrol":
			w.Write([]byte("hello"))
		case "/wrong-device/api/v1/enrol":
			w.Write([]byte(`{"device_id":"a","credential":"b.secret","branch":"main","code_prefix":"K7Q"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer proxy.Close()
	tests := []struct{ path, want string }{
		{"/bad-gateway", "the server answered 502 Bad Gateway: check the address, or try again later"},
		{"/limited", "too many attempts from this kiosk; try again in 42 seconds"},
		{"/odd", "the server refused (418 I'm a teapot): short  and stout"},
		{"/garbage", "does not understand"},
		{"/wrong-device", "does not name device"},
	}
	for _, tt := range tests {
		_, err := enrol.Enrol(ctx, nil, proxy.URL+tt.path, "AAAA-AAAA-AAAA-AAAA", "k")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.path, err, tt.want)
		}
	}
	if _, err := enrol.Enrol(ctx, nil, proxy.URL+"/limited", "x", "k"); !errors.Is(err, enrol.ErrRateLimited) {
		t.Errorf("rate limited: %v, want ErrRateLimited", err)
	}
	for _, u := range []string{"", "ftp://x", "localhost:8080", "http://", "http://u:p@host"} {
		if _, err := enrol.Enrol(ctx, nil, u, "x", "k"); err == nil || !strings.Contains(err.Error(), "server address") {
			t.Errorf("Enrol(%q) = %v, want a server address error", u, err)
		}
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	if _, err := enrol.Enrol(ctx, nil, closed.URL, "x", "k"); err == nil || !strings.Contains(err.Error(), "cannot reach the server") {
		t.Errorf("closed server: %v", err)
	}
}

func sample() enrol.Credential {
	return enrol.Credential{
		ServerURL: "https://ombud.example", DeviceID: "dev-1", Secret: "c2VjcmV0",
		Branch: "main", BranchName: "Main Street", CodePrefix: "K7Q", Role: device.Team, Teams: []string{"fraud", "billing"},
		TrackingURL: "https://track.example.org",
		EnrolledAt:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func TestSaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, ok, err := enrol.Load(dir); ok || err != nil {
		t.Fatalf("Load before Save = %v, %v; want not enrolled, no error", ok, err)
	}
	if _, err := enrol.LoadRequired(dir); err == nil || !strings.Contains(err.Error(), "kiosk enrol") {
		t.Errorf("LoadRequired before Save = %v", err)
	}
	want := sample()
	if err := enrol.Save(dir, want); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, enrol.FileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode = %#o, want 0600", got)
	}
	got, ok, err := enrol.Load(dir)
	if err != nil || !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %+v, %v, %v; want %+v", got, ok, err, want)
	}

	// Replacing is atomic: no temporary file is left, and the new content is whole.
	next := want
	next.DeviceID, next.Secret = "dev-2", "bmV3"
	if err := enrol.Save(dir, next); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != enrol.FileName {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("data dir holds %v, want only %s", names, enrol.FileName)
	}
	if got, _, _ := enrol.Load(dir); got.DeviceID != "dev-2" {
		t.Errorf("after replace, device = %s, want dev-2", got.DeviceID)
	}
	// An invalid credential is refused and leaves the saved one alone.
	bad := next
	bad.CodePrefix = "UUU"
	if err := enrol.Save(dir, bad); err == nil {
		t.Error("Save accepted a bad prefix")
	}
	if got, _, _ := enrol.Load(dir); !reflect.DeepEqual(got, next) {
		t.Errorf("a refused Save changed the file: %+v", got)
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	tests := []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"corrupt", `{"version":1,"server_url":`, 0o600, "is damaged"},
		{"not json", "hello", 0o600, "is damaged"},
		{"missing fields", `{"version":1,"device_id":"d"}`, 0o600, "missing server_url, secret, branch, code_prefix"},
		{"unknown field", `{"version":1,"surprise":true}`, 0o600, "is damaged"},
		{"future version", `{"version":9}`, 0o600, "version 9"},
		{"readable by others", `{}`, 0o644, "can be read by other users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, enrol.FileName)
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tt.mode) // WriteFile's mode is filtered by the umask
			_, ok, err := enrol.Load(dir)
			if ok || err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("Load = %v, %v; want an error naming the file and mentioning %q", ok, err, tt.want)
			}
		})
	}
}

func TestCommand(t *testing.T) {
	ctx := context.Background()
	s := MustServer(t)
	dir := filepath.Join(t.TempDir(), "kiosk-data")
	var adopted enrol.Credential
	hooks := enrol.Hooks{
		LocalDeviceID: func(context.Context, string) (string, error) { return "kiosk-local", nil },
		Adopt: func(_ context.Context, d string, c enrol.Credential) error {
			if d != dir {
				t.Errorf("Adopt got data dir %q, want %q", d, dir)
			}
			adopted = c
			return nil
		},
	}
	env := map[string]string{"OMBUD_KIOSK_DATA": dir}
	getenv := func(k string) string { return env[k] }
	var out bytes.Buffer
	code := s.code(t, time.Hour, time.Now())
	err := enrol.Command(ctx, []string{"--server", s.url, "--code", code, "--name", "Front"}, getenv, &out, &out, hooks)
	if err != nil {
		t.Fatalf("Command: %v\n%s", err, out.String())
	}
	saved, ok, err := enrol.Load(dir)
	if err != nil || !ok || saved.DeviceID != "kiosk-local" || !reflect.DeepEqual(adopted, saved) {
		t.Errorf("saved %+v (%v, %v), adopted %+v; want kiosk-local in both", saved, ok, err, adopted)
	}
	if !strings.Contains(out.String(), "Tracking codes from it start with "+saved.CodePrefix) {
		t.Errorf("output: %s", out.String())
	}
	// Says what the device is in words ("this kiosk is device …" read as
	// if the kiosk were named "device").
	if first := strings.SplitN(out.String(), "\n", 2)[0]; !strings.HasPrefix(first, "Enrolled as a ") || strings.Contains(first, "is device") {
		t.Errorf("first line %q, want \"Enrolled as a <role> of branch …\"", first)
	}

	// Enrolled already: refused without --force, before spending the code.
	code2 := s.code(t, time.Hour, time.Now())
	err = enrol.Command(ctx, []string{"--server", s.url, "--code", code2}, getenv, &out, &out, enrol.Hooks{})
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second enrolment without --force: %v", err)
	}
	err = enrol.Command(ctx, []string{"--server", s.url, "--code", code2, "--force"}, getenv, &out, &out, enrol.Hooks{})
	if err != nil {
		t.Fatalf("--force: %v", err)
	}
	if again, _, _ := enrol.Load(dir); again.DeviceID == saved.DeviceID {
		t.Error("--force kept the old credential")
	}

	err = enrol.Command(ctx, []string{"--code", "x"}, getenv, &out, &out, enrol.Hooks{})
	if err == nil || !strings.Contains(err.Error(), "--server and --code are required") {
		t.Errorf("no --server: %v", err)
	}
}
