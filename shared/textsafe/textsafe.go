// Package textsafe neutralises untrusted text before it is stored or shown:
// terminal escape sequences and control characters are removed, invalid
// UTF-8 becomes U+FFFD, and invisible format characters (Unicode category
// Cf: bidirectional overrides that make text read differently from what it
// is, zero-width spaces and joiners that hide words from a search or make
// two names look alike, tag characters that carry hidden text) are dropped.
// The one exception is a zero-width joiner inside an emoji sequence (👩‍💻),
// which draws one picture instead of two. Text from customers and devices
// passes through here on the way into every database and again on the way
// onto any screen; IsClean and IsName are the checks that refuse it instead.
package textsafe

import (
	"strings"
	"unicode"
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
	prev := rune(-1)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		if r != '\n' && drop(r, prev, s[i+n:]) || r == '\t' || r == '\r' || r == 0x2028 || r == 0x2029 {
			return false
		}
		prev = r
		i += n
	}
	return true
}

// IsName reports whether s is fit to be a one-line name (a device's,
// a person's): IsClean, no line breaks, no U+FFFD, and not blank.
func IsName(s string) bool {
	return strings.TrimSpace(s) != "" && IsClean(s) && !strings.ContainsAny(s, "\n\uFFFD")
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
	prev := rune(-1) // the last rune written, for the emoji joiner rule
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteRune(utf8.RuneError)
			prev = utf8.RuneError
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
			prev = '\n'
		case r == '\n' || r == 0x2028 || r == 0x2029:
			newline()
			prev = '\n'
		case r == '\t':
			b.WriteByte(' ')
			prev = ' '
		case drop(r, prev, s[i+n:]):
		default:
			b.WriteString(s[i : i+n])
			prev = r
		}
		i += n
	}
	return b.String()
}

// drop reports control and format runes that never reach output. prev is
// the rune before r as output so far, rest the input after r: a zero-width
// joiner is kept between two emoji, nowhere else.
func drop(r, prev rune, rest string) bool {
	switch {
	case r < 0x20, r == 0x7F, r >= 0x80 && r <= 0x9F:
		return true
	case r == 0x200D: // zero-width joiner
		next, _ := utf8.DecodeRuneInString(rest)
		return !emojiEnd(prev) || !emoji(next)
	case unicode.Is(unicode.Cf, r):
		// Bidi embeddings, overrides, isolates and marks, zero-width
		// spaces and non-joiners, word joiners, invisible operators,
		// interlinear annotations, tag characters, the byte-order mark.
		return true
	}
	return false
}

// emoji reports runes that start or continue an emoji ZWJ sequence: the
// pictographic symbols (category So: 👩, 💻, ❤, ♀).
func emoji(r rune) bool { return r > 0x7F && r != utf8.RuneError && unicode.Is(unicode.So, r) }

// emojiEnd reports runes that may end an emoji element before a joiner:
// the symbol itself, a variation selector (❤️) or a skin tone (👩🏽).
func emojiEnd(r rune) bool {
	return emoji(r) || r == 0xFE0F || r >= 0x1F3FB && r <= 0x1F3FF
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
