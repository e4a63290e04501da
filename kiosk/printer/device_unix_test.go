//go:build linux || darwin

package printer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"ombud/kiosk/printer"
)

// A FIFO with no reader blocks open(2) for writing, like a device that
// stops accepting data: Print must give up at its deadline, and once the
// device recovers the printer must work again.
func TestPrintDeviceStuck(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "lp0")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	p := MustOpen(t, fifo, printer.Options{})
	r := sampleReceipt()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := p.Print(ctx, r)
	if !errors.Is(err, printer.ErrFault) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Print: got %v, want a printer fault wrapping the deadline", err)
	}

	// The device recovers. The stuck open completes, but that receipt was
	// reported as failed and must not print; the next one prints whole.
	want := MustEncode(t, r, printer.Options{})
	received := make(chan []byte, 1)
	go func() {
		var all []byte
		for len(all) < len(want) {
			f, err := os.Open(fifo) // blocks until a writer opens
			if err != nil {
				break
			}
			b, _ := io.ReadAll(f) // until every writer has closed
			f.Close()
			all = append(all, b...)
		}
		received <- all
	}()
	if err := p.Print(testContext(t), r); err != nil {
		t.Fatalf("Print after recovery: %v", err)
	}
	select {
	case got := <-received:
		if !bytes.Equal(got, want) {
			t.Errorf("device got %d bytes, want exactly one receipt of %d", len(got), len(want))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the receipt never reached the device")
	}
}
