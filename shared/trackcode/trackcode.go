// Package trackcode owns the tracking codes printed on receipts and typed by
// customers: made offline on the device, unique across the fleet without
// coordination, unguessable, and easy to read aloud.
//
// A code is 12 symbols of Crockford base32 (0-9 and A-Z without I, L, O, U):
//
//	PPP RRRRRRRR C
//
// PPP is the device prefix (15 bits; fleet-unique once the server assigns it at
// enrolment), R is 40 random bits from crypto/rand (uniqueness within a device
// is checked against its own database before use), and C is a Luhn mod 32
// check symbol, which catches every single mistyped symbol and every swap of two
// adjacent symbols but one (0 with Z, the blind spot of every Luhn mod N). It is shown grouped as PPPR-RRRR-RRRC.
package trackcode

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
)

const (
	alphabet  = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	Len       = 12 // symbols in a code
	PrefixLen = 3  // symbols of device prefix
	randomLen = Len - PrefixLen - 1
)

// Code is a tracking code in canonical form: 12 upper-case symbols, no separators.
type Code string

var (
	// ErrMalformed: the input cannot be a code (wrong length or a symbol that is
	// not in the alphabet). Callers showing this to the public must not say more.
	ErrMalformed = errors.New("not a tracking code")
	// ErrTypo: the input has the shape of a code but its check symbol does not
	// match, so the customer most likely mistyped a symbol.
	ErrTypo = errors.New("tracking code check failed: probably a typo")
)

// value maps an input symbol to its value, folding case and Crockford's
// look-alikes (I and L read as 1, O as 0); -1 for anything else.
var value = func() [256]int8 {
	var v [256]int8
	for i := range v {
		v[i] = -1
	}
	for i := 0; i < len(alphabet); i++ {
		v[alphabet[i]] = int8(i)
		v[strings.ToLower(alphabet[i : i+1])[0]] = int8(i)
	}
	for _, c := range "iIlL" {
		v[c] = 1
	}
	v['o'], v['O'] = 0, 0
	return v
}()

// NewPrefix returns a random device prefix, used until enrolment assigns one.
func NewPrefix() string { return randomSymbols(PrefixLen) }

// ValidPrefix reports whether p is PrefixLen canonical symbols.
func ValidPrefix(p string) bool {
	if len(p) != PrefixLen {
		return false
	}
	for i := 0; i < len(p); i++ {
		if strings.IndexByte(alphabet, p[i]) < 0 {
			return false
		}
	}
	return true
}

// Generate makes a new code with the device prefix and 40 fresh random bits.
func Generate(prefix string) (Code, error) {
	if !ValidPrefix(prefix) {
		return "", fmt.Errorf("device prefix %q: want %d symbols of %s", prefix, PrefixLen, alphabet)
	}
	body := prefix + randomSymbols(randomLen)
	return Code(body + string(alphabet[checkSymbol(body)])), nil
}

// Parse reads a code as a person typed it: case, spaces, dashes and
// Crockford look-alikes are forgiven. It returns ErrMalformed or ErrTypo.
func Parse(s string) (Code, error) {
	if len(s) > 64 { // nobody types that much; refuse before doing work
		return "", ErrMalformed
	}
	var b [Len]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '-' || c == '\t' {
			continue
		}
		v := value[c]
		if v < 0 || n == Len {
			return "", ErrMalformed
		}
		b[n] = alphabet[v]
		n++
	}
	if n != Len {
		return "", ErrMalformed
	}
	if checkSymbol(string(b[:Len-1])) != int(value[b[Len-1]]) {
		return "", ErrTypo
	}
	return Code(b[:]), nil
}

// String is the code grouped in fours for reading aloud: K7QM-4XRT-9B2C.
func (c Code) String() string {
	s := string(c)
	if len(s) != Len {
		return s
	}
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12]
}

// Prefix is the device prefix the code was made with.
func (c Code) Prefix() string {
	if len(c) < PrefixLen {
		return ""
	}
	return string(c[:PrefixLen])
}

// checkSymbol is the Luhn mod N check value (N = 32) of canonical symbols.
func checkSymbol(body string) int {
	const n = len(alphabet)
	factor, sum := 2, 0
	for i := len(body) - 1; i >= 0; i-- {
		addend := factor * int(value[body[i]])
		addend = addend/n + addend%n
		sum += addend
		factor = 3 - factor // alternate 2, 1
	}
	return (n - sum%n) % n
}

func randomSymbols(k int) string {
	buf := make([]byte, k)
	if _, err := rand.Read(buf); err != nil {
		panic(fmt.Sprintf("trackcode: crypto/rand failed: %v", err))
	}
	for i := range buf {
		buf[i] = alphabet[buf[i]&31] // 256 is a multiple of 32: no bias
	}
	return string(buf)
}
