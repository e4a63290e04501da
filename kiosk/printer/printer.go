// Package printer owns the kiosk's receipt printer: it lays a Receipt out as
// ESC/POS bytes (text, the tracking code and its QR code) and delivers them
// to a device file, a network printer, or a directory for tests and demos.
//
// The complaint is committed before anything is printed, so a printer fault
// never loses data; it only means the customer must photograph the code on
// screen. Every failure from Print is therefore an *Error that matches
// ErrFault, except ErrDisabled when printing is switched off, so the kiosk
// needs one check to choose its message.
package printer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Receipt is what is printed, already translated and formatted by the
// caller. Text is printed as ASCII only (see printable), so callers need not
// know the printer's code page.
type Receipt struct {
	Title     string   // e.g. "Complaint received"
	Lines     []string // e.g. "Branch: Main Street", "Date: 27 Nov 2026 14:05"
	CodeLabel string   // e.g. "Your tracking code"
	Code      string   // grouped for reading aloud, e.g. "K7QM-4XRT-9B2C"
	URL       string   // what the QR code encodes; also printed under it. Empty: no QR.
	Footer    []string // what happens next and by when; wrapped to the paper width
}

// Printer prints receipts. Implementations are safe for concurrent use.
type Printer interface {
	// Print lays out r and sends it to the printer, giving up when ctx is
	// done (or after Options.Timeout if ctx has no deadline). A nil error
	// means the bytes were handed over, not that paper came out.
	Print(ctx context.Context, r Receipt) error
}

// QRMode chooses how the QR code reaches the paper.
type QRMode int

const (
	// QRRaster sends the symbol as a bitmap (GS v 0). Nearly every ESC/POS
	// printer supports it, so it is the default.
	QRRaster QRMode = iota
	// QRNative sends only the URL and lets the printer draw the symbol
	// (GS ( k, model 2): far fewer bytes, but not all printers have it.
	QRNative
)

func (m QRMode) String() string {
	switch m {
	case QRRaster:
		return "raster"
	case QRNative:
		return "native"
	}
	return fmt.Sprintf("QRMode(%d)", int(m))
}

// Paper widths in dots for the two common roll sizes at 203 dpi.
const (
	Paper80mm = 576
	Paper58mm = 384
)

// DefaultTimeout bounds a Print whose context has no deadline, so a
// printer that stops accepting data cannot freeze the kiosk.
const DefaultTimeout = 10 * time.Second

