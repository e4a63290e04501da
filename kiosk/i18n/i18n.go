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
	*catalog.Set // Has, Tags, Name, Keys, Raw, T, Date, DateTime
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
	return &Bundle{Set: set}, nil
}

// Placeholders lists the distinct {name} placeholders in s, sorted.
func Placeholders(s string) []string { return catalog.Placeholders(s) }
