package printer

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"strings"
	"unicode"
	"unicode/utf8"

	"ombud/kiosk/qr"
)

// ESC/POS command bytes. Only the handful a receipt needs; DecodeRaster
// understands exactly these.
const (
	esc = 0x1b
	gs  = 0x1d
	lf  = 0x0a
)

var (
	cmdInit       = []byte{esc, '@'}                          // reset to power-on settings
	cmdCharsetUSA = []byte{esc, 'R', 0}                       // international character set: USA
	cmdCut        = []byte{gs, 'V', 66, 0}                    // feed to the cutter, then partial cut
	cmdNormalSize = []byte{gs, '!', 0x00}                     // character size 1x1
	cmdDoubleSize = []byte{gs, '!', 0x11}                     // character size 2x2
	cmdBoldOn     = []byte{esc, 'E', 1}                       // emphasis on
	cmdBoldOff    = []byte{esc, 'E', 0}                       // emphasis off
	cmdQRModel2   = []byte{gs, '(', 'k', 4, 0, 49, 65, 50, 0} // fn 65: model 2
	cmdQRLevelM   = []byte{gs, '(', 'k', 3, 0, 49, 69, 49}    // fn 69: error correction M
	cmdQRPrint    = []byte{gs, '(', 'k', 3, 0, 49, 81, 48}    // fn 81: print the stored symbol
)

type alignment byte

const (
	alignLeft   alignment = 0
	alignCenter alignment = 1
)

// qrTargetDots is the QR code's width on paper: 28 mm at 8 dots/mm
// (203 dpi, what nearly all thermal receipt printers use). Phones focus
// easily on 25-30 mm; larger wastes paper, smaller fails on older phones.
const qrTargetDots = 28 * 8

const minModuleDots = 3

// maxNativeQR is the most bytes a model 2 symbol holds (version 40, level L);
// the printer would reject more.
const maxNativeQR = 7089

// rendered is a receipt laid out three ways: the bytes for the printer,
// the text as it appears on paper, and the QR code drawn in the middle.
type rendered struct {
	escpos []byte
	text   []string
	qr     *qr.Matrix // nil when the receipt has no URL
	scale  int        // dots per module
}

// Encode lays r out as ESC/POS bytes for a printer described by opts. It is
// what Print sends; the kiosk may use it to preview or store a receipt.
func Encode(r Receipt, opts Options) ([]byte, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	out, err := render(r, opts)
	if err != nil {
		return nil, err
	}
	return out.escpos, nil
}

func render(r Receipt, opts Options) (*rendered, error) {
	cp := codePages[opts.CodePage]
	w := &layout{cols: opts.Columns, cp: cp}
	w.raw(cmdInit)
	// ESC @ restores the DIP-switch defaults, which on printers sold
	// abroad may map # $ @ [ \ ] ^ ` { | } ~ to national letters.
	w.raw(cmdCharsetUSA)
	if cp.enc != nil {
		w.raw([]byte{esc, 't', cp.n}) // the table the text below is encoded in
	}
	printable := func(s string) string { return printableIn(s, cp) }

	w.align(alignCenter)
	if title := printable(r.Title); title != "" {
		w.raw(cmdBoldOn)
		w.text(title, w.cols)
		w.raw(cmdBoldOff)
		w.blank()
	}
	w.align(alignLeft)
	for _, l := range r.Lines {
		w.text(printable(l), w.cols)
	}
	if len(r.Lines) > 0 {
		w.blank()
	}

	w.align(alignCenter)
	if label := printable(r.CodeLabel); label != "" {
		w.text(label, w.cols)
	}
	if code := printable(r.Code); code != "" {
		// Double width halves the characters per line.
		w.raw(cmdDoubleSize)
		w.raw(cmdBoldOn)
		w.text(code, w.cols/2)
		w.raw(cmdBoldOff)
		w.raw(cmdNormalSize)
		w.blank()
	}

	out := &rendered{}
	if r.URL != "" {
		if err := checkURL(r.URL); err != nil {
			return nil, err
		}
		m, err := qr.Encode(r.URL)
		if err != nil {
			return nil, err
		}
		// At least 3 dots (0.375 mm) per module, or phones struggle with
		// the dots of a thermal head; never wider than the paper.
		scale := min(max(qrTargetDots/m.Size(), minModuleDots), opts.PaperDots/m.Size())
		if scale < 1 {
			return nil, fmt.Errorf("QR code of %d modules is wider than the paper (%d dots)", m.Size(), opts.PaperDots)
		}
		out.qr, out.scale = m, scale
		switch opts.QR {
		case QRNative:
			if err := w.nativeQR(r.URL, min(scale, 16)); err != nil {
				return nil, err
			}
		default:
			w.rasterQR(m, scale, opts.PaperDots)
		}
		w.text(r.URL, w.cols)
		w.blank()
	}

	w.align(alignLeft)
	for _, l := range r.Footer {
		w.text(printable(l), w.cols)
	}
	w.raw(cmdCut)
	out.escpos, out.text = w.buf.Bytes(), w.lines
	return out, nil
}

