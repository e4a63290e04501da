package tracking_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"ombud/shared/event"
)

const chromium = "/usr/bin/chromium"

// TestBrowserPhoneFlow drives the page in headless Chromium at a phone's
// size (390x844) over the real stack: read the status, add information
// through the form, see it in the timeline, then, once staff have
// answered, rate the handling. It saves a full-page screenshot at each step
// in $OMBUD_ARTIFACTS (or a temp dir) for people to look at.
func TestBrowserPhoneFlow(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: CI must install it (apt-get install -y chromium)", chromium)
		}
		t.Skipf("%s is missing: apt-get update && apt-get install -y chromium", chromium)
	}
	dir := os.Getenv("OMBUD_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	e := newEnv(t, nil)
	c := e.file(t)
	e.staff(t, c, event.Acknowledged, nil)
	e.staff(t, c, event.InfoRequested, event.Text{Text: "Which day did this happen, and at which counter?"})
	url := e.srv.URL + "/t/" + c.Code

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.WindowSize(390, 844))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil { // starts the browser: no timeout on this context
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()

	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100 gives PNG; below 100, JPEG
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(dir, name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	if got := text("#status-text"); !strings.Contains(got, "We are waiting for information from you") {
		t.Errorf("status = %q", got)
	}
	shot("1-waiting")

	const info = "It was Tuesday 5 May at counter 3, around 10 o'clock."
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#info-text"), chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.CSS("#info-text"), info),
		chromedp.Click(chromedp.CSS("#info-submit")),
		chromedp.WaitVisible(chromedp.CSS("#done")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text("#done"); got != "Thank you: your information has been added." {
		t.Errorf("confirmation = %q", got)
	}
	if got := text("#timeline ol li:first-child"); !strings.Contains(got, "You added information") || strings.Contains(got, info) {
		// The customer's words stay with staff: anyone holding a lost
		// receipt can open this page.
		t.Errorf("newest timeline entry = %q", got)
	}
	if got := text("#status-text"); got != "We are handling your complaint." {
		t.Errorf("status after answering = %q", got)
	}
	shot("2-info-added")

	// Staff answer, on their terminal.
	e.staff(t, c, event.Assessed, event.Assessment{Severity: event.SeverityLow, Priority: 3})
	e.staff(t, c, event.Responded, event.Text{Text: "We have refunded the fee of 12 euros to your account."})
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	if got := text("#status-text"); !strings.Contains(got, "We have sent our answer") {
		t.Errorf("status = %q", got)
	}
	shot("3-responded")

	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#stars-4"), chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.CSS("#rate-comment"), "Quick and clear."),
		chromedp.Click(chromedp.CSS("#rate-submit")),
		chromedp.WaitVisible(chromedp.CSS("#done")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text("#rated"); !strings.Contains(got, "4 out of 5") {
		t.Errorf("rated = %q", got)
	}
	shot("4-rated")

	evs := e.events(t, c)
	if last := evs[len(evs)-1]; last.Type != event.SatisfactionRated || last.Actor.Kind != event.ActorCustomer {
		t.Errorf("last event = %s by %s, want the customer's rating", last.Type, last.Actor.Kind)
	}
}
