package dispatch_test

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"ombud/server/dispatch"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
)

// MustParse parses a config the test expects to be valid.
func MustParse(tb testing.TB, config string) *dispatch.Rules {
	tb.Helper()
	r, err := dispatch.Parse([]byte(config))
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return r
}

func filed(branch, category, description, outcome string) complaint.Complaint {
	return complaint.Complaint{
		ID: "0190a0b0-0000-7000-8000-000000000001", Code: "K7-ABCD-EFGH", Branch: branch,
		Device: "dev-1", Channel: complaint.ChannelKiosk, Category: category,
		Description: description, DesiredOutcome: outcome, Language: "en",
		FiledAt: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC),
	}
}

const routingConfig = `{
  "queues": [
    {"id": "billing", "name": "Billing"},
    {"id": "safety", "name": "Safety"},
    {"id": "office"},
    {"id": "cover", "name": "Holiday cover"},
    {"id": "cover2"}
  ],
  "forward": [
    {"from": "team:office", "to": "team:cover", "note": "closed for the holidays"},
    {"from": "team:cover", "to": "team:cover2"},
    {"from": "branch:harbour", "to": "branch:central"}
  ],
  "rules": [
    {"name": "safety words", "when": {"words": ["injured", "fire", "direct debit", "blessé", "発火"]}, "queue": "team:safety"},
    {"name": "critical", "when": {"severity": ["critical"]}, "queue": "team:office"},
    {"name": "billing category", "when": {"category": ["Billing", "fees"]}, "queue": "team:billing"},
    {"name": "billing words", "when": {"words": ["bill", "refund*", "facture"], "not_words": ["billboard"]}, "queue": "team:billing"},
    {"name": "airport", "when": {"branch": ["airport"], "category": ["service"]}, "queue": "branch:central"},
    {"name": "harbour", "when": {"branch": ["harbour"], "category": ["parking"]}, "queue": "branch"}
  ]
}`

