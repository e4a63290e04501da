package i18n_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ombud/kiosk/i18n"
)

func mustLoad(tb testing.TB, dir string) *i18n.Bundle {
	tb.Helper()
	b, err := i18n.Load(dir)
	if err != nil {
		tb.Fatalf("Load(%q): %v", dir, err)
	}
	return b
}

// Every embedded catalog must be complete: a missing key would silently show
// English to a French customer, a missing placeholder would drop a date.
func TestEmbeddedCatalogsComplete(t *testing.T) {
	b := mustLoad(t, "")
	tags := b.Tags()
	if !slices.Contains(tags, "en") || !slices.Contains(tags, "fr") {
		t.Fatalf("Tags() = %v, want en and fr", tags)
	}
	for _, tag := range tags {
		t.Run(tag, func(t *testing.T) {
			for _, key := range b.Keys(i18n.Fallback) {
				want, _ := b.Raw(i18n.Fallback, key)
				got, ok := b.Raw(tag, key)
				if !ok {
					t.Errorf("key %q missing", key)
					continue
				}
				if strings.TrimSpace(got) == "" {
					t.Errorf("key %q is empty", key)
				}
				if g, w := i18n.Placeholders(got), i18n.Placeholders(want); !slices.Equal(g, w) {
					t.Errorf("key %q: placeholders %v, want %v as in English", key, g, w)
				}
			}
			for _, key := range b.Keys(tag) {
				if _, ok := b.Raw(i18n.Fallback, key); !ok {
					t.Errorf("key %q is not in English (typo?)", key)
				}
			}
		})
	}
}

func TestTranslatorAddsLanguage(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "de.json"), `{"_language_name": "Deutsch", "welcome.start": "Los", "counter": "{count} von {limit}"}`)
	b := mustLoad(t, dir)
	if !b.Has("de") || b.Name("de") != "Deutsch" {
		t.Fatalf("de not loaded: Has %v, Name %q", b.Has("de"), b.Name("de"))
	}
	if got, want := b.Tags(), []string{"en", "de", "es", "fr"}; !slices.Equal(got, want) {
		t.Errorf("Tags() = %v, want %v", got, want)
	}
	if got, want := b.T("de", "welcome.start"), "Los"; got != want {
		t.Errorf("T(de, welcome.start) = %q, want %q", got, want)
	}
	if got, want := b.T("de", "counter", "count", 12, "limit", 2000), "12 von 2000"; got != want {
		t.Errorf("T(de, counter) = %q, want %q", got, want)
	}
	// Missing key: English.
	if got, want := b.T("de", "button.back"), "Back"; got != want {
		t.Errorf("fallback = %q, want %q", got, want)
	}
	if got, want := b.T("de", "no.such.key"), "no.such.key"; got != want {
		t.Errorf("unknown key = %q, want %q", got, want)
	}
}

func TestCorrectionOverridesEmbedded(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "fr.json"), `{"welcome.start": "Démarrer"}`)
	b := mustLoad(t, dir)
	if got := b.T("fr", "welcome.start"); got != "Démarrer" {
		t.Errorf("corrected = %q", got)
	}
	if got := b.T("fr", "button.back"); got != "Retour" {
		t.Errorf("untouched key = %q, want Retour", got)
	}
}

func TestLoadRejects(t *testing.T) {
	for name, tc := range map[string]struct{ file, body, want string }{
		"no name":  {"de.json", `{"welcome.start": "Los"}`, "_language_name"},
		"bad json": {"de.json", `{"welcome.start": `, "de.json"},
		"bad tag":  {"German.json", `{"_language_name": "Deutsch"}`, "language code"},
		"not flat": {"de.json", `{"_language_name": {"x": 1}}`, "de.json"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, tc.file), tc.body)
			_, err := i18n.Load(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestDates(t *testing.T) {
	b := mustLoad(t, "")
	d := time.Date(2026, time.May, 12, 14, 5, 0, 0, time.UTC) // a Tuesday
	for _, tc := range []struct{ lang, date, dateTime string }{
		{"en", "Tuesday 12 May 2026", "Tuesday 12 May 2026, 14:05"},
		{"fr", "mardi 12 mai 2026", "mardi 12 mai 2026 à 14:05"},
	} {
		if got := b.Date(tc.lang, d); got != tc.date {
			t.Errorf("Date(%s) = %q, want %q", tc.lang, got, tc.date)
		}
		if got := b.DateTime(tc.lang, d); got != tc.dateTime {
			t.Errorf("DateTime(%s) = %q, want %q", tc.lang, got, tc.dateTime)
		}
	}
}

func TestCategories(t *testing.T) {
	def := i18n.DefaultCategories()
	if len(def) < 8 {
		t.Fatalf("%d default categories, want 8", len(def))
	}
	for _, c := range def {
		if c.Labels["en"] == "" || c.Labels["fr"] == "" {
			t.Errorf("default category %q lacks en or fr label", c.ID)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "cats.json")
	writeFile(t, path, `[{"id":"billing","labels":{"en":"Billing and charges","fr":"Facturation et frais"}},{"id":"parking","labels":{"fr":"Parking"}},{"id":"noise"}]`)
	cats, err := i18n.LoadCategories(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		i          int
		lang, want string
	}{
		{0, "fr", "Facturation et frais"},
		{0, "de", "Billing and charges"},
		{1, "en", "parking"}, // neither English nor asked-for label: the id
		{1, "fr", "Parking"},
		{2, "fr", "noise"},
	} {
		got := cats[tc.i].Label(tc.lang)
		if got != tc.want {
			t.Errorf("cats[%d].Label(%s) = %q, want %q", tc.i, tc.lang, got, tc.want)
		}
	}
	for name, body := range map[string]string{
		"empty":     `[]`,
		"duplicate": `[{"id":"a"},{"id":"a"}]`,
		"no id":     `[{"labels":{"en":"x"}}]`,
		"control":   `[{"id":"a\u001b[31m"}]`,
		"not list":  `{"id":"a"}`,
	} {
		writeFile(t, path, body)
		if _, err := i18n.LoadCategories(path); err == nil {
			t.Errorf("%s: LoadCategories accepted %s", name, body)
		}
	}
}

func writeFile(tb testing.TB, path, body string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// TestSpanishIsCatalogsOnly: the third language came as a catalog file:
// the bundle offers it, dates read in Spanish, and the default categories
// are labelled in Spanish from the catalog (topic.<id>), not from code.
func TestSpanishIsCatalogsOnly(t *testing.T) {
	b := mustLoad(t, "")
	if !b.Has("es") || b.Name("es") != "Español" {
		t.Fatalf("es: Has %v, Name %q", b.Has("es"), b.Name("es"))
	}
	if got, want := b.Date("es", time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)), "jueves 3 de diciembre de 2026"; got != want {
		t.Errorf("date %q, want %q", got, want)
	}
	for _, c := range i18n.DefaultCategories() {
		if _, ok := c.Labels["es"]; ok {
			t.Fatalf("category %s has a Spanish label in code: the catalog must give it", c.ID)
		}
	}
	cats := b.Labelled(i18n.DefaultCategories())
	if got := cats[2].Label("es"); got != "Facturación y comisiones" {
		t.Errorf("billing in Spanish = %q", got)
	}
	for _, c := range cats {
		if c.Label("es") == c.Label("en") {
			t.Errorf("category %s not labelled in Spanish", c.ID)
		}
	}
}
