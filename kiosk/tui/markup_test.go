package tui_test

import (
	"strings"
	"testing"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"ombud/kiosk/tui"
)

// urlTag is a style tag that tview.Escape leaves alone: in a markup view it
// would vanish and turn what follows into a terminal hyperlink.
const urlTag = "[::u:https://evil.example/]"

// TestURLTagsShowAsTyped: what the customer reviews is what is filed, so a
// style tag in their text shows as typed, and nothing on screen links
// anywhere.
func TestURLTagsShowAsTyped(t *testing.T) {
	k := startKiosk(t, tui.Config{Filer: &fakeFiler{}, BranchName: "Main " + urlTag + "Street"}, 120, 40)
	toDescription(k)
	k.typeText("before " + urlTag + "LINK after")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("outcome")
	k.typeText("Refund " + urlTag + "now [red]please")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("contact")
	k.typeText(urlTag + "Ann")
	k.press(tcell.KeyTab, tcell.KeyTab, tcell.KeyTab)
	k.typeText(" ")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("review")
	k.waitText("before "+urlTag+"LINK after", "Refund "+urlTag+"now [red]please", urlTag+"Ann")
	noLinks(k)

	k.press(tcell.KeyEnter) // Submit has the focus
	k.waitStep("receipt")
	// Trusted text in a markup view: the tag shows, its "[" made fullwidth
	// (see escapeMarkup), and links nowhere.
	// (a wide rune: the harness shows the cell it covers as a space).
	k.waitText("Branch: Main \uff3b", urlTag[1:]+"Street")
	noLinks(k)
}

// noLinks fails if any cell on screen carries a hyperlink or turned red.
func noLinks(k *kiosk) {
	k.t.Helper()
	cells, _, _ := k.cells()
	for i, c := range cells {
		if c.Style != c.Style.Url("") {
			k.t.Fatalf("cell %d (%q) is a hyperlink:\n%s", i, string(c.Runes), k.screen())
		}
		if fg, _, _ := c.Style.Decompose(); fg == tcell.ColorRed && len(c.Runes) > 0 && c.Runes[0] != ' ' {
			k.t.Fatalf("cell %d (%q) turned red:\n%s", i, string(c.Runes), k.screen())
		}
	}
}

// TestContactNotKeptStaysRed: the review's "not kept" warning keeps its
// colour now that the review has no style tags.
func TestContactNotKeptStaysRed(t *testing.T) {
	k := startKiosk(t, tui.Config{Filer: &fakeFiler{}}, 100, 30)
	toDescription(k)
	k.typeText("x")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("outcome")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("contact")
	k.typeText("Ann") // no consent: the name is not kept
	k.press(tcell.KeyTab, tcell.KeyTab, tcell.KeyTab, tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("review")
	const notKept = "Not kept (the box was not ticked)."
	s := k.waitText(notKept)
	lines := strings.Split(s, "\n")
	cells, w, _ := k.cells()
	for y, l := range lines {
		i := strings.Index(l, notKept)
		if i < 0 {
			continue
		}
		x := len([]rune(l[:i]))
		c := cells[y*w+x]
		fg, _, attrs := c.Style.Decompose()
		if fg != tcell.ColorRed || attrs&tcell.AttrBold == 0 {
			t.Errorf("%q: colour %v, attrs %v; want bold red", strings.TrimSpace(l), fg, attrs)
		}
		return
	}
	t.Fatalf("no %q on the review:\n%s", notKept, s)
}

// TestEscapeMarkup draws escaped text in a markup view: it shows as itself
// (a URL tag's "[" as "［") and styles nothing.
func TestEscapeMarkup(t *testing.T) {
	ins := []string{"a[red]b", "[::u:https://x/]L", "[::b]x[::-]", `a["r"]b`, "a[red[]b", "[-:-:-:-]",
		"[::u:http://x[y]z", "[a[b]", "[]", "[[]]", "x[", "]y[", "[:::]" + "e", "[#f00]" + urlTag}
	pieces := []string{"[", "]", ":", "u", "b", "-", `"`, "red", "/", " ", "h", "[[", "::"}
	for i := range 3000 { // and a deterministic spray of bracket soup
		var b strings.Builder
		for j := range 1 + i%9 {
			b.WriteString(pieces[(i*7+j*13+i*j)%len(pieces)])
		}
		ins = append(ins, b.String())
	}
	sim := tcell.NewSimulationScreen("UTF-8")
	if err := sim.Init(); err != nil {
		t.Fatal(err)
	}
	sim.SetSize(120, 1)
	for _, in := range ins {
		v := tview.NewTextView().SetDynamicColors(true).SetWrap(false).SetText(tui.EscapeMarkup(in))
		v.SetRect(0, 0, 120, 1)
		sim.Clear()
		v.Draw(sim)
		sim.Show()
		cells, w, _ := sim.GetContents()
		var got strings.Builder
		for x := 0; x < w; x++ {
			c := cells[x]
			if len(c.Runes) > 0 {
				got.WriteRune(c.Runes[0])
				if c.Runes[0] == '\uff3b' {
					x++ // a wide rune: the next cell is its second half
				}
			}
			if _, _, attrs := c.Style.Decompose(); attrs != 0 || c.Style != c.Style.Url("") {
				t.Errorf("%q: cell %d styled", in, x)
			}
		}
		if g := strings.ReplaceAll(strings.TrimRight(got.String(), " "), "\uff3b", "["); g != strings.TrimRight(in, " ") {
			t.Errorf("%q shows as %q", in, g)
		}
	}
}
