package printer

import (
	"errors"
	"fmt"
	"image"

	"golang.org/x/text/encoding/charmap"
)

// Limits on what DecodeRaster accepts, so hostile or corrupt input cannot
// make it allocate much: no receipt printer is wider than 2048 dots, and a
// QR code on a receipt is far shorter than 8192 rows.
const (
	maxRasterWidthBytes = 256
	maxRasterHeight     = 8192
)

// Decoded is what a stream of ESC/POS would put on paper, as far as this
// package's own output goes.
type Decoded struct {
	Images   []*image.Gray // GS v 0 bitmaps in order, dark = 0, light = 0xff
	Lines    []string      // printed text lines, without alignment
	NativeQR []string      // data of each QR code printed with GS ( k
	Cuts     int           // GS V commands
}

// DecodeRaster walks an ESC/POS stream written by Encode and returns its
// raster images and printed text lines. It is for tests (this package's and
// the kiosk's); it understands only the commands Encode emits and returns
// an error, never a panic, on anything else or on truncated input.
func DecodeRaster(b []byte) ([]*image.Gray, []string, error) {
	d, err := Decode(b)
	if err != nil {
		return nil, nil, err
	}
	return d.Images, d.Lines, nil
}

// Decode is DecodeRaster with everything it found, native QR codes and cuts
// included.
func Decode(b []byte) (*Decoded, error) {
	d := &Decoded{}
	var line []byte
	var table *charmap.Charmap // selected by ESC t; nil: ASCII only
	text := func() string {
		if table == nil {
			return string(line)
		}
		out := make([]rune, 0, len(line))
		for _, c := range line {
			out = append(out, table.DecodeByte(c))
		}
		return string(out)
	}
	var stored []byte
	hasStored := false
	need := func(i, n int, what string) error {
		if len(b)-i < n {
			return fmt.Errorf("escpos: truncated %s at offset %d", what, i)
		}
		return nil
	}
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == lf:
			d.Lines = append(d.Lines, text())
			line = line[:0]
			i++
		case c >= 0x20 && c < 0x7f, c >= 0x80 && table != nil:
			line = append(line, c)
			i++
		case c == esc:
			if err := need(i, 2, "ESC command"); err != nil {
				return nil, err
			}
			switch b[i+1] {
			case '@':
				i += 2
			case 'R', 'a', 'E':
				if err := need(i, 3, "ESC command"); err != nil {
					return nil, err
				}
				i += 3
			case 't':
				if err := need(i, 3, "ESC t"); err != nil {
					return nil, err
				}
				t, ok := byNumber(b[i+2])
				if !ok {
					return nil, fmt.Errorf("escpos: unknown code page %d at offset %d", b[i+2], i)
				}
				table = t
				i += 3
			default:
				return nil, fmt.Errorf("escpos: unknown command ESC %#02x at offset %d", b[i+1], i)
			}
		case c == gs:
			if err := need(i, 2, "GS command"); err != nil {
				return nil, err
			}
			switch b[i+1] {
			case '!':
				if err := need(i, 3, "GS !"); err != nil {
					return nil, err
				}
				i += 3
			case 'V':
				if err := need(i, 3, "GS V"); err != nil {
					return nil, err
				}
				switch m := b[i+2]; m {
				case 0, 1, 48, 49:
					i += 3
				case 65, 66:
					if err := need(i, 4, "GS V"); err != nil {
						return nil, err
					}
					i += 4
				default:
					return nil, fmt.Errorf("escpos: GS V mode %d at offset %d", m, i)
				}
				d.Cuts++
			case 'v':
				img, n, err := decodeRasterImage(b[i:])
				if err != nil {
					return nil, fmt.Errorf("escpos: GS v 0 at offset %d: %w", i, err)
				}
				d.Images = append(d.Images, img)
				i += n
			case '(':
				if err := need(i, 5, "GS ( command"); err != nil {
					return nil, err
				}
				if b[i+2] != 'k' {
					return nil, fmt.Errorf("escpos: unknown command GS ( %#02x at offset %d", b[i+2], i)
				}
				k := int(b[i+3]) | int(b[i+4])<<8
				if k < 2 {
					return nil, fmt.Errorf("escpos: GS ( k with %d parameter bytes at offset %d", k, i)
				}
				if err := need(i, 5+k, "GS ( k"); err != nil {
					return nil, err
				}
				p := b[i+5 : i+5+k]
				if p[0] != 49 {
					return nil, fmt.Errorf("escpos: GS ( k symbol type %d at offset %d: want 49 (QR)", p[0], i)
				}
				switch p[1] {
				case 65, 67, 69: // model, module size, error correction
				case 80:
					if k < 3 {
						return nil, fmt.Errorf("escpos: GS ( k store without data at offset %d", i)
					}
					stored, hasStored = append(stored[:0], p[3:]...), true
				case 81:
					if !hasStored {
						return nil, fmt.Errorf("escpos: GS ( k print before store at offset %d", i)
					}
					d.NativeQR = append(d.NativeQR, string(stored))
				default:
					return nil, fmt.Errorf("escpos: GS ( k function %d at offset %d", p[1], i)
				}
				i += 5 + k
			default:
				return nil, fmt.Errorf("escpos: unknown command GS %#02x at offset %d", b[i+1], i)
			}
		default:
			return nil, fmt.Errorf("escpos: unexpected byte %#02x at offset %d", c, i)
		}
	}
	if len(line) > 0 {
		// A printer keeps an unterminated line in its buffer; a cut or the
		// next receipt would print it, so report it rather than lose it.
		d.Lines = append(d.Lines, string(line))
	}
	return d, nil
}

// decodeRasterImage decodes one GS v 0 command at the start of b and
// returns the image and the number of bytes consumed.
func decodeRasterImage(b []byte) (*image.Gray, int, error) {
	const header = 8
	if len(b) < header {
		return nil, 0, errors.New("truncated header")
	}
	if b[2] != '0' {
		return nil, 0, fmt.Errorf("unknown GS v function %#02x", b[2])
	}
	switch b[3] {
	case 0, 1, 2, 3, 48, 49, 50, 51: // normal, double width/height, quadruple
	default:
		return nil, 0, fmt.Errorf("unknown mode %d", b[3])
	}
	wb := int(b[4]) | int(b[5])<<8
	h := int(b[6]) | int(b[7])<<8
	if wb == 0 || h == 0 || wb > maxRasterWidthBytes || h > maxRasterHeight {
		return nil, 0, fmt.Errorf("size %d bytes x %d rows: want 1 to %d x 1 to %d", wb, h, maxRasterWidthBytes, maxRasterHeight)
	}
	// Check the data is there before allocating for it.
	n := wb * h
	if len(b)-header < n {
		return nil, 0, fmt.Errorf("truncated: %d data bytes, want %d", len(b)-header, n)
	}
	data := b[header : header+n]
	img := image.NewGray(image.Rect(0, 0, wb*8, h))
	for y := 0; y < h; y++ {
		for x := 0; x < wb*8; x++ {
			v := uint8(0xff)
			if data[y*wb+x/8]&(0x80>>(x%8)) != 0 {
				v = 0
			}
			img.Pix[y*img.Stride+x] = v
		}
	}
	return img, header + n, nil
}
