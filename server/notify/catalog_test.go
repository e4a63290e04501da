package notify_test

import (
	"fmt"
	"testing"

	"ombud/server/notify"
	"ombud/shared/catalog"
)

// TestCatalogsComplete: every language has every English key with the same
// placeholders, so a message never loses its link or its unsubscribe.
func TestCatalogsComplete(t *testing.T) {
	set, err := notify.LoadCatalogs("")
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range set.Tags() {
		for _, k := range set.Keys(catalog.Fallback) {
			en, _ := set.Raw(catalog.Fallback, k)
			m, ok := set.Raw(lang, k)
			if !ok {
				t.Errorf("%s.json lacks %q", lang, k)
				continue
			}
			if fmt.Sprint(catalog.Placeholders(m)) != fmt.Sprint(catalog.Placeholders(en)) {
				t.Errorf("%s.json %q has placeholders %v, English %v", lang, k, catalog.Placeholders(m), catalog.Placeholders(en))
			}
		}
	}
	if got := notify.Language(set, "de"); got != "en" {
		t.Errorf("a language without a catalog is written in %q, want English", got)
	}
}
