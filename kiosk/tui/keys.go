package tui

import (
	"strings"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/termapp/keys"
	"ombud/kiosk/tui/flow"
)

// keymaps is each screen's keys in the visit's language, in the order the
// hint row lists them. A binding without an action is a key the focused
// widget handles itself (Enter on a button, arrows in a list), there to be
// listed: the hint row is drawn from these bindings, so it cannot drift
// from what the keys do. build makes them afresh with every set of
// widgets, so a change of language rewords them.
func (a *App) keymaps() map[flow.Step][]keys.Binding {
	bind := func(name, desc string, action func(), ks ...keys.Key) keys.Binding {
		return keys.Binding{Keys: ks, Label: a.t(name), Desc: a.t(desc), Hint: true, Action: action}
	}
	var (
		next   = bind("key.tab", "hint.next_field", a.focusNext, keys.K(tcell.KeyTab))
		prev   = bind("key.backtab", "hint.prev_field", a.focusPrev, keys.K(tcell.KeyBacktab))
		press  = bind("key.enter", "hint.press", nil, keys.K(tcell.KeyEnter))
		choose = bind("key.enter", "hint.choose", nil, keys.K(tcell.KeyEnter))
		move   = bind("key.arrows", "hint.move", nil, keys.K(tcell.KeyUp), keys.K(tcell.KeyDown))
		// In a text box Enter makes a new line, on a button it presses
		// it: one key, listed once, so the row does not read "Enter new
		// line   Enter press button".
		line = bind("key.enter", "hint.newline_press", nil, keys.K(tcell.KeyEnter))
		tick = bind("key.space", "hint.tick", nil, keys.R(' '))
		back = bind("key.esc", "hint.back", a.back, keys.K(tcell.KeyEscape))
	)
	return map[flow.Step][]keys.Binding{
		flow.Welcome:     {next, prev, press},
		flow.Category:    {move, choose, next, prev, back},
		flow.Description: {next, prev, line, back},
		flow.Outcome:     {next, prev, line, back},
		flow.Contact:     {next, prev, tick, press, back},
		flow.Review:      {next, prev, press, back},
		flow.Receipt:     {next, prev, press},
	}
}

// hintLayout keeps each key with its description when the row wraps (a
// no-break space) and sets the keys well apart.
var hintLayout = keys.HintLayout{Join: "\u00a0", Sep: "   "}

// hintText renders a screen's keys for its hint row, the keys in bold, e.g.
// "Tab next   Shift-Tab previous   Enter press button   Esc back".
func hintText(bs []keys.Binding) string { return hintTextIn(bs, hintLayout) }

// tightHintLayout sets the keys two spaces apart: the hint row's second
// try before it takes two lines (French and Spanish rows of five keys are
// a column or two too wide at 80 with three).
var tightHintLayout = keys.HintLayout{Join: "\u00a0", Sep: "  "}

func hintTextIn(bs []keys.Binding, layout keys.HintLayout) string {
	var b strings.Builder
	for _, s := range keys.HintBar(bs, layout) {
		if s.Key {
			b.WriteString("[::b]" + escapeMarkup(s.Text) + "[::-]")
		} else {
			b.WriteString(escapeMarkup(s.Text))
		}
	}
	return b.String()
}
