// Package bigtext draws short strings, chiefly the customer's tracking code
// (e.g. "K7QM-4XRT-9B2C"), in large pixel type on a text terminal so the
// code can be read from a step away and photographed off the receipt screen.
//
// Two styles share one 3x5 pixel font:
//
//   - Render packs two pixel rows into one text row with the half-block
//     characters ▀ ▄ █, so a glyph costs 3 text rows. A 14-character code
//     takes 53 columns and fits a classic 80x24 terminal.
//   - RenderLarge draws each pixel as two full blocks side by side (the two
//     columns make the pixel roughly square, since terminal cells are about
//     twice as tall as they are wide). A code takes 106 columns and 5 rows.
//
// Fit chooses between them for the screen at hand. All block characters are
// single-width, so display width equals rune count.
package bigtext

import "strings"

// Height is the number of text rows Render returns; LargeHeight the same for
// RenderLarge.
const (
	Height      = (glyphRows + 1) / 2
	LargeHeight = glyphRows
)

const glyphRows = 5

// font maps a character to its bitmap, top row first, '#' = pixel on. Every
// glyph is 3 pixels wide except '-', which is 2: it carries no information
// beyond "separator", and the saved columns are what let a full code fit
// narrower screens.
//
// Design notes, because a misread code means a customer cannot follow up:
//   - The tracking-code alphabet (digits, A-Z without I L O U, '-') is
//     pairwise at least 2 pixels apart, so one misdrawn or misread pixel
//     cannot turn one code character into another. bigtext_test enforces this.
//   - 0 and 8 are rounded while D and B have a flat left spine with cut
//     right corners. (A square 8 would be one pixel from a square 0 and two
//     from H, 2, 5, 6 and 9.) 5 and 2 are square (horizontal middle bar)
//     while S and Z are drawn with diagonals. 1 has a flag and a foot, 7 a bent stem.
//     V closes to one point at the bottom, Y already at the middle. K has
//     diagonal arms and X a single centre pixel, unlike H's full crossbar.
//   - Weakest pairs (exactly 2 pixels apart): M/W/H, which in 3 pixels of
//     width can only differ by where the centre column is filled (M: upper,
//     H: middle, W: lower). Also 0/D, 2/Z, 4/H, 5/6, 5/9, 6/G, A/N, A/R,
//     B/D, B/R, C/G, D/N, E/F, F/P, H/X and N/R; most of these still differ
//     in shape (round vs square, bar vs diagonal, open vs closed), not just
//     in a pixel count. TestGlyphsDistinct pins this list so it stays true.
//   - I, L, O and U are drawn for completeness but are not in the code
//     alphabet. O is the square box, so it differs from the rounded 0 only
//     at the corners; that is exactly why codes never contain O.
var font = map[rune][glyphRows]string{
	'0': {".#.", "#.#", "#.#", "#.#", ".#."},
	'1': {".#.", "##.", ".#.", ".#.", "###"},
	'2': {"###", "..#", "###", "#..", "###"},
	'3': {"###", "..#", ".##", "..#", "###"},
	'4': {"#.#", "#.#", "###", "..#", "..#"},
	'5': {"###", "#..", "###", "..#", "###"},
	'6': {".##", "#..", "###", "#.#", "###"},
	'7': {"###", "..#", "..#", ".#.", ".#."},
	'8': {".#.", "#.#", ".#.", "#.#", ".#."},
	'9': {"###", "#.#", "###", "..#", "##."},
	'A': {".#.", "#.#", "###", "#.#", "#.#"},
	'B': {"##.", "#.#", "##.", "#.#", "##."},
	'C': {".##", "#..", "#..", "#..", ".##"},
	'D': {"##.", "#.#", "#.#", "#.#", "##."},
	'E': {"###", "#..", "##.", "#..", "###"},
	'F': {"###", "#..", "##.", "#..", "#.."},
	'G': {".##", "#..", "#.#", "#.#", ".##"},
	'H': {"#.#", "#.#", "###", "#.#", "#.#"},
	'I': {"###", ".#.", ".#.", ".#.", "###"},
	'J': {"..#", "..#", "..#", "#.#", ".#."},
	'K': {"#.#", "##.", "#..", "##.", "#.#"},
	'L': {"#..", "#..", "#..", "#..", "###"},
	'M': {"#.#", "###", "#.#", "#.#", "#.#"}, // centre peak high
	'N': {"##.", "#.#", "#.#", "#.#", "#.#"},
	'O': {"###", "#.#", "#.#", "#.#", "###"},
	'P': {"###", "#.#", "###", "#..", "#.."},
	'Q': {".#.", "#.#", "#.#", "##.", ".##"},
	'R': {"##.", "#.#", "##.", "#.#", "#.#"},
	'S': {".##", "#..", ".#.", "..#", "##."},
	'T': {"###", ".#.", ".#.", ".#.", ".#."},
	'U': {"#.#", "#.#", "#.#", "#.#", "###"},
	'V': {"#.#", "#.#", "#.#", "#.#", ".#."},
	'W': {"#.#", "#.#", "#.#", "###", "#.#"}, // centre dip low
	'X': {"#.#", "#.#", ".#.", "#.#", "#.#"},
	'Y': {"#.#", "#.#", ".#.", ".#.", ".#."},
	'Z': {"###", "..#", ".#.", "#..", "###"},
	'-': {"..", "..", "##", "..", ".."},
	' ': {"...", "...", "...", "...", "..."},
}

