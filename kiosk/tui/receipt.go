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

// showReceipt puts the receipt of f on screen, saying it is printing, and
// returns the print job for the caller to run once the receipt has been
// drawn (nil when printing is disabled): rendering and writing the paper
// receipt would otherwise take the CPU from the customer's first sight of
// the receipt. symbol is f.URL's preferred QR rendering, encoded by the
// filing goroutine (see encodeReceiptQR).
func (a *App) showReceipt(f filing.Filed, symbol *qr.Matrix) (printJob func()) {
	r := a.buildReceipt(f, symbol)
	a.w.receipt = r
	a.w.pages.AddPage(flow.Receipt.String(), r.root, true, false)
	a.switchTo(flow.Receipt.String())
	a.tv.SetFocus(r.first)
	return a.printJob(f)
}

func (a *App) buildReceipt(f filing.Filed, symbol *qr.Matrix) *receiptView {
	r := &receiptView{codeText: f.Code.String()}
	r.code = newText("").SetWrap(false).SetTextAlign(tview.AlignCenter)
	r.code.SetTextStyle(styleTitle.Foreground(colorFocus))
	r.qr = newQRView(f.URL, symbol)

	loc := f.AcknowledgeBy.Location()
	var info strings.Builder
	line := func(s string) { info.WriteString(escapeMarkup(textsafe.Line(s)) + "\n") }
	info.WriteString("[::b]" + escapeMarkup(a.t("receipt.code_line", "label", a.t("receipt.code_label"), "code", r.codeText)) + "[::-]\n")
	line(a.t("receipt.scan"))
	info.WriteString("[::u]" + escapeMarkup(f.URL) + "[::-]\n\n")
	line(a.t("receipt.branch", "branch", a.cfg.BranchName))
	line(a.t("receipt.date", "date", a.cfg.Bundle.DateTime(a.visit.Lang, f.Complaint.FiledAt.In(loc))))
	info.WriteString("\n[::b]" + escapeMarkup(a.t("receipt.next")) + "[::-]\n")
	if !f.AcknowledgeBy.IsZero() { // the rules could date it (filing logs why not)
		line(a.t("receipt.ack", "date", a.cfg.Bundle.Date(a.visit.Lang, f.AcknowledgeBy)))
		line(a.t("receipt.respond", "date", a.cfg.Bundle.Date(a.visit.Lang, f.RespondBy)))
	}
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
	hint, hintWidth := a.hintView(flow.Receipt)
	r.col = tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(a.header(a.t("receipt.title")), 1, 0, false).
		AddItem(r.code, bigtext.Height, 0, false).
		AddItem(r.body, 0, 1, true).
		AddItem(hint, 1, 0, false)
	root := tview.NewFlex().
		AddItem(spacer(), 1, 0, false).
		AddItem(r.col, 0, 1, true).
		AddItem(spacer(), 1, 0, false)
	r.screen = &screen{root: root, col: r.col, hint: hint, hintWidth: hintWidth, focus: []tview.Primitive{r.finish, r.again}, first: r.finish}
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
	if job := a.printJob(f); job != nil {
		a.tv.Go(job)
	}
}

