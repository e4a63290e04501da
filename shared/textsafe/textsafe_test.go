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
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := textsafe.Clean(tc.in); got != tc.want {
				t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
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