func TestRoute(t *testing.T) {
	rules := MustParse(t, routingConfig)
	critical := &event.Assessment{Severity: event.SeverityCritical, Priority: 1}
	low := &event.Assessment{Severity: event.SeverityLow, Priority: 4}
	tests := []struct {
		name      string
		c         complaint.Complaint
		a         *event.Assessment
		queue     string
		rule      string
		reasonHas string
		via       []string
	}{
		{"category rule, any case", filed("north", "BILLING", "x", ""), nil, "team:billing", "billing category", `category "Billing"`, nil},
		{"category rule, second value", filed("north", "fees", "x", ""), nil, "team:billing", "billing category", `category "fees"`, nil},
		{"branch rule needs its category too", filed("airport", "service", "x", ""), nil, "branch:central", "airport", `branch "airport"`, nil},
		{"branch rule, other category", filed("airport", "staff", "x", ""), nil, "branch:airport", dispatch.DefaultRule, "no rule matched", nil},
		{"words: whole word with punctuation", filed("north", "other", "Why is my BILL, again, wrong?", ""), nil, "team:billing", "billing words", `word "bill"`, nil},
		{"words: not inside a longer word", filed("north", "other", "A billion complaints; billing is fine", ""), nil, "branch:north", dispatch.DefaultRule, "", nil},
		{"words: not a plural", filed("north", "other", "my bills", ""), nil, "branch:north", dispatch.DefaultRule, "", nil},
		{"words: prefix", filed("north", "other", "I was promised REFUNDS.", ""), nil, "team:billing", "billing words", `word "refund*"`, nil},
		{"words: in the desired outcome", filed("north", "other", "long story", "a refund"), nil, "team:billing", "billing words", "refund", nil},
		{"words: not_words veto", filed("north", "other", "The billboard bill", ""), nil, "branch:north", dispatch.DefaultRule, "", nil},
		{"words: phrase across punctuation", filed("north", "other", "My direct-debit was taken twice", ""), nil, "team:safety", "safety words", `word "direct debit"`, nil},
		{"words: phrase not split across fields", filed("north", "other", "it was direct", "debit back"), nil, "branch:north", dispatch.DefaultRule, "", nil},
		{"words: accent in text, none in rule", filed("north", "autre", "La facturé est fausse", ""), nil, "team:billing", "billing words", "facture", nil},
		{"words: accent in rule, none in text", filed("north", "autre", "Mon fils a été BLESSE", ""), nil, "team:safety", "safety words", "blessé", nil},
		{"words: decomposed accent", filed("north", "autre", "blesse\u0301 au bras", ""), nil, "team:safety", "safety words", "blessé", nil},
		{"words: unspaced script matches inside", filed("north", "other", "電池が発火しました", ""), nil, "team:safety", "safety words", "発火", nil},
		{"first match wins", filed("north", "billing", "there was a fire", ""), nil, "team:safety", "safety words", `word "fire"`, nil},
		{"severity rule needs an assessment", filed("north", "other", "x", ""), nil, "branch:north", dispatch.DefaultRule, "", nil},
		{"severity rule with one, forwarded twice", filed("north", "other", "x", ""), critical, "team:cover2", "critical", "closed for the holidays", []string{"team:office", "team:cover"}},
		{"severity rule, other severity", filed("north", "other", "x", ""), low, "branch:north", dispatch.DefaultRule, "", nil},
		{"assessment corrects the category", filed("north", "other", "x", ""), &event.Assessment{Severity: event.SeverityLow, Priority: 3, Category: "fees"}, "team:billing", "billing category", "fees", nil},
		{"default forwarded", filed("harbour", "other", "x", ""), nil, "branch:central", dispatch.DefaultRule, "branch:harbour forwards to branch:central", []string{"branch:harbour"}},
		{"filing branch forwarded", filed("harbour", "parking", "x", ""), nil, "branch:central", "harbour", "forwards", []string{"branch:harbour"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rules.Route(tt.c, tt.a)
			if got.Queue != tt.queue || got.Rule != tt.rule {
				t.Errorf("Route = %q by %q (%s), want %q by %q", got.Queue, got.Rule, got.Reason, tt.queue, tt.rule)
			}
			if !strings.Contains(got.Reason, tt.reasonHas) {
				t.Errorf("reason %q, want it to mention %q", got.Reason, tt.reasonHas)
			}
			if !slices.Equal(got.Via, tt.via) {
				t.Errorf("via %q, want %q", got.Via, tt.via)
			}
			if again := rules.Route(tt.c, tt.a); again.Queue != got.Queue || again.Reason != got.Reason {
				t.Errorf("not deterministic: %+v then %+v", got, again)
			}
		})
	}
}

func TestDefaultRoutesToFilingBranch(t *testing.T) {
	for name, r := range map[string]*dispatch.Rules{
		"Default":  dispatch.Default(),
		"nil":      nil,
		"{}":       MustParse(t, "{}"),
		"no rules": MustParse(t, `{"queues": [{"id": "billing"}], "rules": []}`),
	} {
		t.Run(name, func(t *testing.T) {
			got := r.Route(filed("north", "billing", "bill", ""), nil)
			if got.Queue != "branch:north" || got.Rule != dispatch.DefaultRule {
				t.Errorf("Route = %+v, want branch:north by %q", got, dispatch.DefaultRule)
			}
		})
	}
}

func TestCatchAllLastIsAllowed(t *testing.T) {
	r := MustParse(t, `{"queues": [{"id": "desk"}], "rules": [
		{"name": "fees", "when": {"category": ["fees"]}, "queue": "branch"},
		{"name": "everything else", "queue": "team:desk"}]}`)
	if got := r.Route(filed("north", "other", "x", ""), nil); got.Queue != "team:desk" || got.Rule != "everything else" {
		t.Errorf("Route = %+v, want team:desk by the catch-all", got)
	}
}

