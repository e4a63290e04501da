//go:build linux || darwin

package printer_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"ombud/kiosk/printer"
)

// A receipt's tracking code is enough to act on its case: a file printer's
// receipts are the owner's alone whatever the umask, and a receipt
// directory others could read is made private when the printer opens.
func TestFileReceiptsArePrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	dir := filepath.Join(t.TempDir(), "receipts")
	p := MustOpen(t, "file:"+dir, printer.Options{})
	if err := p.Print(context.Background(), sampleReceipt()); err != nil {
		t.Fatal(err)
	}
	assertMode(t, dir, 0o700)
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("receipts: %v, %v", entries, err)
	}
	for _, e := range entries {
		assertMode(t, filepath.Join(dir, e.Name()), 0o600)
	}

	open := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	MustOpen(t, "file:"+open, printer.Options{})
	assertMode(t, open, 0o700)
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %#o, want %#o", filepath.Base(path), got, want)
	}
}
