// Package keys owns the key bindings of the kiosk's terminal screens, the
// customer kiosk's and the staff terminal's, as data: each binding is a key,
// how it is named, what it does in words and the action it runs. The same
// bindings dispatch the keys, draw the hint bar under a screen and lay out
// the staff terminal's help screen, so what a screen says a key does cannot
// drift from what it does.
//
// It imports no tview: a screen's model builds and tests its bindings
// without a screen, and each program draws the rendered hint bar and help
// with its own widgets and styles (Span and HelpLine say which part is a
// key).
package keys

import (
	"strings"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/uniseg"
)

// Key is one key: a special key, or a character (Code tcell.KeyRune).
type Key struct {
	Code tcell.Key
	Rune rune
}

// R is the key that types r.
func R(r rune) Key { return Key{Code: tcell.KeyRune, Rune: r} }

// K is a special key.
func K(k tcell.Key) Key { return Key{Code: k} }

// Matches reports whether ev is this key. Modifiers are ignored for
// characters (Shift makes the character; Alt is not used) and for special
// keys (terminals report them inconsistently).
func (k Key) Matches(ev *tcell.EventKey) bool {
	if ev.Key() != k.Code {
		return false
	}
	return k.Code != tcell.KeyRune || ev.Rune() == k.Rune
}

// String names the key the way the hint bar and help show it when the
// binding has no Label of its own.
func (k Key) String() string {
	switch k.Code {
	case tcell.KeyRune:
		if k.Rune == ' ' {
			return "Space"
		}
		return string(k.Rune)
	case tcell.KeyUp:
		return "↑"
	case tcell.KeyDown:
		return "↓"
	case tcell.KeyBacktab:
		return "Shift-Tab"
	case tcell.KeyPgUp:
		return "PgUp"
	case tcell.KeyPgDn:
		return "PgDn"
	}
	return tcell.KeyNames[k.Code]
}

// Binding is one key of a screen.
type Binding struct {
	// Keys are the keys that do it. An empty list binds nothing: the
	// binding is only listed.
	Keys []Key
	// Label is how the keys are shown, for a name in the person's language
	// ("Entrée"); the keys' own names (KeyNames) when empty.
	Label string
	// Desc says what the keys do, in the help; Short is the hint bar's
	// shorter Desc (Desc when empty).
	Desc, Short string
	// Hint lists the binding on the hint bar under the screen; the help
	// lists every binding.
	Hint bool
	// Action runs when one of Keys is pressed. Nil marks a key the focused
	// widget handles itself (arrows in a list, Enter on a button): listed,
	// so the person learns it, but not dispatched.
	Action func()
}

// KeyNames is how the binding's keys are shown: its Label, else the keys'
// names, e.g. "↑ ↓ j k".
func (b Binding) KeyNames() string {
	if b.Label != "" {
		return b.Label
	}
	names := make([]string, len(b.Keys))
	for i, k := range b.Keys {
		names[i] = k.String()
	}
	return strings.Join(names, " ")
}

// Matches reports whether ev is one of the binding's keys.
func (b Binding) Matches(ev *tcell.EventKey) bool {
	for _, k := range b.Keys {
		if k.Matches(ev) {
			return true
		}
	}
	return false
}

// Lookup returns the first binding among bs that has an action and whose
// key ev is.
func Lookup(bs []Binding, ev *tcell.EventKey) (Binding, bool) {
	for _, b := range bs {
		if b.Action != nil && b.Matches(ev) {
			return b, true
		}
	}
	return Binding{}, false
}

// Handle runs the action bound to ev among bs, and reports whether there
// was one: an input capture returns nil then, so the key goes no further.
func Handle(bs []Binding, ev *tcell.EventKey) bool {
	b, ok := Lookup(bs, ev)
	if ok {
		b.Action()
	}
	return ok
}

// Span is a run of rendered text: a key's name, or words. Each program
// draws key names in its own way (bold on the kiosk).
type Span struct {
	Text string
	Key  bool
}

// Text is spans as plain text.
func Text(spans []Span) string {
	var b strings.Builder
	for _, s := range spans {
		b.WriteString(s.Text)
	}
	return b.String()
}

// HintLayout is how a hint bar sets out its bindings: Join goes between a
// binding's keys and what they do (a no-break space keeps the two on one
// row when the bar wraps), Sep between bindings.
type HintLayout struct {
	Join, Sep string
}

// HintBar renders the hint bar of bs: each binding marked Hint, in order,
// its keys then its Short description, e.g. "Enter open · / search".
func HintBar(bs []Binding, l HintLayout) []Span {
	var out []Span
	for _, b := range bs {
		if !b.Hint {
			continue
		}
		if len(out) > 0 {
			out = append(out, Span{Text: l.Sep})
		}
		d := b.Short
		if d == "" {
			d = b.Desc
		}
		out = append(out, Span{Text: b.KeyNames(), Key: true}, Span{Text: l.Join}, Span{Text: d})
	}
	return out
}

// HelpLine is one binding's line of a help screen.
type HelpLine struct {
	Binding Binding
	// Keys is the binding's keys padded with spaces to the key column's
	// width (and at least one space), so the descriptions line up.
	Keys string
	// Desc is what the keys do, in full.
	Desc string
	// Indent is the key column's width: where the description continues
	// when it wraps.
	Indent int
}

// Help lays out the help screen of bs: every binding, in order, its keys in
// a column as wide as the widest (at most maxKeys columns: a longer name
// pushes its own description along instead) and then what it does.
func Help(bs []Binding, maxKeys int) []HelpLine {
	col := 0
	for _, b := range bs {
		col = max(col, uniseg.StringWidth(b.KeyNames()))
	}
	col = min(col, maxKeys) + 1
	out := make([]HelpLine, len(bs))
	for i, b := range bs {
		names := b.KeyNames()
		pad := max(1, col-uniseg.StringWidth(names))
		out[i] = HelpLine{Binding: b, Keys: names + strings.Repeat(" ", pad), Desc: b.Desc, Indent: col}
	}
	return out
}
