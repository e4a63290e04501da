package staffui

import (
	"embed"
	"strings"

	"ombud/shared/catalog"
)

// The staff screens' words are catalogs in files, like the kiosk's
// (shared/catalog: one JSON file per language, English the fallback for a
// missing key, more languages or corrections dropped into a directory with
// no rebuild). A message's key is its English text, placeholders included
// ("Recorded: {action} on case {code}."): the code reads as the screen
// does, and en.json is checked to hold every message the code writes
// (TestStaffCatalogsComplete), every other catalog every key of en.json.
//
// The language is the staff member's: the terminal starts in its
// configured one (Config.UILanguage, the `kiosk staff --lang` flag: the
// branch's working language), and a person may switch on the sign-in
// screen for their session; signing out goes back to the terminal's.

//go:embed catalogs/*.json
var embeddedCatalogs embed.FS

// LoadCatalogs reads the embedded staff catalogs and then every *.json in
// extraDir (when not empty). Errors name the file, for the translator.
func LoadCatalogs(extraDir string) (*catalog.Set, error) {
	return catalog.Load(embeddedCatalogs, "catalogs", extraDir)
}

// tr is model.Tr in the signed-in person's language.
func (a *App) tr(msg string, args ...any) string {
	return a.cfg.Words.T(a.lang, msg, args...)
}

// upperFirst capitalises a message's first letter (errors are written in
// lower case to be wrapped, and start a sentence on the status line).
func upperFirst(s string) string {
	for i, r := range s {
		return strings.ToUpper(string(r)) + s[i+len(string(r)):]
	}
	return s
}
