package dispatch_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"ombud/server/dispatch"
	"ombud/shared/event"
	"ombud/shared/hlc"
)

// FuzzParse checks that no file, however mangled, panics the loader; that a
// refusal always points at a line of the file; and that any config accepted
// routes every complaint to a real queue, past any forwarding.
func FuzzParse(f *testing.F) {
	if example, err := os.ReadFile("testdata/dispatch.example.json"); err == nil {
		f.Add(example)
	}
	f.Add([]byte(routingConfig))
	complaints := []struct {
		branch, category, description, outcome string
		assessment                             *event.Assessment
	}{
		{"north", "billing", "my bill", "", nil},
		{"harbour", "fees", "I was injured, direct-debit REFUNDS", "facturé", nil},
		{"airport", "service", "電池が発火", "", &event.Assessment{Severity: event.SeverityCritical, Priority: 1}},
		{"a", "", "", "", &event.Assessment{Severity: event.SeverityLow, Priority: 4, Category: "other"}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := dispatch.Parse(data)
		if err != nil {
			ce, ok := errors.AsType[*dispatch.ConfigError](err)
			if !ok {
				t.Fatalf("error %T %v, want a *ConfigError", err, err)
			}
			if len(ce.Problems) == 0 {
				t.Fatal("a ConfigError with no problems")
			}
			lines := 1 + bytes.Count(data, []byte{'\n'})
			for _, p := range ce.Problems {
				if p.Line < 1 || p.Line > lines || p.Reason == "" {
					t.Fatalf("problem %+v: the file has %d lines", p, lines)
				}
			}
			return
		}
		teams := map[string]bool{}
		for _, tm := range rules.Teams() {
			teams[tm.Queue()] = true
		}
		for _, tc := range complaints {
			c := filed(tc.branch, tc.category, tc.description, tc.outcome)
			d := rules.Route(c, tc.assessment)
			if d.Rule == "" || d.Reason == "" {
				t.Fatalf("decision %+v names no rule or reason", d)
			}
			if rest, ok := strings.CutPrefix(d.Queue, "branch:"); !(ok && rest != "" || teams[d.Queue]) {
				t.Fatalf("routed to %q, which is neither a branch nor a declared team queue", d.Queue)
			}
			if again := rules.Route(c, tc.assessment); again.Queue != d.Queue || again.Reason != d.Reason {
				t.Fatalf("not deterministic: %+v then %+v", d, again)
			}
			if _, err := dispatch.Event(d, c, hlc.Make(1, 0), event.Actor{Kind: event.ActorSystem}); err != nil {
				t.Fatalf("Event(%+v): %v", d, err)
			}
		}
	})
}
