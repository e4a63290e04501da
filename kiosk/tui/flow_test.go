package tui_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/filing"
	"ombud/kiosk/tui"
	"ombud/shared/complaint"
)

// toReview walks from welcome to review by keyboard: Start, the third
// category, the description, no outcome, no contact.
func toDescription(k *kiosk) {
	k.t.Helper()
	k.press(tcell.KeyEnter) // Start has the focus
	k.waitStep("category")
	k.press(tcell.KeyDown, tcell.KeyDown, tcell.KeyEnter)
	k.waitStep("description")
}

func TestKeyboardFlow80x24(t *testing.T) {
	filer := &fakeFiler{}
	k := startKiosk(t, tui.Config{Filer: filer}, 80, 24)
	s := k.waitText("Tell us what went wrong. It takes about two minutes. You don't need to",
		"English", "Français", "Main Street", "Start")
	checkFits(t, s, "Start", "Enter")

	k.press(tcell.KeyEnter)
	s = k.waitText("What is your complaint about?", "Billing and charges", "Something else")
	checkFits(t, s, "Back", "Next", "Esc\u00a0back")
	k.press(tcell.KeyDown, tcell.KeyDown, tcell.KeyEnter)

	s = k.waitText("What happened?", "0 / 2000")
	checkFits(t, s, "Back", "Next", "Esc\u00a0back")
	const text = "I was charged twice for one transfer.\nPlease check."
	k.typeText(text)
	k.waitText(fmt.Sprintf("%d / 2000", len([]rune(text))))
	k.press(tcell.KeyTab, tcell.KeyEnter) // Next

	s = k.waitText("What would you like us to do?", "0 / 1000")
	checkFits(t, s, "Back", "Next", "Esc\u00a0back")
	k.press(tcell.KeyTab, tcell.KeyEnter)

	s = k.waitText("Your contact details (optional)", "Keep my details")
	checkFits(t, s, "Back", "Next", "Esc\u00a0back", "12 months")
	k.press(tcell.KeyTab, tcell.KeyTab, tcell.KeyTab, tcell.KeyTab, tcell.KeyEnter) // name→email→phone→consent→Next

	s = k.waitText("Check your complaint", "Billing and charges", "I was charged twice for one transfer.", "Please check.", "(nothing)")
	checkFits(t, s, "Back", "Submit", "Esc\u00a0back")
	k.press(tcell.KeyEnter) // Submit has the focus

	s = k.waitText("DWSR-S7EZ-TW89", "https://track.example.org/t/DWSRS7EZTW89", "Finish",
		"Tuesday 12 May 2026, 14:05", "Thursday 14 May 2026", "Please take a photo of this screen")
	checkFits(t, s, "Finish")
	got := filer.calls()
	want := filing.Draft{Category: "billing", Description: text, Language: "en"}
	if len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(want) || got[0].Contact != nil {
		t.Fatalf("filer got %+v, want exactly %+v", got, want)
	}

	k.press(tcell.KeyEnter) // Finish
	k.waitStep("welcome")
	k.waitText("Tell us what went wrong")
}

// checkFits fails when the screen's last row is not the hint row or when a
// label is missing: at 80x24 nothing may be cut off.
func checkFits(t *testing.T, screen string, labels ...string) {
	t.Helper()
	lines := strings.Split(screen, "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "Tab") && !strings.Contains(lines[len(lines)-2], "Tab") {
		t.Errorf("hint row missing at the bottom:\n%s", screen)
	}
	for _, l := range labels {
		if !strings.Contains(screen, l) {
			t.Errorf("%q not on screen:\n%s", l, screen)
		}
	}
}

