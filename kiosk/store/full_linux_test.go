//go:build linux

package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"ombud/kiosk/store"
)

// mustSmallDisk mounts a 1 MiB tmpfs in tb's temp dir, a real file system
// that really fills up. It needs CAP_SYS_ADMIN (root in most containers) and
// skips the test without it.
func mustSmallDisk(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=1m"); err != nil {
		tb.Skipf("cannot mount a small tmpfs (needs CAP_SYS_ADMIN): %v", err)
	}
	// Registered after TempDir, so it runs before the directory is removed.
	tb.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			tb.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes to a new file in dir until the file system is full.
func fill(tb testing.TB, dir string) (filler string) {
	tb.Helper()
	filler = filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				tb.Fatalf("fill: %v", err)
			}
			return filler
		}
	}
}

func TestDiskFullIsUnavailable(t *testing.T) {
	ctx := context.Background()
	dir := mustSmallDisk(t)
	st := MustOpenPath(t, filepath.Join(dir, "kiosk.db"))
	id := mustIdentity(t, st)
	c1, e1 := newFiling(t, id, false)
	mustFile(t, st, c1, e1)

	filler := fill(t, dir)
	c2, e2 := newFiling(t, id, true)
	err := st.File(ctx, c2, e2)
	if !store.Unavailable(err) {
		t.Fatalf("file on a full disk: got %v, want an Unavailable error", err)
	}
	t.Logf("full disk gave: %v", err)
	assertEmpty(t, st, 1)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	mustFile(t, st, c2, e2)
	assertEmpty(t, st, 2)
}
