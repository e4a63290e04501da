package tui_test

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"

	"ombud/kiosk/filing"
	"ombud/kiosk/printer"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/kiosk/tui"
	"ombud/shared/hlc"
	"ombud/shared/trackcode"
)

// toReview walks the shortest way to the review screen by keyboard: a
// description, no outcome, no contact details.
func toReview(k *kiosk, description string) {
	k.t.Helper()
	toDescription(k)
	k.typeText(description)
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("outcome")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("contact")
	k.press(tcell.KeyTab, tcell.KeyTab, tcell.KeyTab, tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("review")
}

// fileToReceipt walks the shortest way to the receipt by keyboard.
func fileToReceipt(k *kiosk, description string) {
	k.t.Helper()
	toReview(k, description)
	k.press(tcell.KeyEnter)
	k.waitStep("receipt")
}

// TestQRScansOffTheScreen reads the QR region's cells back into modules, as
// a phone camera would see them, and decodes them.
func TestQRScansOffTheScreen(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {200, 60}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			k := startKiosk(t, tui.Config{Filer: &fakeFiler{}}, size[0], size[1])
			fileToReceipt(k, "x")
			k.waitText("DWSRS7EZTW89")
			var x0, y0, w, h int
			k.app.QueueUpdate(func() { x0, y0, w, h = k.app.QRRect() })
			if w == 0 || h == 0 {
				t.Fatal("no QR region on the receipt")
			}
			cells, sw, _ := k.cells()
			// Full blocks, two columns a module, when there is room; half
			// blocks, one column and half a row a module, otherwise.
			full := size[0] >= 200
			scale := 4
			var modules [][]bool
			for y := y0; y < y0+h; y++ {
				var top, bottom []bool
				for x := x0; x < x0+w; x++ {
					if full && (x-x0)%2 == 1 {
						continue
					}
					c := cells[y*sw+x]
					fg, bg, _ := c.Style.Decompose()
					if fg != tcell.ColorBlack || bg != tcell.ColorWhite {
						t.Fatalf("QR cell (%d,%d) drawn %v on %v, want explicit black on white", x, y, fg, bg)
					}
					r := ' '
					if len(c.Runes) > 0 {
						r = c.Runes[0]
					}
					if !strings.ContainsRune(" ▀▄█", r) {
						t.Fatalf("QR cell (%d,%d) is %q", x, y, r)
					}
					top = append(top, r == '▀' || r == '█')
					bottom = append(bottom, r == '▄' || r == '█')
				}
				modules = append(modules, top)
				if !full {
					modules = append(modules, bottom)
				}
			}
			if got := len(modules[0]); got != 37 {
				t.Errorf("QR is %d modules wide, want 37 (version 3 with a 4-module quiet zone)", got)
			}
			img := image.NewGray(image.Rect(0, 0, len(modules[0])*scale, len(modules)*scale))
			for my, row := range modules {
				for mx, dark := range row {
					v := color.Gray{Y: 255}
					if dark {
						v = color.Gray{Y: 0}
					}
					for dy := range scale {
						for dx := range scale {
							img.SetGray(mx*scale+dx, my*scale+dy, v)
						}
					}
				}
			}
			bmp, err := gozxing.NewBinaryBitmapFromImage(img)
			if err != nil {
				t.Fatal(err)
			}
			res, err := gzqr.NewQRCodeReader().Decode(bmp, nil)
			if err != nil {
				t.Fatalf("decode the on-screen QR: %v", err)
			}
			if got, want := res.GetText(), "https://track.example.org/t/DWSRS7EZTW89"; got != want {
				t.Errorf("QR says %q, want %q", got, want)
			}
		})
	}
}

func TestPrinting(t *testing.T) {
	t.Run("failing then fixed", func(t *testing.T) {
		p := &fakePrinter{fail: true}
		k := startKiosk(t, tui.Config{Filer: &fakeFiler{}, Printer: p}, 80, 24)
		fileToReceipt(k, "x")
		k.waitText("The printer is not working.", "photo of this screen", "Print again", "DWSR-S7EZ-TW89")
		p.setFail(false)
		k.press(tcell.KeyEnter) // the focus moved to Print again
		k.waitText("Take your receipt from the printer.")
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.receipts) != 2 || p.receipts[1].Code != "DWSR-S7EZ-TW89" || p.receipts[1].URL == "" {
			t.Errorf("receipts %+v", p.receipts)
		}
	})
	t.Run("no printer", func(t *testing.T) {
		k := startKiosk(t, tui.Config{Filer: &fakeFiler{}}, 80, 24)
		fileToReceipt(k, "x")
		s := k.waitText("Please take a photo", "keep your code.")
		if strings.Contains(s, "Print again") || strings.Contains(s, "printer is not working") {
			t.Errorf("printing disabled, yet:\n%s", s)
		}
	})
}

func TestReceiptTimeout(t *testing.T) {
	k := startKiosk(t, tui.Config{Filer: &fakeFiler{}, ReceiptTimeout: 300 * time.Millisecond}, 80, 24)
	fileToReceipt(k, "x")
	k.waitText("DWSR-S7EZ-TW89")
	k.waitText("Tell us what went wrong")
	k.waitStep("welcome")
}

