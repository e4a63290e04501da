package sqlite_test

import (
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// The watch announces what another process stored in the file, once, and
// never again what this process committed (its committer announced it):
// the commit feed stays exact, as the conformance suite's feed test needs
// however slow the machine is.
func TestWatchAnnouncesOnlyOtherProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ombud.db")
	server := MustOpenPath(t, path)
	other := MustOpenPath(t, path) // a command such as `server erasure approve`
	north, south := MustDevice(t, server, "north"), MustDevice(t, other, "south")

	var (
		mu    sync.Mutex
		heard []string
	)
	cancel := server.OnCommit(func(scopes []string) {
		mu.Lock()
		heard = append(heard, scopes...)
		mu.Unlock()
	})
	defer cancel()
	mustPush(t, server, north, batchOf(t, north, 1, 2))
	mustPush(t, other, south, batchOf(t, south, 1))
	mustPush(t, server, north, batchOf(t, north, 3))

	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		got := slices.Clone(heard)
		mu.Unlock()
		if slices.Contains(got, "branch:south") {
			// The watch looks at a whole tick's rows at once: by now it
			// has seen both local pushes around the other process's.
			want := []string{"branch:north", "branch:north", "branch:south"}
			if !slices.Equal(got, want) {
				t.Fatalf("feed = %v, want %v (the local pushes once each, the other process's once)", got, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other process's push was never announced; feed = %v", got)
		}
		<-time.After(20 * time.Millisecond)
	}
}
