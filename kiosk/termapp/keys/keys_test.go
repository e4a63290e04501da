package keys_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/uniseg"

	"ombud/kiosk/termapp/keys"
)

func key(k tcell.Key) *tcell.EventKey { return tcell.NewEventKey(k, 0, tcell.ModNone) }

func char(r rune, mod tcell.ModMask) *tcell.EventKey {
	return tcell.NewEventKey(tcell.KeyRune, r, mod)
}

func TestKeyMatches(t *testing.T) {
	for _, tc := range []struct {
		name string
		k    keys.Key
		ev   *tcell.EventKey
		want bool
	}{
		{"character", keys.R('q'), char('q', tcell.ModNone), true},
		{"character with Shift", keys.R('?'), char('?', tcell.ModShift), true},
		{"other character", keys.R('q'), char('p', tcell.ModNone), false},
		{"special key", keys.K(tcell.KeyEnter), key(tcell.KeyEnter), true},
		{"special key with a modifier", keys.K(tcell.KeyCtrlQ), tcell.NewEventKey(tcell.KeyCtrlQ, 'q', tcell.ModCtrl), true},
		{"special key is not a character", keys.K(tcell.KeyEnter), char('e', tcell.ModNone), false},
		{"character is not a special key", keys.R('q'), key(tcell.KeyCtrlQ), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.k.Matches(tc.ev); got != tc.want {
				t.Errorf("%v matches %v: got %v, want %v", tc.k, tc.ev.Name(), got, tc.want)
			}
		})
	}
}

