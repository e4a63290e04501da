package tui_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/tui"
)

// staffStatus quotes a style tag, as a server's error text might: the panel
// shows it as it is.
const staffStatus = "Sync: offline " + urlTag + "(server said no)"

// TestStaffPanelOnReceipt: the receipt page is added after the overlays;
// F2 must still show the panel on top, and the key that closes it must be
// the only one it takes.
func TestStaffPanelOnReceipt(t *testing.T) {
	k := startKiosk(t, tui.Config{Filer: &fakeFiler{}, StaffStatus: func() string { return staffStatus }}, 100, 30)
	fileToReceipt(k, "text")
	k.waitText("Finish")
	k.press(tcell.KeyF2)
	k.waitText(staffStatus)
	noLinks(k)
	k.press(tcell.KeyEscape) // closes the panel, and only that
	k.waitGone(staffStatus)
	if got := k.step(); got != "receipt" {
		t.Fatalf("the key that closed the panel also acted: step %s", got)
	}
	k.press(tcell.KeyEnter) // Finish has the focus
	k.waitStep("welcome")
}

// TestStaffPanelClosedByReset: a panel left open when the visit is cleared
// must not swallow the next customer's first key.
func TestStaffPanelClosedByReset(t *testing.T) {
	status := func() string { return staffStatus }
	for _, tc := range []struct {
		name string
		cfg  tui.Config
		to   func(*kiosk)
	}{
		{"receipt timeout", tui.Config{ReceiptTimeout: 700 * time.Millisecond},
			func(k *kiosk) { fileToReceipt(k, "text"); k.waitText("Finish") }},
		{"idle timeout", tui.Config{IdleTimeout: 1500 * time.Millisecond, IdleWarning: 500 * time.Millisecond},
			toDescription},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Filer, cfg.StaffStatus = &fakeFiler{}, status
			k := startKiosk(t, cfg, 100, 30)
			tc.to(k)
			k.press(tcell.KeyF2)
			k.waitText(staffStatus)
			k.waitStep("welcome")
			k.waitGone(staffStatus)
			k.press(tcell.KeyEnter) // the next customer presses Start
			k.waitStep("category")
		})
	}
}

// TestIdleWarningLines: at 80x24 the idle pop-up keeps its sentence whole
// (wrapped at spaces only) and gives the countdown a line of its own, in
// every language: it used to break as "... Clearing" / "in 38 s".
func TestIdleWarningLines(t *testing.T) {
	for _, tc := range []struct{ lang, start, body, countdown string }{
		{"English", "Start", "Touch the screen or press any key to continue.", "Clearing in 38 s"},
		{"Français", "Commencer", "Touchez l'écran ou appuyez sur une touche pour continuer.", "Effacement dans 38 s"},
		{"Español", "Empezar", "Toque la pantalla o pulse una tecla para continuar.", "Se borrará en 38 s"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			k := startKiosk(t, tui.Config{Filer: &fakeFiler{}, IdleTimeout: 40 * time.Second, IdleWarning: 39 * time.Second}, 80, 24)
			k.click(tc.lang)
			k.click(tc.start)
			k.press(tcell.KeyDown, tcell.KeyEnter)
			s := k.waitText("38 s")
			var body, countdown string
			for _, line := range strings.Split(s, "\n") {
				inner := strings.TrimSpace(strings.Trim(strings.TrimSpace(line), "│║"))
				inner = strings.TrimSpace(strings.Trim(inner, "║"))
				switch {
				case strings.Contains(inner, "38 s"):
					countdown = inner
				case inner != "" && strings.Contains(tc.body, inner):
					body += inner + " "
				}
			}
			if countdown != tc.countdown {
				t.Errorf("countdown row %q, want %q alone on its row:\n%s", countdown, tc.countdown, s)
			}
			if strings.TrimSpace(body) != tc.body {
				t.Errorf("sentence read back as %q, want %q whole:\n%s", body, tc.body, s)
			}
		})
	}
}
