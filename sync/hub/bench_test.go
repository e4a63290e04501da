package hub_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"ombud/server/storage/sqlite"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

// benchStore is the real SQLite store, except that every device id exists
// in branch "bench": enrolling thousands of devices (three fsyncs each)
// would dominate the benchmark and measure nothing about the hub.
type benchStore struct{ *sqlite.Store }

func (s benchStore) Resume(ctx context.Context, id string, _ hub.Hello) (int64, error) { return 0, nil }

// BenchmarkIdleConnections measures the server's memory per idle connected
// device: (HeapInuse+StackInuse with N connections - before) / N.
//
// The clients run in a child process (this test binary, running
// TestIdleClientsHelper), so their sockets, buffers and goroutines are not
// counted; what remains in this process is the hub, gorilla, net/http's
// share of an upgraded connection and the kernel-facing netFD. N defaults to
// 2,000; set HUB_BENCH_CONNS (e.g. 10000) for more.
func BenchmarkIdleConnections(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("HUB_BENCH_CONNS")); err == nil && v > 0 {
		n = v
	}
	raiseOpenFiles(b)
	store, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	cfg := testConfig(store)
	cfg.Log = benchStore{store}
	cfg.Auth = hub.AuthenticateFunc(func(r *http.Request) (hub.Device, error) {
		id, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return hub.Device{ID: id, Scopes: []string{hub.ScopeOf("bench")}}, nil
	})
	cfg.PongWait, cfg.HelloTimeout = 0, 0 // the defaults: the run must not time out
	h := hub.New(cfg)
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	for range b.N {
		before, beforeStack := memInUse()
		child := exec.Command(os.Args[0], "-test.run=^TestIdleClientsHelper$", "-test.count=1")
		child.Env = append(os.Environ(), "HUB_BENCH_CHILD_URL="+url, "HUB_BENCH_CHILD_N="+strconv.Itoa(n))
		child.Stderr = os.Stderr
		stdin, _ := child.StdinPipe()
		stdout, _ := child.StdoutPipe()
		if err := child.Start(); err != nil {
			b.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "ready") {
			b.Fatalf("client process: %q, %v", line, err)
		}
		waitForB(b, func() bool { return h.Stats().Connections == int64(n) })
		after, afterStack := memInUse()
		b.ReportMetric(float64(after-before)/float64(n), "bytes/conn")
		b.ReportMetric(float64(afterStack-beforeStack)/float64(n), "stack-bytes/conn")
		b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
		stdin.Close()
		if err := child.Wait(); err != nil {
			b.Fatalf("client process: %v", err)
		}
		waitForB(b, func() bool { return h.Stats().Connections == 0 })
	}
}

// memInUse is the heap and stack memory in use after a full collection,
// and the stack part alone.
func memInUse() (total, stack uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse, ms.StackInuse
}

func waitForB(b *testing.B, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatal("timed out")
		}
		<-time.After(10 * time.Millisecond)
	}
}

// raiseOpenFiles lifts the soft open-files limit to the hard one: every
// connection is a socket (two in the same machine).
func raiseOpenFiles(tb testing.TB) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		tb.Fatal(err)
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		tb.Fatal(err)
	}
}

// TestIdleClientsHelper is the benchmark's client process: it opens
// HUB_BENCH_CHILD_N connections, completes each hello, prints "ready" and
// holds them (answering pings) until its stdin closes.
func TestIdleClientsHelper(t *testing.T) {
	url := os.Getenv("HUB_BENCH_CHILD_URL")
	if url == "" {
		t.Skip("only run as BenchmarkIdleConnections' client process")
	}
	n, _ := strconv.Atoi(os.Getenv("HUB_BENCH_CHILD_N"))
	raiseOpenFiles(t)
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				c, err := idleClient(url, i)
				if err != nil {
					errs <- err
					continue
				}
				conns[i] = c
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Readers answer pings (gorilla replies from inside ReadMessage).
	for _, c := range conns {
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}

func idleClient(url string, i int) (*websocket.Conn, error) {
	id := fmt.Sprintf("bench-%d", i)
	c, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Bearer " + id}})
	if err != nil {
		return nil, fmt.Errorf("dial %d: %w", i, err)
	}
	deadline := time.Now().Add(time.Minute)
	if err := wire.Write(c, &wire.ClientHello{Versions: wire.Versions(), DeviceID: id, Software: "bench"}, deadline); err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(deadline)
	if m, err := wire.Read(c); err != nil {
		return nil, fmt.Errorf("hello %d: %w", i, err)
	} else if _, ok := m.(*wire.ServerHello); !ok {
		return nil, fmt.Errorf("hello %d: got %s", i, m.Type())
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, nil
}