// checkURL refuses what the QR code could not carry faithfully: a URL is
// printable ASCII once percent-encoded, and the printed copy must match it.
func checkURL(u string) error {
	if len(u) > maxNativeQR {
		return fmt.Errorf("URL of %d bytes is too long for a QR code", len(u))
	}
	for i := 0; i < len(u); i++ {
		if u[i] < 0x21 || u[i] > 0x7e {
			return fmt.Errorf("URL has byte %#02x at %d: want printable ASCII (percent-encode it)", u[i], i)
		}
	}
	return nil
}

// layout writes ESC/POS and keeps the same lines as plain text, centred as
// they appear on paper.
type layout struct {
	buf   bytes.Buffer
	lines []string
	cols  int
	al    alignment
	cp    codePage
}

func (w *layout) raw(b []byte) { w.buf.Write(b) }

func (w *layout) align(a alignment) {
	w.al = a
	w.buf.Write([]byte{esc, 'a', byte(a)})
}

func (w *layout) blank() {
	w.buf.WriteByte(lf)
	w.lines = append(w.lines, "")
}

// text prints s (already printable in the code page) wrapped to width
// characters, encoded in the code page.
func (w *layout) text(s string, width int) {
	for _, l := range wrap(s, width) {
		w.buf.Write(w.cp.encode(l))
		w.buf.WriteByte(lf)
		plain := l
		if n := utf8.RuneCountInString(l); w.al == alignCenter && n < w.cols {
			plain = strings.Repeat(" ", (w.cols-n)/2) + l
		}
		w.lines = append(w.lines, plain)
	}
}

// rasterQR prints m as a GS v 0 bitmap as wide as the paper, the symbol
// centred in it: some printers ignore ESC a for images, so centring is
// drawn rather than asked for.
func (w *layout) rasterQR(m *qr.Matrix, scale, paperDots int) {
	sym := m.Size() * scale
	left := (paperDots - sym) / 2
	img := image.NewGray(image.Rect(0, 0, paperDots, sym))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for y := 0; y < sym; y++ {
		row := img.Pix[y*img.Stride:]
		for x := 0; x < sym; x++ {
			if m.Dark(x/scale, y/scale) {
				row[left+x] = 0
			}
		}
	}
	w.raster(img)
	w.lines = append(w.lines, centre("[QR code]", w.cols))
}

// raster writes img as GS v 0: 1 bit per dot, most significant bit first,
// 1 = dark (a pixel darker than mid grey).
func (w *layout) raster(img *image.Gray) {
	b := img.Bounds()
	width, height := b.Dx(), b.Dy()
	wb := (width + 7) / 8
	w.buf.Write([]byte{gs, 'v', '0', 0, byte(wb), byte(wb >> 8), byte(height), byte(height >> 8)})
	row := make([]byte, wb)
	for y := 0; y < height; y++ {
		clear(row)
		for x := 0; x < width; x++ {
			if img.GrayAt(b.Min.X+x, b.Min.Y+y).Y < 0x80 {
				row[x/8] |= 0x80 >> (x % 8)
			}
		}
		w.buf.Write(row)
	}
}

// nativeQR asks the printer to draw the symbol itself (GS ( k, model 2).
func (w *layout) nativeQR(url string, moduleDots int) error {
	k := len(url) + 3 // cn, fn, m, then the data
	if len(url) > maxNativeQR {
		return errors.New("URL too long for a native QR code")
	}
	w.raw(cmdQRModel2)
	w.raw([]byte{gs, '(', 'k', 3, 0, 49, 67, byte(moduleDots)}) // fn 67: module size
	w.raw(cmdQRLevelM)
	w.raw([]byte{gs, '(', 'k', byte(k), byte(k >> 8), 49, 80, 48}) // fn 80: store
	w.buf.WriteString(url)
	w.raw(cmdQRPrint)
	// Some printers leave the print position beside the symbol; a line
	// feed starts the URL below it.
	w.buf.WriteByte(lf)
	w.lines = append(w.lines, centre("[QR code]", w.cols))
	return nil
}