func TestFrenchByTouch200x60(t *testing.T) {
	filer := &fakeFiler{}
	k := startKiosk(t, tui.Config{Filer: filer}, 200, 60)
	k.click("Français")
	k.waitText("Dites-nous ce qui n'a pas marché", "Commencer", "✓ Français")
	k.click("Commencer")
	k.waitText("Quel est le sujet de votre réclamation ?", "Étape 1 sur 5")
	k.click("Facturation et frais")
	k.waitText("Que s'est-il passé ?", "0 / 2000")
	k.typeText("Débité deux fois.")
	k.waitText("17 / 2000")
	k.click("Suivant")
	k.waitText("Qu'attendez-vous de nous ?")
	k.click("Suivant")
	k.waitText("Vos coordonnées (facultatif)")
	k.click("Suivant")
	k.waitText("Vérifiez votre réclamation", "Débité deux fois.", "Facturation et frais")
	k.click("Envoyer")
	// French puts a (no-break) space before the colon.
	k.waitText("Votre code de suivi\u00a0: DWSR-S7EZ-TW89", "mardi 12 mai 2026 à 14:05", "jeudi 14 mai 2026", "Terminer")
	got := filer.calls()
	if len(got) != 1 || got[0].Language != "fr" || got[0].Category != "billing" || got[0].Description != "Débité deux fois." {
		t.Fatalf("filer got %+v", got)
	}
	// Finish goes back to the welcome screen in the default language.
	k.click("Terminer")
	k.waitText("Tell us what went wrong", "✓ English")
}

func TestDescriptionRequired(t *testing.T) {
	k := startKiosk(t, tui.Config{Filer: &fakeFiler{}}, 80, 24)
	toDescription(k)
	k.typeText("   \n  ")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitText("Please tell us what happened before you continue.", "What happened?")
	if s := k.step(); s != "description" {
		t.Fatalf("step %s after an empty description", s)
	}
	// The focus is back in the text; the message goes as soon as there is
	// something to send.
	k.typeText("x")
	k.waitGone("Please tell us what happened")
}

func TestTypingStopsAtLimit(t *testing.T) {
	k := startKiosk(t, tui.Config{Filer: &fakeFiler{}}, 80, 24)
	toDescription(k)
	k.typeText("x")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitText("What would you like us to do?")
	// 1,000 is the outcome's limit; "é" checks it counts characters, not bytes.
	k.typeText(strings.Repeat("é", complaint.MaxOutcome+5))
	k.waitText("1000 / 1000")
	var texts []string
	k.app.QueueUpdate(func() { texts = k.app.WidgetTexts() })
	if n := len([]rune(texts[1])); n != complaint.MaxOutcome {
		t.Errorf("outcome holds %d characters, want %d", n, complaint.MaxOutcome)
	}
}

func TestContactConsent(t *testing.T) {
	consentAt := time.Date(2026, time.May, 12, 14, 3, 0, 0, time.UTC)
	for _, consent := range []bool{false, true} {
		t.Run(fmt.Sprint("consent=", consent), func(t *testing.T) {
			filer := &fakeFiler{}
			k := startKiosk(t, tui.Config{Filer: filer, Now: func() time.Time { return consentAt }}, 80, 24)
			toDescription(k)
			k.typeText("Charged twice")
			k.press(tcell.KeyTab, tcell.KeyEnter)
			k.waitStep("outcome")
			k.press(tcell.KeyTab, tcell.KeyEnter)
			k.waitStep("contact")
			k.typeText("Ann Smith")
			k.press(tcell.KeyTab)
			k.typeText("ann@example.org")
			k.waitText("will NOT be kept unless you tick the box")
			k.press(tcell.KeyTab, tcell.KeyTab) // consent box
			if consent {
				k.typeText(" ")
				k.waitText("Your details will be kept")
			}
			k.press(tcell.KeyTab, tcell.KeyEnter)
			if consent {
				k.waitText("Check your complaint", "Ann Smith · ann@example.org")
			} else {
				k.waitText("Check your complaint", "Not kept (the box was not ticked).")
			}
			k.press(tcell.KeyEnter)
			k.waitText("DWSR-S7EZ-TW89")
			d := filer.calls()[0]
			switch {
			case !consent && d.Contact != nil:
				t.Errorf("contact kept without consent: %+v", d.Contact)
			case consent && (d.Contact == nil || d.Contact.Name != "Ann Smith" || d.Contact.Email != "ann@example.org" ||
				!d.Contact.ConsentAt.Equal(consentAt) || d.Contact.NoticeVersion == ""):
				t.Errorf("contact = %+v, want Ann Smith with consent at %v", d.Contact, consentAt)
			}
		})
	}
}

