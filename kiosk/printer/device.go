package printer

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// devicePrinter writes to a device file such as /dev/usb/lp0, opening it
// for each receipt so that a printer unplugged and plugged back in keeps
// working.
type devicePrinter struct {
	path string
	opts Options
	// busy holds a token while a write is in flight. A device that stops
	// accepting data can block open(2) or write(2) beyond any deadline;
	// the stuck write keeps the token, so later receipts fail at their
	// own deadline instead of piling up blocked goroutines.
	busy chan struct{}
}

var _ Printer = (*devicePrinter)(nil)

func newDevicePrinter(path string, opts Options) *devicePrinter {
	return &devicePrinter{path: path, opts: opts, busy: make(chan struct{}, 1)}
}

func (p *devicePrinter) Print(ctx context.Context, r Receipt) error {
	data, err := Encode(r, p.opts)
	if err != nil {
		return fault(p.path, "encode", err)
	}
	ctx, cancel := withTimeout(ctx, p.opts.Timeout)
	defer cancel()

	select {
	case p.busy <- struct{}{}:
	case <-ctx.Done():
		return fault(p.path, "wait", fmt.Errorf("previous receipt still being written: %w", ctx.Err()))
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-p.busy }()
		done <- p.write(ctx, data)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// The goroutine finishes on its own once the device unblocks;
		// the bytes may still come out then.
		return fault(p.path, "write", ctx.Err())
	}
}

func (p *devicePrinter) write(ctx context.Context, data []byte) error {
	// No O_CREATE: a missing device must be an error, not a new regular
	// file that silently swallows receipts.
	f, err := os.OpenFile(p.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fault(p.path, "open", err)
	}
	// Open may have blocked past the deadline; Print has then reported a
	// failure, and the customer must not get a receipt after being told to
	// photograph the screen.
	if err := ctx.Err(); err != nil {
		f.Close()
		return fault(p.path, "open", err)
	}
	// Devices the runtime can poll honour the deadline; others (regular
	// files, some drivers) report ErrNoDeadline and rely on Print's
	// select instead.
	if d, ok := ctx.Deadline(); ok {
		if err := f.SetWriteDeadline(d); err != nil && !errors.Is(err, os.ErrNoDeadline) {
			f.Close()
			return fault(p.path, "write", err)
		}
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fault(p.path, "write", err)
	}
	if err := f.Close(); err != nil {
		return fault(p.path, "close", err)
	}
	return nil
}
