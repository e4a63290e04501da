package sla_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ombud/shared/sla"
)

func TestLoadExample(t *testing.T) {
	cfg, err := sla.Load("testdata/sla.example.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"default", "lyon-part-dieu", "new-york", "round-the-clock"} {
		if _, ok := cfg.Calendar(name); !ok {
			t.Errorf("calendar %q is missing", name)
		}
	}
	if got, want := len(cfg.Policies()), 6; got != want {
		t.Errorf("policies: got %d, want %d", got, want)
	}
	// Holiday lists reach the calendars that name them: Lyon keeps the
	// French holidays and its own short day.
	lyon, _ := cfg.Calendar("lyon-part-dieu")
	paris := MustLocation(t, "Europe/Paris")
	for _, tt := range []struct {
		day  string
		want time.Duration
	}{
		{"2026-12-07", 9 * time.Hour}, // an ordinary Monday
		{"2026-12-08", 6 * time.Hour}, // Fête des Lumières
		{"2026-12-25", 0},             // Noël
		{"2026-12-24", 3 * time.Hour}, // Veille de Noël
	} {
		a := At(t, paris, tt.day+" 00:00")
		if got := lyon.BusinessBetween(a, a.AddDate(0, 0, 1)); got != tt.want {
			t.Errorf("Lyon on %s: got %s open, want %s", tt.day, got, tt.want)
		}
	}
}

// valid is the smallest configuration Parse accepts; the error table edits
// one line of it at a time.
const valid = `{
  "calendars": {
    "default": {
      "time_zone": "Europe/Paris",
      "hours": {"mon": ["09:00-12:00", "13:00-17:00"], "sun": []},
      "holidays": ["fr"]
    }
  },
  "holidays": {
    "fr": [
      {"date": "2026-05-01", "name": "Fête du travail"}
    ]
  },
  "policies": [
    {"acknowledge": "8h", "respond": "16h"}
  ]
}`

func TestParseValid(t *testing.T) {
	if _, err := sla.Parse([]byte(valid)); err != nil {
		t.Fatal(err)
	}
}

