package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"ombud/server/tracking/phonetest"
	"ombud/shared/staff"
)

// TestBrowserDesk drives the console in headless Chromium at a desk's
// size (1366x768), as a head-office officer would: sign in with a
// password and a TOTP code, find a case by an accent-free search,
// acknowledge it, message the customer, and see the message on the
// customer's tracking page; then the queue at a phone's size (390x844).
// Screenshots go to $OMBUD_ARTIFACTS (or a temp dir).
func TestBrowserDesk(t *testing.T) {
	b := phonetest.Open(t, 10*time.Minute, "console-") // the whole test on a loaded machine; not a speed goal
	e := newEnv(t)
	e.person(t, "olga", staff.Manager, "main")
	e.person(t, "sam", staff.Supervisor, "main")
	e.person(t, "nina", staff.Agent, "north")
	e.person(t, "fred", staff.Agent, "north", "fraud")
	e.person(t, "ada", staff.Administrator, "main")
	e.file(t, "main", "billing", "Frais de tenue de compte prélevés deux fois.")
	cp := e.file(t, "main", "cards", "Ma carte a été volée et quelqu'un a retiré 300 €.")
	ctx := b.Ctx()
	desk := func(url string) {
		t.Helper()
		b.Do(chromedp.EmulateViewport(1366, 768), chromedp.Navigate(url))
	}
	desk(e.base + "/console/")
	b.Do(
		chromedp.WaitVisible(chromedp.CSS("#id")),
		chromedp.SendKeys(chromedp.CSS("#id"), "olga"),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
	)
	b.Shot("1-signin")
	b.Do(chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#code")))
	code, err := totp.GenerateCode(e.secrets["olga"], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.Do(chromedp.SendKeys(chromedp.CSS("#code"), code), chromedp.Click(chromedp.CSS("#verify")), chromedp.WaitVisible(chromedp.CSS("#counts")))
	if got := b.Text("#total"); !strings.Contains(got, "2 cases") {
		t.Errorf("queue total = %q", got)
	}
	b.Shot("2-queues")

	b.Do(chromedp.SendKeys(chromedp.CSS("#q"), "carte volee"), chromedp.Submit(chromedp.CSS("#q")), chromedp.WaitVisible(chromedp.CSS("#found")))
	if got := b.Text("#results"); !strings.Contains(got, cp.Code) || strings.Count(got, "\n") > 3 {
		t.Errorf("search results = %q, want only %s", got, cp.Code)
	}
	b.Shot("3-search")
	b.Do(chromedp.Click(chromedp.CSS(`#results a`)), chromedp.WaitVisible(chromedp.CSS("#do-acknowledge")))
	b.Do(chromedp.Click(chromedp.CSS("#do-acknowledge")), chromedp.WaitVisible(chromedp.CSS("#notice")))
	if got := b.Text("#state"); got != "Acknowledged" {
		t.Errorf("state = %q", got)
	}
	const msg = "Nous avons bloqué votre carte et ouvert une enquête."
	// The acknowledgement's notice stays on screen until the message's page
	// loads: take it away first, so the wait is for the new page's notice.
	b.Do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#notice").remove()`),
		chromedp.SendKeys(chromedp.CSS("#message-text"), msg), chromedp.Click(chromedp.CSS("#do-message")), chromedp.WaitVisible(chromedp.CSS("#notice")))
	if got := b.Text("#timeline li:first-child"); !strings.Contains(got, msg) || !strings.Contains(got, "olga") || !strings.Contains(got, "web console") {
		t.Errorf("newest timeline entry = %q", got)
	}
	b.Shot("4-case")

	desk(e.base + "/t/" + cp.Code)
	if got := b.Text("#timeline"); !strings.Contains(got, msg) {
		t.Errorf("tracking page timeline = %q, want the message", got)
	}
	b.Shot("5-tracking")

	b.Do(chromedp.EmulateViewport(phonetest.Width, phonetest.Height), chromedp.Navigate(e.base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#counts")))
	b.Shot("6-queues-phone")

	// A supervisor sends the case to the fraud team; an agent of another
	// branch cannot open it by its URL; the fraud team's queue shows it.
	signIn := func(id string) {
		t.Helper()
		desk(e.base + "/console/signin")
		b.Do(chromedp.WaitVisible(chromedp.CSS("#id")), chromedp.SendKeys(chromedp.CSS("#id"), id),
			chromedp.SendKeys(chromedp.CSS("#password"), password), chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#code")))
		code, err := totp.GenerateCode(e.secrets[id], time.Now())
		if err != nil {
			t.Fatal(err)
		}
		b.Do(chromedp.SendKeys(chromedp.CSS("#code"), code), chromedp.Click(chromedp.CSS("#verify")), chromedp.WaitVisible(chromedp.CSS("#counts")))
	}
	signOut := func() {
		t.Helper()
		b.Do(chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#id")))
	}
	signOut()
	signIn("sam")
	desk(e.base + "/console/case/" + cp.ID)
	b.Do(chromedp.SendKeys(chromedp.CSS("#assign-queue"), "team:fraud"), chromedp.Click(chromedp.CSS("#do-assign")), chromedp.WaitVisible(chromedp.CSS("#notice")))
	if got := b.Text("#queue"); got != "team:fraud" {
		t.Errorf("queue after reassigning = %q", got)
	}
	signOut()
	signIn("nina")
	desk(e.base + "/console/case/" + cp.ID)
	if got := b.Text("#error"); !strings.Contains(got, "no such case") {
		t.Errorf("agent of another branch at the case's URL sees %q", got)
	}
	b.Shot("7-out-of-scope")
	signOut()
	signIn("fred")
	if got := b.Text("#cases"); !strings.Contains(got, cp.Code) || !strings.Contains(got, "team:fraud") {
		t.Errorf("fraud team's queue = %q, want %s", got, cp.Code)
	}
	b.Shot("8-fraud-queue")

	// Saved views: filter the queue, save the filters under a name, open
	// the view from a plain queue page, delete it.
	desk(e.base + "/console/?queue=team%3Afraud&state=all")
	b.Do(chromedp.WaitVisible(chromedp.CSS("#save-view")), chromedp.SendKeys(chromedp.CSS(`#save-view input[name="name"]`), "Fraud, all states"),
		chromedp.Click(chromedp.CSS("#save-view-button")), chromedp.WaitVisible(chromedp.CSS(`#view-list a`)))
	desk(e.base + "/console/")
	b.Do(chromedp.WaitVisible(chromedp.CSS(`#view-list a`)))
	b.Shot("9-saved-view")
	if got := b.Text("#view-list"); !strings.Contains(got, "Fraud, all states") {
		t.Errorf("saved views = %q", got)
	}
	b.Do(chromedp.Click(chromedp.CSS(`#view-list a`)), chromedp.WaitVisible(chromedp.CSS(`input[name="queue"][value="team:fraud"]`)))
	q, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`input[name="queue"]`)))
	if err != nil || q != "team:fraud" {
		t.Errorf("the view opened with queue filter %q (%v)", q, err)
	}
	b.Do(chromedp.Click(chromedp.CSS(`#view-list form button`)), chromedp.WaitVisible(chromedp.CSS(`#view-list li.empty`)))

	// An administrator adds a holiday to the SLA calendars: listed, in
	// the history with who made it.
	signOut()
	signIn("ada")
	desk(e.base + "/console/admin/sla")
	b.Do(chromedp.WaitVisible(chromedp.CSS("#add-holiday")),
		chromedp.SendKeys(chromedp.CSS(`#add-holiday input[name="list"]`), "fr"),
		chromedp.SetValue(chromedp.CSS(`#add-holiday input[name="date"]`), "2026-12-25"),
		chromedp.SendKeys(chromedp.CSS(`#add-holiday input[name="name"]`), "Noël"),
		chromedp.Click(chromedp.CSS("#add-holiday-button")), chromedp.WaitVisible(chromedp.CSS("#holidays-fr")))
	if got := b.Text("#holidays-fr"); !strings.Contains(got, "2026-12-25") || !strings.Contains(got, "Noël") {
		t.Errorf("holiday list = %q", got)
	}
	if got := b.Text("#version-1"); !strings.Contains(got, "ada") || !strings.Contains(got, "2026-12-25") {
		t.Errorf("history = %q", got)
	}
	b.Shot("10-admin-sla")
	b.Do(chromedp.EmulateViewport(phonetest.Width, phonetest.Height), chromedp.Navigate(e.base+"/console/admin/sla"), chromedp.WaitVisible(chromedp.CSS("#holidays-fr")))
	b.Shot("11-admin-sla-phone")
}
