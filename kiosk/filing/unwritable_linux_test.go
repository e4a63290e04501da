//go:build linux && (amd64 || arm64)

package filing_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"ombud/kiosk/filing"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
)

// ioctl numbers from linux/fs.h (_IOR/_IOW('f', 1/2, long) on 64-bit).
const (
	fsIocGetFlags = 0x80086601
	fsIocSetFlags = 0x40086602
	fsImmutableFl = 0x00000010
)

// setImmutable sets or clears the file's immutable attribute (chattr +i).
// Unlike permission bits, it stops root too, and it applies to descriptors
// already open for writing: the real "storage became unwritable" for a kiosk
// running as root.
func setImmutable(path string, on bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var flags uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocGetFlags, uintptr(unsafe.Pointer(&flags))); e != 0 {
		return e
	}
	if on {
		flags |= fsImmutableFl
	} else {
		flags &^= fsImmutableFl
	}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocSetFlags, uintptr(unsafe.Pointer(&flags))); e != 0 {
		return e
	}
	return nil
}

// mustFreeze makes the database's files immutable, skipping the test where
// that is not possible (not root, or a file system without the attribute).
// The attribute is cleared at cleanup, or the temp dir could not be removed.
func mustFreeze(t *testing.T, dbPath string) (thaw func()) {
	t.Helper()
	var frozen []string
	thaw = func() {
		for _, p := range frozen {
			if err := setImmutable(p, false); err != nil {
				t.Errorf("clear immutable on %s: %v", p, err)
			}
		}
		frozen = nil
	}
	t.Cleanup(thaw)
	for _, p := range []string{dbPath, dbPath + "-wal"} {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := setImmutable(p, true); err != nil {
			thaw()
			t.Skipf("cannot make %s immutable (needs root and ext4/xfs/btrfs): %v", filepath.Base(p), err)
		}
		frozen = append(frozen, p)
	}
	return thaw
}

func TestFileStorageUnwritable(t *testing.T) {
	ctx := context.Background()
	e := MustService(t, nil)
	if _, err := e.svc.File(ctx, draft()); err != nil {
		t.Fatal(err)
	}

	thaw := mustFreeze(t, e.path)
	d := draftWithContact()
	_, err := e.svc.File(ctx, d)
	if !errors.Is(err, filing.ErrUnavailable) {
		t.Fatalf("file on unwritable storage: got %v, want ErrUnavailable", err)
	}
	if !store.Unavailable(err) {
		t.Errorf("error %v: want store.Unavailable", err)
	}
	t.Logf("unwritable storage gave: %v", err)

	thaw()
	if _, err := e.svc.File(ctx, d); err != nil {
		t.Fatalf("file after storage recovered: %v", err)
	}
	if n, err := e.st.Count(ctx); n != 2 || err != nil {
		t.Errorf("complaints: got %d, %v, want 2", n, err)
	}
	if n, err := e.st.OutboxCount(ctx); n != 2 || err != nil {
		t.Errorf("outbox: got %d, %v, want 2", n, err)
	}
}

func TestOpenUnwritable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kiosk.db")
	st, err := store.Open(ctx, path, nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	mustFreeze(t, path)
	st, err = store.Open(ctx, path, nil, cases.NewProjection(cases.Options{}))
	if err == nil {
		st.Close()
		t.Fatal("open of an unwritable database: got nil error")
	}
	if !store.Unavailable(err) {
		t.Errorf("open error %v: want store.Unavailable", err)
	}
	t.Logf("unwritable database at open gave: %v", err)
}