func TestKeyNames(t *testing.T) {
	for _, tc := range []struct {
		b    keys.Binding
		want string
	}{
		{keys.Binding{Keys: []keys.Key{keys.K(tcell.KeyUp), keys.K(tcell.KeyDown), keys.R('k'), keys.R('j')}}, "↑ ↓ k j"},
		{keys.Binding{Keys: []keys.Key{keys.K(tcell.KeyTab), keys.K(tcell.KeyBacktab)}}, "Tab Shift-Tab"},
		{keys.Binding{Keys: []keys.Key{keys.R(' '), keys.K(tcell.KeyPgUp), keys.K(tcell.KeyPgDn)}}, "Space PgUp PgDn"},
		{keys.Binding{Keys: []keys.Key{keys.K(tcell.KeyCtrlS)}}, "Ctrl-S"},
		{keys.Binding{Keys: []keys.Key{keys.K(tcell.KeyEnter)}, Label: "Entrée"}, "Entrée"},
	} {
		if got := tc.b.KeyNames(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// TestActionRunsOnItsKey: the key of a binding with an action runs that
// action and no other; a listed-only binding (no action) never takes the
// key from a later one that acts on it.
func TestActionRunsOnItsKey(t *testing.T) {
	var ran []string
	bs := []keys.Binding{
		{Keys: []keys.Key{keys.K(tcell.KeyEnter)}, Desc: "press a button"}, // the widget's own
		{Keys: []keys.Key{keys.R('/')}, Desc: "search", Action: func() { ran = append(ran, "search") }},
		{Keys: []keys.Key{keys.K(tcell.KeyEnter), keys.K(tcell.KeyEsc)}, Desc: "close", Action: func() { ran = append(ran, "close") }},
	}
	if !keys.Handle(bs, char('/', tcell.ModNone)) {
		t.Error("/ not handled")
	}
	if !keys.Handle(bs, key(tcell.KeyEnter)) {
		t.Error("Enter not handled")
	}
	if !keys.Handle(bs, key(tcell.KeyEsc)) {
		t.Error("Esc not handled")
	}
	if keys.Handle(bs, char('x', tcell.ModNone)) {
		t.Error("x handled, but nothing is bound to it")
	}
	if want := []string{"search", "close", "close"}; !slices.Equal(ran, want) {
		t.Errorf("ran %v, want %v", ran, want)
	}
	if b, ok := keys.Lookup(bs, key(tcell.KeyEnter)); !ok || b.Desc != "close" {
		t.Errorf("Lookup(Enter) = %+v, %v; want the close binding", b, ok)
	}
	if _, ok := keys.Lookup(bs[:1], key(tcell.KeyEnter)); ok {
		t.Error("Lookup found a binding without an action")
	}
}

var sample = []keys.Binding{
	{Keys: []keys.Key{keys.K(tcell.KeyUp), keys.K(tcell.KeyDown)}, Desc: "move"},
	{Keys: []keys.Key{keys.K(tcell.KeyEnter)}, Desc: "open the case", Short: "open", Hint: true, Action: func() {}},
	{Keys: []keys.Key{keys.R('x')}, Desc: "clear filter and search", Action: func() {}},
	{Keys: []keys.Key{keys.R('/')}, Desc: "search code or text", Short: "search", Hint: true, Action: func() {}},
	{Keys: []keys.Key{keys.R('q')}, Desc: "sign out", Hint: true, Action: func() {}},
	{Keys: []keys.Key{keys.K(tcell.KeyCtrlQ)}, Desc: "quit the program", Action: func() {}},
}

// TestHintBarFromBindings: the hint bar lists the Hint bindings, in order,
// each its keys (marked as a key) and its short description.
func TestHintBarFromBindings(t *testing.T) {
	spans := keys.HintBar(sample, keys.HintLayout{Join: " ", Sep: " · "})
	if got, want := keys.Text(spans), "Enter open · / search · q sign out"; got != want {
		t.Errorf("hint bar %q, want %q", got, want)
	}
	var named []string
	for _, s := range spans {
		if s.Key {
			named = append(named, s.Text)
		}
	}
	if want := []string{"Enter", "/", "q"}; !slices.Equal(named, want) {
		t.Errorf("key spans %q, want %q", named, want)
	}
	label := []keys.Binding{{Keys: []keys.Key{keys.K(tcell.KeyEsc)}, Label: "Échap", Desc: "retour", Hint: true}}
	if got, want := keys.Text(keys.HintBar(label, keys.HintLayout{Join: "\u00a0", Sep: "   "})), "Échap\u00a0retour"; got != want {
		t.Errorf("labelled hint %q, want %q", got, want)
	}
	if got := keys.HintBar(sample[:1], keys.HintLayout{Join: " ", Sep: " · "}); len(got) != 0 {
		t.Errorf("no hinted binding, yet the bar shows %q", keys.Text(got))
	}
}

// TestHelpListsEveryBinding: the help has a line for every binding, hinted
// or not, in order, with the full description, and the descriptions start
// in one column.
func TestHelpListsEveryBinding(t *testing.T) {
	lines := keys.Help(sample, 24)
	if len(lines) != len(sample) {
		t.Fatalf("%d help lines for %d bindings", len(lines), len(sample))
	}
	col := uniseg.StringWidth("Ctrl-Q") + 1 // the widest keys, and a space
	for i, l := range lines {
		if l.Desc != sample[i].Desc || l.Binding.Desc != sample[i].Desc {
			t.Errorf("line %d: %q, want %q", i, l.Desc, sample[i].Desc)
		}
		if !strings.HasPrefix(l.Keys, sample[i].KeyNames()+" ") || uniseg.StringWidth(l.Keys) != col || l.Indent != col {
			t.Errorf("line %d: keys %q (indent %d), want %q padded to %d columns", i, l.Keys, l.Indent, sample[i].KeyNames(), col)
		}
	}
	// A name wider than the column pushes only its own description along.
	long := append([]keys.Binding{{Keys: []keys.Key{keys.K(tcell.KeyPgUp), keys.K(tcell.KeyPgDn), keys.K(tcell.KeyHome), keys.K(tcell.KeyEnd)}, Desc: "page, first, last"}}, sample...)
	lines = keys.Help(long, 12)
	if got, want := lines[0].Keys, "PgUp PgDn Home End "; got != want {
		t.Errorf("long keys %q, want %q", got, want)
	}
	for _, l := range lines[1:] {
		if uniseg.StringWidth(l.Keys) != 13 || l.Indent != 13 {
			t.Errorf("keys %q (indent %d), want 13 columns", l.Keys, l.Indent)
		}
	}
}
