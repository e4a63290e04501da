package i18n_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"ombud/server/tracking/i18n"
)

func TestEmbeddedCatalogsComplete(t *testing.T) {
	b := i18n.MustLoad()
	if got := b.Tags(); !slices.Equal(got, []string{"en", "es", "fr"}) {
		t.Fatalf("tags = %v", got)
	}
	en := b.Keys("en")
	for _, lang := range b.Tags()[1:] {
		if got := b.Keys(lang); !slices.Equal(got, en) {
			t.Errorf("%s keys differ from English:\n got %v\nwant %v", lang, got, en)
		}
		for _, k := range en {
			e, _ := b.Raw("en", k)
			o, _ := b.Raw(lang, k)
			if !slices.Equal(i18n.Placeholders(e), i18n.Placeholders(o)) {
				t.Errorf("%s %q placeholders %v, English has %v", lang, k, i18n.Placeholders(o), i18n.Placeholders(e))
			}
		}
	}
}

func TestNegotiate(t *testing.T) {
	b := i18n.MustLoad()
	for _, tc := range []struct{ header, want string }{
		{"", "en"},
		{"fr", "fr"},
		{"fr-CA,fr;q=0.9,en;q=0.8", "fr"},
		{"de-DE,de;q=0.9", "en"},
		{"de,fr;q=0.5,en;q=0.4", "fr"},
		{"en;q=0.9,fr", "fr"},
		{"fr;q=bogus,en", "en"},
		{"*", "en"},
	} {
		if got := b.Negotiate(tc.header); got != tc.want {
			t.Errorf("Negotiate(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

func TestDatesAndOverride(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fr.json"), []byte(`{"page.title": "Votre dossier"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := i18n.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 5, 15, 9, 30, 0, 0, time.UTC)
	if got, want := b.Date("fr", day), "vendredi 15 mai 2026"; got != want {
		t.Errorf("fr date = %q, want %q", got, want)
	}
	if got, want := b.DateTime("en", day), "Friday 15 May 2026, 09:30"; got != want {
		t.Errorf("en datetime = %q, want %q", got, want)
	}
	if got := b.T("fr", "page.title"); got != "Votre dossier" {
		t.Errorf("override = %q", got)
	}
}