// TestIdleClearsEverything: a customer walks away mid-complaint; the next
// one must find nothing of it.
func TestIdleClearsEverything(t *testing.T) {
	const secret = "My account number is 12345678"
	k := startKiosk(t, tui.Config{Filer: &fakeFiler{}, IdleTimeout: 600 * time.Millisecond, IdleWarning: 400 * time.Millisecond}, 80, 24)
	k.click("Français")
	k.waitText("Commencer")
	toDescription(k)
	k.typeText(secret)
	k.waitText(secret)
	k.waitText("Êtes-vous toujours là ?", "Effacement dans")
	k.waitText("Tell us what went wrong", "✓ English") // cleared, default language
	k.waitStep("welcome")
	toDescription(k)
	s := k.waitText("What happened?", "0 / 2000")
	if strings.Contains(s, secret) {
		t.Errorf("previous text on screen:\n%s", s)
	}
	var texts []string
	k.app.QueueUpdate(func() { texts = k.app.WidgetTexts() })
	for _, txt := range texts {
		if txt != "" {
			t.Errorf("a widget still holds %q", txt)
		}
	}
}

func TestIdleWarningDismissed(t *testing.T) {
	k := startKiosk(t, tui.Config{Filer: &fakeFiler{}, IdleTimeout: 3 * time.Second, IdleWarning: 2800 * time.Millisecond}, 80, 24)
	toDescription(k)
	k.typeText("still typing")
	k.waitText("Are you still there? ", "Touch the screen or press any key to continue.")
	k.press(tcell.KeyRight) // any key: dismissed, and not typed
	k.waitGone("Are you still there?")
	k.waitText("still typing")
	if s := k.step(); s != "description" {
		t.Errorf("step %s after dismissing the warning", s)
	}
	k.typeText("!") // the focus is back in the text
	k.waitText("still typing!")
}

func TestCustomerTextIsInert(t *testing.T) {
	k := startKiosk(t, tui.Config{Filer: &fakeFiler{}}, 80, 24)
	toDescription(k)
	// C0 controls cannot arrive as characters (tcell makes them keys);
	// C1 controls and bidi overrides can, from a paste or a scanner.
	k.typeText("Paid [red]twice[-] \u009b31mOK \u009d0;pwned\u202e [::b]x")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("outcome")
	k.typeText("Refund [yellow]now\u009b2J")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("contact")
	k.typeText("[blue]Ann")
	k.press(tcell.KeyTab, tcell.KeyTab, tcell.KeyTab)
	k.typeText(" ")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("review")
	s := k.waitText("Paid [red]twice[-] 31mOK 0;pwned [::b]x", "Refund [yellow]now2J", "[blue]Ann")
	cells, _, _ := k.cells()
	for i, c := range cells {
		for _, r := range c.Runes {
			if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0x202e {
				t.Fatalf("control rune %U on screen at cell %d:\n%s", r, i, s)
			}
		}
	}
	// The text keeps its ordinary colour: nothing turned red.
	for _, c := range cells {
		if fg, _, _ := c.Style.Decompose(); fg == tcell.ColorRed && len(c.Runes) > 0 && c.Runes[0] != ' ' {
			t.Fatalf("customer text changed colour:\n%s", s)
		}
	}
}

// recordingFiler passes drafts to the real filing service and remembers
// what came back.
type recordingFiler struct {
	svc   *filing.Service
	filed chan filing.Filed
}

func (r *recordingFiler) File(ctx context.Context, d filing.Draft) (filing.Filed, error) {
	f, err := r.svc.File(ctx, d)
	if err == nil {
		r.filed <- f
	}
	return f, err
}

// TestRealFilingAndPrinting: the flow against the real store (a SQLite file)
// and the file printer; the database holds exactly what was typed.
func TestRealFilingAndPrinting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "kiosk.db"), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := filing.New(st, hlc.New(nil), filing.Config{Branch: "Main Street", PublicURL: "https://track.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	prn, err := printer.Open("file:"+filepath.Join(dir, "receipts"), printer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingFiler{svc: svc, filed: make(chan filing.Filed, 1)}
	receipts := make(chan filing.Filed, 1)
	k := startKiosk(t, tui.Config{Filer: rec, Printer: prn, OnReceipt: func(f filing.Filed) { receipts <- f }}, 80, 24)
	const text = "Charged twice for one transfer on 3 May."
	fileToReceipt(k, text)
	f := <-rec.filed
	k.waitText(f.Code.String(), "Take your receipt from the printer.")
	select {
	case got := <-receipts:
		if got.Code != f.Code {
			t.Errorf("OnReceipt got %s, want %s", got.Code, f.Code)
		}
	case <-time.After(waitLimit):
		t.Fatal("OnReceipt not called")
	}
	c, err := st.ByCode(ctx, trackcode.Code(f.Code))
	if err != nil {
		t.Fatal(err)
	}
	if c.Description != text || c.Category != "billing" || c.Language != "en" || c.DesiredOutcome != "" || c.Contact != nil || c.Branch != "Main Street" {
		t.Errorf("stored %+v", c)
	}
	if n, err := st.Count(ctx); err != nil || n != 1 {
		t.Errorf("store holds %d complaints (%v), want 1", n, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "receipts", "*.escpos"))
	if len(files) != 1 {
		t.Errorf("printed %d receipts, want 1", len(files))
	}
}