func TestExampleConfigLoads(t *testing.T) {
	r, err := dispatch.Load("testdata/dispatch.example.json")
	if err != nil {
		t.Fatal(err)
	}
	got := r.Route(filed("north", "other", "I was overcharged on my invoices", ""), nil)
	if got.Queue != "team:billing-cover" || got.Rule != "billing by words" {
		t.Errorf("Route = %+v, want team:billing-cover (billing forwards there) by %q", got, "billing by words")
	}
	var teams []string
	for _, tm := range r.Teams() {
		teams = append(teams, tm.Queue())
	}
	if want := []string{"team:billing", "team:safety", "team:complaints-office", "team:billing-cover"}; !slices.Equal(teams, want) {
		t.Errorf("Teams = %q, want %q", teams, want)
	}
}

// TestRefused checks every kind of refusal names its line and says why.
func TestRefused(t *testing.T) {
	tests := []struct {
		name   string
		config string
		line   int
		has    []string
	}{
		{"empty file", "", 1, []string{"empty"}},
		{"syntax: trailing comma", "{\n  \"rules\": [\n    {\"name\": \"a\", \"queue\": \"branch\"},\n  ]\n}", 4, []string{"JSON syntax", "invalid character"}},
		{"syntax: missing comma", "{\n\"queues\": []\n\"rules\": []\n}", 3, []string{"JSON syntax"}},
		{"syntax: bad value after a colon", "{\n\"rules\":\n\n  nope}", 4, []string{"JSON syntax", "'o'"}},
		{"syntax: stray comma", "{\"rules\": []\n ,,}", 2, []string{"JSON syntax", "','"}},
		{"syntax: cut short", "{\n\"rules\": [\n{\"name\": \"a\"", 3, []string{"ends in the middle"}},
		{"two objects", "{}\n\n{}", 3, []string{"after the end"}},
		{"not an object", "\n[]", 2, []string{"must be an object"}},
		{"unknown top-level field", "{\n\"rule\": []}", 2, []string{`unknown field "rule"`, "queues, forward, rules"}},
		{"unknown when field", "{\"rules\": [\n{\"name\": \"a\", \"queue\": \"branch\",\n \"when\": {\"catgory\": [\"x\"]}}]}", 3, []string{`unknown field "catgory"`, "category"}},
		{"repeated field", "{\"rules\": [{\"name\": \"a\",\n\"name\": \"b\", \"queue\": \"branch\"}]}", 2, []string{`"name" is given twice`, "line 1"}},
		{"wrong type", "{\"rules\": [{\"name\": \"a\", \"queue\": \"branch\",\n\"when\": {\"category\": \"fees\"}}]}", 2, []string{"must be a list"}},
		{"undeclared team queue", "{\"queues\": [{\"id\": \"billing\"}],\n\"rules\": [\n{\"name\": \"a\", \"queue\": \"team:biling\"}]}", 3, []string{`unknown queue "team:biling"`, "declared: team:billing"}},
		{"bare team id", "{\"queues\": [{\"id\": \"billing\"}], \"rules\": [\n{\"name\": \"a\", \"queue\": \"billing\"}]}", 2, []string{`unknown queue "billing"`, `did you mean "team:billing"`}},
		{"team id with prefix", "{\"queues\": [\n{\"id\": \"team:billing\"}]}", 2, []string{`without "team:"`}},
		{"bad team id", "{\"queues\": [\n{\"id\": \"Billing Team\"}]}", 2, []string{"lower-case letters"}},
		{"team declared twice", "{\"queues\": [{\"id\": \"a\"},\n{\"id\": \"a\"}]}", 2, []string{"declared twice", "line 1"}},
		{"missing queue", "{\"rules\": [\n{\"name\": \"a\"}]}", 2, []string{`has no "queue"`}},
		{"missing name", "{\"rules\": [{\"queue\": \"branch\"},\n{\"queue\": \"branch\"}]}", 1, []string{`rule 1 has no "name"`}},
		{"empty when shadows", "{\"rules\": [\n{\"name\": \"first\", \"when\": {\"category\": [\"a\"]}, \"queue\": \"branch\"},\n{\"name\": \"all\", \"when\": {}, \"queue\": \"branch\"},\n{\"name\": \"x\", \"when\": {\"category\": [\"b\"]}, \"queue\": \"branch\"},\n{\"name\": \"y\", \"when\": {\"category\": [\"c\"]}, \"queue\": \"branch\"}]}", 3, []string{`rule "all"`, "empty \"when\"", `"x", "y"`}},
		{"no when shadows", "{\"rules\": [\n{\"name\": \"all\", \"queue\": \"branch\"},\n{\"name\": \"x\", \"when\": {\"category\": [\"b\"]}, \"queue\": \"branch\"}]}", 2, []string{"can never apply", `"x"`}},
		{"duplicate rule names", "{\"rules\": [\n{\"name\": \"Fees\", \"when\": {\"category\": [\"a\"]}, \"queue\": \"branch\"},\n{\"name\": \"fees\", \"when\": {\"category\": [\"b\"]}, \"queue\": \"branch\"}]}", 3, []string{`"fees" is used twice`, "line 2"}},
		{"reserved name", "{\"rules\": [\n{\"name\": \"Default\", \"queue\": \"branch\"}]}", 2, []string{"kept for complaints that no rule matches"}},
		{"unknown severity", "{\"rules\": [{\"name\": \"a\", \"queue\": \"branch\", \"when\": {\"severity\": [\n\"high\",\n\"urgent\"]}}]}", 3, []string{`"urgent"`, "low, medium, high or critical"}},
		{"empty word", "{\"rules\": [{\"name\": \"a\", \"queue\": \"branch\",\n\"when\": {\"words\": [\"bill\", \"  \"]}}]}", 2, []string{`"words" entry 2`, "is empty"}},
		{"punctuation-only word", "{\"rules\": [{\"name\": \"a\", \"queue\": \"branch\",\n\"when\": {\"not_words\": [\"--\"]}}]}", 2, []string{`"not_words" entry 1`, "no letters or digits"}},
		{"star inside a word", "{\"rules\": [{\"name\": \"a\", \"queue\": \"branch\",\n\"when\": {\"words\": [\"re*fund\"]}}]}", 2, []string{"not at the end"}},
		{"empty list", "{\"rules\": [{\"name\": \"a\", \"queue\": \"branch\",\n\"when\": {\"branch\": []}}]}", 2, []string{"empty list", "leave the field out"}},
		{"bad branch id", "{\"rules\": [{\"name\": \"a\",\n\"queue\": \"branch:north one\"}]}", 2, []string{"branch id has spaces"}},
		{"filing branch in forwarding", "{\"forward\": [\n{\"from\": \"branch:a\", \"to\": \"branch\"}]}", 2, []string{"only for rules"}},
		{"forwarded twice", "{\"forward\": [{\"from\": \"branch:a\", \"to\": \"branch:b\"},\n{\"from\": \"branch:a\", \"to\": \"branch:c\"}]}", 2, []string{"already forwarded", "line 1"}},
		{"forwarding to an undeclared queue", "{\"forward\": [\n{\"from\": \"branch:a\", \"to\": \"team:ghost\"}]}", 2, []string{`unknown queue "team:ghost"`, "none are"}},
		{"too large", "{" + strings.Repeat(" ", dispatch.MaxConfigBytes) + "}", 1, []string{"larger than"}},
		{"too deep", strings.Repeat("[", 40), 1, []string{"nested more than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := dispatch.Parse([]byte(tt.config))
			if err == nil {
				t.Fatalf("Parse accepted it: %d rules", r.Len())
			}
			ce, ok := errors.AsType[*dispatch.ConfigError](err)
			if !ok {
				t.Fatalf("error %T %v, want a *ConfigError", err, err)
			}
			if ce.Line() != tt.line {
				t.Errorf("line %d, want %d: %v", ce.Line(), tt.line, err)
			}
			for _, s := range tt.has {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q, want it to say %q", err, s)
				}
			}
		})
	}
}

