package trackcode_test

import (
	"errors"
	"strings"
	"testing"

	"ombud/shared/trackcode"
)

func mustGenerate(tb testing.TB, prefix string) trackcode.Code {
	tb.Helper()
	c, err := trackcode.Generate(prefix)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestGenerateShapeAndRoundTrip(t *testing.T) {
	seen := map[trackcode.Code]bool{}
	for i := 0; i < 2000; i++ {
		c := mustGenerate(t, "K7Q")
		if len(c) != trackcode.Len || c.Prefix() != "K7Q" {
			t.Fatalf("code %q: want %d symbols starting K7Q", c, trackcode.Len)
		}
		if seen[c] {
			t.Fatalf("duplicate code %q in 2000 draws of 40 bits", c)
		}
		seen[c] = true
		got, err := trackcode.Parse(c.String())
		if err != nil || got != c {
			t.Fatalf("Parse(%q) = %q, %v; want %q", c.String(), got, err, c)
		}
	}
}

func TestParseForgivesHowPeopleType(t *testing.T) {
	c := mustGenerate(t, "AB1")
	s := c.String()
	for _, in := range []string{
		strings.ToLower(s),
		strings.ReplaceAll(s, "-", " "),
		strings.ReplaceAll(s, "-", ""),
		"  " + s + "  ",
		strings.ToLower(strings.ReplaceAll(s, "-", " - ")),
	} {
		if got, err := trackcode.Parse(in); err != nil || got != c {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, c)
		}
	}
	// Crockford look-alikes: O reads as 0, I and L as 1.
	body := strings.NewReplacer("0", "O", "1", "l").Replace(string(c))
	if got, err := trackcode.Parse(body); err != nil || got != c {
		t.Errorf("Parse(%q) with look-alikes = %q, %v; want %q", body, got, err, c)
	}
}

func TestParseTellsTypoFromMalformed(t *testing.T) {
	c := string(mustGenerate(t, "ZZ9"))
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	// Every single-symbol substitution at every position is caught as a typo.
	for i := 0; i < len(c); i++ {
		for j := 0; j < len(alphabet); j++ {
			if alphabet[j] == c[i] {
				continue
			}
			typo := c[:i] + string(alphabet[j]) + c[i+1:]
			if _, err := trackcode.Parse(typo); !errors.Is(err, trackcode.ErrTypo) {
				t.Fatalf("Parse(%q) (symbol %d changed) = %v, want ErrTypo", typo, i, err)
			}
		}
	}
	// Every swap of two adjacent different symbols is caught too, except 0
	// with Z (values 0 and 31), the one blind spot of Luhn mod 32.
	for i := 0; i+1 < len(c); i++ {
		if c[i] == c[i+1] || blindSwap(c[i], c[i+1]) {
			continue
		}
		swapped := c[:i] + string(c[i+1]) + string(c[i]) + c[i+2:]
		if _, err := trackcode.Parse(swapped); !errors.Is(err, trackcode.ErrTypo) {
			t.Errorf("Parse(%q) (swap at %d) = %v, want ErrTypo", swapped, i, err)
		}
	}
	for _, in := range []string{"", "ABC", c + "0", c[:11], "U" + c[1:], c[:5] + "*" + c[6:], strings.Repeat("A", 100), "é" + c} {
		if _, err := trackcode.Parse(in); !errors.Is(err, trackcode.ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", in, err)
		}
	}
}

func TestGenerateRejectsBadPrefix(t *testing.T) {
	for _, p := range []string{"", "AB", "ABCD", "ABU", "ab1"} {
		if _, err := trackcode.Generate(p); err == nil {
			t.Errorf("Generate(%q) succeeded, want error", p)
		}
	}
	if p := trackcode.NewPrefix(); !trackcode.ValidPrefix(p) {
		t.Errorf("NewPrefix() = %q is not valid", p)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "K7QM-4XRT-9B2C", "k7qm 4xrt 9b2c", "OIL0-0000-0000", "-----", "\xff\xfe", "ABCDEFGHJKMNP"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := trackcode.Parse(in)
		if err != nil {
			if !errors.Is(err, trackcode.ErrMalformed) && !errors.Is(err, trackcode.ErrTypo) {
				t.Fatalf("Parse(%q) error %v is neither ErrMalformed nor ErrTypo", in, err)
			}
			return
		}
		if len(c) != trackcode.Len || strings.Trim(string(c), "0123456789ABCDEFGHJKMNPQRSTVWXYZ") != "" {
			t.Fatalf("Parse(%q) = %q: not canonical", in, c)
		}
		if again, err := trackcode.Parse(c.String()); err != nil || again != c {
			t.Fatalf("round trip of %q: %q, %v", c, again, err)
		}
	})
}

func blindSwap(a, b byte) bool { return a == '0' && b == 'Z' || a == 'Z' && b == '0' }

// TestCheckCatchesAdjacentSwapsExhaustively swaps every ordered pair of
// symbols at every position of a fixed code body, so the claim in the package
// doc is checked for all inputs, not a random sample.
func TestCheckCatchesAdjacentSwapsExhaustively(t *testing.T) {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	base := []byte(string(mustGenerate(t, "M3N")))
	for pos := 0; pos+1 < trackcode.Len; pos++ {
		for a := 0; a < 32; a++ {
			for b := 0; b < 32; b++ {
				if a == b {
					continue
				}
				body := append([]byte(nil), base...)
				body[pos], body[pos+1] = alphabet[a], alphabet[b]
				if pos+1 == trackcode.Len-1 {
					continue // the check symbol itself is one of the pair: covered by substitution
				}
				good := fixCheck(t, body)
				swapped := append([]byte(nil), good...)
				swapped[pos], swapped[pos+1] = swapped[pos+1], swapped[pos]
				_, err := trackcode.Parse(string(swapped))
				if blindSwap(alphabet[a], alphabet[b]) {
					continue
				}
				if !errors.Is(err, trackcode.ErrTypo) {
					t.Fatalf("swap %c%c at %d in %s: Parse = %v, want ErrTypo", alphabet[a], alphabet[b], pos, good, err)
				}
			}
		}
	}
}

// fixCheck sets the last symbol of body to the one that makes it valid.
func fixCheck(t *testing.T, body []byte) []byte {
	t.Helper()
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	for k := 0; k < 32; k++ {
		body[trackcode.Len-1] = alphabet[k]
		if _, err := trackcode.Parse(string(body)); err == nil {
			return body
		}
	}
	t.Fatalf("no check symbol makes %s valid", body)
	return nil
}
