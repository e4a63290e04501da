package tui

import (
	"context"
	"errors"
	"strings"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"ombud/kiosk/bigtext"
	"ombud/kiosk/filing"
	"ombud/kiosk/printer"
	"ombud/kiosk/qr"
	"ombud/kiosk/tui/flow"
	"ombud/shared/textsafe"
)

// minTextColumns is the narrowest the receipt's text column may get before
// the QR code gives up space: the promised dates must stay readable.
const minTextColumns = 34

// receiptView is the receipt screen of one filed complaint.
type receiptView struct {
	*screen
	col      *tview.Flex // title, code, body, hint
	body     *tview.Flex // QR | text
	code     *tview.TextView
	qr       *qrView
	codeText string
	status   *tview.TextView
	again    *tview.Button
	finish   *tview.Button
	buttons  *tview.Flex
}

// showReceipt draws the receipt of f and starts printing it.
func (a *App) showReceipt(f filing.Filed) {
	r := a.buildReceipt(f)
	a.w.receipt = r
	a.w.pages.AddPage(flow.Receipt.String(), r.root, true, false)
	a.w.pages.SwitchToPage(flow.Receipt.String())
	a.tv.SetFocus(r.first)
	a.print(f)
}

func (a *App) buildReceipt(f filing.Filed) *receiptView {
	r := &receiptView{codeText: f.Code.String()}
	r.code = newText("").SetWrap(false).SetTextAlign(tview.AlignCenter)
	r.code.SetTextStyle(styleTitle.Foreground(colorFocus))
	r.qr = newQRView(f.URL)

	loc := f.AcknowledgeBy.Location()
	var info strings.Builder
	line := func(s string) { info.WriteString(tview.Escape(textsafe.Line(s)) + "\n") }
	info.WriteString("[::b]" + tview.Escape(a.t("receipt.code_label")) + ": " + r.codeText + "[::-]\n")
	line(a.t("receipt.scan"))
	info.WriteString("[::u]" + tview.Escape(f.URL) + "[::-]\n\n")
	line(a.t("receipt.branch", "branch", a.cfg.BranchName))
	line(a.t("receipt.date", "date", a.cfg.Bundle.DateTime(a.visit.Lang, f.Complaint.FiledAt.In(loc))))
	info.WriteString("\n[::b]" + tview.Escape(a.t("receipt.next")) + "[::-]\n")
	line(a.t("receipt.ack", "date", a.cfg.Bundle.Date(a.visit.Lang, f.AcknowledgeBy)))
	line(a.t("receipt.respond", "date", a.cfg.Bundle.Date(a.visit.Lang, f.RespondBy)))
	line(a.t("receipt.follow"))
	text := newMarkup(info.String())

	r.status = newText("")
	r.again = a.button(a.t("button.print_again"), func() { a.print(f) })
	r.finish = a.button(a.t("button.finish"), func() { a.reset("finished") })
	r.buttons = buttonRow([]*tview.Button{r.again}, []*tview.Button{r.finish})
	right := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(text, 0, 1, false).
		AddItem(r.status, 3, 0, false).
		AddItem(r.buttons, 1, 0, true)
	r.body = tview.NewFlex().
		AddItem(r.qr, 0, 0, false).
		AddItem(spacer(), 1, 0, false).
		AddItem(right, 0, 1, true)
	hint := a.hintView(flow.Receipt)
	r.col = tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(a.header(a.t("receipt.title")), 1, 0, false).
		AddItem(r.code, bigtext.Height, 0, false).
		AddItem(r.body, 0, 1, true).
		AddItem(hint, 1, 0, false)
	root := tview.NewFlex().
		AddItem(spacer(), 1, 0, false).
		AddItem(r.col, 0, 1, true).
		AddItem(spacer(), 1, 0, false)
	r.screen = &screen{root: root, col: r.col, hint: hint, focus: []tview.Primitive{r.finish, r.again}, first: r.finish}
	return r
}

// layout sizes the receipt for a width x height screen (width without the
// side margins): the code as large as fits, then the biggest QR rendering
// that leaves the text column readable.
func (r *receiptView) layout(width, height, hintRows int) {
	big := bigtext.Fit(r.codeText, width, max(height/6, bigtext.Height))
	if big == nil {
		r.code.SetText(r.codeText) // too narrow for large type: bold text
		r.col.ResizeItem(r.code, 1, 0)
	} else {
		r.code.SetText(strings.Join(big, "\n"))
		r.col.ResizeItem(r.code, len(big), 0)
	}
	codeRows := max(len(big), 1)
	bodyRows := height - 1 - codeRows - hintRows
	cols := r.qr.fit(width-1-minTextColumns, bodyRows)
	r.body.ResizeItem(r.qr, cols, 0)
}

// print prints the receipt in the background; the status line says how it
// went. Printing never blocks the screen and a failure never loses
// anything: the complaint is already stored.
func (a *App) print(f filing.Filed) {
	r := a.w.receipt
	if r == nil {
		return
	}
	a.printSeq++
	seq := a.printSeq
	p := a.cfg.Printer
	if p == nil {
		a.printed(seq, printer.ErrDisabled)
		return
	}
	setMessage(r.status, a.t("print.printing"), styleText)
	r.again.SetDisabled(true)
	receipt := a.paperReceipt(f)
	code := string(f.Code)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(a.ctx, printTimeout)
		err := p.Print(ctx, receipt)
		cancel()
		if err != nil && !errors.Is(err, printer.ErrDisabled) {
			a.log.Error("receipt not printed", logKeyCode, code, logKeyErr, err)
		}
		a.ui(func() { a.printed(seq, err) })
	}()
}

