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
	*catalog.Set // Has, Tags, Name, Keys, Raw, T, Date, DateTime
}

// Load reads the embedded catalogs, then every *.json in extraDir (when
// not empty). Errors name the file, for the translator.
func Load(extraDir string) (*Bundle, error) {
	set, err := catalog.Load(embedded, "catalogs", extraDir)
	if err != nil {
		return nil, err
	}
	return &Bundle{Set: set}, nil
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

// Placeholders lists the distinct {name} placeholders in s, sorted.
func Placeholders(s string) []string { return catalog.Placeholders(s) }

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
