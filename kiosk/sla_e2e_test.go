package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/i18n"
)

// e2eSLA is a server's SLA file unlike the devices' fallback (business
// days, 09:00-17:00): round the clock in UTC, 5 hours to acknowledge and
// 50 to answer, so a date from the fallback can never pass for it.
const e2eSLA = `{
  "calendars": {"default": {"time_zone": "UTC", "hours": {
    "mon": ["00:00-24:00"], "tue": ["00:00-24:00"], "wed": ["00:00-24:00"], "thu": ["00:00-24:00"],
    "fri": ["00:00-24:00"], "sat": ["00:00-24:00"], "sun": ["00:00-24:00"]}}},
  "policies": [{"acknowledge": "5h", "respond": "50h"}]
}`

// TestOneSourceOfDeadlines: the customer kiosk receives the server's SLA
// rules and prints the dates the tracking page then shows and the staff
// terminal sorts by; and it keeps the rules for offline use.
func TestOneSourceOfDeadlines(t *testing.T) {
	slaFile := filepath.Join(t.TempDir(), "sla.json")
	if err := os.WriteFile(slaFile, []byte(e2eSLA), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startE2EServer(t, "--sla-config", slaFile, "--timezone", "UTC")
	s.addStaff("sam", "Sam Super", "supervisor", "735102")
	kioskDir := s.enrolDevice("front kiosk", "kiosk")
	paper := t.TempDir()

	scr := newWatchScreen(80, 24)
	welcome := scr.await("Choose your language")
	stop, _ := startRun(t, scr, "--data", kioskDir, "--printer", "file:"+paper, "--timezone", "UTC")
	within(t, "the welcome screen", welcome)
	waitForTB(t, "the server's SLA rules at the kiosk", 20*time.Second, func() bool {
		return logLine(filepath.Join(kioskDir, "kiosk.log"), "SLA rules updated") != ""
	})
	fileAtKiosk(t, scr, "Charged twice for one transfer.")
	receipt := waitForReceipt(t, paper)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	code := receiptCode(t, receipt)

	var track map[string]any
	waitForTB(t, "the complaint on the tracking API", 20*time.Second, func() bool {
		track = s.track(code)
		return track != nil
	})
	next, _ := track["next_step"].(map[string]any)
	dueText, _ := next["due"].(string)
	due, err := time.Parse(time.RFC3339, dueText)
	if err != nil || next["kind"] != "acknowledge" {
		t.Fatalf("tracking API next step %v: %v", next, err)
	}
	b, err := i18n.Load("")
	if err != nil {
		t.Fatal(err)
	}
	if want := b.Date("en", due.In(time.UTC)); !strings.Contains(receipt, want) {
		t.Errorf("the receipt does not promise the page's date %q:\n%s", want, receipt)
	}
	if hours := time.Until(due).Hours(); hours > 5 || hours < 4.5 {
		t.Errorf("acknowledge due in %.1f h, want the server's 5 h", hours)
	}

	// The staff terminal dates the case from the same rules.
	dir := s.enrolDevice("staff desk", "staff")
	k := startStaff(t, dir)
	k.signIn(dir, "sam", "735102")
	k.openCase(code)
	k.waitSaid("Next: acknowledge by " + due.In(time.UTC).Format("Mon 02 Jan 2006 15:04"))
	if err := k.stop(); err != nil {
		t.Fatal(err)
	}

	// Offline, the kiosk keeps the server's rules: a second complaint with
	// the server stopped is promised by them, not by the fallback.
	s.stopServer()
	scr = newWatchScreen(80, 24)
	welcome = scr.await("Choose your language")
	stop, _ = startRun(t, scr, "--data", kioskDir, "--printer", "file:"+paper, "--timezone", "UTC")
	within(t, "the welcome screen offline", welcome)
	before := time.Now()
	fileAtKiosk(t, scr, "The cash machine kept my card.")
	second := waitForReceipt(t, paper, receipt)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	ack := before.Add(5 * time.Hour).UTC()
	if a, b2 := b.Date("en", ack), b.Date("en", time.Now().Add(5*time.Hour).UTC()); !strings.Contains(second, a) && !strings.Contains(second, b2) {
		t.Errorf("offline receipt does not promise the server's 5 hours (%s):\n%s", a, second)
	}
}

// fileAtKiosk walks the kiosk's screens in English, billing, no contact.
func fileAtKiosk(t testing.TB, scr *watchScreen, text string) {
	t.Helper()
	key := func(k tcell.Key) { scr.InjectKey(k, 0, tcell.ModNone) }
	step := scr.await("What is your complaint about?")
	key(tcell.KeyEnter)
	within(t, "the category screen", step)
	step = scr.await("What happened?")
	key(tcell.KeyDown)
	key(tcell.KeyEnter)
	within(t, "the description screen", step)
	for _, r := range text {
		scr.InjectKey(tcell.KeyRune, r, tcell.ModNone)
	}
	step = scr.await("What would you like us to do?")
	key(tcell.KeyTab)
	key(tcell.KeyEnter)
	within(t, "the outcome screen", step)
	step = scr.await("Your contact details")
	key(tcell.KeyTab)
	key(tcell.KeyEnter)
	within(t, "the contact screen", step)
	step = scr.await("Check your complaint")
	for range 4 {
		key(tcell.KeyTab)
	}
	key(tcell.KeyEnter)
	within(t, "the review screen", step)
	receipt := scr.await("Your tracking code")
	key(tcell.KeyEnter)
	within(t, "the receipt", receipt)
}

// waitForReceipt returns the text of the first printed receipt in dir that
// is not one of seen.
func waitForReceipt(t testing.TB, dir string, seen ...string) string {
	t.Helper()
	var text string
	waitForTB(t, "a printed receipt", 20*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			known := false
			for _, s := range seen {
				known = known || s == string(b)
			}
			if !known {
				text = string(b)
				return true
			}
		}
		return false
	})
	return text
}

// receiptCode is the canonical tracking code in a receipt's URL line.
func receiptCode(t testing.TB, receipt string) string {
	t.Helper()
	i := strings.Index(receipt, "/t/")
	if i < 0 {
		t.Fatalf("no tracking URL on the receipt:\n%s", receipt)
	}
	return strings.Fields(receipt[i+3:])[0]
}
