package sla

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"ombud/shared/event"
)

// MaxTarget bounds a policy target. Business time is at most wall time, so a
// target beyond a year of wall time is a typo (an extra zero), and one that
// large could never be met within Horizon on a normal calendar.
const MaxTarget = 365 * 24 * time.Hour

// maxDepth bounds nesting while locating values. The format is four levels
// deep; anything much deeper is not a configuration.
const maxDepth = 32

// ParseError is a configuration the server refuses, with the line to fix and
// the reason in plain words.
type ParseError struct {
	File   string // set by Load
	Line   int    // 1-based
	Reason string
}

func (e *ParseError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
	}
	return fmt.Sprintf("sla config line %d: %s", e.Line, e.Reason)
}

// fileConfig is the file format; see the package documentation.
type fileConfig struct {
	Calendars map[string]fileCalendar `json:"calendars"`
	Holidays  map[string][]Holiday    `json:"holidays"`
	Policies  []filePolicy            `json:"policies"`
	// AcceptWithin is how long the customer has, after the decision, to
	// accept it or say they are not satisfied before the case closes on
	// its own (ISO 10002 8.9); wall-clock time, DefaultAcceptWithin when
	// left out.
	AcceptWithin string `json:"accept_within"`
}

type fileCalendar struct {
	TimeZone string   `json:"time_zone"`
	Hours    Hours    `json:"hours"`
	Holidays []string `json:"holidays"` // names of holiday lists
}

type filePolicy struct {
	Category    string `json:"category"`
	Priority    int    `json:"priority"`
	Acknowledge string `json:"acknowledge"`
	Respond     string `json:"respond"`
	Calendar    string `json:"calendar"`
}

// Load reads and parses the configuration file at path. Errors in the
// content are *ParseError naming the file and line.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sla: read config: %w", err)
	}
	cfg, err := Parse(data)
	if pe, ok := errors.AsType[*ParseError](err); ok {
		pe.File = path
	}
	return cfg, err
}

// Parse reads a configuration. Every error it returns is a *ParseError with
// a line number of 1 or more.
func Parse(data []byte) (*Config, error) {
	loc := &locator{data: data, at: map[string]int64{}}
	// First pass: syntax, unknown or repeated fields, wrong JSON types, all
	// with the exact position; and the position of every value, so that the
	// checks below can point at the line they refuse.
	if err := loc.scan(); err != nil {
		return nil, err
	}
	var fc fileConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		// The scan has already refused anything the decoder would; this is a
		// safety net that still honours the "always a line" promise.
		return nil, loc.decodeError(err)
	}
	cfg, err := loc.build(fc)
	if err != nil {
		return nil, err
	}
	cfg.digest = digest(data)
	cfg.raw = bytes.Clone(data)
	return cfg, nil
}

// digest is the SHA-256 of the file with insignificant whitespace removed,
// so re-indenting a file is not a change of configuration.
func digest(data []byte) string {
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		// Unreachable after a successful parse; the raw bytes still name
		// the content.
		compact.Reset()
		compact.Write(data)
	}
	sum := sha256.Sum256(compact.Bytes())
	return hex.EncodeToString(sum[:])
}