func centre(s string, cols int) string {
	if len(s) >= cols {
		return s
	}
	return strings.Repeat(" ", (cols-len(s))/2) + s
}

// wrap splits s at spaces into lines of at most width characters (runes:
// each prints as one byte of the code page), cutting words longer than a
// line.
func wrap(s string, width int) []string {
	var lines []string
	var cur []rune
	for _, w := range strings.Fields(s) {
		word := []rune(w)
		for len(word) > width {
			if len(cur) > 0 {
				lines = append(lines, string(cur))
				cur = cur[:0]
			}
			lines = append(lines, string(word[:width]))
			word = word[width:]
		}
		if len(word) == 0 {
			continue
		}
		if len(cur) > 0 && len(cur)+1+len(word) > width {
			lines = append(lines, string(cur))
			cur = cur[:0]
		}
		if len(cur) > 0 {
			cur = append(cur, ' ')
		}
		cur = append(cur, word...)
	}
	if len(cur) > 0 {
		lines = append(lines, string(cur))
	}
	return lines
}

// printableIn reduces s to what prints in the code page: its letters stay
// (é, ñ, ß in CP858 and WPC1252), others lose their accents (ő → o),
// typographic punctuation missing from the table becomes its ASCII
// look-alike, anything else becomes '?'. Control characters never pass: a
// stray ESC or GS in translated text would be a printer command. Tabs and
// line breaks become spaces; wrap re-flows them.
func printableIn(s string, cp codePage) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f':
			b.WriteByte(' ')
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r < 0x20 || (r >= 0x7f && r < 0xa0):
			// C0, DEL, C1 controls: dropped.
		case unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Cf, r):
			// Combining accents and invisible format characters (zero
			// width space, bidi overrides): dropped.
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		case cp.encodes(r):
			b.WriteRune(r)
		default:
			if t, ok := transliterations[r]; ok {
				b.WriteString(t)
			} else {
				b.WriteByte('?')
			}
		}
	}
	return strings.TrimSpace(b.String())
}

// transliterations maps Latin letters and common punctuation to ASCII.
var transliterations = func() map[rune]string {
	groups := []struct{ from, to string }{
		{"ÀÁÂÃÄÅĀĂĄ", "A"}, {"àáâãäåāăą", "a"}, {"Æ", "AE"}, {"æ", "ae"},
		{"ÇĆĈĊČ", "C"}, {"çćĉċč", "c"}, {"ĎĐÐ", "D"}, {"ďđð", "d"},
		{"ÈÉÊËĒĔĖĘĚ", "E"}, {"èéêëēĕėęě", "e"}, {"ĜĞĠĢ", "G"}, {"ĝğġģ", "g"},
		{"ĤĦ", "H"}, {"ĥħ", "h"}, {"ÌÍÎÏĨĪĬĮİ", "I"}, {"ìíîïĩīĭįı", "i"},
		{"Ĵ", "J"}, {"ĵ", "j"}, {"Ķ", "K"}, {"ķ", "k"}, {"ĹĻĽĿŁ", "L"}, {"ĺļľŀł", "l"},
		{"ÑŃŅŇ", "N"}, {"ñńņň", "n"}, {"ÒÓÔÕÖØŌŎŐ", "O"}, {"òóôõöøōŏő", "o"},
		{"Œ", "OE"}, {"œ", "oe"}, {"ŔŖŘ", "R"}, {"ŕŗř", "r"}, {"ŚŜŞŠȘ", "S"}, {"śŝşšș", "s"},
		{"ß", "ss"}, {"ŢŤŦȚ", "T"}, {"ţťŧț", "t"}, {"Þ", "TH"}, {"þ", "th"},
		{"ÙÚÛÜŨŪŬŮŰŲ", "U"}, {"ùúûüũūŭůűų", "u"}, {"Ŵ", "W"}, {"ŵ", "w"},
		{"ÝŶŸ", "Y"}, {"ýÿŷ", "y"}, {"ŹŻŽ", "Z"}, {"źżž", "z"},
		{"‘’‚‛′", "'"}, {"“”„‟″«»", "\""}, {"‐‑‒–—―−", "-"}, {"…", "..."},
		{"•·", "*"}, {"€", "EUR"}, {"£", "GBP"}, {"°", "o"}, {"×", "x"},
	}
	m := make(map[rune]string)
	for _, g := range groups {
		for _, r := range g.from {
			m[r] = g.to
		}
	}
	return m
}()
