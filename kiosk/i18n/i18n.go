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
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Fallback is the language every catalog is checked against and every
// missing key falls back to.
const Fallback = "en"

// NameKey is the catalog entry that names the language in itself
// ("Français"), as shown on the language buttons.
const NameKey = "_language_name"

//go:embed catalogs/*.json
var embedded embed.FS

// tagPattern is what a catalog file may be called (without .json): a
// lower-case language code with an optional region, e.g. "de" or "pt-br".
var tagPattern = regexp.MustCompile(`^[a-z]{2,3}(-[a-z0-9]{2,8})?$`)

// placeholderPattern matches {name} in a message.
var placeholderPattern = regexp.MustCompile(`\{[a-z_]+\}`)

// Bundle holds the catalogs of every available language. It is read-only
// after Load, so it may be shared between goroutines.
type Bundle struct {
	catalogs map[string]map[string]string
}

// Load reads the embedded catalogs and then every *.json in extraDir (if
// extraDir is not empty). A file for a language already known replaces or
// adds keys of that language; a file for a new language must name itself
// with NameKey. Errors name the file, for the translator.
func Load(extraDir string) (*Bundle, error) {
	b := &Bundle{catalogs: map[string]map[string]string{}}
	if err := b.loadFS(embedded, "catalogs"); err != nil {
		return nil, fmt.Errorf("embedded catalogs: %w", err)
	}
	if extraDir != "" {
		if err := b.loadFS(os.DirFS(extraDir), "."); err != nil {
			return nil, fmt.Errorf("catalogs in %s: %w", extraDir, err)
		}
	}
	if _, ok := b.catalogs[Fallback]; !ok {
		return nil, errors.New("no English catalog")
	}
	return b, nil
}

func (b *Bundle) loadFS(fsys fs.FS, dir string) error {
	names, err := fs.Glob(fsys, filepath.ToSlash(filepath.Join(dir, "*.json")))
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		tag := strings.TrimSuffix(filepath.Base(name), ".json")
		if !tagPattern.MatchString(tag) {
			return fmt.Errorf("%s: file name must be a language code such as de.json or pt-br.json", name)
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		var msgs map[string]string
		if err := json.Unmarshal(data, &msgs); err != nil {
			return fmt.Errorf("%s: want one JSON object of \"key\": \"text\": %w", name, err)
		}
		cat := b.catalogs[tag]
		if cat == nil {
			if strings.TrimSpace(msgs[NameKey]) == "" {
				return fmt.Errorf("%s: add %q with the language's name in itself, e.g. \"Deutsch\"", name, NameKey)
			}
			cat = map[string]string{}
			b.catalogs[tag] = cat
		}
		for k, v := range msgs {
			cat[k] = v
		}
	}
	return nil
}

// Has reports whether a catalog exists for the language.
func (b *Bundle) Has(lang string) bool {
	_, ok := b.catalogs[lang]
	return ok
}

// Tags lists the available languages, English first and then in order of
// their tags, so language buttons keep their places between restarts.
func (b *Bundle) Tags() []string {
	tags := make([]string, 0, len(b.catalogs))
	for t := range b.catalogs {
		if t != Fallback {
			tags = append(tags, t)
		}
	}
	sort.Strings(tags)
	return append([]string{Fallback}, tags...)
}

// Name is the language's name in itself, e.g. "Français".
func (b *Bundle) Name(lang string) string {
	if n := b.catalogs[lang][NameKey]; n != "" {
		return n
	}
	return lang
}

// Keys lists the keys of one catalog, sorted (for checks and tools).
func (b *Bundle) Keys(lang string) []string {
	keys := make([]string, 0, len(b.catalogs[lang]))
	for k := range b.catalogs[lang] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Raw returns a message without fallback or substitution.
func (b *Bundle) Raw(lang, key string) (string, bool) {
	s, ok := b.catalogs[lang][key]
	return s, ok
}

// T returns the message for key in lang (English if that catalog lacks it,
// the key itself if English lacks it too), with placeholders replaced:
// args are name, value pairs, e.g. T("fr", "counter", "count", 12, "limit", 2000).
func (b *Bundle) T(lang, key string, args ...any) string {
	s, ok := b.catalogs[lang][key]
	if !ok {
		if s, ok = b.catalogs[Fallback][key]; !ok {
			s = key
		}
	}
	if len(args) == 0 || !strings.Contains(s, "{") {
		return s
	}
	pairs := make([]string, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		pairs = append(pairs, "{"+fmt.Sprint(args[i])+"}", fmt.Sprint(args[i+1]))
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// Placeholders lists the distinct {name} placeholders in s, sorted.
func Placeholders(s string) []string {
	found := placeholderPattern.FindAllString(s, -1)
	sort.Strings(found)
	return slices.Compact(found)
}

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
