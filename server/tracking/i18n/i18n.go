// Package i18n owns the tracking page's words: one JSON catalog per
// language (key to text, with named placeholders such as {date}), dates
// written the way each language writes them, and the choice of language
// from a browser's Accept-Language.
//
// It mirrors kiosk/i18n (same file format, same fallback rule) with its own
// catalogs: the page says different things from the kiosk, and the two
// programs are translated and deployed separately. English and French are
// embedded; a translator adds or corrects a language by dropping xx.json
// into the directory given to Load. A key missing from a catalog falls back
// to English, so a half-finished translation still gives a usable page.
package i18n

import (
	"embed"
	"strconv"
	"strings"
	"time"

	"ombud/shared/catalog"
)

// Fallback is the language every catalog falls back to.
const Fallback = catalog.Fallback

// NameKey names the language in itself ("Français"), for the switch links.
const NameKey = catalog.NameKey

//go:embed catalogs/*.json
var embedded embed.FS

// Bundle holds every language's catalog. Read-only after Load, so it may
// be shared between goroutines.
type Bundle struct {
	set *catalog.Set
}

// Load reads the embedded catalogs, then every *.json in extraDir (when
// not empty). Errors name the file, for the translator.
func Load(extraDir string) (*Bundle, error) {
	set, err := catalog.Load(embedded, "catalogs", extraDir)
	if err != nil {
		return nil, err
	}
	return &Bundle{set: set}, nil
}

// MustLoad is Load of the embedded catalogs only, which cannot fail short
// of a broken build (a test checks them).
func MustLoad() *Bundle {
	b, err := Load("")
	if err != nil {
		panic(err)
	}
	return b
}

// Tags lists the languages, English first, then by tag.
func (b *Bundle) Tags() []string { return b.set.Tags() }

// Has reports whether lang has a catalog.
func (b *Bundle) Has(lang string) bool { return b.set.Has(lang) }

// Name is the language's name in itself.
func (b *Bundle) Name(lang string) string { return b.set.Name(lang) }

// Keys lists one catalog's keys, sorted (for checks).
func (b *Bundle) Keys(lang string) []string { return b.set.Keys(lang) }

// Raw returns a message without fallback or substitution.
func (b *Bundle) Raw(lang, key string) (string, bool) { return b.set.Raw(lang, key) }

// T returns key's message in lang (English if missing there, the key
// itself if missing in English too), with name, value pairs substituted.
func (b *Bundle) T(lang, key string, args ...any) string { return b.set.T(lang, key, args...) }

// Placeholders lists the distinct {name} placeholders in s, sorted.
func Placeholders(s string) []string { return catalog.Placeholders(s) }

// Date writes t's date in full, with its weekday ("Friday 15 May 2026"):
// a promised date reads better so than as 15/05/2026, which means
// different days in different countries.
func (b *Bundle) Date(lang string, t time.Time) string {
	return b.T(lang, "date.format",
		"weekday", b.T(lang, "weekday."+strconv.Itoa(int(t.Weekday()))),
		"day", t.Day(),
		"month", b.T(lang, "month."+strconv.Itoa(int(t.Month()))),
		"year", t.Year())
}

// DateTime is Date and the time of day (24-hour clock).
func (b *Bundle) DateTime(lang string, t time.Time) string {
	return b.T(lang, "datetime.format", "date", b.Date(lang, t), "time", t.Format("15:04"))
}

// Negotiate picks the language for an Accept-Language header: the
// available tag with the highest q, matching a region-qualified request
// ("fr-CA") to its language ("fr") when the region has no catalog. Ties
// keep the header's order; nothing acceptable gives English.
func (b *Bundle) Negotiate(acceptLanguage string) string {
	best, bestQ := Fallback, 0.0
	for part := range strings.SplitSeq(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		if q <= bestQ || tag == "" || tag == "*" {
			continue
		}
		switch base, _, _ := strings.Cut(tag, "-"); {
		case b.Has(tag):
			best, bestQ = tag, q
		case b.Has(base):
			best, bestQ = base, q
		}
	}
	return best
}
