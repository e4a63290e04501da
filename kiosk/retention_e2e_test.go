package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
)

// contactNotice runs the kiosk on dir, waits for ready (the policy
// received) when not nil, walks its screens in English to the contact
// screen and waits for its privacy notice to state months; then stops the
// kiosk.
func contactNotice(t *testing.T, dir, months string, ready func() bool) {
	t.Helper()
	key := func(scr *watchScreen, k tcell.Key) { scr.InjectKey(k, 0, tcell.ModNone) }
	scr := newWatchScreen(100, 30)
	welcome := scr.await("Choose your language")
	stop, _ := startRun(t, scr, "--data", dir, "--printer", "file:"+t.TempDir())
	within(t, "the welcome screen", welcome)
	if ready != nil {
		waitForTB(t, "the server's policy at the kiosk", 20*time.Second, ready)
	}
	step := scr.await("What is your complaint about?")
	key(scr, tcell.KeyEnter)
	within(t, "the category screen", step)
	step = scr.await("What happened?")
	key(scr, tcell.KeyDown)
	key(scr, tcell.KeyEnter)
	within(t, "the description screen", step)
	for _, r := range "The machine kept my card." {
		scr.InjectKey(tcell.KeyRune, r, tcell.ModNone)
	}
	step = scr.await("What would you like us to do?")
	key(scr, tcell.KeyTab)
	key(scr, tcell.KeyEnter)
	within(t, "the outcome screen", step)
	// The period is a number no clock or date on the screen shows (over
	// 59), and a number never wraps.
	notice := scr.await("We delete them")
	period := scr.await(months)
	step = scr.await("Your contact details")
	key(scr, tcell.KeyTab)
	key(scr, tcell.KeyEnter)
	within(t, "the contact screen", step)
	within(t, "the privacy notice", notice)
	within(t, "the notice to state "+months+" months", period)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// storedPolicy is the retention policy a device's database holds.
func storedPolicy(t *testing.T, dir string) []byte {
	t.Helper()
	st, err := store.Open(context.Background(), dbPath(dir), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := st.RetentionPolicy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKioskNoticeFollowsTheServersPolicy: the kiosk's privacy notice is
// made from the retention policy the server enforces, received from the
// server (GET /api/v1/retention) as the SLA rules are: the kiosk is given
// no --retention-config; the server's policy changes and the sentence
// follows; offline, the kiosk keeps stating the last policy received.
func TestKioskNoticeFollowsTheServersPolicy(t *testing.T) {
	policy := func(months string) string {
		p := filepath.Join(t.TempDir(), "retention.json")
		if err := os.WriteFile(p, []byte(`{"default_months": `+months+`}`), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := startE2EServer(t, "--retention-config", policy("77"))
	dir := s.enrolDevice("front kiosk", "kiosk")
	holds := func(months string) func() bool {
		return func() bool { return bytes.Contains(storedPolicy(t, dir), []byte(`"default_months":`+months)) }
	}
	contactNotice(t, dir, "77", holds("77"))

	// The server's policy changes (a restart with the new file).
	s.stopServer()
	s.extra = []string{"--retention-config", policy("93")}
	s.start()
	contactNotice(t, dir, "93", holds("93"))

	// Offline: the copy, not the default 12.
	s.stopServer()
	contactNotice(t, dir, "93", nil)
}
