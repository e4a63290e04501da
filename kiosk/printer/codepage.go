package printer

import (
	"fmt"

	"golang.org/x/text/encoding/charmap"
)

// CodePage is the character table the printer is told to use (ESC t n) and
// the receipt's text is encoded to, so French and Spanish keep their
// accents on paper. Printers differ in the tables they carry and in the
// number that selects each; the two offered are the ones Epson-compatible
// receipt printers have under these numbers.
type CodePage string

const (
	// CP858 is PC850 (Multilingual Latin 1) with the euro sign: ESC t 19.
	// The default: Western European letters, on nearly every printer.
	CP858 CodePage = "cp858"
	// WPC1252 is Windows-1252: ESC t 16.
	WPC1252 CodePage = "wpc1252"
	// ASCII sends no table and prints letters without their accents
	// (é → e): for a printer that has neither table.
	ASCII CodePage = "ascii"
)

// ParseCodePage reads the --printer-codepage flag.
func ParseCodePage(s string) (CodePage, error) {
	switch cp := CodePage(s); cp {
	case CP858, WPC1252, ASCII:
		return cp, nil
	}
	return "", fmt.Errorf("code page %q: want cp858, wpc1252 or ascii", s)
}

// codePage is a table: its ESC t number and its charmap.
type codePage struct {
	n   byte
	enc *charmap.Charmap // nil: ASCII
}

var codePages = map[CodePage]codePage{
	CP858:   {19, charmap.CodePage858},
	WPC1252: {16, charmap.Windows1252},
	ASCII:   {0, nil},
}

// byNumber finds the table an ESC t number selects, for Decode.
func byNumber(n byte) (*charmap.Charmap, bool) {
	for _, cp := range codePages {
		if cp.enc != nil && cp.n == n {
			return cp.enc, true
		}
	}
	return nil, false
}

// encodes reports whether r prints as itself in the table: a single byte
// that is not a control.
func (cp codePage) encodes(r rune) bool {
	if r >= 0x20 && r < 0x7f {
		return true
	}
	if cp.enc == nil || r < 0xa0 {
		return false
	}
	b, ok := cp.enc.EncodeRune(r)
	return ok && b >= 0x80
}

// encode writes s's runes as the table's bytes; printable has already
// reduced s to runes the table holds.
func (cp codePage) encode(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r < 0x80 || cp.enc == nil {
			out = append(out, byte(r))
			continue
		}
		b, ok := cp.enc.EncodeRune(r)
		if !ok {
			b = '?'
		}
		out = append(out, b)
	}
	return out
}