func (l *locator) build(fc fileConfig) (*Config, error) {
	if fc.Calendars == nil {
		return nil, l.fail("", "the configuration needs \"calendars\", with at least a %q calendar", DefaultCalendar)
	}
	if fc.Policies == nil {
		return nil, l.fail("", "the configuration needs \"policies\", with at least a default policy (no category, no priority)")
	}

	// Holiday lists are shared (a country's public holidays serve every
	// branch in it), so they are checked once, where they are written.
	sets := make(map[string]map[civil][]span, len(fc.Holidays))
	for _, name := range l.inOrder("/holidays", keys(fc.Holidays)) {
		set := map[civil][]span{}
		seen := map[civil]int{}
		for i, h := range fc.Holidays[name] {
			at := path("holidays", name, strconv.Itoa(i))
			date, spans, p := buildHoliday(h)
			if p != nil {
				return nil, l.problem(at, p)
			}
			if j, dup := seen[date]; dup {
				return nil, l.fail(path(at, "date"), "holiday list %q has %s twice (also on line %d)", name, h.Date, l.line(path("holidays", name, strconv.Itoa(j))))
			}
			seen[date] = i
			set[date] = spans
		}
		sets[name] = set
	}

	cfg := &Config{calendars: map[string]*Calendar{}, index: map[policyKey]int{}}
	for _, name := range l.inOrder("/calendars", keys(fc.Calendars)) {
		at := path("calendars", name)
		if strings.TrimSpace(name) == "" {
			return nil, l.fail(at, "a calendar needs a name: a branch id or %q", DefaultCalendar)
		}
		fcal := fc.Calendars[name]
		week, p := buildWeek(fcal.Hours)
		if p != nil {
			return nil, l.problem(at, &problem{path: p.path, msg: fmt.Sprintf("calendar %q: %s", name, p.msg)})
		}
		days := map[civil][]span{}
		from := map[civil]string{} // which list gave each date, for conflicts
		for i, setName := range fcal.Holidays {
			set, ok := sets[setName]
			if !ok {
				return nil, l.fail(path(at, "holidays", strconv.Itoa(i)), "calendar %q: unknown holiday list %q", name, setName)
			}
			for date, spans := range set {
				if prev, ok := days[date]; ok && !slices.Equal(prev, spans) {
					return nil, l.fail(path(at, "holidays", strconv.Itoa(i)), "calendar %q: holiday lists %q and %q give %04d-%02d-%02d different hours", name, from[date], setName, date.y, date.m, date.d)
				}
				days[date], from[date] = spans, setName
			}
		}
		cal, p := newCalendar(name, fcal.TimeZone, week, days)
		if p != nil {
			return nil, l.problem(at, p)
		}
		cfg.calendars[name] = cal
	}
	if _, ok := cfg.calendars[DefaultCalendar]; !ok {
		return nil, l.fail("/calendars", "there is no %q calendar, needed for branches without their own", DefaultCalendar)
	}

	for i, fp := range fc.Policies {
		at := path("policies", strconv.Itoa(i))
		p := Policy{Category: strings.TrimSpace(fp.Category), Priority: fp.Priority, Calendar: fp.Calendar}
		if p.Priority != 0 && (p.Priority < event.PriorityHighest || p.Priority > event.PriorityLowest) {
			return nil, l.fail(path(at, "priority"), "policy priority must be from %d to %d (or left out for any priority), not %d", event.PriorityHighest, event.PriorityLowest, p.Priority)
		}
		var err error
		if p.Acknowledge, err = l.target(path(at, "acknowledge"), "acknowledge", fp.Acknowledge); err != nil {
			return nil, err
		}
		if p.Respond, err = l.target(path(at, "respond"), "respond", fp.Respond); err != nil {
			return nil, err
		}
		if p.Respond < p.Acknowledge {
			return nil, l.fail(path(at, "respond"), "policy respond target %s is shorter than its acknowledge target %s: a case cannot be answered before it is acknowledged", p.Respond, p.Acknowledge)
		}
		if p.Calendar != "" {
			if _, ok := cfg.calendars[p.Calendar]; !ok {
				return nil, l.fail(path(at, "calendar"), "policy names unknown calendar %q", p.Calendar)
			}
		}
		k := policyKey{categoryKey(p.Category), p.Priority}
		if j, dup := cfg.index[k]; dup {
			return nil, l.fail(at, "policy has the same category and priority as the policy on line %d", l.line(path("policies", strconv.Itoa(j))))
		}
		cfg.index[k] = len(cfg.policies)
		cfg.policies = append(cfg.policies, p)
	}
	if _, ok := cfg.index[policyKey{}]; !ok {
		return nil, l.fail("/policies", "there is no default policy (one with no category and no priority), needed for cases no other policy matches")
	}
	cfg.acceptWithin = DefaultAcceptWithin
	if fc.AcceptWithin != "" {
		d, err := time.ParseDuration(fc.AcceptWithin)
		switch {
		case err != nil:
			return nil, l.fail("/accept_within", "accept_within %q is not a duration such as \"336h\" (14 days)", fc.AcceptWithin)
		case d < time.Hour || d > MaxTarget:
			return nil, l.fail("/accept_within", "accept_within %q must be from 1h to %s: the customer needs time to read the decision", fc.AcceptWithin, MaxTarget)
		}
		cfg.acceptWithin = d
	}
	return cfg, nil
}

