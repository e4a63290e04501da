package bigtext_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"ombud/kiosk/bigtext"
)

// codeAlphabet is what tracking codes are made of (no I L O U, which read
// as 1 1 0 V).
const codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// allGlyphs is every character with its own glyph.
const allGlyphs = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ- "

// bitmap is a decoded pixel image: glyph rows of '#' (on) and '.' (off).
type bitmap [5]string

// readSmall is the "person looking at the screen": it turns Render output
// back into pixels. It fails on any character other than the four it expects
// and on a lit bottom half of the last row (there is no sixth pixel row).
func readSmall(t *testing.T, rows []string) bitmap {
	t.Helper()
	if len(rows) != bigtext.Height {
		t.Fatalf("got %d rows, want %d", len(rows), bigtext.Height)
	}
	var px [6]strings.Builder
	for ty, row := range rows {
		for _, c := range row {
			var top, bottom byte
			switch c {
			case ' ':
				top, bottom = '.', '.'
			case '▀':
				top, bottom = '#', '.'
			case '▄':
				top, bottom = '.', '#'
			case '█':
				top, bottom = '#', '#'
			default:
				t.Fatalf("row %d: unexpected character %q", ty, c)
			}
			px[2*ty].WriteByte(top)
			px[2*ty+1].WriteByte(bottom)
		}
	}
	if strings.Contains(px[5].String(), "#") {
		t.Fatalf("pixel row 6 is lit: %q", rows[len(rows)-1])
	}
	var bm bitmap
	for y := range bm {
		bm[y] = px[y].String()
	}
	return bm
}

// readLarge turns RenderLarge output back into pixels; each pixel must be a
// matched pair of cells.
func readLarge(t *testing.T, rows []string) bitmap {
	t.Helper()
	if len(rows) != bigtext.LargeHeight {
		t.Fatalf("got %d rows, want %d", len(rows), bigtext.LargeHeight)
	}
	var bm bitmap
	for y, row := range rows {
		r := []rune(row)
		if len(r)%2 != 0 {
			t.Fatalf("row %d has odd width %d", y, len(r))
		}
		var b strings.Builder
		for x := 0; x < len(r); x += 2 {
			switch {
			case r[x] == '█' && r[x+1] == '█':
				b.WriteByte('#')
			case r[x] == ' ' && r[x+1] == ' ':
				b.WriteByte('.')
			default:
				t.Fatalf("row %d col %d: bad pixel %q", y, x, string(r[x:x+2]))
			}
		}
		bm[y] = b.String()
	}
	return bm
}

// learnFont builds the reader's font from Render of each symbol alone, the
// way a person learns a typeface from a sample sheet.
func learnFont(t *testing.T, symbols string) map[rune]bitmap {
	t.Helper()
	f := map[rune]bitmap{}
	for _, r := range symbols {
		f[r] = readSmall(t, bigtext.Render(string(r)))
	}
	return f
}

// decode reads a whole rendering back as text. At each position it tries
// every known glyph followed by a blank gap column (or the end); exactly one
// must match, otherwise the rendering is ambiguous to a reader.
func decode(t *testing.T, bm bitmap, f map[rune]bitmap) string {
	t.Helper()
	var out []rune
	width := len(bm[0])
	for x := 0; x < width; {
		var hits []rune
		var hitW int
		for r, g := range f {
			w := len(g[0])
			if x+w > width {
				continue
			}
			ok := true
			for y := range bm {
				if bm[y][x:x+w] != g[y] || (x+w < width && bm[y][x+w] != '.') {
					ok = false
					break
				}
			}
			if ok {
				hits = append(hits, r)
				hitW = w
			}
		}
		if len(hits) != 1 {
			t.Fatalf("at pixel column %d: %d glyphs match (%q), want exactly 1", x, len(hits), string(hits))
		}
		out = append(out, hits[0])
		x += hitW + 1
	}
	return string(out)
}

func TestGlyphSizes(t *testing.T) {
	for _, r := range allGlyphs {
		s := string(r)
		wantW := 3
		if r == '-' {
			wantW = 2
		}
		t.Run(fmt.Sprintf("%q", s), func(t *testing.T) {
			small := bigtext.Render(s)
			if got, want := len(small), 3; got != want {
				t.Fatalf("Render rows: got %d, want %d", got, want)
			}
			for i, row := range small {
				if got, want := utf8.RuneCountInString(row), wantW; got != want {
					t.Errorf("Render row %d width: got %d, want %d", i, got, want)
				}
			}
			bm := readSmall(t, small)
			if got, want := len(bm[0]), wantW; got != want {
				t.Errorf("decoded pixel width: got %d, want %d", got, want)
			}
			large := bigtext.RenderLarge(s)
			if got, want := len(large), 5; got != want {
				t.Fatalf("RenderLarge rows: got %d, want %d", got, want)
			}
			for i, row := range large {
				if got, want := utf8.RuneCountInString(row), 2*wantW; got != want {
					t.Errorf("RenderLarge row %d width: got %d, want %d", i, got, want)
				}
			}
			if got, want := readLarge(t, large), bm; got != want {
				t.Errorf("large and small disagree: got %q, want %q", got, want)
			}
			if got, want := bigtext.Width(s), wantW; got != want {
				t.Errorf("Width: got %d, want %d", got, want)
			}
			if got, want := bigtext.LargeWidth(s), 2*wantW; got != want {
				t.Errorf("LargeWidth: got %d, want %d", got, want)
			}
			if r != ' ' && bm == (bitmap{"...", "...", "...", "...", "..."}) {
				t.Errorf("glyph is blank")
			}
		})
	}
}

