package catalog_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"ombud/shared/catalog"
)

var base = fstest.MapFS{
	"cat/en.json": {Data: []byte(`{"_language_name": "English", "hello": "Hello {name}", "bye": "Bye"}`)},
	"cat/fr.json": {Data: []byte(`{"_language_name": "Français", "hello": "Bonjour {name}"}`)},
}

func TestLoadFallbackAndSubstitution(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "de.json"), []byte(`{"_language_name": "Deutsch", "bye": "Tschüss"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fr.json"), []byte(`{"bye": "Au revoir"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := catalog.Load(base, "cat", dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Tags(), []string{"en", "de", "fr"}; !slices.Equal(got, want) {
		t.Errorf("Tags() = %v, want %v", got, want)
	}
	if got := s.Name("de"); got != "Deutsch" {
		t.Errorf("Name(de) = %q", got)
	}
	if got := s.Name("xx"); got != "xx" {
		t.Errorf("Name(xx) = %q, want the tag", got)
	}
	for _, tc := range []struct{ lang, key, want string }{
		{"fr", "hello", "Bonjour Ana"},
		{"fr", "bye", "Au revoir"},   // extra directory corrects the embedded file
		{"de", "hello", "Hello Ana"}, // missing key: English
		{"de", "nope", "nope"},       // missing in English too: the key
	} {
		if got := s.T(tc.lang, tc.key, "name", "Ana"); got != tc.want {
			t.Errorf("T(%s, %s) = %q, want %q", tc.lang, tc.key, got, tc.want)
		}
	}
	if got := s.T("en", "hello"); got != "Hello {name}" {
		t.Errorf("T without args = %q", got)
	}
	if got, want := s.Keys("fr"), []string{"_language_name", "bye", "hello"}; !slices.Equal(got, want) {
		t.Errorf("Keys(fr) = %v, want %v", got, want)
	}
	if _, ok := s.Raw("de", "hello"); ok {
		t.Error("Raw fell back to English")
	}
}

func TestLoadRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		fsys fstest.MapFS
		want string
	}{
		"no english": {fstest.MapFS{"cat/fr.json": base["cat/fr.json"]}, "no English catalog"},
		"no name":    {fstest.MapFS{"cat/en.json": {Data: []byte(`{"a": "b"}`)}}, catalog.NameKey},
		"bad tag":    {fstest.MapFS{"cat/English.json": base["cat/en.json"]}, "language code"},
		"bad json":   {fstest.MapFS{"cat/en.json": {Data: []byte(`{"a": 1}`)}}, "en.json"},
	} {
		if _, err := catalog.Load(tc.fsys, "cat", ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Load = %v, want an error mentioning %q", name, err, tc.want)
		}
	}
}

func TestPlaceholders(t *testing.T) {
	if got, want := catalog.Placeholders("{b} {a} {b} {NotOne}"), []string{"{a}", "{b}"}; !slices.Equal(got, want) {
		t.Errorf("Placeholders = %v, want %v", got, want)
	}
}