func (l *locator) target(at, name, s string) (time.Duration, error) {
	if s == "" {
		return 0, l.fail(at, "policy needs an %s target, such as \"16h\" of business time", name)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, l.fail(at, "policy %s target %q is not a duration such as \"4h\" or \"1h30m\"", name, s)
	}
	if d <= 0 {
		return 0, l.fail(at, "policy %s target %q must be more than zero", name, s)
	}
	if d > MaxTarget {
		return 0, l.fail(at, "policy %s target %q is more than %s", name, s, MaxTarget)
	}
	return d, nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// locator knows where each value of the document starts, by path
// ("/calendars/paris/hours/mon/0"), so errors found after decoding can still
// name a line.
type locator struct {
	data []byte
	dec  *json.Decoder
	at   map[string]int64
}

var keyEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// path joins segments into a locator path; a leading path may be passed as
// the first segment. Keys are escaped so that a branch id holding "/" cannot
// collide with another path.
func path(segs ...string) string {
	var b strings.Builder
	for i, s := range segs {
		if i == 0 && (s == "" || strings.HasPrefix(s, "/")) {
			b.WriteString(s)
			continue
		}
		b.WriteByte('/')
		b.WriteString(keyEscaper.Replace(s))
	}
	return b.String()
}

// inOrder sorts names of entries under parent by where they appear, so the
// first error reported is the first in the file.
func (l *locator) inOrder(parent string, names []string) []string {
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(l.at[path(parent, a)], l.at[path(parent, b)]), strings.Compare(a, b))
	})
	return names
}

// line is the line of the value at p, or of its nearest located parent.
func (l *locator) line(p string) int {
	for {
		if off, ok := l.at[p]; ok {
			return lineAt(l.data, off)
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return 1
		}
		p = p[:i]
	}
}

func lineAt(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return 1 + bytes.Count(data[:off], []byte{'\n'})
}

func (l *locator) fail(p, format string, args ...any) *ParseError {
	return &ParseError{Line: l.line(p), Reason: fmt.Sprintf(format, args...)}
}

func (l *locator) problem(base string, p *problem) *ParseError {
	return &ParseError{Line: l.line(path(append([]string{base}, p.path...)...)), Reason: p.msg}
}

func (l *locator) scan() error {
	l.dec = json.NewDecoder(bytes.NewReader(l.data))
	l.dec.UseNumber()
	if err := l.value(reflect.TypeFor[fileConfig](), "", "the configuration", 0); err != nil {
		return err
	}
	off := l.next()
	if _, err := l.dec.Token(); err != io.EOF {
		return &ParseError{Line: lineAt(l.data, off), Reason: "not valid JSON: there is more after the closing brace of the configuration"}
	}
	return nil
}

// next is the offset of the next token's first byte: the decoder's offset
// stops before separators and white space.
func (l *locator) next() int64 {
	off := l.dec.InputOffset()
	for off < int64(len(l.data)) && strings.IndexByte(" \t\r\n,:", l.data[off]) >= 0 {
		off++
	}
	return off
}

