package textsafe_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"ombud/shared/textsafe"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "The card machine charged me twice.", "The card machine charged me twice."},
		{"accents and emoji", "Très déçu 😠 — ça ne va pas", "Très déçu 😠 — ça ne va pas"},
		{"newlines kept", "line one\nline two", "line one\nline two"},
		{"crlf and cr", "a\r\nb\rc", "a\nb\nc"},
		{"tab", "a\tb", "a b"},
		{"csi colour", "\x1b[31mred\x1b[0m text", "red text"},
		{"csi clear screen", "x\x1b[2J\x1b[Hy", "xy"},
		{"osc title with bel", "\x1b]0;pwned\x07after", "after"},
		{"osc hyperlink with st", "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\", "click"},
		{"dcs", "\x1bPq#0;2;0;0;0\x1b\\ok", "ok"},
		{"charset", "\x1b(Bok", "ok"},
		{"reset", "\x1bcok", "ok"},
		{"c1 csi rune", "a\u009b31mb", "ab"},
		{"lone esc at end", "abc\x1b", "abc"},
		{"bell and backspace", "a\x07b\x08c", "abc"},
		{"nul and del", "a\x00b\x7fc", "abc"},
		{"bidi override", "invoice \u202egnp.exe", "invoice gnp.exe"},
		{"invalid utf8", "a\xffb", "a\uFFFDb"},
		{"line separator", "a\u2028b", "a\nb"},
		// Invisible format characters (Unicode Cf), which hide words from a
		// search or make two names look alike.
		{"zero-width space", "ref\u200bund", "refund"},
		{"zero-width non-joiner and joiner between letters", "ac\u200ccou\u200dnt", "account"},
		{"left-to-right and right-to-left marks", "a\u200eb\u200fc", "abc"},
		{"word joiner and invisible operators", "a\u2060b\u2062c", "abc"},
		{"arabic letter mark", "a\u061cb", "ab"},
		{"soft hyphen", "pass\u00adword", "password"},
		{"interlinear annotation", "a\ufff9hidden\ufffbb", "ahiddenb"},
		{"tag characters", "flag\U000E0067\U000E0062\U000E007F", "flag"},
		{"byte-order mark", "\ufeffhello", "hello"},
		// A zero-width joiner inside an emoji sequence draws one picture.
		{"emoji joiner kept", "\U0001F469\u200d\U0001F4BB works", "\U0001F469\u200d\U0001F4BB works"},
		{"emoji joiner after a skin tone", "\U0001F469\U0001F3FD\u200d\U0001F4BB", "\U0001F469\U0001F3FD\u200d\U0001F4BB"},
		{"emoji joiner after a variation selector", "\u2764\ufe0f\u200d\U0001F525", "\u2764\ufe0f\u200d\U0001F525"},
		{"joiner at the end of an emoji", "\U0001F469\u200d", "\U0001F469"},
		{"joiner before an emoji, after a letter", "a\u200d\U0001F4BB", "a\U0001F4BB"},
		{"joiner after an emoji whose follower was dropped", "\U0001F469\u200d\u200b\U0001F4BB", "\U0001F469\U0001F4BB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := textsafe.Clean(tc.in); got != tc.want {
				t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestIsName: names (devices, people) are one clean, visible line.
func TestIsName(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"Front desk", true},
		{"Accueil – Rez-de-chaussée", true},
		{"", false},
		{"   ", false},
		{"two\nlines", false},
		{"tab\there", false},
		{"zero\u200bwidth", false},
		{"\u202eevil", false},
		{"bad\uFFFD", false},
		{"esc\x1b[31m", false},
	} {
		if got := textsafe.IsName(tc.in); got != tc.want {
			t.Errorf("IsName(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestLineFoldsBreaks(t *testing.T) {
	if got, want := textsafe.Line("Jane\nDoe\r\n\x1b[1mX"), "Jane Doe X"; got != want {
		t.Errorf("Line = %q, want %q", got, want)
	}
}

func TestIsClean(t *testing.T) {
	if !textsafe.IsClean("ok\nfine") {
		t.Error("IsClean(plain) = false")
	}
	for _, s := range []string{"\x1b[0m", "a\tb", "\xff", "a\r\nb", "\u202e"} {
		if textsafe.IsClean(s) {
			t.Errorf("IsClean(%q) = true", s)
		}
	}
}

// checkSafe states what every cleaned string must be, whatever went in.
func checkSafe(t *testing.T, in, out string, multiline bool) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("Clean(%q) = %q: invalid UTF-8", in, out)
	}
	for _, r := range out {
		if r == '\n' && multiline {
			continue
		}
		if r < 0x20 || r == 0x7F || (r >= 0x80 && r <= 0x9F) || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x2028 || r == 0x2029 {
			t.Fatalf("Clean(%q) = %q: contains %U", in, out, r)
		}
	}
	if strings.ContainsRune(out, 0x1B) {
		t.Fatalf("Clean(%q) = %q: contains ESC", in, out)
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "hello", "\x1b[31mred", "\x1b]0;t\x07", "a\r\nb", "\xff\xfe", "\u009b2J", "\x1bP\x1b\\", "é\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := textsafe.Clean(in)
		checkSafe(t, in, out, true)
		if again := textsafe.Clean(out); again != out {
			t.Fatalf("not idempotent: Clean(%q) = %q, Clean of that = %q", in, out, again)
		}
		if !textsafe.IsClean(out) {
			t.Fatalf("IsClean(Clean(%q)) = false", in)
		}
		line := textsafe.Line(in)
		checkSafe(t, in, line, false)
		if strings.ContainsRune(line, '\n') {
			t.Fatalf("Line(%q) = %q: has a newline", in, line)
		}
	})
}
