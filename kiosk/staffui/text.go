package staffui

import (
	"strings"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
	"github.com/rivo/uniseg"

	"ombud/shared/textsafe"
)

// Text on the staff screens never goes through tview's style tags: a "["
// in a complaint (or a staff name, or a queue) is only ever a "[". The
// widgets here print cells themselves, with styles given as data, and
// every string is cleaned with textsafe first, so an escape sequence in a
// complaint reaches the terminal as nothing at all.

// The colours: the terminal's own background, white text, yellow for what
// the keys act on, red with a "!" or a word for what is late.
var (
	styleText     = tcell.StyleDefault.Foreground(tcell.ColorWhite).Background(tcell.ColorBlack)
	styleDim      = styleText.Foreground(tcell.ColorSilver)
	styleBold     = styleText.Bold(true)
	styleHeading  = styleText.Foreground(tcell.ColorYellow).Bold(true)
	styleBar      = tcell.StyleDefault.Foreground(tcell.ColorBlack).Background(tcell.ColorSilver)
	styleBarBold  = styleBar.Bold(true)
	styleSelected = tcell.StyleDefault.Foreground(tcell.ColorBlack).Background(tcell.ColorYellow)
	styleLate     = styleText.Foreground(tcell.ColorRed).Bold(true)
	styleError    = styleText.Foreground(tcell.ColorRed).Bold(true)
	styleGood     = styleText.Foreground(tcell.ColorGreen).Bold(true)
	stylePublic   = styleText.Foreground(tcell.ColorAqua)
	styleField    = tcell.StyleDefault.Foreground(tcell.ColorBlack).Background(tcell.ColorWhite)
	styleFocus    = tcell.StyleDefault.Foreground(tcell.ColorBlack).Background(tcell.ColorYellow).Bold(true)
)

// span is a piece of one line of text in one style.
type span struct {
	text  string
	style tcell.Style
}

// sp makes a span of s, cleaned to one line.
func sp(s string, style tcell.Style) span { return span{textsafe.Line(s), style} }

// cell is one grapheme cluster to draw.
type cell struct {
	cluster string
	width   int
	style   tcell.Style
}

func cells(spans []span) []cell {
	var out []cell
	for _, s := range spans {
		str, state := s.text, -1
		for len(str) > 0 {
			var c string
			var w int
			c, str, w, state = uniseg.FirstGraphemeClusterInString(str, state)
			if w == 0 {
				continue // a lone combining mark or zero-width character
			}
			out = append(out, cell{c, w, s.style})
		}
	}
	return out
}

// textWidth is how many columns s takes.
func textWidth(s string) int { return uniseg.StringWidth(s) }

// put draws cs from x on row y, at most width columns, and returns the
// columns used. A wide character that does not fit is not drawn half.
func put(screen tcell.Screen, x, y, width int, cs []cell) int {
	used := 0
	for _, c := range cs {
		if used+c.width > width {
			break
		}
		// Like tview: the cells a wide character covers first, then the
		// character, so none is left holding an older one.
		for off := c.width - 1; off > 0; off-- {
			screen.SetContent(x+used+off, y, ' ', nil, c.style)
		}
		rs := []rune(c.cluster)
		screen.SetContent(x+used, y, rs[0], rs[1:], c.style)
		used += c.width
	}
	return used
}

// putText draws one line of spans clipped to width, with an ellipsis when
// it is cut, and fills the rest with fill's background.
func putText(screen tcell.Screen, x, y, width int, spans []span, fill tcell.Style) {
	cs := cells(spans)
	total := 0
	for _, c := range cs {
		total += c.width
	}
	used := 0
	if total > width && width > 0 {
		used = put(screen, x, y, width-1, cs)
		last := fill
		if len(cs) > 0 {
			last = cs[min(len(cs)-1, countFit(cs, width-1))].style
		}
		screen.SetContent(x+used, y, '…', nil, last)
		used++
	} else {
		used = put(screen, x, y, width, cs)
	}
	for ; used < width; used++ {
		screen.SetContent(x+used, y, ' ', nil, fill)
	}
}

// countFit is how many cells fit in width columns.
func countFit(cs []cell, width int) int {
	n, used := 0, 0
	for _, c := range cs {
		if used+c.width > width {
			break
		}
		used += c.width
		n++
	}
	return n
}

