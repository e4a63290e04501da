package printer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// filePrinter writes each receipt to a directory, for tests and demos:
// <name>.escpos (the printer bytes), <name>.png (the QR code) and
// <name>.txt (the text as on paper), <name> being <UTC time>-<code>. A
// receipt's code is enough to act on its case on the public page, so the
// directory is the owner's alone (0700) and the files are 0600.
type filePrinter struct {
	dir  string
	opts Options
	mu   sync.Mutex // serialises choosing a free name
}

var _ Printer = (*filePrinter)(nil)

func (p *filePrinter) Print(ctx context.Context, r Receipt) error {
	target := "file:" + p.dir
	out, err := render(r, p.opts)
	if err != nil {
		return fault(target, "encode", err)
	}
	if err := ctx.Err(); err != nil {
		return fault(target, "write", err)
	}
	var pngData []byte
	if out.qr != nil {
		if pngData, err = out.qr.PNG(out.scale); err != nil {
			return fault(target, "encode", err)
		}
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return fault(target, "mkdir", err)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	base, err := p.freeName(r.Code)
	if err != nil {
		return fault(target, "write", err)
	}
	// The .escpos file goes last: whoever watches for it finds the other
	// two already complete.
	files := []struct {
		ext  string
		data []byte
	}{
		{".png", pngData},
		{".txt", []byte(strings.Join(out.text, "\n") + "\n")},
		{".escpos", out.escpos},
	}
	for _, f := range files {
		if f.data == nil {
			continue
		}
		if err := writeAtomic(filepath.Join(p.dir, base+f.ext), f.data); err != nil {
			return fault(target, "write", err)
		}
	}
	return nil
}

// freeName returns <time>-<code> not yet used in the directory; a clock
// that repeats (or a test clock) gets a numeric suffix.
func (p *filePrinter) freeName(code string) (string, error) {
	base := p.opts.Now().UTC().Format("20060102T150405.000000000Z") + "-" + fileSafe(code)
	name := base
	for n := 2; ; n++ {
		_, err := os.Lstat(filepath.Join(p.dir, name+".escpos"))
		if errors.Is(err, fs.ErrNotExist) {
			return name, nil
		}
		if err != nil {
			return "", err
		}
		if n > 1000 {
			return "", fmt.Errorf("no free file name for %s", base)
		}
		name = fmt.Sprintf("%s-%d", base, n)
	}
}

// fileSafe keeps letters, digits and '-' of the code so that it cannot
// name another directory.
func fileSafe(code string) string {
	var b strings.Builder
	for _, r := range code {
		if r == '-' || (r >= '0' && r <= '9') || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') {
			b.WriteRune(r)
		}
		if b.Len() >= 64 {
			break
		}
	}
	if b.Len() == 0 {
		return "receipt"
	}
	return b.String()
}

// writeAtomic writes a hidden temporary file in the same directory and
// renames it into place, so a reader sees the whole file or none of it.
func writeAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".receipt-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// privateDir makes an existing receipt directory the owner's alone; one
// that does not exist yet is made so at the first receipt.
func privateDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("receipt directory: %w", err)
	}
	if perm := fi.Mode().Perm(); fi.IsDir() && perm&0o077 != 0 {
		if err := os.Chmod(dir, perm&^0o077); err != nil {
			return fmt.Errorf("receipt directory %s can be read by other users (mode %#o) and could not be made private (%v): run `chmod 700 %s` as its owner", dir, perm, err, dir)
		}
	}
	return nil
}
