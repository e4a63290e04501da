// Package model owns what the staff terminal knows apart from drawing it:
// the screens and their key bindings (keys.Binding tables, so the same data
// drive the keys, the hint row and the help screen), which case actions a person is
// offered and why others are not, how a filled-in action becomes an event,
// the queue's filter and selection, and the text the screens show for rows,
// deadlines and the timeline. It imports no tview, so it is tested without a
// screen; package staffui draws it.
package model

import (
	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/termapp/keys"
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

// Action is what a binding does. The screens map each to a function; the
// model only names them, so that the tables can be tested without a screen.
type Action string

const (
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
	ActCaseAction Action = "case-action" // Command.Event says which
)

// Command is what a key asks the screens to do: an Action, and for
// ActCaseAction the event to record.
type Command struct {
	Action Action
	Event  event.Type
}

// Keymap is the bindings of screen s in the order help lists them; a
// binding's action hands its Command to do. Keys without an action are the
// focused widget's own (arrows in the table, Tab in a form): listed for
// help, not dispatched. quit says whether Ctrl-Q may stop the program (off
// at a real branch, where a signal stops it).
func Keymap(s Screen, quit bool, do func(Command)) []keys.Binding {
	act := func(a Action) func() { return func() { do(Command{Action: a}) } }
	var bs []keys.Binding
	switch s {
	case SignIn:
		bs = []keys.Binding{
			{Keys: []keys.Key{keys.K(tcell.KeyTab), keys.K(tcell.KeyBacktab)}, Desc: "next / previous field", Short: "next field", Hint: true},
			{Keys: []keys.Key{keys.K(tcell.KeyEnter)}, Desc: "sign in (from the PIN)", Short: "sign in", Action: act(ActSignIn), Hint: true},
		}
	case Queue:
		bs = []keys.Binding{
			{Keys: []keys.Key{keys.K(tcell.KeyUp), keys.K(tcell.KeyDown), keys.R('k'), keys.R('j')}, Desc: "move"},
			{Keys: []keys.Key{keys.K(tcell.KeyPgUp), keys.K(tcell.KeyPgDn), keys.K(tcell.KeyHome), keys.K(tcell.KeyEnd)}, Desc: "page, first, last"},
			{Keys: []keys.Key{keys.K(tcell.KeyEnter)}, Desc: "open the case", Short: "open", Action: act(ActOpen), Hint: true},
			{Keys: []keys.Key{keys.R('/')}, Desc: "search code or text", Short: "search", Action: act(ActSearch), Hint: true},
			{Keys: []keys.Key{keys.R('f')}, Desc: "filter by status, category, priority", Short: "filter", Action: act(ActFilter), Hint: true},
			{Keys: []keys.Key{keys.R('x')}, Desc: "clear filter and search", Action: act(ActClear)},
			{Keys: []keys.Key{keys.R('n')}, Desc: "new complaint for a walk-in customer", Short: "new", Action: act(ActNew), Hint: true},
			{Keys: []keys.Key{keys.R('?')}, Desc: "help", Action: act(ActHelp), Hint: true},
			{Keys: []keys.Key{keys.R('q')}, Desc: "sign out", Action: act(ActSignOut), Hint: true},
		}
	case Case:
		bs = []keys.Binding{
			{Keys: []keys.Key{keys.K(tcell.KeyUp), keys.K(tcell.KeyDown), keys.R('k'), keys.R('j'), keys.K(tcell.KeyPgUp), keys.K(tcell.KeyPgDn)}, Desc: "scroll"},
			{Keys: []keys.Key{keys.K(tcell.KeyEsc)}, Desc: "back to the queue", Short: "back", Action: act(ActBack), Hint: true},
		}
		for _, a := range caseActions {
			record := func() { do(Command{Action: ActCaseAction, Event: a.Type}) }
			bs = append(bs, keys.Binding{Keys: []keys.Key{keys.R(a.Key)}, Desc: a.Desc, Action: record})
		}
		bs = append(bs,
			keys.Binding{Keys: []keys.Key{keys.R('p')}, Desc: "print the receipt again", Short: "reprint", Action: act(ActReprint), Hint: true},
			keys.Binding{Keys: []keys.Key{keys.R('?')}, Desc: "help: every key", Short: "help", Action: act(ActHelp), Hint: true},
			keys.Binding{Keys: []keys.Key{keys.R('q')}, Desc: "sign out", Action: act(ActSignOut), Hint: true},
		)
	case Form:
		bs = []keys.Binding{
			{Keys: []keys.Key{keys.K(tcell.KeyTab), keys.K(tcell.KeyBacktab)}, Desc: "next / previous field", Short: "next field", Hint: true},
			{Keys: []keys.Key{keys.K(tcell.KeyCtrlS)}, Desc: "save", Action: act(ActSubmit), Hint: true},
			{Keys: []keys.Key{keys.K(tcell.KeyEsc)}, Desc: "cancel", Action: act(ActCancel), Hint: true},
			{Keys: []keys.Key{keys.K(tcell.KeyEnter)}, Desc: "new line in text; press a button"},
			{Keys: []keys.Key{keys.R(' ')}, Desc: "tick a box"},
		}
	case Search:
		bs = []keys.Binding{
			{Keys: []keys.Key{keys.K(tcell.KeyEnter)}, Desc: "keep the search", Action: act(ActSubmit), Hint: true},
			{Keys: []keys.Key{keys.K(tcell.KeyEsc)}, Desc: "clear the search", Action: act(ActCancel), Hint: true},
		}
	case Help, Notice, Result:
		bs = []keys.Binding{
			{Keys: []keys.Key{keys.K(tcell.KeyUp), keys.K(tcell.KeyDown), keys.R('k'), keys.R('j')}, Desc: "scroll"},
			{Keys: []keys.Key{keys.K(tcell.KeyEnter), keys.K(tcell.KeyEsc)}, Desc: "close", Action: act(ActDismiss), Hint: true},
		}
		if s == Help {
			bs = append(bs, keys.Binding{Keys: []keys.Key{keys.R('?'), keys.R('q')}, Desc: "close", Action: act(ActDismiss)})
		}
	}
	if quit {
		bs = append(bs, keys.Binding{Keys: []keys.Key{keys.K(tcell.KeyCtrlQ)}, Desc: "quit the program", Action: act(ActQuit)})
	}
	return bs
}

// CaseActionOf is the case action that binding b of screen s records, if
// it records one: the help says why an action is not possible now.
func CaseActionOf(s Screen, b keys.Binding) (CaseAction, bool) {
	if s != Case || len(b.Keys) != 1 || b.Keys[0].Code != tcell.KeyRune {
		return CaseAction{}, false
	}
	for _, a := range caseActions {
		if a.Key == b.Keys[0].Rune {
			return a, true
		}
	}
	return CaseAction{}, false
}

// hintLayout sets the hint row out as "Enter open · / search".
var hintLayout = keys.HintLayout{Join: " ", Sep: " · "}

// Hints is the hint row of a screen: its Hint bindings, e.g.
// "Enter open · / search · q sign out".
func Hints(bs []keys.Binding) string {
	return keys.Text(keys.HintBar(bs, hintLayout))
}
