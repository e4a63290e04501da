// Package qr owns turning a short text (the kiosk's tracking URL) into a QR
// symbol and rendering it for the three places the kiosk shows it: a
// terminal (half blocks), a PNG, and a grayscale image that the receipt
// printer rasterises.
//
// Encoding is delegated to github.com/skip2/go-qrcode; this package adds its
// own quiet zone so screens short of rows can use a narrower one than the
// standard four modules.
package qr

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// Level is the error-correction level: higher levels survive more damage
// (a smudged receipt, a glare on the screen) at the cost of a larger symbol.
type Level int

// Error-correction levels, recovering roughly 7%, 15% and 30% of the symbol.
const (
	Low Level = iota
	Medium
	High
)

func (l Level) String() string {
	switch l {
	case Low:
		return "low"
	case Medium:
		return "medium"
	case High:
		return "high"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// StandardQuiet is the quiet-zone width the QR specification asks for.
const StandardQuiet = 4

// maxQuiet bounds the quiet zone: anything wider only wastes paper or rows
// and more likely signals a caller bug.
const maxQuiet = 16

// Matrix is a QR symbol as modules, quiet zone included. It is immutable
// once built, so it may be shared between goroutines.
type Matrix struct {
	size    int
	modules []bool // row-major, size*size, true = dark
}

// Encode encodes text at error correction Medium with the standard quiet
// zone of four modules.
func Encode(text string) (*Matrix, error) {
	return EncodeLevel(text, Medium, StandardQuiet)
}

// EncodeLevel encodes text at the given error-correction level with a quiet
// zone of quiet modules on each side. Screens short of rows may use 2; most
// phone scanners still read it, though 4 is the standard.
func EncodeLevel(text string, level Level, quiet int) (*Matrix, error) {
	if text == "" {
		return nil, errors.New("qr: empty text")
	}
	if quiet < 0 || quiet > maxQuiet {
		return nil, fmt.Errorf("qr: quiet zone %d modules: want 0 to %d", quiet, maxQuiet)
	}
	var rl qrcode.RecoveryLevel
	switch level {
	case Low:
		rl = qrcode.Low
	case Medium:
		rl = qrcode.Medium
	case High:
		rl = qrcode.High
	default:
		return nil, fmt.Errorf("qr: unknown level %v", level)
	}
	q, err := qrcode.New(text, rl)
	if err != nil {
		return nil, fmt.Errorf("qr: encode: %w", err)
	}
	// go-qrcode always adds a 4-module border unless disabled; disable it so
	// the quiet zone is ours to choose. Bitmap must be called only once:
	// go-qrcode pads its data in place on every call.
	q.DisableBorder = true
	bare := q.Bitmap()

	n := len(bare)
	size := n + 2*quiet
	m := &Matrix{size: size, modules: make([]bool, size*size)}
	for y, row := range bare {
		if len(row) != n {
			return nil, fmt.Errorf("qr: encoder returned a non-square bitmap")
		}
		for x, dark := range row {
			m.modules[(y+quiet)*size+x+quiet] = dark
		}
	}
	return m, nil
}

// Size returns the number of modules per side, quiet zone included.
func (m *Matrix) Size() int { return m.size }

// Dark reports whether the module at column x, row y is dark. Anything
// outside the matrix is light, like the paper around it.
func (m *Matrix) Dark(x, y int) bool {
	if x < 0 || y < 0 || x >= m.size || y >= m.size {
		return false
	}
	return m.modules[y*m.size+x]
}

// HalfBlocks renders the matrix for a terminal: each text row carries two
// module rows (upper and lower half of a cell), each column one module, so
// the symbol looks square on typical 1:2 terminal cells. A dark module is
// drawn as block; on a light-on-dark terminal the caller inverts colours
// (or swaps the glyphs) so that dark modules end up dark.
func (m *Matrix) HalfBlocks() []string {
	rows := make([]string, 0, (m.size+1)/2)
	var b strings.Builder
	for y := 0; y < m.size; y += 2 {
		b.Reset()
		for x := 0; x < m.size; x++ {
			top, bottom := m.Dark(x, y), m.Dark(x, y+1)
			switch {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteByte(' ')
			}
		}
		rows = append(rows, b.String())
	}
	return rows
}

// Image renders the matrix with each module scale pixels square, black
// modules on white. A scale below 1 is treated as 1.
func (m *Matrix) Image(scale int) *image.Gray {
	if scale < 1 {
		scale = 1
	}
	px := m.size * scale
	img := image.NewGray(image.Rect(0, 0, px, px))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for y := 0; y < m.size; y++ {
		for x := 0; x < m.size; x++ {
			if !m.Dark(x, y) {
				continue
			}
			for dy := 0; dy < scale; dy++ {
				off := img.PixOffset(x*scale, y*scale+dy)
				for dx := 0; dx < scale; dx++ {
					img.Pix[off+dx] = 0
				}
			}
		}
	}
	return img
}

// PNG encodes Image(scale) as a PNG.
func (m *Matrix) PNG(scale int) ([]byte, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, m.Image(scale)); err != nil {
		return nil, fmt.Errorf("qr: png: %w", err)
	}
	return buf.Bytes(), nil
}