func TestRowsEqualWidth(t *testing.T) {
	tests := []string{
		"", "K", "K7QM-4XRT-9B2C", "k7qm-4xrt-9b2c", "--", "  ", allGlyphs,
		"é?!\x00", "\xff\xfe", "日本", "A\tB\nC",
	}
	for _, s := range tests {
		for _, c := range []struct {
			name   string
			render func(string) []string
			width  func(string) int
			height int
		}{
			{"Render", bigtext.Render, bigtext.Width, bigtext.Height},
			{"RenderLarge", bigtext.RenderLarge, bigtext.LargeWidth, bigtext.LargeHeight},
		} {
			rows := c.render(s)
			if got, want := len(rows), c.height; got != want {
				t.Errorf("%s(%q) rows: got %d, want %d", c.name, s, got, want)
			}
			for i, row := range rows {
				if got, want := utf8.RuneCountInString(row), c.width(s); got != want {
					t.Errorf("%s(%q) row %d width: got %d, want %d", c.name, s, i, got, want)
				}
			}
		}
	}
}

func TestUnknownAndLowerCase(t *testing.T) {
	blank := bigtext.Render(" ")
	tests := []struct {
		in, same string
	}{
		{"k7qm-4xrt-9b2c", "K7QM-4XRT-9B2C"},
		{"?", " "},
		{"é", " "},
		{"\xff", " "},   // invalid UTF-8
		{"\u200b", " "}, // zero-width space still gets a full blank cell
		{"A?B", "A B"},
	}
	for _, tt := range tests {
		if got, want := bigtext.Render(tt.in), bigtext.Render(tt.same); !slices.Equal(got, want) {
			t.Errorf("Render(%q): got %q, want same as Render(%q) = %q", tt.in, got, tt.same, want)
		}
	}
	if got, want := readSmall(t, blank), (bitmap{"...", "...", "...", "...", "..."}); got != want {
		t.Errorf("space: got %q, want %q", got, want)
	}
}

// hamming counts differing pixels between two same-width glyphs.
func hamming(a, b bitmap) int {
	n := 0
	for y := range a {
		for x := range len(a[y]) {
			if a[y][x] != b[y][x] {
				n++
			}
		}
	}
	return n
}

func TestGlyphsDistinct(t *testing.T) {
	// No two glyphs at all may be identical, so decoding is well defined.
	all := learnFont(t, allGlyphs)
	for _, a := range allGlyphs {
		for _, b := range allGlyphs {
			if a < b && all[a] == all[b] {
				t.Errorf("%q and %q have the same bitmap %q", a, b, all[a])
			}
		}
	}
	// Code symbols must differ by at least 2 pixels so a single misread pixel
	// cannot turn one into another. Pairs at exactly the minimum are logged;
	// the font comment names them as the weakest.
	const minDist = 2
	code := learnFont(t, codeAlphabet)
	var weakest []string
	for _, a := range codeAlphabet {
		for _, b := range codeAlphabet {
			if a >= b {
				continue
			}
			d := hamming(code[a], code[b])
			if d < minDist {
				t.Errorf("%q and %q differ in %d pixel(s), want >= %d", a, b, d, minDist)
			}
			if d == minDist {
				weakest = append(weakest, string(a)+"/"+string(b))
			}
		}
	}
	// Pinned so that a font change which creates a new weak pair is noticed
	// and the font comment in bigtext.go is updated to match.
	if got, want := strings.Join(weakest, " "),
		"0/D 2/Z 4/H 5/6 5/9 6/G A/N A/R B/D B/R C/G D/N E/F F/P H/M H/W H/X M/W N/R"; got != want {
		t.Errorf("pairs exactly %d pixels apart:\n got %s\nwant %s", minDist, got, want)
	}

	// Pairs most often confused in small type, checked by name so the intent
	// survives a change of minDist.
	for _, p := range []string{"0D", "8B", "5S", "2Z", "17", "MN", "NW", "MW", "VY", "HK", "KX", "HX"} {
		a, b := rune(p[0]), rune(p[1])
		if got := hamming(code[a], code[b]); got < minDist {
			t.Errorf("%c vs %c: got %d differing pixels, want >= %d", a, b, got, minDist)
		}
	}
}

