package printer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"ombud/kiosk/printer"
)

// MustListen starts a loopback listener closed at the end of the test.
func MustListen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln
}

func TestPrintTCP(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		opts   printer.Options
	}{
		{"tcp spec", "tcp:", printer.Options{}},
		{"bare host:port", "", printer.Options{}},
		{"no wait for close", "tcp:", printer.Options{NoWaitClose: true}},
		{"native 58mm", "", printer.Options{PaperDots: printer.Paper58mm, QR: printer.QRNative}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := MustListen(t)
			received := make(chan []byte, 1)
			go func() {
				conn, err := ln.Accept()
				if err != nil {
					received <- nil
					return
				}
				defer conn.Close()
				b, _ := io.ReadAll(conn) // until the kiosk half-closes
				received <- b
			}()

			r := sampleReceipt()
			p := MustOpen(t, tt.prefix+ln.Addr().String(), tt.opts)
			if err := p.Print(testContext(t), r); err != nil {
				t.Fatalf("Print: %v", err)
			}
			var got []byte
			select {
			case got = <-received:
			case <-time.After(10 * time.Second):
				t.Fatal("listener received nothing")
			}
			if want := MustEncode(t, r, tt.opts); !bytes.Equal(got, want) {
				t.Errorf("listener got %d bytes, want the %d of Encode", len(got), len(want))
			}
		})
	}
}

func TestPrintTCPPrinterNeverReads(t *testing.T) {
	ln := MustListen(t)
	held := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		held <- conn // accepted, never read, never closed until cleanup
	}()
	t.Cleanup(func() {
		select {
		case c := <-held:
			c.Close()
		default:
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := MustOpen(t, "tcp:"+ln.Addr().String(), printer.Options{}).Print(ctx, sampleReceipt())
	if !errors.Is(err, printer.ErrFault) {
		t.Fatalf("Print: got %v, want a printer fault", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Print: got %v, want it to wrap context.DeadlineExceeded", err)
	}
}

func TestPrintTCPRefused(t *testing.T) {
	ln := MustListen(t)
	addr := ln.Addr().String()
	ln.Close()

	err := MustOpen(t, addr, printer.Options{}).Print(testContext(t), sampleReceipt())
	if !errors.Is(err, printer.ErrFault) {
		t.Fatalf("Print: got %v, want a printer fault", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Print: got %v, want connection refused", err)
	}
	for _, want := range []string{"printer tcp:" + addr, "dial"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestPrintTCPCancelled(t *testing.T) {
	ln := MustListen(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			accepted <- conn // never read
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	p := MustOpen(t, ln.Addr().String(), printer.Options{})
	errc := make(chan error, 1)
	go func() { errc <- p.Print(ctx, sampleReceipt()) }()
	var conn net.Conn
	select {
	case conn = <-accepted:
		defer conn.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("printer never connected")
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, printer.ErrFault) || !errors.Is(err, context.Canceled) {
			t.Errorf("Print: got %v, want a printer fault wrapping context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Print ignored the cancellation")
	}
}