func TestParseErrors(t *testing.T) {
	// edit replaces old, which must occur once in valid, by new.
	edit := func(old, new string) string {
		if strings.Count(valid, old) != 1 {
			t.Fatalf("%q is not in the valid configuration exactly once", old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	const policy = `{"acknowledge": "8h", "respond": "16h"}`
	tests := []struct {
		name     string
		input    string
		wantLine int
		wantMsg  string
	}{
		{"syntax: missing comma", edit(`"Europe/Paris",`, `"Europe/Paris"`), 5, "not valid JSON"},
		{"syntax: trailing comma", edit(`"16h"}
  ]`, `"16h"},
  ]`), 16, "not valid JSON"},
		{"syntax: newline in a string", edit(`"Europe/Paris"`, "\"Europe/\nParis\""), 4, "not valid JSON"},
		{"syntax: cut short", valid[:strings.Index(valid, `"policies"`)], 13, "ends early"},
		{"syntax: more after the end", valid + "\n{}", 18, "more after"},
		{"unknown field", edit(`"time_zone"`, `"timezone"`), 4, `unknown field "timezone"`},
		{"field in the wrong case", edit(`"hours": {"mon"`, `"Hours": {"mon"`), 5, `unknown field "Hours"`},
		{"unknown day", edit(`"sun": []`, `"sunday": []`), 5, `unknown field "sunday"`},
		{"repeated field", edit(`"holidays": ["fr"]`, `"holidays": ["fr"],
      "holidays": []`), 7, `"holidays" appears twice`},
		{"wrong type", edit(`"acknowledge": "8h"`, `"acknowledge": 8`), 15, `"acknowledge" must be text`},
		{"priority not whole", edit(policy, `{"priority": 1.5, "acknowledge": "8h", "respond": "16h"}`), 15, `"priority" must be a whole number`},
		{"unknown time zone", edit(`"Europe/Paris"`, `"Europe/Pariss"`), 4, `unknown time zone "Europe/Pariss"`},
		{"no time zone", edit(`"time_zone": "Europe/Paris",`, ``), 3, "needs a time_zone"},
		{"host time zone", edit(`"Europe/Paris"`, `"Local"`), 4, `"Local"`},
		{"malformed interval", edit(`"13:00-17:00"`, `"1pm-5pm"`), 5, `"1pm-5pm" is not an interval`},
		{"hour out of range", edit(`"13:00-17:00"`, `"13:00-25:00"`), 5, "is not an interval"},
		{"interval ends before it starts", edit(`"13:00-17:00"`, `"17:00-13:00"`), 5, `mon: "17:00-13:00" does not end after it starts`},
		{"empty interval", edit(`"13:00-17:00"`, `"13:00-13:00"`), 5, "does not end after it starts"},
		{"overlapping intervals", edit(`"13:00-17:00"`, `"11:00-17:00"`), 5, `"11:00-17:00" overlaps "09:00-12:00"`},
		{"a week with no hours", edit(`"hours": {"mon": ["09:00-12:00", "13:00-17:00"], "sun": []}`, `"hours": {"mon": [], "sun": []}`), 5, "never open"},
		{"a week with no hours at all", edit(`"hours": {"mon": ["09:00-12:00", "13:00-17:00"], "sun": []},`, ``), 3, "never open"},
		{"no default calendar", edit(`"default": {`, `"paris": {`), 2, `no "default" calendar`},
		{"unknown holiday list", edit(`["fr"]`, `["fr", "be"]`), 6, `unknown holiday list "be"`},
		{"holiday date", edit(`"2026-05-01"`, `"01/05/2026"`), 11, `"01/05/2026" is not a date`},
		{"holiday twice", edit(`{"date": "2026-05-01", "name": "Fête du travail"}`, `{"date": "2026-05-01", "name": "Fête du travail"},
      {"date": "2026-05-01", "name": "again"}`), 12, "2026-05-01 twice (also on line 11)"},
		{"holiday hours", edit(`"name": "Fête du travail"}`, `"name": "Fête du travail", "hours": ["12:00-09:00"]}`), 11, "holiday 2026-05-01: \"12:00-09:00\" does not end after it starts"},
		{"policy with an unknown calendar", edit(policy, `{"acknowledge": "8h", "respond": "16h", "calendar": "lyon"}`), 15, `unknown calendar "lyon"`},
		{"zero target", edit(`"8h"`, `"0s"`), 15, "must be more than zero"},
		{"negative target", edit(`"16h"`, `"-16h"`), 15, "must be more than zero"},
		{"missing target", edit(`"respond": "16h"`, `"category": "billing"`), 15, "needs an respond target"},
		{"target not a duration", edit(`"8h"`, `"1 day"`), 15, `"1 day" is not a duration`},
		{"target over a year", edit(`"16h"`, `"90000h"`), 15, "is more than"},
		{"respond shorter than acknowledge", edit(`"16h"`, `"4h"`), 15, "shorter than its acknowledge target"},
		{"priority out of range", edit(policy, `{"priority": 5, "acknowledge": "8h", "respond": "16h"}`), 15, "priority must be from 1 to 4"},
		{"duplicate policies", edit(policy, policy+`,
    {"category": "Billing", "acknowledge": "1h", "respond": "2h"},
    {"category": "billing ", "acknowledge": "2h", "respond": "4h"}`), 17, "same category and priority as the policy on line 16"},
		{"no default policy", edit(policy, `{"priority": 1, "acknowledge": "8h", "respond": "16h"}`), 14, "no default policy"},
		{"no policies", edit(`,
  "policies": [
    `+policy+`
  ]`, ``), 1, `needs "policies"`},
		{"not an object", `["calendars"]`, 1, "must be an object"},
		{"empty", ``, 1, "ends early"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sla.Parse([]byte(tt.input))
			pe, ok := errors.AsType[*sla.ParseError](err)
			if !ok {
				t.Fatalf("got %v, want a *sla.ParseError", err)
			}
			if pe.Line != tt.wantLine {
				t.Errorf("line: got %d, want %d (%s)", pe.Line, tt.wantLine, pe.Reason)
			}
			if !strings.Contains(pe.Reason, tt.wantMsg) {
				t.Errorf("reason: got %q, want it to contain %q", pe.Reason, tt.wantMsg)
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sla.json")
	if err := os.WriteFile(path, []byte(strings.Replace(valid, "Europe/Paris", "Mars/Olympus", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sla.Load(path)
	if got, want := err.Error(), path+":4: "; !strings.HasPrefix(got, want) {
		t.Errorf("got %q, want it to start with %q", got, want)
	}
	if _, err := sla.Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("Load of a missing file: got no error, want one")
	}
}

func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("testdata/sla.example.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(valid))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := sla.Parse(data)
		if err != nil {
			pe, ok := errors.AsType[*sla.ParseError](err)
			if !ok {
				t.Fatalf("got %T %v, want a *sla.ParseError", err, err)
			}
			if lines := bytes.Count(data, []byte{'\n'}) + 1; pe.Line < 1 || pe.Line > lines {
				t.Fatalf("line %d is outside 1..%d: %v", pe.Line, lines, err)
			}
			return
		}
		// Whatever Parse accepts must answer every question without panicking.
		p := cfg.Policy("billing", 1)
		cal := cfg.CalendarFor(p, "some-branch")
		start := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
		if _, _, err := sla.Deadlines(p, cal, start, nil, start); err != nil && !errors.Is(err, sla.ErrBeyondHorizon) {
			t.Fatalf("Deadlines: %v", err)
		}
	})
}

// The digest follows the content, not the layout: re-indenting a file is no
// change, a changed target is.
func TestDigest(t *testing.T) {
	const base = `{"calendars": {"default": {"time_zone": "UTC", "hours": {"mon": ["09:00-17:00"]}}},
  "policies": [{"acknowledge": "16h", "respond": "80h"}]}`
	parse := func(text string) string {
		t.Helper()
		cfg, err := sla.Parse([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Digest()
	}
	d := parse(base)
	if len(d) != 64 {
		t.Errorf("digest %q, want 64 hex digits", d)
	}
	if got := parse(strings.ReplaceAll(base, " ", "\n\t ")); got != d {
		t.Errorf("re-indented: digest %s, want %s", got, d)
	}
	if got := parse(strings.Replace(base, "16h", "8h", 1)); got == d {
		t.Errorf("acknowledge target changed: digest unchanged")
	}
}