// randomCode makes a code in the kiosk's XXXX-XXXX-XXXX shape.
func randomCode(rng *rand.Rand) string {
	var b strings.Builder
	for i := range 14 {
		if i == 4 || i == 9 {
			b.WriteByte('-')
			continue
		}
		b.WriteByte(codeAlphabet[rng.IntN(len(codeAlphabet))])
	}
	return b.String()
}

// randomString is any mix of code symbols and '-', to catch glyph
// combinations the fixed code shape never produces (e.g. "--", "-7").
func randomString(rng *rand.Rand) string {
	const syms = codeAlphabet + "-"
	n := 1 + rng.IntN(20)
	b := make([]byte, n)
	for i := range b {
		b[i] = syms[rng.IntN(len(syms))]
	}
	return string(b)
}

func TestReadBack(t *testing.T) {
	f := learnFont(t, codeAlphabet+"-")
	rng := rand.New(rand.NewPCG(20240611, 1))
	tests := []string{"K7QM-4XRT-9B2C", "0D8B5S2Z17MNWVYHKX", "-", "--1-", "MWMWNMW"}
	for range 300 {
		tests = append(tests, randomCode(rng), randomString(rng))
	}
	for _, s := range tests {
		if got, want := decode(t, readSmall(t, bigtext.Render(s)), f), s; got != want {
			t.Errorf("read back Render(%q): got %q, want %q", s, got, want)
		}
		if got, want := decode(t, readLarge(t, bigtext.RenderLarge(s)), f), s; got != want {
			t.Errorf("read back RenderLarge(%q): got %q, want %q", s, got, want)
		}
	}
}

func TestFit(t *testing.T) {
	const code = "K7QM-4XRT-9B2C"
	// Sanity of the numbers the cases below rely on.
	if got, want := bigtext.Width(code), 53; got != want {
		t.Fatalf("Width(%q): got %d, want %d", code, got, want)
	}
	if got, want := bigtext.LargeWidth(code), 106; got != want {
		t.Fatalf("LargeWidth(%q): got %d, want %d", code, got, want)
	}
	small, large := bigtext.Render(code), bigtext.RenderLarge(code)
	tests := []struct {
		name       string
		cols, rows int
		want       []string
	}{
		{"wide screen takes large", 200, 50, large},
		{"large exactly", 106, 5, large},
		{"one column short of large", 105, 50, small},
		{"one row short of large", 200, 4, small},
		{"classic 80x24 terminal", 80, 24, small},
		{"small exactly", 53, 3, small},
		{"one column short of small", 52, 24, nil},
		{"one row short of small", 200, 2, nil},
		{"zero area", 0, 0, nil},
		{"negative", -1, -1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bigtext.Fit(code, tt.cols, tt.rows)
			if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("Fit(%q, %d, %d): got %q, want %q", code, tt.cols, tt.rows, got, tt.want)
			}
		})
	}
}

// The "|" marks show the rows' full width (trailing spaces included).
func ExampleRender() {
	for _, row := range bigtext.Render("K7QM-4XRT-9B2C") {
		fmt.Println("|" + row + "|")
	}
	// Output:
	// |█▄▀ ▀▀█ ▄▀▄ █▄█    █ █ █ █ █▀▄ ▀█▀    █▀█ █▀▄ ▀▀█ ▄▀▀|
	// |█▄   ▄▀ █▄▀ █ █ ▀▀ ▀▀█ ▄▀▄ █▀▄  █  ▀▀ ▀▀█ █▀▄ █▀▀ █  |
	// |▀ ▀  ▀   ▀▀ ▀ ▀      ▀ ▀ ▀ ▀ ▀  ▀     ▀▀  ▀▀  ▀▀▀  ▀▀|
}

func ExampleRenderLarge() {
	for _, row := range bigtext.RenderLarge("9B2C") {
		fmt.Println("|" + row + "|")
	}
	// Output:
	// |██████  ████    ██████    ████|
	// |██  ██  ██  ██      ██  ██    |
	// |██████  ████    ██████  ██    |
	// |    ██  ██  ██  ██      ██    |
	// |████    ████    ██████    ████|
}

// Fit picks the style per screen; nil means "show plain text instead".
func ExampleFit() {
	const code = "K7QM-4XRT-9B2C"
	for _, screen := range [][2]int{{200, 50}, {80, 24}, {40, 24}} {
		rows := bigtext.Fit(code, screen[0], screen[1])
		if rows == nil {
			fmt.Printf("%dx%d: plain text %s\n", screen[0], screen[1], code)
			continue
		}
		fmt.Printf("%dx%d: %d rows x %d cols\n", screen[0], screen[1], len(rows), utf8.RuneCountInString(rows[0]))
	}
	// Output:
	// 200x50: 5 rows x 106 cols
	// 80x24: 3 rows x 53 cols
	// 40x24: plain text K7QM-4XRT-9B2C
}
