package tracking_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"ombud/server/tracking/phonetest"

	"ombud/shared/event"
)

// TestBrowserPhoneFlow drives the page in headless Chromium at a phone's
// size (390x844) over the real stack: read the status, add information
// through the form, see it in the timeline, then, once staff have
// answered, rate the handling. It saves a full-page screenshot at each step
// in $OMBUD_ARTIFACTS (or a temp dir) for people to look at.
func TestBrowserPhoneFlow(t *testing.T) {
	phone := phonetest.Open(t, 2*time.Minute, "") // a bound for the whole test on a loaded machine, not a speed goal

	e := newEnv(t, nil)
	c := e.file(t)
	e.staff(t, c, event.Acknowledged, nil)
	e.staff(t, c, event.InfoRequested, event.Text{Text: "Which day did this happen, and at which counter?"})
	url := e.srv.URL + "/t/" + c.Code

	ctx := phone.Ctx()

	shot, text := phone.Shot, phone.Text

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(phonetest.Width, phonetest.Height), chromedp.Navigate(url)); err != nil {
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

// TestBrowserClosingNoteIsShown: the note staff write when closing, which
// their form labels public, is on the customer's page (phone size) and in
// the API; a reopening's reason, the customer's own words, is not.
func TestBrowserClosingNoteIsShown(t *testing.T) {
	phone := phonetest.Open(t, 2*time.Minute, "") // a bound for the whole test on a loaded machine, not a speed goal
	e := newEnv(t, nil)
	c := e.file(t)
	e.staff(t, c, event.Acknowledged, nil)
	e.staff(t, c, event.Assessed, event.Assessment{Severity: event.SeverityLow, Priority: 3})
	e.staff(t, c, event.Responded, event.Text{Text: "We refunded the fee."})
	yes := true
	const note = "The 12 euros are back on your account since Monday."
	e.staff(t, c, event.Closed, event.Closure{CustomerAccepted: &yes, Text: note})

	ctx := phone.Ctx()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(phonetest.Width, phonetest.Height), chromedp.Navigate(e.srv.URL+"/t/"+c.Code)); err != nil {
		t.Fatal(err)
	}
	if got := phone.Text("#timeline ol li:first-child"); !strings.Contains(got, note) {
		t.Errorf("newest timeline entry = %q, want the closing note", got)
	}
	phone.Shot("closing-note")
	api := e.get(t, "/api/v1/track/"+c.Code)
	if !strings.Contains(api.body, note) {
		t.Errorf("the API's timeline lacks the closing note:\n%s", api.body)
	}
}

// TestBrowserClosureRespectsTheCustomer (ISO 10002 8.9), at phone size:
// the answered page says until when the customer may answer before the
// case closes; a customer who types "not satisfied" after the case closed
// meanwhile is told so plainly and keeps their text; the closure without
// their answer says so on the timeline.
func TestBrowserClosureRespectsTheCustomer(t *testing.T) {
	phone := phonetest.Open(t, 2*time.Minute, "") // a bound for the whole test on a loaded machine, not a speed goal
	e := newEnv(t, nil)
	c := e.file(t)
	e.respond(t, c, "We found no fault in the charge.")
	url := e.srv.URL + "/t/" + c.Code
	ctx := phone.Ctx()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(phonetest.Width, phonetest.Height), chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	if got := phone.Text("#next"); !strings.Contains(got, "If we have not heard from you by") || !strings.Contains(got, "your complaint will be closed then") {
		t.Errorf("next = %q, want the date the case closes without an answer", got)
	}
	phone.Shot("answered-closes-on")

	// The page stays open; the case closes meanwhile; the customer types.
	e.closeUnanswered(t, c)
	const reason = "The charge appears twice on my statement of 3 December, please look again."
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#reject-reason"), reason),
		chromedp.Click(chromedp.CSS("#reject-submit")),
		chromedp.WaitVisible(chromedp.CSS("#error")),
	); err != nil {
		t.Fatal(err)
	}
	if got := phone.Text("#error"); !strings.Contains(got, "Your complaint was closed on") {
		t.Errorf("error = %q, want the plain reason", got)
	}
	if kept, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#kept-text"))); err != nil || kept != reason {
		t.Errorf("kept text %q (%v), want what was typed", kept, err)
	}
	phone.Shot("closed-meanwhile-text-kept")
	if got := phone.Text("#timeline ol li:first-child"); !strings.Contains(got, "we had no answer from you") {
		t.Errorf("newest timeline entry = %q", got)
	}
}

// TestBrowserTypoKeepsTheCode: a code typed with one wrong symbol comes
// back in the field on the "looks mistyped" page, to be corrected in place.
func TestBrowserTypoKeepsTheCode(t *testing.T) {
	phone := phonetest.Open(t, 30*time.Second, "")
	e := newEnv(t, nil)
	c := e.file(t)
	typed := []byte(c.Code[:4] + "-" + c.Code[4:8] + "-" + c.Code[8:])
	typed[6] = map[bool]byte{true: 'A', false: 'B'}[typed[6] != 'A'] // one symbol off
	ctx := phone.Ctx()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(phonetest.Width, phonetest.Height),
		chromedp.Navigate(e.srv.URL+"/t"),
		chromedp.SendKeys(chromedp.CSS("#code"), string(typed)),
		chromedp.Submit(chromedp.CSS("#code")),
		chromedp.WaitVisible(chromedp.CSS("#message.error")),
	); err != nil {
		t.Fatal(err)
	}
	if got := phone.Text("#message"); !strings.Contains(got, "looks mistyped") {
		t.Fatalf("message = %q", got)
	}
	if got, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#code"))); err != nil || got != string(typed) {
		t.Errorf("the field holds %q (%v), want the code as typed %q", got, err, typed)
	}
	phone.Shot("typo-keeps-code")
}