// wrap breaks one line of cells into rows of at most width columns, at
// spaces where it can; rows after the first start with indent spaces.
func wrap(cs []cell, width, indent int) [][]cell {
	if width <= indent+1 {
		indent = 0
	}
	if width < 1 {
		width = 1
	}
	var rows [][]cell
	for first := true; ; first = false {
		limit := width
		var row []cell
		if !first {
			row = make([]cell, indent)
			for i := range row {
				row[i] = cell{" ", 1, cs[0].style}
			}
			limit -= indent
		}
		n, used, lastSpace := 0, 0, -1
		for n < len(cs) && used+cs[n].width <= limit {
			if cs[n].cluster == " " {
				lastSpace = n
			}
			used += cs[n].width
			n++
		}
		if n == len(cs) {
			return append(rows, append(row, cs...))
		}
		if n == 0 {
			n = 1 // wider than the row: draw it anyway, cut by the screen
		} else if lastSpace > 0 {
			n = lastSpace + 1
		}
		rows = append(rows, append(row, cs[:n]...))
		cs = cs[n:]
		for len(cs) > 0 && cs[0].cluster == " " {
			cs = cs[1:]
		}
		if len(cs) == 0 {
			return rows
		}
	}
}

// docLine is one logical line of a document: spans, and how far rows
// after the first are indented when it wraps.
type docLine struct {
	spans  []span
	indent int
}

// doc builds a document line by line.
type doc struct{ lines []docLine }

// line adds a line of spans.
func (d *doc) line(spans ...span) { d.lines = append(d.lines, docLine{spans: spans}) }

// indented adds a line whose wrapped rows start at indent.
func (d *doc) indented(indent int, spans ...span) {
	d.lines = append(d.lines, docLine{spans: spans, indent: indent})
}

// text adds untrusted multi-line text: cleaned (escape sequences and
// control characters removed), one doc line per line, each prefixed.
func (d *doc) text(prefix, s string, style tcell.Style) {
	for _, l := range strings.Split(textsafe.Clean(s), "\n") {
		d.indented(textWidth(prefix), span{prefix, style}, sp(l, style))
	}
}

func (d *doc) blank() { d.lines = append(d.lines, docLine{}) }

// docView shows a document, wrapped to its width and scrolled with the
// arrows, j and k, the page keys and the mouse wheel.
type docView struct {
	*tview.Box
	focusable bool // takes the focus on a click (not the message line)
	lines     []docLine
	offset    int
	rows      [][]cell // lines wrapped at the last drawn width
	width     int
}

func newDocView() *docView {
	v := &docView{Box: tview.NewBox()}
	v.SetBackgroundColor(tcell.ColorBlack)
	return v
}

// SetDoc replaces the document; keepScroll keeps the scroll position (a
// refresh of the same case), otherwise it goes back to the top.
func (v *docView) SetDoc(d doc, keepScroll bool) {
	v.lines, v.rows, v.width = d.lines, nil, -1
	if !keepScroll {
		v.offset = 0
	}
}

