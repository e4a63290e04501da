package printer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// netPrinter sends each receipt over a new TCP connection, the raw
// "port 9100" protocol network receipt printers speak.
type netPrinter struct {
	addr string
	opts Options
}

var _ Printer = (*netPrinter)(nil)

// maxBackchannel bounds what is read from the printer while waiting for it
// to close: status bytes at most, never a stream to buffer.
const maxBackchannel = 64 << 10

func (p *netPrinter) Print(ctx context.Context, r Receipt) error {
	target := "tcp:" + p.addr
	data, err := Encode(r, p.opts)
	if err != nil {
		return fault(target, "encode", err)
	}
	ctx, cancel := withTimeout(ctx, p.opts.Timeout)
	defer cancel()

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return fault(target, "dial", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// Cancellation before the deadline must interrupt a blocked write or
	// read too: a deadline in the past does that. Registered after the
	// deadline above so that it cannot be overwritten by it.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := conn.Write(data); err != nil {
		return fault(target, "write", ctxErr(ctx, err))
	}
	if p.opts.NoWaitClose {
		return nil
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		if err := tc.CloseWrite(); err != nil {
			return fault(target, "write", ctxErr(ctx, err))
		}
	}
	// The printer closes its end once it has read the whole job; until
	// then the bytes may sit in a socket buffer of a printer that is
	// jammed or has no paper.
	n, err := io.Copy(io.Discard, io.LimitReader(conn, maxBackchannel+1))
	if err != nil {
		return fault(target, "wait for printer", ctxErr(ctx, err))
	}
	if n > maxBackchannel {
		return fault(target, "wait for printer", errors.New("printer keeps sending data instead of closing"))
	}
	return nil
}

// ctxErr names the context's reason for a failure caused by a deadline set
// from it, so callers can test errors.Is(err, context.DeadlineExceeded).
// The connection's deadline may expire a moment before the context's timer
// fires; as the only deadlines set come from ctx, a timeout is its deadline.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}