func TestForwardingLoops(t *testing.T) {
	tests := []struct {
		name    string
		forward string
		lines   []int
		loops   []string
	}{
		{"to itself", `{"from": "branch:a", "to": "branch:a"}`, []int{3}, []string{"branch:a → branch:a"}},
		{"two queues", `{"from": "team:t", "to": "branch:b"},
{"from": "branch:b", "to": "team:t"}`, []int{3}, []string{"team:t → branch:b → team:t"}},
		// The chain into the loop is not part of it; the loop is named from
		// its earliest forwarding, at that line.
		{"entered from a chain", `{"from": "branch:x", "to": "branch:c"},
{"from": "branch:d", "to": "branch:b"},
{"from": "branch:b", "to": "branch:c"},
{"from": "branch:c", "to": "branch:d"}`, []int{4}, []string{"branch:d → branch:b → branch:c → branch:d"}},
		{"two loops", `{"from": "branch:a", "to": "branch:b"},
{"from": "branch:b", "to": "branch:a"},
{"from": "branch:c", "to": "branch:c"}`, []int{3, 5}, []string{"branch:a → branch:b → branch:a", "branch:c → branch:c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := "{\"queues\": [{\"id\": \"t\"}],\n\"forward\": [\n" + tt.forward + "]}"
			_, err := dispatch.Parse([]byte(config))
			ce, ok := errors.AsType[*dispatch.ConfigError](err)
			if !ok {
				t.Fatalf("Parse: %v, want a *ConfigError", err)
			}
			if len(ce.Problems) != len(tt.loops) {
				t.Fatalf("problems %+v, want %d loops", ce.Problems, len(tt.loops))
			}
			for i, p := range ce.Problems {
				if p.Line != tt.lines[i] || !strings.Contains(p.Reason, "forwarding loop: "+tt.loops[i]+";") {
					t.Errorf("problem %d: line %d %q, want line %d naming %q", i, p.Line, p.Reason, tt.lines[i], tt.loops[i])
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := dispatch.Load(t.TempDir() + "/none.json")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load: %v, want a not-exist error", err)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := t.TempDir() + "/dispatch.json"
	if err := os.WriteFile(path, []byte("{\n\"rules\": 1}"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := dispatch.Load(path)
	if want := path + ": line 2: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load: %v, want it to start %q", err, want)
	}
}

func TestEvent(t *testing.T) {
	c := filed("north", "fees", "x", "")
	at := hlc.Make(time.Date(2026, 3, 1, 9, 5, 0, 0, time.UTC).UnixMilli(), 3)
	actor := event.Actor{Kind: event.ActorSystem, ID: "dispatch"}
	d := MustParse(t, routingConfig).Route(c, nil)
	e, err := dispatch.Event(d, c, at, actor)
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != event.Assigned || e.ComplaintID != c.ID || e.Branch != "north" || e.At != at || e.Actor != actor || e.ID == "" {
		t.Errorf("event %+v", e)
	}
	var a event.Assignment
	if err := json.Unmarshal(e.Data, &a); err != nil {
		t.Fatal(err)
	}
	if want := (event.Assignment{Queue: "team:billing", Rule: "billing category"}); a != want {
		t.Errorf("assignment %+v, want %+v", a, want)
	}

	bad := []struct {
		name string
		d    dispatch.Decision
		c    complaint.Complaint
		at   hlc.Timestamp
	}{
		{"no queue", dispatch.Decision{Rule: "r"}, c, at},
		{"no rule", dispatch.Decision{Queue: "branch:north"}, c, at},
		{"no branch in queue", dispatch.Decision{Queue: "branch:", Rule: "r"}, c, at},
		{"no complaint id", d, complaint.Complaint{Branch: "north"}, at},
		{"no time", d, c, 0},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if e, err := dispatch.Event(tt.d, tt.c, tt.at, actor); err == nil {
				t.Errorf("Event = %+v, want an error", e)
			}
		})
	}
}
