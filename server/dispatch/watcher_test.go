package dispatch_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"ombud/server/dispatch"
)

// syncBuffer is a log sink the watcher's goroutine and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger(tb testing.TB) (*slog.Logger, *syncBuffer) {
	tb.Helper()
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, nil)), buf
}

// writeAtomic replaces the file the way editors and config tools do, so the
// watcher never sees it half written.
func writeAtomic(tb testing.TB, path, content string) {
	tb.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func configTo(queue string) string {
	return `{"queues": [{"id": "billing"}, {"id": "office"}],
"rules": [{"name": "fees", "when": {"category": ["fees"]}, "queue": "` + queue + `"}]}`
}

// startWatcher runs w until the test ends and checks Run stops on cancel.
func startWatcher(tb testing.TB, w *dispatch.Watcher) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			tb.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
}

func TestWatcherLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dispatch.json")
	log, logs := testLogger(t)
	w, err := dispatch.NewWatcher(path, 5*time.Millisecond, log)
	if err != nil {
		t.Fatal(err)
	}
	fees := filed("north", "fees", "x", "")
	queue := func() string { return w.Rules().Route(fees, nil).Queue }

	// No file: the default, said once in the log, and no error.
	if got := queue(); got != "branch:north" {
		t.Errorf("with no file, routed to %q, want branch:north", got)
	}
	if err := w.LastError(); err != nil {
		t.Errorf("LastError with no file = %v, want nil", err)
	}
	if !strings.Contains(logs.String(), "no dispatch config") {
		t.Errorf("log %q does not say there is no config", logs)
	}
	startWatcher(t, w)

	// A valid file applies.
	writeAtomic(t, path, configTo("team:billing"))
	waitFor(t, "the first file to apply", func() bool { return queue() == "team:billing" })
	if err := w.LastError(); err != nil {
		t.Errorf("LastError after a good file = %v", err)
	}

	// An invalid one is refused: the old rules stay, and LastError says why.
	writeAtomic(t, path, "{\"queues\": [{\"id\": \"billing\"}],\n\"rules\": [\n{\"name\": \"fees\", \"queue\": \"team:nobody\"}]}")
	// LastError is set just before the refusal is logged: wait for both.
	waitFor(t, "the bad file to be refused and logged", func() bool {
		return w.LastError() != nil && strings.Contains(logs.String(), "team:nobody")
	})
	ce, ok := errors.AsType[*dispatch.ConfigError](w.LastError())
	if !ok || ce.Line() != 3 || ce.File != path || !strings.Contains(ce.Error(), `unknown queue "team:nobody"`) {
		t.Errorf("LastError = %v, want a ConfigError for %s line 3 about team:nobody", w.LastError(), path)
	}
	if got := queue(); got != "team:billing" {
		t.Errorf("after a bad file, routed to %q, want the old rules' team:billing", got)
	}
	if n := strings.Count(logs.String(), "team:nobody"); n != 1 {
		t.Errorf("the refusal was logged %d times, want once:\n%s", n, logs)
	}

	// Fixed: the new rules apply and the error clears.
	writeAtomic(t, path, configTo("team:office"))
	waitFor(t, "the fixed file to apply", func() bool { return queue() == "team:office" })
	if err := w.LastError(); err != nil {
		t.Errorf("LastError after the fix = %v", err)
	}

	// The file disappears: the rules stay, and LastError says so.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the missing file to be reported", func() bool { return w.LastError() != nil })
	if err := w.LastError(); !strings.Contains(err.Error(), "disappeared") {
		t.Errorf("LastError = %v, want it to say the file disappeared", err)
	}
	if got := queue(); got != "team:office" {
		t.Errorf("after the file went, routed to %q, want the rules in force, team:office", got)
	}

	// It comes back with the same contents: nothing to reload, the error clears.
	writeAtomic(t, path, configTo("team:office"))
	waitFor(t, "the error to clear", func() bool { return w.LastError() == nil })
}

// TestWatcherSameSizeSameMtime stands in for a file system with coarse
// timestamps: a rewrite of the same size that keeps the mtime must still be
// noticed.
func TestWatcherSameSizeSameMtime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dispatch.json")
	writeAtomic(t, path, configTo("team:billing"))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := dispatch.NewWatcher(path, 5*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	startWatcher(t, w)

	a, b := configTo("team:billing"), configTo("team:office ")
	b = strings.Replace(b, `"team:office "`, `"team:office" `, 1) // same length as a
	if len(a) != len(b) {
		t.Fatalf("test configs differ in size: %d, %d", len(a), len(b))
	}
	writeAtomic(t, path, b)
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	fees := filed("north", "fees", "x", "")
	waitFor(t, "the rewrite to apply", func() bool { return w.Rules().Route(fees, nil).Queue == "team:office" })
}

func TestWatcherReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dispatch.json")
	w, err := dispatch.NewWatcher(path, time.Hour, nil) // no polling: Reload only
	if err != nil {
		t.Fatal(err)
	}
	startWatcher(t, w)
	fees := filed("north", "fees", "x", "")

	writeAtomic(t, path, configTo("team:billing"))
	if err := w.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := w.Rules().Route(fees, nil).Queue; got != "team:billing" {
		t.Errorf("after Reload, routed to %q, want team:billing", got)
	}

	writeAtomic(t, path, "{\n\"rules\": [\n{\"name\": \"x\", \"queue\": \"branch\", \"when\": {\"severity\": [\"dire\"]}}]}")
	err = w.Reload()
	if ce, ok := errors.AsType[*dispatch.ConfigError](err); !ok || ce.Line() != 3 || !strings.Contains(err.Error(), `"dire"`) {
		t.Errorf("Reload of a bad file = %v, want a ConfigError at line 3 about \"dire\"", err)
	}
	if got := w.LastError(); got == nil || got.Error() != err.Error() {
		t.Errorf("LastError = %v, want what Reload said", got)
	}
	if got := w.Rules().Route(fees, nil).Queue; got != "team:billing" {
		t.Errorf("after a refused Reload, routed to %q, want team:billing", got)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := w.Reload(); err == nil || !strings.Contains(err.Error(), "keeping the rules") {
		t.Errorf("Reload of a missing file = %v, want it to say the rules are kept", err)
	}
}

func TestNewWatcherRefusesABadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dispatch.json")
	writeAtomic(t, path, "{\n\n\"rules\": {}}")
	_, err := dispatch.NewWatcher(path, time.Second, nil)
	if ce, ok := errors.AsType[*dispatch.ConfigError](err); !ok || ce.Line() != 3 {
		t.Errorf("NewWatcher = %v, want a ConfigError at line 3", err)
	}
}