// Text is the document as plain text, one line per logical line.
func (v *docView) Text() string {
	var b strings.Builder
	for _, l := range v.lines {
		for _, s := range l.spans {
			b.WriteString(s.text)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func (v *docView) layout(width int) {
	if width == v.width && v.rows != nil {
		return
	}
	v.width = width
	v.rows = v.rows[:0]
	for _, l := range v.lines {
		cs := cells(l.spans)
		if len(cs) == 0 {
			v.rows = append(v.rows, nil)
			continue
		}
		v.rows = append(v.rows, wrap(cs, width, l.indent)...)
	}
}

// rowsAt is how many rows the document takes at width.
func (v *docView) rowsAt(width int) int {
	v.layout(width)
	return len(v.rows)
}

func (v *docView) Draw(screen tcell.Screen) {
	v.DrawForSubclass(screen, v)
	x, y, w, h := v.GetInnerRect()
	if w <= 0 || h <= 0 {
		return
	}
	v.layout(w)
	v.offset = max(0, min(v.offset, len(v.rows)-h))
	for i := 0; i < h; i++ {
		var row []cell
		if n := v.offset + i; n < len(v.rows) {
			row = v.rows[n]
		}
		used := put(screen, x, y+i, w, row)
		for ; used < w; used++ {
			screen.SetContent(x+used, y+i, ' ', nil, styleText)
		}
	}
	if len(v.rows) > h { // a scroll mark, so staff know there is more
		mark := "▼"
		if v.offset+h >= len(v.rows) {
			mark = "▲"
		}
		screen.SetContent(x+w-1, y+h-1, []rune(mark)[0], nil, styleDim)
	}
}

func (v *docView) scroll(delta int) {
	_, _, _, h := v.GetInnerRect()
	v.offset = max(0, min(v.offset+delta, len(v.rows)-h))
}

func (v *docView) InputHandler() func(*tcell.EventKey, func(tview.Primitive)) {
	return v.WrapInputHandler(func(ev *tcell.EventKey, _ func(tview.Primitive)) {
		_, _, _, h := v.GetInnerRect()
		switch {
		case ev.Key() == tcell.KeyUp || ev.Key() == tcell.KeyRune && ev.Rune() == 'k':
			v.scroll(-1)
		case ev.Key() == tcell.KeyDown || ev.Key() == tcell.KeyRune && ev.Rune() == 'j':
			v.scroll(1)
		case ev.Key() == tcell.KeyPgUp:
			v.scroll(-max(1, h-1))
		case ev.Key() == tcell.KeyPgDn || ev.Key() == tcell.KeyRune && ev.Rune() == ' ':
			v.scroll(max(1, h-1))
		case ev.Key() == tcell.KeyHome:
			v.offset = 0
		case ev.Key() == tcell.KeyEnd:
			v.scroll(len(v.rows))
		}
	})
}

func (v *docView) MouseHandler() func(tview.MouseAction, *tcell.EventMouse, func(tview.Primitive)) (bool, tview.Primitive) {
	return v.WrapMouseHandler(func(action tview.MouseAction, ev *tcell.EventMouse, setFocus func(tview.Primitive)) (bool, tview.Primitive) {
		if !v.InRect(ev.Position()) {
			return false, nil
		}
		switch action {
		case tview.MouseScrollUp:
			v.scroll(-3)
		case tview.MouseScrollDown:
			v.scroll(3)
		case tview.MouseLeftDown, tview.MouseLeftClick:
			if !v.focusable {
				return false, nil
			}
			setFocus(v)
		default:
			return false, nil
		}
		return true, nil
	})
}

// bar is a one-line widget of spans: the header, the status and hint
// rows. Its text is cleaned like every other.
type bar struct {
	*tview.Box
	left, right []span
	short       []span // left, shortened, for when both do not fit
	fill        tcell.Style
}

func newBar(fill tcell.Style) *bar {
	b := &bar{Box: tview.NewBox(), fill: fill}
	_, bg, _ := fill.Decompose()
	b.SetBackgroundColor(bg)
	return b
}

func (b *bar) set(left ...span) { b.left = left }

func (b *bar) setRight(right ...span) { b.right = right }

// Text is what the bar shows, left then right.
func (b *bar) Text() string {
	var s strings.Builder
	for _, x := range append(append([]span(nil), b.left...), b.right...) {
		s.WriteString(x.text)
	}
	return s.String()
}

// MouseHandler ignores the mouse: a click on a bar must not take the
// focus from the table or the form.
func (b *bar) MouseHandler() func(tview.MouseAction, *tcell.EventMouse, func(tview.Primitive)) (bool, tview.Primitive) {
	return func(tview.MouseAction, *tcell.EventMouse, func(tview.Primitive)) (bool, tview.Primitive) {
		return false, nil
	}
}

// modal wraps an overlay page: mouse events over it never reach the screen
// underneath (a click beside a form's fields would otherwise select a row
// of the table under it, or give the focus to the case behind).
type modal struct{ tview.Primitive }

// Draw blanks the overlay's area first: a Flex does not clear its
// background, and the screen underneath is drawn in the same frame.
func (m modal) Draw(screen tcell.Screen) {
	x, y, w, h := m.GetRect()
	for row := y; row < y+h; row++ {
		for col := x; col < x+w; col++ {
			screen.SetContent(col, row, ' ', nil, styleText)
		}
	}
	m.Primitive.Draw(screen)
}

func (m modal) MouseHandler() func(tview.MouseAction, *tcell.EventMouse, func(tview.Primitive)) (bool, tview.Primitive) {
	inner := m.Primitive.MouseHandler()
	return func(action tview.MouseAction, ev *tcell.EventMouse, setFocus func(tview.Primitive)) (bool, tview.Primitive) {
		consumed, capture := inner(action, ev, setFocus)
		if !consumed {
			x, y := ev.Position()
			rx, ry, rw, rh := m.GetRect()
			consumed = x >= rx && x < rx+rw && y >= ry && y < ry+rh
		}
		return consumed, capture
	}
}

func (b *bar) Draw(screen tcell.Screen) {
	b.DrawForSubclass(screen, b)
	x, y, w, h := b.GetInnerRect()
	if w <= 0 || h <= 0 {
		return
	}
	width := func(spans []span) int {
		n := 0
		for _, c := range cells(spans) {
			n += c.width
		}
		return n
	}
	left, rw := b.left, width(b.right)
	if width(left)+rw+1 > w && b.short != nil {
		left = b.short
	}
	// Both in full when they fit; else the right side keeps what the left
	// leaves, but at least a third.
	rw = min(rw, max(w-width(left)-1, w/3))
	putText(screen, x, y, w-rw, left, b.fill)
	if rw > 0 {
		putText(screen, x+w-rw, y, rw, b.right, b.fill)
	}
}

// inert makes a trusted label (a category's, from the branch's
// configuration) safe for the few tview widgets that read style tags
// (drop-down options, form labels, button labels): tview.Escape for
// ordinary tags, and a fullwidth "［" for a tag with a URL part, which
// tview's grammar has no escape for.
func inert(s string) string {
	s = textsafe.Line(s)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '[' {
			if j := strings.IndexByte(s[i:], ']'); j > 0 && strings.Count(s[i:i+j], ":") >= 3 {
				b.WriteString("\uff3b")
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return tview.Escape(b.String())
}