// printJob says on screen that the receipt is printing and returns the
// printing itself, to run off the UI goroutine; nil when there is nothing
// to run (no receipt, or printing disabled, which it shows at once).
func (a *App) printJob(f filing.Filed) func() {
	r := a.w.receipt
	if r == nil {
		return nil
	}
	a.printSeq++
	seq := a.printSeq
	p := a.cfg.Printer
	if p == nil {
		a.printed(seq, printer.ErrDisabled)
		return nil
	}
	setMessage(r.status, a.t("print.printing"), styleText)
	r.again.SetDisabled(true)
	receipt := a.paperReceipt(f)
	id := f.Complaint.ID
	return func() {
		ctx, cancel := context.WithTimeout(a.tv.Context(), printTimeout)
		err := p.Print(ctx, receipt)
		cancel()
		if err != nil && !errors.Is(err, printer.ErrDisabled) {
			a.log.Error("receipt not printed", logKeyComplaint, id, logKeyErr, err)
		}
		a.tv.Update(func() { a.printed(seq, err) })
	}
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
	var footer []string
	if !f.AcknowledgeBy.IsZero() {
		footer = append(footer, a.t("receipt.ack", "date", b.Date(lang, f.AcknowledgeBy)),
			a.t("receipt.respond", "date", b.Date(lang, f.RespondBy)))
	}
	return printer.Receipt{
		Title: a.t("receipt.title"),
		Lines: []string{
			a.t("receipt.branch", "branch", textsafe.Line(a.cfg.BranchName)),
			a.t("receipt.date", "date", b.DateTime(lang, f.Complaint.FiledAt.In(loc))),
		},
		CodeLabel: a.t("receipt.code_label"),
		Code:      f.Code.String(),
		URL:       f.URL,
		Footer:    append(footer, a.t("receipt.follow")),
	}
}

// qrRenderings are the QR symbols a receipt may draw, in order of
// preference: standard quiet zone and Medium error correction first; Low
// and a 2-module quiet zone only when the screen is short of rows.
var qrRenderings = [...]struct {
	level qr.Level
	quiet int
}{{qr.Medium, qr.StandardQuiet}, {qr.Low, qr.StandardQuiet}, {qr.Medium, 2}, {qr.Low, 2}}

// encodeReceiptQR encodes url's preferred rendering (nil if it fails). An
// encoding costs about half a millisecond, so the filing goroutine makes it
// once File has returned, instead of the UI goroutine while the customer
// waits for the receipt; at 80x24 and larger it is the one drawn.
func encodeReceiptQR(url string) *qr.Matrix {
	m, err := qr.EncodeLevel(url, qrRenderings[0].level, qrRenderings[0].quiet)
	if err != nil {
		return nil
	}
	return m
}

// qrView draws a QR code in explicit black and white. Each module is one
// column by half a row (half blocks), or, when there is room, two columns by
// one row with full blocks, which scanners read from further away.
type qrView struct {
	*tview.Box
	url string
	// symbols[i] is qrRenderings[i], encoded when first needed (only small
	// screens need more than the first); nil when encoding failed.
	symbols [len(qrRenderings)]*qr.Matrix
	encoded [len(qrRenderings)]bool
	m       *qr.Matrix // chosen by fit; nil: no QR fits, the URL text stands alone
	full    bool
}

// newQRView shows url; preferred is its first rendering, already encoded.
func newQRView(url string, preferred *qr.Matrix) *qrView {
	v := &qrView{Box: tview.NewBox().SetBackgroundColor(colorBg), url: url}
	v.symbols[0], v.encoded[0] = preferred, true
	return v
}

// symbol returns rendering i, encoding it on first use (nil if it fails).
func (v *qrView) symbol(i int) *qr.Matrix {
	if !v.encoded[i] {
		v.encoded[i] = true
		if m, err := qr.EncodeLevel(v.url, qrRenderings[i].level, qrRenderings[i].quiet); err == nil {
			v.symbols[i] = m
		}
	}
	return v.symbols[i]
}

// fit chooses the rendering for at most cols x rows cells and returns the
// columns it needs (0 when nothing fits): full blocks only in the most
// preferred rendering that encodes, else half blocks in the first that fits.
func (v *qrView) fit(cols, rows int) int {
	v.m, v.full = nil, false
	for i := range qrRenderings {
		if m := v.symbol(i); m != nil {
			if 2*m.Size() <= cols && m.Size() <= rows {
				v.m, v.full = m, true
				return 2 * m.Size()
			}
			break
		}
	}
	for i := range qrRenderings {
		if m := v.symbol(i); m != nil && m.Size() <= cols && (m.Size()+1)/2 <= rows {
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
