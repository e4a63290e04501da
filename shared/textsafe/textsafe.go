// Package textsafe neutralises untrusted customer text before it is stored or
// shown: terminal escape sequences and control characters are removed, invalid
// UTF-8 becomes U+FFFD, and bidirectional overrides (which can make text read
// differently from what it is) are dropped. Text from customers passes through
// here on the way into the database and again on the way onto any screen.
package textsafe

import (
	"strings"
	"unicode/utf8"
)

// Clean returns s with every escape sequence and control character removed.
// Line breaks (\n, \r\n, \r, U+2028, U+2029) become \n; tabs become a space.
// The result is valid UTF-8 and Clean(Clean(s)) == Clean(s).
func Clean(s string) string { return clean(s, true) }

// Line is Clean for one-line fields (names, phone numbers, categories):
// line breaks become spaces as well.
func Line(s string) string { return clean(s, false) }

// IsClean reports whether Clean would leave s unchanged, without allocating
// when it would.
func IsClean(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		if r != '\n' && drop(r) || r == '\t' || r == '\r' || r == 0x2028 || r == 0x2029 {
			return false
		}
		i += n
	}
	return true
}

func clean(s string, multiline bool) string {
	if multiline && IsClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	newline := func() {
		if multiline {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteRune(utf8.RuneError)
		case r == 0x1B: // ESC: skip the whole sequence it introduces
			n = escapeLen(s[i:])
		case r == 0x9B || r == 0x9D || r == 0x90 || r == 0x98 || r == 0x9E || r == 0x9F:
			// C1 introducers (CSI, OSC, DCS, SOS, PM, APC) as runes: some
			// terminals honour them, so skip what they introduce too.
			n += sequenceBody(s[i+n:], r)
		case r == '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				n = 2
			}
			newline()
		case r == '\n' || r == 0x2028 || r == 0x2029:
			newline()
		case r == '\t':
			b.WriteByte(' ')
		case drop(r):
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// drop reports control and formatting runes that never reach output.
func drop(r rune) bool {
	switch {
	case r < 0x20, r == 0x7F, r >= 0x80 && r <= 0x9F:
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069: // bidi embeddings, overrides, isolates
		return true
	case r == 0xFEFF: // byte-order mark / zero-width no-break space
		return true
	}
	return false
}

// escapeLen is the length of the escape sequence at the start of s (s[0] is ESC).
func escapeLen(s string) int {
	if len(s) < 2 {
		return len(s)
	}
	switch c := s[1]; {
	case c == '[':
		return 2 + sequenceBody(s[2:], 0x9B)
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		return 2 + sequenceBody(s[2:], 0x9D)
	case c >= 0x20 && c <= 0x2F: // intermediates, then one final byte (e.g. ESC ( B)
		j := 1
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2F {
			j++
		}
		if j < len(s) && s[j] >= 0x30 && s[j] <= 0x7E {
			j++
		}
		return j
	case c >= 0x30 && c <= 0x7E: // two-byte sequence such as ESC c (reset)
		return 2
	}
	return 1 // a lone ESC before something else: drop just the ESC
}

// sequenceBody is the length of the body after an introducer: a CSI runs to
// its final byte; string-type sequences (OSC, DCS, ...) run to BEL or ST.
func sequenceBody(s string, introducer rune) int {
	if introducer == 0x9B { // CSI: parameters 0x30-0x3F, intermediates 0x20-0x2F, final 0x40-0x7E
		for j := 0; j < len(s); j++ {
			c := s[j]
			if c >= 0x40 && c <= 0x7E {
				return j + 1
			}
			if c < 0x20 || c > 0x3F {
				return j // malformed: stop before the odd byte, which is then judged on its own
			}
		}
		return len(s)
	}
	for j := 0; j < len(s); j++ {
		switch {
		case s[j] == 0x07:
			return j + 1
		case s[j] == 0x1B && j+1 < len(s) && s[j+1] == '\\':
			return j + 2
		case s[j] == 0xC2 && j+1 < len(s) && s[j+1] == 0x9C: // ST as U+009C
			return j + 2
		}
	}
	return len(s)
}
