package tui_test

import (
	"strings"
	"testing"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/i18n"
	"ombud/kiosk/tui"
	"ombud/shared/retention"
)

// The privacy notice states the period of the server's retention policy for
// the category the customer chose: the promise is made from the rule.
func TestContactNoticeStatesThePolicy(t *testing.T) {
	policy := retention.Policy{DefaultMonths: 6, Categories: map[string]int{"billing": 30}}
	k := startKiosk(t, tui.Config{Filer: &fakeFiler{}, Retention: policy}, 80, 24)
	k.waitText("Start")
	k.press(tcell.KeyEnter)
	k.waitText("Billing and charges")
	k.press(tcell.KeyDown, tcell.KeyDown, tcell.KeyEnter) // billing
	k.waitText("What happened?")
	k.typeText("Charged twice.")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	k.waitText("What would you like us to do?")
	k.press(tcell.KeyTab, tcell.KeyEnter)
	if s := k.waitText("Your contact details (optional)", "30 months"); strings.Contains(s, "12 months") {
		t.Errorf("the notice still says 12 months:\n%s", s)
	}
}

// Every language the kiosk has states the period from the policy, with
// nothing left of the placeholder.
func TestEveryLanguageStatesThePeriod(t *testing.T) {
	b, err := i18n.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range b.Tags() {
		got := b.T(lang, "contact.notice", "months", 37)
		if !strings.Contains(got, "37") || strings.Contains(got, "{") || strings.Contains(got, "12") {
			t.Errorf("%s: %q", lang, got)
		}
	}
}