func TestInvalidEmailInline(t *testing.T) {
	k := startKiosk(t, tui.Config{Filer: &fakeFiler{}}, 80, 24)
	toDescription(k)
	k.typeText("x")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("outcome")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("contact")
	k.press(tcell.KeyTab)
	k.typeText("ann-at-example")
	k.press(tcell.KeyTab, tcell.KeyTab)
	k.typeText(" ") // consent
	k.press(tcell.KeyTab, tcell.KeyEnter)
	s := k.waitText("Please check this email address.")
	if k.step() != "contact" {
		t.Fatalf("moved on with an invalid email")
	}
	x, y, _ := k.find("Please check this email address.")
	if _, ey, _ := k.find("ann-at-example"); ey != y || x < 40 {
		t.Errorf("message not next to the email field:\n%s", s)
	}
}

func TestUnavailableThenTryAgain(t *testing.T) {
	filer := &fakeFiler{errs: []error{fmt.Errorf("%w: database is locked", filing.ErrUnavailable), nil}}
	k := startKiosk(t, tui.Config{Filer: filer}, 80, 24)
	toDescription(k)
	k.typeText("Charged twice")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("outcome")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("contact")
	k.press(tcell.KeyEscape) // Esc is Back...
	k.waitStep("outcome")
	k.press(tcell.KeyTab, tcell.KeyEnter) // ...and forward again
	k.waitStep("contact")
	k.press(tcell.KeyTab, tcell.KeyTab, tcell.KeyTab, tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("review")
	k.press(tcell.KeyEnter)
	k.waitText("Sorry, we could not save your complaint just now.", "Try again", "Charged twice")
	if k.step() != "review" {
		t.Fatalf("step %s after a storage fault", k.step())
	}
	k.press(tcell.KeyEnter) // Try again has kept the focus
	k.waitText("DWSR-S7EZ-TW89")
	calls := filer.calls()
	if len(calls) != 2 || fmt.Sprint(calls[0]) != fmt.Sprint(calls[1]) || calls[1].Description != "Charged twice" {
		t.Fatalf("filer calls %+v, want the same draft twice", calls)
	}
}

func TestFieldErrorFromFiler(t *testing.T) {
	filer := &fakeFiler{errs: []error{&complaint.FieldError{Field: complaint.FieldDescription, Problem: complaint.ProblemTooLong, Limit: 2000}, nil}}
	k := startKiosk(t, tui.Config{Filer: filer}, 80, 24)
	toReview(k, "x")
	k.press(tcell.KeyEnter)
	k.waitText("What happened?", "Too long: at most 2000 characters.")
	k.waitStep("description")
	k.press(tcell.KeyTab, tcell.KeyEnter) // Next returns to review, not to the outcome
	k.waitStep("review")
}

func TestPanickingFilerDoesNotCrash(t *testing.T) {
	k := startKiosk(t, tui.Config{Filer: panicFiler{}}, 80, 24)
	toReview(k, "x")
	k.press(tcell.KeyEnter)
	k.waitText("Sorry, something went wrong", "Try again")
}

func TestCtrlCDoesNotQuit(t *testing.T) {
	k := startKiosk(t, tui.Config{Filer: &fakeFiler{}}, 80, 24)
	k.sim.InjectKey(tcell.KeyCtrlC, 0, tcell.ModCtrl)
	k.press(tcell.KeyEnter)
	k.waitStep("category") // still running and answering keys
}

// TestTextScreenHintsAt80x24: on the text screens Enter is listed once
// ("new line / press button"), and the French hint row fits one line at
// 80 columns.
func TestTextScreenHintsAt80x24(t *testing.T) {
	for _, tc := range []struct{ lang, start, title, enter string }{
		{"English", "Start", "What happened?", "Enter new line / press button"},
		{"Français", "Commencer", "Que s'est-il passé ?", "Entrée à la ligne / valider"},
		{"Español", "Empezar", "¿Qué ha pasado?", "Enter nueva línea / pulsar"},
	} {
		k := startKiosk(t, tui.Config{Filer: &fakeFiler{}}, 80, 24)
		k.click(tc.lang)
		k.click(tc.start)
		k.press(tcell.KeyDown, tcell.KeyEnter)
		s := k.waitText(tc.title)
		lines := strings.Split(s, "\n")
		last := strings.ReplaceAll(lines[len(lines)-1], "\u00a0", " ")
		above := lines[len(lines)-2]
		if !strings.Contains(last, tc.enter) || strings.Count(last, strings.Fields(tc.enter)[0]) != 1 {
			t.Errorf("%s: hint row %q, want Enter once as %q", tc.lang, last, tc.enter)
		}
		if strings.Contains(above, "Tab") {
			t.Errorf("%s: the hint row wraps:\n%s\n%s", tc.lang, above, last)
		}
	}
}

// TestCounterAtTheLimitIsWhole: at the limit the counter says so in full
// at 80x24 ("limit reached", not "limit reach"), in English and French.
func TestCounterAtTheLimitIsWhole(t *testing.T) {
	for _, tc := range []struct{ lang, start, want string }{
		{"English", "Start", "2000 / 2000: limit reached"},
		{"Français", "Commencer", "2000 / 2000 : limite atteinte"},
	} {
		k := startKiosk(t, tui.Config{Filer: &fakeFiler{}}, 80, 24)
		k.click(tc.lang)
		k.click(tc.start)
		k.press(tcell.KeyDown, tcell.KeyEnter)
		k.waitText("0 / 2000")
		k.typeText(strings.Repeat("a", 2000))
		k.waitText(tc.want)
	}
}

// TestEmailAndPhoneErrorsTogether: a mistyped e-mail and a mistyped phone
// are both pointed out at once, the focus on the first.
func TestEmailAndPhoneErrorsTogether(t *testing.T) {
	k := startKiosk(t, tui.Config{Filer: &fakeFiler{}}, 80, 24)
	toDescription(k)
	k.typeText("x")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("outcome")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("contact")
	k.press(tcell.KeyTab)
	k.typeText("ann-at-example")
	k.press(tcell.KeyTab)
	k.typeText("12")
	k.press(tcell.KeyTab)
	k.typeText(" ") // consent
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitText("Please check this email address.", "Please check this phone number.")
	if k.step() != "contact" {
		t.Fatalf("moved on with an invalid email and phone")
	}
}

// TestReviewMarksCutText: a description longer than the review has room
// for ends its section with "…", so the customer knows there is more.
func TestReviewMarksCutText(t *testing.T) {
	k := startKiosk(t, tui.Config{Filer: &fakeFiler{}}, 80, 24)
	toDescription(k)
	long := strings.Repeat("The machine kept my card and nobody could help. ", 30)
	k.typeText(long)
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("outcome")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitStep("contact")
	k.press(tcell.KeyTab, tcell.KeyTab, tcell.KeyTab, tcell.KeyTab, tcell.KeyEnter)
	s := k.waitText("Check your complaint")
	if !strings.Contains(s, "…") {
		t.Errorf("the cut description has no … mark:\n%s", s)
	}
}

// TestContactHintsOnOneLineAt80x24: the category and contact steps' five
// keys fit one hint row at 80 columns in French and Spanish (the keys set
// closer when three spaces apart would wrap "Échap retour" onto a second
// row).
func TestContactHintsOnOneLineAt80x24(t *testing.T) {
	for _, tc := range []struct{ lang, start, title, esc string }{
		{"English", "Start", "Your contact details", "Esc back"},
		{"Français", "Commencer", "Vos coordonnées", "Échap retour"},
		{"Español", "Empezar", "Sus datos de contacto", "Esc atrás"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			k := startKiosk(t, tui.Config{Filer: &fakeFiler{}}, 80, 24)
			k.click(tc.lang)
			k.click(tc.start)
			k.waitStep("category")
			oneLine := func(step string) {
				t.Helper()
				k.waitFor(step+"'s hint row on one line", func(s string) bool {
					lines := strings.Split(s, "\n")
					last := strings.ReplaceAll(lines[len(lines)-1], "\u00a0", " ")
					return strings.Contains(last, "Tab") && strings.Contains(last, tc.esc) && !strings.Contains(lines[len(lines)-2], "Tab")
				})
			}
			oneLine("category")
			k.press(tcell.KeyDown, tcell.KeyEnter)
			k.waitStep("description")
			k.typeText("x")
			k.press(tcell.KeyTab, tcell.KeyEnter)
			k.waitStep("outcome")
			k.press(tcell.KeyTab, tcell.KeyEnter)
			k.waitStep("contact")
			s := k.waitText(tc.title)
			lines := strings.Split(s, "\n")
			last := strings.ReplaceAll(lines[len(lines)-1], "\u00a0", " ")
			above := lines[len(lines)-2]
			if !strings.Contains(last, "Tab") || !strings.Contains(last, tc.esc) || strings.Contains(above, "Tab") {
				t.Errorf("%s: the hint row is not one line:\n%s\n%s", tc.lang, above, last)
			}
		})
	}
}
