package tui

import (
	"sync"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
)

// The kiosk's colours: white on black with bright yellow for whatever has
// the focus, so the one thing a key press will act on stands out from a
// step away; fields are black on white like paper. tview's default blue is
// too dim for a public terminal in daylight.
var (
	colorBg      = tcell.ColorBlack
	colorFg      = tcell.ColorWhite
	colorFocus   = tcell.ColorYellow
	colorError   = tcell.ColorRed // bright red: 5.3:1 on black
	colorDimmed  = tcell.ColorSilver
	styleText    = tcell.StyleDefault.Foreground(colorFg).Background(colorBg)
	styleTitle   = styleText.Bold(true)
	styleField   = tcell.StyleDefault.Foreground(tcell.ColorBlack).Background(tcell.ColorWhite)
	styleButton  = styleField
	styleFocused = tcell.StyleDefault.Foreground(tcell.ColorBlack).Background(colorFocus).Bold(true)
	styleError   = styleText.Foreground(colorError).Bold(true)
	styleHint    = styleText.Foreground(colorDimmed)
)

// QR modules are drawn in explicit black and white, whatever the theme:
// phone scanners need dark modules on a light ground with a light quiet zone.
var (
	qrDark  = tcell.ColorBlack
	qrLight = tcell.ColorWhite
	styleQR = tcell.StyleDefault.Foreground(qrDark).Background(qrLight)
)

var themeOnce sync.Once

// applyTheme sets tview's global styles once: they are package variables in
// tview, read by every widget while drawing, so they must not change while
// any app runs.
func applyTheme() {
	themeOnce.Do(func() {
		tview.Styles = tview.Theme{
			PrimitiveBackgroundColor:    colorBg,
			ContrastBackgroundColor:     tcell.ColorWhite,
			MoreContrastBackgroundColor: colorFocus,
			BorderColor:                 colorFg,
			TitleColor:                  colorFg,
			GraphicsColor:               colorFg,
			PrimaryTextColor:            colorFg,
			SecondaryTextColor:          colorFocus,
			TertiaryTextColor:           colorFocus,
			InverseTextColor:            tcell.ColorBlack,
			ContrastSecondaryTextColor:  tcell.ColorBlack,
		}
	})
}