// Options tune the layout and delivery. The zero value suits an 80 mm
// printer at 203 dpi.
type Options struct {
	// PaperDots is the printable width in dots: 576 (80 mm, the default) or
	// 384 (58 mm).
	PaperDots int
	// Columns is the number of characters per line in the normal font.
	// Default: PaperDots/12 (font A is 12 dots wide), i.e. 48 or 32.
	Columns int
	// QR chooses raster (default) or native QR codes.
	QR QRMode
	// CodePage is the character table text is printed in: CP858 (the
	// default), WPC1252, or ASCII (no accents).
	CodePage CodePage
	// Timeout bounds a Print whose context has no deadline. Default
	// DefaultTimeout.
	Timeout time.Duration
	// NoWaitClose applies to network printers. By default, like CUPS'
	// socket backend, Print half-closes the connection and waits for the
	// printer to close its end, which it does once it has taken the whole
	// job; that turns a printer that accepts connections but does not
	// print into an error instead of a silent loss. Set this for printers
	// that never close their end.
	NoWaitClose bool
	// Now names the files of a file: printer. Default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() (Options, error) {
	if o.PaperDots == 0 {
		o.PaperDots = Paper80mm
	}
	if o.PaperDots < 128 || o.PaperDots > 2048 {
		return o, fmt.Errorf("printer: paper width %d dots: want 128 to 2048 (576 for 80 mm, 384 for 58 mm)", o.PaperDots)
	}
	if o.Columns == 0 {
		o.Columns = o.PaperDots / 12
	}
	if o.Columns < 16 || o.Columns > 128 {
		return o, fmt.Errorf("printer: %d columns: want 16 to 128 (48 for 80 mm, 32 for 58 mm)", o.Columns)
	}
	if o.QR != QRRaster && o.QR != QRNative {
		return o, fmt.Errorf("printer: unknown QR mode %v: want raster or native", o.QR)
	}
	if o.CodePage == "" {
		o.CodePage = CP858
	}
	if _, err := ParseCodePage(string(o.CodePage)); err != nil {
		return o, fmt.Errorf("printer: %w", err)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Timeout < 0 {
		return o, fmt.Errorf("printer: negative timeout %v", o.Timeout)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// ErrDisabled is returned by the printer of spec "none". It is not a fault:
// the kiosk was configured without a printer.
var ErrDisabled = errors.New("printer: printing disabled")

// ErrFault matches every *Error: the receipt may not have been printed and
// the customer should photograph the code on screen instead.
var ErrFault = errors.New("printer fault")

// Error is a failed Print: which printer, which step, and why.
type Error struct {
	Printer string // the target, e.g. "/dev/usb/lp0", "tcp:10.0.0.5:9100", "file:/tmp/r"
	Op      string // the step that failed: "encode", "open", "dial", "write", "close", ...
	Err     error
}

func (e *Error) Error() string {
	return "printer " + e.Printer + ": " + e.Op + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrFault) true for every printer error.
func (e *Error) Is(target error) bool { return target == ErrFault }

// fault builds an *Error. A *fs.PathError or *os.LinkError is unwrapped
// because Error already names the printer, and the file names of a file:
// printer hold the tracking code, which must not reach the log.
func fault(printer, op string, err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &le):
		err = le.Err
	}
	return &Error{Printer: printer, Op: op, Err: err}
}

const specHelp = "want none, file:DIR, an absolute device path such as /dev/usb/lp0, tcp:HOST:PORT, or HOST:PORT such as 10.0.0.5:9100"

// Open parses spec and returns a Printer for it. It does not touch the
// printer: device files and connections are opened for each receipt, so a
// printer switched on after the kiosk starts still works.
//
//	none              printing disabled: Print returns ErrDisabled
//	file:DIR          DIR/<time>-<code>.escpos, .png (the QR) and .txt
//	/dev/usb/lp0      any absolute path: a device file
//	tcp:HOST:PORT     a network printer, usually on port 9100
//	HOST:PORT         the same
func Open(spec string, opts Options) (Printer, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "none":
		return disabled{}, nil
	case strings.HasPrefix(spec, "file:"):
		dir := strings.TrimPrefix(spec, "file:")
		if dir == "" {
			return nil, fmt.Errorf("printer spec %q: missing directory after file: (%s)", spec, specHelp)
		}
		if err := privateDir(dir); err != nil {
			return nil, err
		}
		return &filePrinter{dir: dir, opts: opts}, nil
	case strings.HasPrefix(spec, "/"):
		return newDevicePrinter(spec, opts), nil
	case strings.HasPrefix(spec, "tcp:"):
		addr := strings.TrimPrefix(spec, "tcp:")
		if err := checkHostPort(addr); err != nil {
			return nil, fmt.Errorf("printer spec %q: %v (%s)", spec, err, specHelp)
		}
		return &netPrinter{addr: addr, opts: opts}, nil
	case spec == "":
		return nil, fmt.Errorf("printer spec is empty: %s", specHelp)
	}
	if err := checkHostPort(spec); err == nil {
		return &netPrinter{addr: spec, opts: opts}, nil
	}
	return nil, fmt.Errorf("printer spec %q not understood: %s", spec, specHelp)
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("missing host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q: want 1 to 65535", port)
	}
	return nil
}

// disabled is the printer of spec "none".
type disabled struct{}

func (disabled) Print(context.Context, Receipt) error { return ErrDisabled }

var _ Printer = disabled{}

// deadline returns ctx bounded by the default timeout when it has no
// deadline of its own.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