// value walks one JSON value against the Go type t that will receive it (nil
// once outside the schema) and records where each value starts. name says
// which value it is, for people: "mon", item 2 of "mon".
func (l *locator) value(t reflect.Type, p, name string, depth int) error {
	if depth > maxDepth {
		return &ParseError{Line: lineAt(l.data, l.next()), Reason: "the configuration is nested too deeply"}
	}
	off := l.next()
	l.at[p] = off
	tok, err := l.dec.Token()
	if err != nil {
		return l.syntaxError(err, off)
	}
	mismatch := func(got string) error {
		return &ParseError{Line: lineAt(l.data, off), Reason: fmt.Sprintf("%s must be %s, not %s", name, describe(t), got)}
	}
	switch tok := tok.(type) {
	case json.Delim:
		if tok == '{' {
			if t != nil && t.Kind() != reflect.Struct && t.Kind() != reflect.Map {
				return mismatch("an object")
			}
			seen := map[string]bool{}
			for l.dec.More() {
				koff := l.next()
				kt, err := l.dec.Token()
				if err != nil {
					return l.syntaxError(err, koff)
				}
				key, _ := kt.(string) // the decoder only returns strings here
				if seen[key] {
					return &ParseError{Line: lineAt(l.data, koff), Reason: fmt.Sprintf("%q appears twice in %s; the second would silently replace the first", key, name)}
				}
				seen[key] = true
				var vt reflect.Type
				if t != nil && t.Kind() == reflect.Map {
					vt = t.Elem()
				} else if t != nil {
					f, ok := field(t, key)
					if !ok {
						return &ParseError{Line: lineAt(l.data, koff), Reason: fmt.Sprintf("unknown field %q in %s (known: %s)", key, name, strings.Join(fieldNames(t), ", "))}
					}
					vt = f
				}
				if err := l.value(vt, path(p, key), strconv.Quote(key), depth+1); err != nil {
					return err
				}
			}
		} else { // '['
			if t != nil && t.Kind() != reflect.Slice {
				return mismatch("a list")
			}
			var et reflect.Type
			if t != nil {
				et = t.Elem()
			}
			for i := 0; l.dec.More(); i++ {
				if err := l.value(et, path(p, strconv.Itoa(i)), fmt.Sprintf("item %d of %s", i+1, name), depth+1); err != nil {
					return err
				}
			}
		}
		eoff := l.next()
		if _, err := l.dec.Token(); err != nil { // the closing delimiter
			return l.syntaxError(err, eoff)
		}
	case string:
		if t != nil && t.Kind() != reflect.String {
			return mismatch(fmt.Sprintf("the text %q", tok))
		}
	case json.Number:
		if t != nil && t.Kind() != reflect.Int {
			return mismatch("the number " + tok.String())
		}
		if t != nil {
			if _, err := strconv.ParseInt(tok.String(), 10, 32); err != nil {
				return mismatch("the number " + tok.String())
			}
		}
	case bool:
		if t != nil {
			return mismatch(strconv.FormatBool(tok))
		}
	case nil:
		// null leaves the zero value, as encoding/json does; the checks after
		// decoding say what is missing.
	}
	return nil
}

func (l *locator) syntaxError(err error, off int64) *ParseError {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return &ParseError{Line: lineAt(l.data, offending(l.data, se)), Reason: "not valid JSON: " + se.Error()}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &ParseError{Line: lineAt(l.data, int64(len(bytes.TrimRight(l.data, " \t\r\n")))), Reason: "not valid JSON: the file ends early (a brace, bracket or quote is not closed)"}
	}
	return &ParseError{Line: lineAt(l.data, off), Reason: "not valid JSON: " + err.Error()}
}

func (l *locator) decodeError(err error) *ParseError {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return &ParseError{Line: lineAt(l.data, te.Offset), Reason: fmt.Sprintf("%q must be %s, not %s", te.Field, describe(te.Type), te.Value)}
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return &ParseError{Line: lineAt(l.data, offending(l.data, se)), Reason: "not valid JSON: " + se.Error()}
	}
	return &ParseError{Line: 1, Reason: err.Error()}
}

// offending is the offset of the byte a syntax error complains about.
// encoding/json reports the offset of that byte when Decoder.Token trips on
// it, and the offset just after it when its scanner does, so the byte named
// in the message decides; it matters when that byte is a newline.
func offending(data []byte, se *json.SyntaxError) int64 {
	off := min(max(se.Offset, 0), int64(len(data)))
	msg, ok := strings.CutPrefix(se.Error(), "invalid character ")
	if !ok || len(msg) < 3 || msg[0] != '\'' {
		return off
	}
	end := strings.Index(msg[1:], "' ")
	if end < 0 {
		end = len(msg) - 2
	}
	inner := msg[1 : end+1]
	var c string
	switch inner {
	case `"`, `\'`:
		c = inner[len(inner)-1:]
	default:
		u, err := strconv.Unquote(`"` + inner + `"`)
		if err != nil {
			return off
		}
		c = u
	}
	if len(c) != 1 {
		return off
	}
	if off < int64(len(data)) && data[off] == c[0] {
		return off
	}
	if off > 0 && data[off-1] == c[0] {
		return off - 1
	}
	return off
}

// field finds the struct field named key in JSON. Matching is exact, unlike
// encoding/json's: "Time_Zone" is a typo to report, not a field to accept.
func field(t reflect.Type, key string) (reflect.Type, bool) {
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name == key {
			return f.Type, true
		}
	}
	return nil, false
}

func fieldNames(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out = append(out, name)
	}
	return out
}

func describe(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.String:
		return "text in quotes"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Slice:
		return "a list [...]"
	case reflect.Struct, reflect.Map:
		return "an object {...}"
	}
	return t.String()
}
