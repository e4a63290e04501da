package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	kioskenrol "ombud/kiosk/enrol"
	"ombud/server/enrol"
	"ombud/server/storage/postgres"
	"ombud/server/storage/sqlite"
)

// logWatch is the server's stderr in tests: it keeps the log and hands over
// the address from the "listening" line as soon as it is written.
type logWatch struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	seen int
	addr chan string
	msgs chan string // every message, for waiting on a state
}

func newLogWatch() *logWatch {
	return &logWatch{addr: make(chan string, 1), msgs: make(chan string, 1000)}
}

// waitFor waits until the server logs msg.
func (w *logWatch) waitFor(tb testing.TB, msg string) {
	tb.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case m := <-w.msgs:
			if m == msg {
				return
			}
		case <-deadline:
			tb.Fatalf("no %q log line within 15 s; log:\n%s", msg, w)
		}
	}
}

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		rest := w.buf.Bytes()[w.seen:]
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		var line struct{ Msg, Addr string }
		if json.Unmarshal(rest[:i], &line) == nil {
			if line.Msg == "listening" {
				select {
				case w.addr <- line.Addr:
				default:
				}
			}
			select {
			case w.msgs <- line.Msg:
			default:
			}
		}
		w.seen += i + 1
	}
	return len(p), nil
}

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

type running struct {
	addr string
	log  *logWatch
	stop func() error // cancels the context and returns run's error
}

func noEnv(string) string { return "" }

// MustServe starts the real program's serve on 127.0.0.1:0.
func MustServe(tb testing.TB, getenv func(string) string, args ...string) *running {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	lw := newLogWatch()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...), getenv, nil, io.Discard, lw)
	}()
	r := &running{log: lw}
	var once sync.Once
	var err error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(15 * time.Second):
				err = errors.New("run did not return within 15 s of cancel")
			}
		})
		return err
	}
	tb.Cleanup(func() { r.stop() })
	select {
	case r.addr = <-lw.addr:
	case err := <-done:
		tb.Fatalf("serve returned before listening: %v\nlog:\n%s", err, lw)
	case <-time.After(15 * time.Second):
		tb.Fatalf("no listening line within 15 s; log:\n%s", lw)
	}
	return r
}

// MustRun runs a one-shot subcommand with nothing on stdin and returns its
// stdout.
func MustRun(tb testing.TB, args ...string) string {
	tb.Helper()
	return MustRunInput(tb, "", args...)
}

// MustRunInput runs a one-shot subcommand with stdin reading input and
// returns its stdout.
func MustRunInput(tb testing.TB, input string, args ...string) string {
	tb.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), args, noEnv, strings.NewReader(input), &out, &errOut); err != nil {
		tb.Fatalf("run %q: %v\nstderr: %s", args, err, errOut.String())
	}
	return out.String()
}

var codeRE = regexp.MustCompile(`[0-9A-Z]{4}(?:-[0-9A-Z]{4}){3}`)

// MustCode makes an enrolment code for branch main of the database in dir,
// or at dir when it is a PostgreSQL URL.
func MustCode(tb testing.TB, dir string, extra ...string) string {
	tb.Helper()
	loc := []string{"--data", dir}
	if postgres.IsDSN(dir) {
		loc = []string{"--db", dir}
	}
	out := MustRun(tb, append(append([]string{"enrol-code"}, loc...), append([]string{"--branch", "main", "--public-url", "https://ombud.example"}, extra...)...)...)
	code := codeRE.FindString(out)
	if code == "" || !strings.Contains(out, "kiosk enrol --server https://ombud.example --code "+code) {
		tb.Fatalf("enrol-code printed no code and instructions:\n%s", out)
	}
	return code
}

func TestServeHealthAndGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	srv := MustServe(t, noEnv, "--data", dir)
	resp, err := http.Get("http://" + srv.addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Errorf("GET /healthz = %d %s, want 200 {\"status\":\"ok\"}", resp.StatusCode, body)
	}
	if err := srv.stop(); err != nil {
		t.Fatalf("run after cancel = %v, want nil\nlog:\n%s", err, srv.log)
	}
	log := srv.log.String()
	for _, want := range []string{`"msg":"shutting down"`, `"msg":"stopped"`, `"component":"server"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "server.db")); err != nil {
		t.Errorf("server.db: %v", err)
	}
	if _, err := net.DialTimeout("tcp", srv.addr, time.Second); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}

// TestShutdownLetsInFlightRequestsFinish starts a request, shuts the server
// down while its handler waits for the body, then sends the body: the
// answer still comes, and run returns nil. "Expect: 100-continue" tells us
// when the handler is running: the server sends "100 Continue" only when
// the handler starts reading the body.
func TestShutdownLetsInFlightRequestsFinish(t *testing.T) {
	srv := MustServe(t, noEnv, "--data", t.TempDir())
	conn, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	body := `{"code":"AAAA-AAAA-AAAA-AAAA","device_name":"k"}`
	fmt.Fprintf(conn, "POST /api/v1/enrol HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(body))
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.Contains(line, "100 Continue") {
		t.Fatalf("want 100 Continue, got %q, %v", line, err)
	}
	br.ReadString('\n') // the blank line after the interim response

	stopped := make(chan error, 1)
	go func() { stopped <- srv.stop() }()
	srv.log.waitFor(t, "shutting down")
	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("in-flight request got no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("in-flight request = %d, want its 403 answer", resp.StatusCode)
	}
	if err := <-stopped; err != nil {
		t.Errorf("run = %v, want nil", err)
	}
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := MustSelfSignedCert(t, dir)
	srv := MustServe(t, noEnv, "--data", dir, "--tls-cert", certFile, "--tls-key", keyFile)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + srv.addr + "/healthz")
	if err != nil {
		t.Fatalf("GET https /healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET https /healthz = %d, want 200", resp.StatusCode)
	}
	// A client that does not trust the certificate is refused.
	if _, err := http.Get("https://" + srv.addr + "/healthz"); err == nil {
		t.Error("untrusting client connected")
	}
	if err := srv.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}

// MustSelfSignedCert writes a certificate for 127.0.0.1 and its key.
func MustSelfSignedCert(tb testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ombud test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestEnrolmentEndToEnd(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if out := MustRun(t, "branch", "add", "--data", dir, "--id", "main", "--name", "Main Street"); !strings.Contains(out, "main") {
		t.Errorf("branch add printed %q", out)
	}
	code := MustCode(t, dir)
	srv := MustServe(t, noEnv, "--data", dir)
	url := "http://" + srv.addr

	cred, err := kioskenrol.Enrol(ctx, nil, url, code, "Front desk")
	if err != nil {
		t.Fatalf("Enrol: %v\nlog:\n%s", err, srv.log)
	}
	if cred.Branch != "main" || cred.BranchName != "Main Street" || len(cred.CodePrefix) != 3 || cred.ServerURL != url {
		t.Errorf("credential = %v (branch name %q)", cred, cred.BranchName)
	}

	// The credential works with the check the sync endpoint will make, on
	// a second connection to the same file (as a CLI would have).
	st, err := sqlite.Open(ctx, filepath.Join(dir, "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := enrol.Authenticate(ctx, st, cred.AuthorizationHeader())
	if err != nil || d.ID != cred.DeviceID || d.Prefix != cred.CodePrefix {
		t.Fatalf("Authenticate = %+v, %v; want device %s", d, err, cred.DeviceID)
	}

	// The same code again.
	_, err = kioskenrol.Enrol(ctx, nil, url, code, "Second")
	if !errors.Is(err, kioskenrol.ErrCodeRefused) || !strings.Contains(err.Error(), "the server refused the code") {
		t.Errorf("reused code: err = %v, want ErrCodeRefused", err)
	}
	// An expired code.
	old := MustCode(t, dir, "--ttl", "1ns")
	_, err = kioskenrol.Enrol(ctx, nil, url, old, "Late")
	if !errors.Is(err, kioskenrol.ErrCodeExpired) || !strings.Contains(err.Error(), "the server refused the code: it has expired") {
		t.Errorf("expired code: err = %v, want ErrCodeExpired", err)
	}

	// Wrong secret and unknown device look the same.
	other, err := kioskenrol.Enrol(ctx, nil, url, MustCode(t, dir, "--role", "staff"), "Other")
	if err != nil {
		t.Fatal(err)
	}
	_, errWrong := enrol.Authenticate(ctx, st, "Bearer "+cred.DeviceID+"."+other.Secret)
	_, errUnknown := enrol.Authenticate(ctx, st, "Bearer nosuchdevice."+cred.Secret)
	if errWrong == nil || errWrong != errUnknown {
		t.Errorf("wrong secret: %v; unknown device: %v; want the same error", errWrong, errUnknown)
	}

	// Revoke from the command line while the server runs.
	if out := MustRun(t, "revoke", "--data", dir, "--device", cred.DeviceID); !strings.Contains(out, "revoked") {
		t.Errorf("revoke printed %q", out)
	}
	if _, err := enrol.Authenticate(ctx, st, cred.AuthorizationHeader()); !errors.Is(err, enrol.ErrRevoked) {
		t.Errorf("after revoke: Authenticate = %v, want ErrRevoked", err)
	}
	if _, err := enrol.Authenticate(ctx, st, other.AuthorizationHeader()); err != nil {
		t.Errorf("other device after revoking the first: %v", err)
	}

	out := MustRun(t, "devices", "--data", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("devices printed:\n%s\nwant a header and 2 devices", out)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		switch f[0] {
		case cred.DeviceID:
			if f[1] != "main" || f[2] != "kiosk" || f[3] != cred.CodePrefix || f[len(f)-1] == "-" {
				t.Errorf("revoked device line %q", l)
			}
		case other.DeviceID:
			if f[2] != "staff" || f[3] != other.CodePrefix || f[len(f)-1] != "-" {
				t.Errorf("live device line %q", l)
			}
		default:
			t.Errorf("unexpected device line %q", l)
		}
	}

	// The operator corrects a device's role; a wrong one is refused.
	if out := MustRun(t, "device", "role", "--data", dir, "--device", other.DeviceID, "--role", "team", "--teams", "fraud,billing"); !strings.Contains(out, "team terminal (teams fraud, billing)") {
		t.Errorf("device role printed %q", out)
	}
	if d, err := st.Device(ctx, other.DeviceID); err != nil || d.Role != "team" || !slices.Equal(d.Teams, []string{"fraud", "billing"}) {
		t.Errorf("after device role: %+v, %v", d, err)
	}
	for _, args := range [][]string{
		{"--device", other.DeviceID, "--role", "boss"},
		{"--device", other.DeviceID, "--role", "team"},
		{"--device", other.DeviceID, "--role", "kiosk", "--teams", "fraud"},
		{"--device", other.DeviceID, "--role", "team", "--teams", "Fraud Team"},
	} {
		if err := run(ctx, append([]string{"device", "role", "--data", dir}, args...), noEnv, nil, io.Discard, io.Discard); err == nil {
			t.Errorf("device role %v: no error", args)
		}
	}

	if strings.Contains(srv.log.String(), cred.Secret) || strings.Contains(srv.log.String(), code) {
		t.Error("the server log contains a secret or an enrolment code")
	}
	if !strings.Contains(srv.log.String(), `"msg":"device enrolled","component":"http"`) {
		t.Errorf("no enrolment log line from the http component:\n%s", srv.log)
	}
	for _, l := range strings.Split(srv.log.String(), "\n") {
		if strings.Count(l, `"component"`) > 1 {
			t.Errorf("log line repeats the component key: %s", l)
		}
	}
	if err := srv.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}

func TestEnvironmentOverridesFlags(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"OMBUD_SERVER_DATA": dir, "OMBUD_SERVER_LISTEN": "127.0.0.1:1"}
	getenv := func(k string) string { return env[k] }
	// --listen on the command line wins over OMBUD_SERVER_LISTEN; --data
	// comes from the environment.
	srv := MustServe(t, getenv)
	if strings.HasSuffix(srv.addr, ":1") {
		t.Errorf("listening on %s: the environment beat the command line", srv.addr)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "server.db")); err != nil {
		t.Errorf("OMBUD_SERVER_DATA ignored: %v", err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"branch", "add", "--id", "b", "--name", "B"}, getenv, nil, &out, io.Discard); err != nil {
		t.Errorf("branch add with OMBUD_SERVER_DATA: %v", err)
	}
}

func TestCommandLineErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args    []string
		mention string
		usage   bool
	}{
		{nil, "no subcommand", true},
		{[]string{"frobnicate"}, "unknown subcommand", true},
		{[]string{"branch"}, "branch add", true},
		{[]string{"branch", "add", "--data", dir, "--id", "x"}, "--name", true},
		{[]string{"serve", "--data", dir, "--tls-cert", "c.pem"}, "go together", true},
		{[]string{"serve"}, "--data", true},
		{[]string{"serve", "--data", dir, "--tls-cert", "/nonexistent", "--tls-key", "/nonexistent"}, "TLS certificate", false},
		{[]string{"serve", "--data", dir, "extra"}, "unexpected argument", true},
		{[]string{"enrol-code", "--data", dir, "--branch", "nowhere"}, "branch nowhere not found", false},
		{[]string{"revoke", "--data", dir, "--device", "ghost"}, "device ghost not found", false},
		{[]string{"revoke", "--data", dir}, "--device", true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			err := run(context.Background(), tt.args, noEnv, strings.NewReader(""), io.Discard, io.Discard)
			var ue usageError
			if err == nil || !strings.Contains(err.Error(), tt.mention) || errors.As(err, &ue) != tt.usage {
				t.Errorf("run(%q) = %v, want an error mentioning %q (usage error: %v)", tt.args, err, tt.mention, tt.usage)
			}
		})
	}
}
