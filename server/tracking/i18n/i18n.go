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

// Fallback is the language every catalog falls back to.
const Fallback = "en"

// NameKey names the language in itself ("Français"), for the switch links.
const NameKey = "_language_name"

//go:embed catalogs/*.json
var embedded embed.FS

var (
	tagPattern         = regexp.MustCompile(`^[a-z]{2,3}(-[a-z0-9]{2,8})?$`)
	placeholderPattern = regexp.MustCompile(`\{[a-z_]+\}`)
)

// Bundle holds every language's catalog. Read-only after Load, so it may
// be shared between goroutines.
type Bundle struct {
	catalogs map[string]map[string]string
	tags     []string
}

// Load reads the embedded catalogs, then every *.json in extraDir (when
// not empty). Errors name the file, for the translator.
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
	for t := range b.catalogs {
		if t != Fallback {
			b.tags = append(b.tags, t)
		}
	}
	sort.Strings(b.tags)
	b.tags = append([]string{Fallback}, b.tags...)
	return b, nil
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

func (b *Bundle) loadFS(fsys fs.FS, dir string) error {
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
		cat := b.catalogs[tag]
		if cat == nil {
			if strings.TrimSpace(msgs[NameKey]) == "" {
				return fmt.Errorf("%s: add %q with the language's name in itself", name, NameKey)
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

// Tags lists the languages, English first, then by tag.
func (b *Bundle) Tags() []string { return slices.Clone(b.tags) }

// Has reports whether lang has a catalog.
func (b *Bundle) Has(lang string) bool { _, ok := b.catalogs[lang]; return ok }

// Name is the language's name in itself.
func (b *Bundle) Name(lang string) string {
	if n := b.catalogs[lang][NameKey]; n != "" {
		return n
	}
	return lang
}

// Keys lists one catalog's keys, sorted (for checks).
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

// T returns key's message in lang (English if missing there, the key
// itself if missing in English too), with name, value pairs substituted.
func (b *Bundle) T(lang, key string, args ...any) string {
	s, ok := b.catalogs[lang][key]
	if !ok {
		if s, ok = b.catalogs[Fallback][key]; !ok {
			s = key
		}
	}
	if len(args) < 2 || !strings.Contains(s, "{") {
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
