package dispatch

import (
	"strings"
	"unicode"
)

// Word matching. Complaints are typed at kiosks, often on keyboards without
// the accents of the customer's language and in a hurry, so matching favours
// recall: case and accents are folded away on both sides, and a rule word
// matches whole words only, so that "bill" does not fire on "billion".

// phrase is one entry of a rule's "words" or "not_words": a sequence of folded
// tokens that must appear consecutively in the text. The last token may be a
// prefix ("refund*" matches "refunds" and "refunded").
type phrase struct {
	tokens []string
	prefix bool
	source string // as the operator wrote it, for reasons and errors
}

// in reports whether p occurs in the tokens of a text.
func (p phrase) in(text []string) bool {
	last := len(p.tokens) - 1
	for i := 0; i+last < len(text); i++ {
		ok := true
		for j, tok := range p.tokens {
			got := text[i+j]
			if j == last && p.prefix {
				ok = strings.HasPrefix(got, tok)
			} else {
				ok = got == tok
			}
			if !ok {
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// tokenize splits s into folded words. A word is a run of letters, digits and
// combining marks; everything else (spaces, punctuation, apostrophes, hyphens)
// separates words, so "l'agence" gives "l", "agence" and "e-mail" gives "e",
// "mail" (a rule word "e-mail" is the phrase "e mail" and still matches).
// Scripts written without spaces between words (Han, kana, Thai, ...) give
// one token per character, which makes a rule word in them match as a
// substring: whole-word matching there would need a dictionary.
func tokenize(s string) []string {
	var (
		out []string
		cur []rune
	)
	flush := func() {
		if len(cur) > 0 {
			out = append(out, string(cur))
			cur = cur[:0]
		}
	}
	for _, r := range s {
		switch {
		case unspaced(r):
			flush()
			cur = appendFolded(cur, r)
			flush()
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			cur = appendFolded(cur, r)
		default:
			flush()
		}
	}
	flush()
	return out
}

// unspaced reports whether r belongs to a script that does not put spaces
// between words.
func unspaced(r rune) bool {
	return r >= 0x0E00 && r <= 0x0EFF || // Thai, Lao
		r >= 0x1000 && r <= 0x109F || // Myanmar
		r >= 0x1780 && r <= 0x17FF || // Khmer
		unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana)
}

// appendFolded appends the case- and accent-folded form of r. Folding goes
// through upper case first so that variants with no lower-case mapping of
// their own meet their twins (final sigma, long s, dotless i). Combining
// marks are dropped, which strips the accents of decomposed text (e +
// U+0301); precomposed letters go through the table below.
func appendFolded(b []rune, r rune) []rune {
	if unicode.Is(unicode.Mn, r) {
		return b
	}
	r = unicode.ToLower(unicode.ToUpper(r))
	if s, ok := accentFold[r]; ok {
		return append(b, []rune(s)...)
	}
	return append(b, r)
}

// accentFold maps precomposed lower-case letters to their unaccented base:
// Latin-1, Latin Extended-A, the Romanian comma letters, and Greek tonos.
// Without golang.org/x/text there is no Unicode decomposition to lean on, and
// these cover the languages the kiosks are offered in; a letter missing here
// still matches itself exactly.
var accentFold = func() map[rune]string {
	bases := map[string]string{
		"a": "àáâãäåāăą", "c": "çćĉċč", "d": "ďđð", "e": "èéêëēĕėęě",
		"g": "ĝğġģ", "h": "ĥħ", "i": "ìíîïĩīĭįı", "j": "ĵ", "k": "ķ",
		"l": "ĺļľŀł", "n": "ñńņňŉ", "o": "òóôõöøōŏő", "r": "ŕŗř",
		"s": "śŝşšș", "t": "ţťŧț", "u": "ùúûüũūŭůűų", "w": "ŵ", "y": "ýÿŷ",
		"z": "źżž", "ss": "ß", "ae": "æ", "oe": "œ", "th": "þ",
		"α": "ά", "ε": "έ", "η": "ή", "ι": "ίϊΐ", "ο": "ό", "υ": "ύϋΰ", "ω": "ώ",
	}
	m := make(map[rune]string)
	for base, accented := range bases {
		for _, r := range accented {
			m[r] = base
		}
	}
	return m
}()
