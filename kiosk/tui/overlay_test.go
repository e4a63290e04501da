package tui_test

import (
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