// glyph returns the bitmap for r. Lower-case ASCII letters map to upper case
// because customers may type or read codes either way. Anything else unknown
// (including invalid UTF-8, which ranges as U+FFFD) becomes a blank glyph
// rather than a panic: a gap in the big type is recoverable, because the
// caller always shows the plain code too, while a crashed kiosk is not.
func glyph(r rune) [glyphRows]string {
	if 'a' <= r && r <= 'z' {
		r -= 'a' - 'A'
	}
	if g, ok := font[r]; ok {
		return g
	}
	return font[' ']
}

// pixels lays s out as a bitmap: glyphRows rows of equal length, with one
// blank pixel column between glyphs so neighbours never touch.
func pixels(s string) [glyphRows][]bool {
	var bm [glyphRows][]bool
	first := true
	for _, r := range s {
		g := glyph(r)
		for y := range glyphRows {
			if !first {
				bm[y] = append(bm[y], false)
			}
			for x := range len(g[y]) {
				bm[y] = append(bm[y], g[y][x] == '#')
			}
		}
		first = false
	}
	return bm
}

// Width returns the display width in cells that Render(s) uses.
func Width(s string) int {
	w, n := 0, 0
	for _, r := range s {
		w += len(glyph(r)[0])
		n++
	}
	if n > 1 {
		w += n - 1 // gaps
	}
	return w
}

// LargeWidth returns the display width in cells that RenderLarge(s) uses.
func LargeWidth(s string) int { return 2 * Width(s) }

// halfBlock maps (top pixel, bottom pixel) to the character showing both.
var halfBlock = [2][2]rune{
	{' ', '▄'},
	{'▀', '█'},
}

// Render draws s in the small style: each glyph is 3 pixels wide and 5 high
// ('-' is 2 wide), two pixel rows per text row using ▀ ▄ █ and space, with a
// blank column between glyphs. It returns Height rows, all Width(s) cells
// wide; trailing spaces are kept so the block can be centred as a unit.
func Render(s string) []string {
	bm := pixels(s)
	out := make([]string, Height)
	for ty := range Height {
		var b strings.Builder
		top, bottom := bm[2*ty], []bool(nil)
		if 2*ty+1 < glyphRows {
			bottom = bm[2*ty+1] // the last text row has no bottom half
		}
		for x := range top {
			t, u := 0, 0
			if top[x] {
				t = 1
			}
			if bottom != nil && bottom[x] {
				u = 1
			}
			b.WriteRune(halfBlock[t][u])
		}
		out[ty] = b.String()
	}
	return out
}

// RenderLarge draws s with every pixel as two full blocks "██" on its own
// text row: LargeHeight rows, each LargeWidth(s) cells wide. It needs twice
// the width and more rows than Render, but has no half-cell seams, which
// some terminal fonts draw with visible gaps.
func RenderLarge(s string) []string {
	bm := pixels(s)
	out := make([]string, LargeHeight)
	for y := range glyphRows {
		var b strings.Builder
		for _, on := range bm[y] {
			if on {
				b.WriteString("██")
			} else {
				b.WriteString("  ")
			}
		}
		out[y] = b.String()
	}
	return out
}

// Fit returns s in the biggest style that fits a cols x rows area: RenderLarge
// if it fits, else Render, else nil, in which case the caller should show s
// as plain text.
func Fit(s string, cols, rows int) []string {
	switch {
	case LargeWidth(s) <= cols && LargeHeight <= rows:
		return RenderLarge(s)
	case Width(s) <= cols && Height <= rows:
		return Render(s)
	default:
		return nil
	}
}