// printed shows the outcome of print number seq, unless the screen has
// moved on since.
func (a *App) printed(seq uint64, err error) {
	r := a.w.receipt
	if seq != a.printSeq || r == nil || a.visit.Step != flow.Receipt {
		return
	}
	switch {
	case err == nil:
		setMessage(r.status, a.t("print.done"), styleTitle)
		r.again.SetDisabled(false)
	case errors.Is(err, printer.ErrDisabled):
		setMessage(r.status, a.t("print.disabled"), styleTitle)
		r.buttons.ResizeItem(r.again, 0, 0)
		r.again.SetDisabled(true)
	default:
		setMessage(r.status, a.t("print.failed"), styleError)
		r.again.SetDisabled(false)
		a.tv.SetFocus(r.again)
	}
}

// paperReceipt is the receipt for the printer, in the visit's language.
func (a *App) paperReceipt(f filing.Filed) printer.Receipt {
	lang, b := a.visit.Lang, a.cfg.Bundle
	loc := f.AcknowledgeBy.Location()
	return printer.Receipt{
		Title: a.t("receipt.title"),
		Lines: []string{
			a.t("receipt.branch", "branch", textsafe.Line(a.cfg.BranchName)),
			a.t("receipt.date", "date", b.DateTime(lang, f.Complaint.FiledAt.In(loc))),
		},
		CodeLabel: a.t("receipt.code_label"),
		Code:      f.Code.String(),
		URL:       f.URL,
		Footer: []string{
			a.t("receipt.ack", "date", b.Date(lang, f.AcknowledgeBy)),
			a.t("receipt.respond", "date", b.Date(lang, f.RespondBy)),
			a.t("receipt.follow"),
		},
	}
}

// qrView draws a QR code in explicit black and white. Each module is one
// column by half a row (half blocks), or, when there is room, two columns by
// one row with full blocks, which scanners read from further away.
type qrView struct {
	*tview.Box
	// candidates in order of preference: standard quiet zone and Medium
	// error correction first; Low and a 2-module quiet zone only when the
	// screen is short of rows. Nil entries failed to encode.
	candidates []*qr.Matrix
	m          *qr.Matrix // chosen by fit; nil: no QR fits, the URL text stands alone
	full       bool
}

func newQRView(url string) *qrView {
	v := &qrView{Box: tview.NewBox().SetBackgroundColor(colorBg)}
	for _, c := range []struct {
		level qr.Level
		quiet int
	}{{qr.Medium, qr.StandardQuiet}, {qr.Low, qr.StandardQuiet}, {qr.Medium, 2}, {qr.Low, 2}} {
		m, err := qr.EncodeLevel(url, c.level, c.quiet)
		if err == nil {
			v.candidates = append(v.candidates, m)
		}
	}
	return v
}

// fit chooses the rendering for at most cols x rows cells and returns the
// columns it needs (0 when nothing fits).
func (v *qrView) fit(cols, rows int) int {
	v.m, v.full = nil, false
	if len(v.candidates) > 0 {
		if m := v.candidates[0]; 2*m.Size() <= cols && m.Size() <= rows {
			v.m, v.full = m, true
			return 2 * m.Size()
		}
	}
	for _, m := range v.candidates {
		if m.Size() <= cols && (m.Size()+1)/2 <= rows {
			v.m = m
			return m.Size()
		}
	}
	return 0
}

// drawnSize is the cells the symbol covers (0, 0 when none fits).
func (v *qrView) drawnSize() (cols, rows int) {
	switch {
	case v.m == nil:
		return 0, 0
	case v.full:
		return 2 * v.m.Size(), v.m.Size()
	}
	return v.m.Size(), (v.m.Size() + 1) / 2
}

func (v *qrView) Draw(screen tcell.Screen) {
	v.DrawForSubclass(screen, v)
	if v.m == nil {
		return
	}
	x0, y0, width, height := v.GetInnerRect()
	n := v.m.Size()
	if v.full {
		for y := 0; y < n && y < height; y++ {
			for x := 0; x < n && 2*x+1 < width; x++ {
				r := ' '
				if v.m.Dark(x, y) {
					r = '█'
				}
				screen.SetContent(x0+2*x, y0+y, r, nil, styleQR)
				screen.SetContent(x0+2*x+1, y0+y, r, nil, styleQR)
			}
		}
		return
	}
	for ty := 0; ty < (n+1)/2 && ty < height; ty++ {
		for x := 0; x < n && x < width; x++ {
			top, bottom := v.m.Dark(x, 2*ty), v.m.Dark(x, 2*ty+1)
			r := ' '
			switch {
			case top && bottom:
				r = '█'
			case top:
				r = '▀'
			case bottom:
				r = '▄'
			}
			screen.SetContent(x0+x, y0+ty, r, nil, styleQR)
		}
	}
}
