// Package catalog owns the message catalogs for every UI (the kiosk, the
// tracking page, and any later one): one JSON file per language, key to
// text with named placeholders such as {count}, loaded from the program's
// embedded files and then from an optional directory a translator drops
// files into, with English as the fallback for any missing key.
//
// Each UI keeps its own catalogs and its own i18n package on top of this
// one; the file format, the fallback rule and the checks are the same
// everywhere.
package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
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
// ("Français"), as shown on language buttons and links.
const NameKey = "_language_name"

// tagPattern is what a catalog file may be called (without .json): a
// lower-case language code with an optional region, e.g. "de" or "pt-br".
var tagPattern = regexp.MustCompile(`^[a-z]{2,3}(-[a-z0-9]{2,8})?$`)

// placeholderPattern matches {name} in a message.
var placeholderPattern = regexp.MustCompile(`\{[a-z_]+\}`)

// Set holds the catalogs of every available language. It is read-only
// after Load, so it may be shared between goroutines.
type Set struct {
	catalogs map[string]map[string]string
	tags     []string
}

// Load reads every *.json in dir of fsys (the program's embedded catalogs)
// and then every *.json in extraDir (if extraDir is not empty). A file for
// a language already known replaces or adds keys of that language; a file
// for a new language must name itself with NameKey. There must be an
// English catalog. Errors name the file, for the translator.
func Load(fsys fs.FS, dir, extraDir string) (*Set, error) {
	s := &Set{catalogs: map[string]map[string]string{}}
	if err := s.loadFS(fsys, dir); err != nil {
		return nil, fmt.Errorf("embedded catalogs: %w", err)
	}
	if extraDir != "" {
		if err := s.loadFS(os.DirFS(extraDir), "."); err != nil {
			return nil, fmt.Errorf("catalogs in %s: %w", extraDir, err)
		}
	}
	if _, ok := s.catalogs[Fallback]; !ok {
		return nil, errors.New("no English catalog")
	}
	for t := range s.catalogs {
		if t != Fallback {
			s.tags = append(s.tags, t)
		}
	}
	sort.Strings(s.tags)
	s.tags = append([]string{Fallback}, s.tags...)
	return s, nil
}

func (s *Set) loadFS(fsys fs.FS, dir string) error {
	names, err := fs.Glob(fsys, path.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		tag := strings.TrimSuffix(path.Base(name), ".json")
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
		cat := s.catalogs[tag]
		if cat == nil {
			if strings.TrimSpace(msgs[NameKey]) == "" {
				return fmt.Errorf("%s: add %q with the language's name in itself, e.g. \"Deutsch\"", name, NameKey)
			}
			cat = map[string]string{}
			s.catalogs[tag] = cat
		}
		for k, v := range msgs {
			cat[k] = v
		}
	}
	return nil
}

// Has reports whether a catalog exists for the language.
func (s *Set) Has(lang string) bool {
	_, ok := s.catalogs[lang]
	return ok
}

// Tags lists the available languages, English first and then in order of
// their tags, so language choices keep their places between restarts.
func (s *Set) Tags() []string { return slices.Clone(s.tags) }

// Name is the language's name in itself, e.g. "Français", or the tag if
// the catalog does not say.
func (s *Set) Name(lang string) string {
	if n := s.catalogs[lang][NameKey]; n != "" {
		return n
	}
	return lang
}

// Keys lists the keys of one catalog, sorted (for checks and tools).
func (s *Set) Keys(lang string) []string {
	keys := make([]string, 0, len(s.catalogs[lang]))
	for k := range s.catalogs[lang] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Raw returns a message without fallback or substitution.
func (s *Set) Raw(lang, key string) (string, bool) {
	m, ok := s.catalogs[lang][key]
	return m, ok
}

// T returns the message for key in lang (English if that catalog lacks it,
// the key itself if English lacks it too), with placeholders replaced:
// args are name, value pairs, e.g. T("fr", "counter", "count", 12, "limit", 2000).
func (s *Set) T(lang, key string, args ...any) string {
	m, ok := s.catalogs[lang][key]
	if !ok {
		if m, ok = s.catalogs[Fallback][key]; !ok {
			m = key
		}
	}
	if len(args) < 2 || !strings.Contains(m, "{") {
		return m
	}
	pairs := make([]string, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		pairs = append(pairs, "{"+fmt.Sprint(args[i])+"}", fmt.Sprint(args[i+1]))
	}
	return strings.NewReplacer(pairs...).Replace(m)
}

// Placeholders lists the distinct {name} placeholders in s, sorted, so a
// check can compare a translation's placeholders with English's.
func Placeholders(s string) []string {
	found := placeholderPattern.FindAllString(s, -1)
	sort.Strings(found)
	return slices.Compact(found)
}

// Date writes t's date the way lang writes it in full, from the catalog's
// date.format, weekday.N and month.N entries, e.g. "Tuesday 14 May 2026" or
// "mardi 14 mai 2026": customers read a promised date better with its
// weekday than as 14/05/2026, which also means different days in different
// countries.
func (s *Set) Date(lang string, t time.Time) string {
	return s.T(lang, "date.format",
		"weekday", s.T(lang, "weekday."+strconv.Itoa(int(t.Weekday()))),
		"day", t.Day(),
		"month", s.T(lang, "month."+strconv.Itoa(int(t.Month()))),
		"year", t.Year())
}

// DateTime is Date followed by the time of day (24-hour clock), from the
// catalog's datetime.format entry.
func (s *Set) DateTime(lang string, t time.Time) string {
	return s.T(lang, "datetime.format", "date", s.Date(lang, t), "time", t.Format("15:04"))
}
