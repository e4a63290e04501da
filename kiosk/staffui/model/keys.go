// Package model owns what the staff terminal knows apart from drawing it:
// the screens and their key bindings (as data, so the same tables drive the
// keys, the hint row and the help screen), which case actions a person is
// offered and why others are not, how a filled-in action becomes an event,
// the queue's filter and selection, and the text the screens show for rows,
// deadlines and the timeline. It imports no tview, so it is tested without a
// screen; package staffui draws it.
package model

import (
	"strings"

	"github.com/gdamore/tcell/v2"

	"ombud/shared/event"
)

// Screen is what the terminal shows: one of the main screens, or an overlay
// over one.
type Screen int

const (
	SignIn Screen = iota // staff id and PIN
	Queue                // the branch's cases, due first
	Case                 // one case: the complaint, its timeline, its actions
	Form                 // an action's, a filing's or the filter's form
	Search               // the queue's search line
	Help                 // the keys of the screen underneath
	Notice               // refused actions, until dismissed
	Result               // a filing's tracking code and printing
)

var screenNames = [...]string{"sign-in", "queue", "case", "form", "search", "help", "notice", "result"}

func (s Screen) String() string {
	if s < 0 || int(s) >= len(screenNames) {
		return "unknown"
	}
	return screenNames[s]
}

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

// String names the key the way the hint row and help show it.
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

// Action is what a binding does. The screens map each to a function; the
// model only names them, so that the tables can be tested and listed.
type Action string

const (
	// ActNone marks keys the focused widget handles itself (arrows in the
	// table, Tab in a form): listed for help, not dispatched.
	ActNone       Action = ""
	ActOpen       Action = "open"
	ActBack       Action = "back"
	ActSearch     Action = "search"
	ActFilter     Action = "filter"
	ActClear      Action = "clear"
	ActNew        Action = "new"
	ActHelp       Action = "help"
	ActSignOut    Action = "sign-out"
	ActQuit       Action = "quit"
	ActSignIn     Action = "sign-in"
	ActSubmit     Action = "submit"
	ActCancel     Action = "cancel"
	ActDismiss    Action = "dismiss"
	ActReprint    Action = "reprint"
	ActCaseAction Action = "case-action" // Binding.Event says which
)

// Binding is one key of a screen.
type Binding struct {
	Keys   []Key
	Desc   string
	Short  string // the hint row's shorter Desc; Desc when empty
	Action Action
	Event  event.Type // for ActCaseAction
	// Hint puts the binding on the one-line hint row under every screen;
	// the help screen lists them all.
	Hint bool
}

