// Package i18n owns the kiosk's words: message catalogs (one JSON file per
// language, key to string with named placeholders such as {count}), dates
// written the way each language writes them, and the complaint categories
// offered to customers with a label per language.
//
// English and French are embedded. A translator adds a language, or corrects
// one, by dropping xx.json into the directory given to Load: no code change
// and no rebuild. A key missing from a catalog falls back to English, so a
// half-finished translation still gives a usable kiosk.
package i18n

import (
	"embed"
	"strconv"
	"time"

	"ombud/shared/catalog"
)

// Fallback is the language every catalog is checked against and every
// missing key falls back to.
const Fallback = catalog.Fallback

// NameKey is the catalog entry that names the language in itself
// ("Français"), as shown on the language buttons.
const NameKey = catalog.NameKey

//go:embed catalogs/*.json
var embedded embed.FS

// Bundle holds the catalogs of every available language. It is read-only
// after Load, so it may be shared between goroutines.
type Bundle struct {
	set *catalog.Set
}

// Load reads the embedded catalogs and then every *.json in extraDir (if
// extraDir is not empty). A file for a language already known replaces or
// adds keys of that language; a file for a new language must name itself
// with NameKey. Errors name the file, for the translator.
func Load(extraDir string) (*Bundle, error) {
	set, err := catalog.Load(embedded, "catalogs", extraDir)
	if err != nil {
		return nil, err
	}
	return &Bundle{set: set}, nil
}

// Has reports whether a catalog exists for the language.
func (b *Bundle) Has(lang string) bool { return b.set.Has(lang) }

// Tags lists the available languages, English first and then in order of
// their tags, so language buttons keep their places between restarts.
func (b *Bundle) Tags() []string { return b.set.Tags() }

// Name is the language's name in itself, e.g. "Français".
func (b *Bundle) Name(lang string) string { return b.set.Name(lang) }

// Keys lists the keys of one catalog, sorted (for checks and tools).
func (b *Bundle) Keys(lang string) []string { return b.set.Keys(lang) }

// Raw returns a message without fallback or substitution.
func (b *Bundle) Raw(lang, key string) (string, bool) { return b.set.Raw(lang, key) }

// T returns the message for key in lang (English if that catalog lacks it,
// the key itself if English lacks it too), with placeholders replaced:
// args are name, value pairs, e.g. T("fr", "counter", "count", 12, "limit", 2000).
func (b *Bundle) T(lang, key string, args ...any) string { return b.set.T(lang, key, args...) }

// Placeholders lists the distinct {name} placeholders in s, sorted.
func Placeholders(s string) []string { return catalog.Placeholders(s) }

// Date writes t's date the way lang writes it in full, e.g. "Tuesday 14
// May 2026" or "mardi 14 mai 2026": customers read a promised date better
// with its weekday than as 14/05/2026, which also means different days in
// different countries.
func (b *Bundle) Date(lang string, t time.Time) string {
	return b.T(lang, "date.format",
		"weekday", b.T(lang, "weekday."+strconv.Itoa(int(t.Weekday()))),
		"day", t.Day(),
		"month", b.T(lang, "month."+strconv.Itoa(int(t.Month()))),
		"year", t.Year())
}

// DateTime is Date followed by the time of day (24-hour clock).
func (b *Bundle) DateTime(lang string, t time.Time) string {
	return b.T(lang, "datetime.format", "date", b.Date(lang, t), "time", t.Format("15:04"))
}
