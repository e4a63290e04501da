package httpapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ombud/server/httpapi"
	"ombud/server/storage/sqlite"
)

func TestClientKey(t *testing.T) {
	trusted, err := httpapi.ParseTrusted("10.0.0.5, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	c := httpapi.NewClients(trusted)
	for _, tc := range []struct {
		name, remote, forwarded, want string
	}{
		{"direct IPv4", "198.51.100.7:5000", "", "198.51.100.7"},
		{"direct IPv4 lies about its origin", "198.51.100.7:5000", "203.0.113.9", "198.51.100.7"},
		{"direct IPv6: its /64", "[2001:db8:1:2:aaaa::1]:443", "", "2001:db8:1:2::/64"},
		{"another address of the same /64", "[2001:db8:1:2:ffff::9]:443", "", "2001:db8:1:2::/64"},
		{"IPv4-mapped IPv6", "[::ffff:198.51.100.7]:5000", "", "198.51.100.7"},
		{"through the trusted proxy", "10.0.0.5:40000", "203.0.113.9", "203.0.113.9"},
		{"through the proxy, spoofed hop before it", "10.0.0.5:40000", "1.2.3.4, 203.0.113.9", "203.0.113.9"},
		{"through two trusted proxies", "10.0.0.5:40000", "203.0.113.9, fd00::1", "203.0.113.9"},
		{"through the proxy, IPv6 client", "10.0.0.5:40000", "2001:db8:9:9::5", "2001:db8:9:9::/64"},
		{"through the proxy, garbled header", "10.0.0.5:40000", "nonsense", "10.0.0.5"},
		{"through the proxy, no header", "10.0.0.5:40000", "", "10.0.0.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			if tc.forwarded != "" {
				r.Header.Set("X-Forwarded-For", tc.forwarded)
			}
			if got := c.Key(r); got != tc.want {
				t.Errorf("Key = %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := httpapi.ParseTrusted("10.0.0.0/33"); err == nil {
		t.Error("a bad CIDR was accepted")
	}
}

// TestCapListener: past the cap a client's new connection is closed at
// once; closing one makes room; a trusted proxy is never capped.
func TestCapListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	capped := httpapi.NewCapListener(ln, 2, httpapi.NewClients(nil))
	defer capped.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := capped.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := dial(), dial()
	first, second := <-accepted, <-accepted
	third := dial()
	// The third is closed by the server: reading it ends at once.
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := third.Read(make([]byte, 1)); err == nil {
		t.Fatal("a third connection from the same address was served")
	}
	select {
	case c := <-accepted:
		t.Fatalf("accepted a connection past the cap: %v", c.RemoteAddr())
	default:
	}
	first.Close()
	a.Close()
	dial()
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("no room after a connection closed")
	}
	_, _ = b, second

	trusted, _ := httpapi.ParseTrusted("127.0.0.1")
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxied := httpapi.NewCapListener(ln2, 1, httpapi.NewClients(trusted))
	defer proxied.Close()
	for range 3 {
		c, err := net.Dial("tcp", ln2.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := proxied.Accept(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLogsNameRoutesNotPaths: a tracking code in the path is enough to act
// on a case, so the request log and the error log name the route's
// pattern, never the path.
func TestLogsNameRoutesNotPaths(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	api := httpapi.New(st, httpapi.Options{Logger: logger})
	api.Handle("GET /api/v1/track/{code}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteError(w, r, logger, &httpapi.Error{Code: httpapi.CodeUnavailable, Message: "busy"})
	}))
	srv := httptest.NewServer(api)
	defer srv.Close()
	const code = "K7QX4R2M9TQA"
	resp, err := http.Get(srv.URL + "/api/v1/track/" + code)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(buf.String(), `"route":"GET /api/v1/track/{code}"`) || strings.Contains(buf.String(), code) {
		t.Fatalf("log:\n%s\nwant the route, never the code", buf.String())
	}
}