// KeyNames is how the binding's keys are shown, e.g. "↑ ↓ j k".
func (b Binding) KeyNames() string {
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

// Lookup returns the binding of ev among bs that has an action.
func Lookup(bs []Binding, ev *tcell.EventKey) (Binding, bool) {
	for _, b := range bs {
		if b.Action != ActNone && b.Matches(ev) {
			return b, true
		}
	}
	return Binding{}, false
}

// Keymap is the bindings of screen s in the order help lists them. quit
// says whether Ctrl-Q may stop the program (off at a real branch, where a
// signal stops it).
func Keymap(s Screen, quit bool) []Binding {
	var bs []Binding
	switch s {
	case SignIn:
		bs = []Binding{
			{Keys: []Key{K(tcell.KeyTab), K(tcell.KeyBacktab)}, Desc: "next / previous field", Short: "next field", Hint: true},
			{Keys: []Key{K(tcell.KeyEnter)}, Desc: "sign in (from the PIN)", Short: "sign in", Action: ActSignIn, Hint: true},
		}
	case Queue:
		bs = []Binding{
			{Keys: []Key{K(tcell.KeyUp), K(tcell.KeyDown), R('k'), R('j')}, Desc: "move"},
			{Keys: []Key{K(tcell.KeyPgUp), K(tcell.KeyPgDn), K(tcell.KeyHome), K(tcell.KeyEnd)}, Desc: "page, first, last"},
			{Keys: []Key{K(tcell.KeyEnter)}, Desc: "open the case", Short: "open", Action: ActOpen, Hint: true},
			{Keys: []Key{R('/')}, Desc: "search code or text", Short: "search", Action: ActSearch, Hint: true},
			{Keys: []Key{R('f')}, Desc: "filter by status, category, priority", Short: "filter", Action: ActFilter, Hint: true},
			{Keys: []Key{R('x')}, Desc: "clear filter and search", Action: ActClear},
			{Keys: []Key{R('n')}, Desc: "new complaint for a walk-in customer", Short: "new", Action: ActNew, Hint: true},
			{Keys: []Key{R('?')}, Desc: "help", Action: ActHelp, Hint: true},
			{Keys: []Key{R('q')}, Desc: "sign out", Action: ActSignOut, Hint: true},
		}
	case Case:
		bs = []Binding{
			{Keys: []Key{K(tcell.KeyUp), K(tcell.KeyDown), R('k'), R('j'), K(tcell.KeyPgUp), K(tcell.KeyPgDn)}, Desc: "scroll"},
			{Keys: []Key{K(tcell.KeyEsc)}, Desc: "back to the queue", Short: "back", Action: ActBack, Hint: true},
		}
		for _, a := range caseActions {
			bs = append(bs, Binding{Keys: []Key{R(a.Key)}, Desc: a.Desc, Action: ActCaseAction, Event: a.Type})
		}
		bs = append(bs,
			Binding{Keys: []Key{R('p')}, Desc: "print the receipt again", Short: "reprint", Action: ActReprint, Hint: true},
			Binding{Keys: []Key{R('?')}, Desc: "help: every key", Short: "help", Action: ActHelp, Hint: true},
			Binding{Keys: []Key{R('q')}, Desc: "sign out", Action: ActSignOut, Hint: true},
		)
	case Form:
		bs = []Binding{
			{Keys: []Key{K(tcell.KeyTab), K(tcell.KeyBacktab)}, Desc: "next / previous field", Short: "next field", Hint: true},
			{Keys: []Key{K(tcell.KeyCtrlS)}, Desc: "save", Action: ActSubmit, Hint: true},
			{Keys: []Key{K(tcell.KeyEsc)}, Desc: "cancel", Action: ActCancel, Hint: true},
			{Keys: []Key{K(tcell.KeyEnter)}, Desc: "new line in text; press a button"},
			{Keys: []Key{R(' ')}, Desc: "tick a box"},
		}
	case Search:
		bs = []Binding{
			{Keys: []Key{K(tcell.KeyEnter)}, Desc: "keep the search", Action: ActSubmit, Hint: true},
			{Keys: []Key{K(tcell.KeyEsc)}, Desc: "clear the search", Action: ActCancel, Hint: true},
		}
	case Help, Notice, Result:
		bs = []Binding{
			{Keys: []Key{K(tcell.KeyUp), K(tcell.KeyDown), R('k'), R('j')}, Desc: "scroll"},
			{Keys: []Key{K(tcell.KeyEnter), K(tcell.KeyEsc)}, Desc: "close", Action: ActDismiss, Hint: true},
		}
		if s == Help {
			bs = append(bs, Binding{Keys: []Key{R('?'), R('q')}, Desc: "close", Action: ActDismiss})
		}
	}
	if quit {
		bs = append(bs, Binding{Keys: []Key{K(tcell.KeyCtrlQ)}, Desc: "quit the program", Action: ActQuit})
	}
	return bs
}

// Hints is the hint row of a screen: its Hint bindings, e.g.
// "Enter open · / search · q sign out".
func Hints(bs []Binding) string {
	var parts []string
	for _, b := range bs {
		if b.Hint {
			d := b.Short
			if d == "" {
				d = b.Desc
			}
			parts = append(parts, b.KeyNames()+" "+d)
		}
	}
	return strings.Join(parts, " · ")
}
