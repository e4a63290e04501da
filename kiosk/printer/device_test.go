package printer_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ombud/kiosk/printer"
)

func TestPrintDevice(t *testing.T) {
	// A regular file stands in for /dev/usb/lp0.
	dev := filepath.Join(t.TempDir(), "lp0")
	if err := os.WriteFile(dev, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	opts := printer.Options{PaperDots: printer.Paper58mm}
	p := MustOpen(t, dev, opts)
	r := sampleReceipt()
	for range 2 {
		if err := p.Print(testContext(t), r); err != nil {
			t.Fatalf("Print: %v", err)
		}
	}
	got, err := os.ReadFile(dev)
	if err != nil {
		t.Fatal(err)
	}
	one := MustEncode(t, r, opts)
	if want := append(append([]byte{}, one...), one...); !bytes.Equal(got, want) {
		t.Errorf("device got %d bytes, want two receipts of %d", len(got), len(one))
	}
	checkPrinted(t, got[:len(one)], r, printer.Paper58mm)
}

func TestPrintDeviceErrors(t *testing.T) {
	dir := t.TempDir()
	readOnly := filepath.Join(dir, "readonly")
	if err := os.WriteFile(readOnly, nil, 0o400); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		path   string
		target error
		skip   bool
	}{
		{"missing directory", filepath.Join(dir, "missing", "lp0"), fs.ErrNotExist, false},
		{"missing device", filepath.Join(dir, "lp9"), fs.ErrNotExist, false},
		// root opens anything; the check only means something for others.
		{"permission denied", readOnly, fs.ErrPermission, os.Geteuid() == 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip {
				t.Skip("running as root")
			}
			err := MustOpen(t, tt.path, printer.Options{}).Print(testContext(t), sampleReceipt())
			if !errors.Is(err, printer.ErrFault) || !errors.Is(err, tt.target) {
				t.Fatalf("Print: got %v, want a printer fault wrapping %v", err, tt.target)
			}
			if want := "printer " + tt.path + ": open: "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want it to start %q", err, want)
			}
			if _, err := os.Stat(tt.path); tt.target == fs.ErrNotExist && err == nil {
				t.Errorf("Print created %s; a missing device must stay missing", tt.path)
			}
		})
	}
}
