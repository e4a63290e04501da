package tui

import (
	"strings"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/tui/flow"
)

// binding is one key of a screen: the key, its name and what it does (both
// catalog keys, so the hint row is translated), and the action. A nil action
// means the focused widget handles the key itself (Enter on a button, arrows
// in a list); the binding is then there to be listed in the hint row, which
// is drawn from these tables so it cannot drift from what the keys do.
type binding struct {
	key    tcell.Key
	name   string
	desc   string
	action func(*App)
}

var (
	keyNext   = binding{tcell.KeyTab, "key.tab", "hint.next_field", (*App).focusNext}
	keyPrev   = binding{tcell.KeyBacktab, "key.backtab", "hint.prev_field", (*App).focusPrev}
	keyPress  = binding{tcell.KeyEnter, "key.enter", "hint.press", nil}
	keyChoose = binding{tcell.KeyEnter, "key.enter", "hint.choose", nil}
	keyMove   = binding{tcell.KeyUp, "key.arrows", "hint.move", nil}
	keyLine   = binding{tcell.KeyEnter, "key.enter", "hint.newline", nil}
	keyTick   = binding{tcell.KeyRune, "key.space", "hint.tick", nil}
	keyBack   = binding{tcell.KeyEscape, "key.esc", "hint.back", (*App).back}
)

// keymap is each screen's keys, in the order the hint row lists them.
var keymap = map[flow.Step][]binding{
	flow.Welcome:     {keyNext, keyPrev, keyPress},
	flow.Category:    {keyMove, keyChoose, keyNext, keyPrev, keyBack},
	flow.Description: {keyNext, keyPrev, keyLine, keyPress, keyBack},
	flow.Outcome:     {keyNext, keyPrev, keyLine, keyPress, keyBack},
	flow.Contact:     {keyNext, keyPrev, keyTick, keyPress, keyBack},
	flow.Review:      {keyNext, keyPrev, keyPress, keyBack},
	flow.Receipt:     {keyNext, keyPrev, keyPress},
}

// hintText renders a screen's keys for its hint row, e.g.
// "Tab next · Shift-Tab previous · Enter press button · Esc back".
func (a *App) hintText(step flow.Step) string {
	parts := make([]string, 0, len(keymap[step]))
	for _, b := range keymap[step] {
		// A no-break space keeps each key with its description when the
		// row wraps.
		parts = append(parts, "[::b]"+escapeMarkup(a.t(b.name))+"[::-]\u00a0"+escapeMarkup(a.t(b.desc)))
	}
	return strings.Join(parts, "   ")
}

// actionFor returns the action bound to ev on the screen, if any.
func actionFor(step flow.Step, ev *tcell.EventKey) func(*App) {
	for _, b := range keymap[step] {
		if b.action != nil && b.key == ev.Key() {
			return b.action
		}
	}
	return nil
}
