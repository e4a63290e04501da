package retention_test

import (
	"strings"
	"testing"
	"time"

	"ombud/shared/retention"
)

func TestPolicy(t *testing.T) {
	p, err := retention.Parse(strings.NewReader(`{"default_months": 12, "categories": {"billing": 24}}`))
	if err != nil {
		t.Fatal(err)
	}
	closed := time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)
	if got := p.Due(closed, "billing"); !got.Equal(time.Date(2028, 1, 31, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("billing due %s", got)
	}
	if got := p.Due(closed, "cards"); !got.Equal(time.Date(2027, 1, 31, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("cards due %s", got)
	}
	if p.Name("billing") != "retention: 24 months after closure (category billing)" || p.Name("x") != "retention: 12 months after closure" {
		t.Errorf("names %q %q", p.Name("billing"), p.Name("x"))
	}
	if p.Shortest() != 12 || (retention.Policy{}).Months("any") != retention.DefaultMonths {
		t.Errorf("shortest %d, zero policy %d", p.Shortest(), (retention.Policy{}).Months("any"))
	}
	if d, err := retention.Load(""); err != nil || d.Months("x") != 12 {
		t.Errorf("default = %+v, %v", d, err)
	}
	for _, bad := range []string{`{"default_months": 0, "categories": {"x": 0}}`, `{"default_months": 500}`, `{"defaultmonths": 3}`,
		`{"categories": {"": 3}}`, `[]`, `{"default_months": 12} {}`, `{"default_months": -1}`} {
		if _, err := retention.Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("Parse(%s) succeeded", bad)
		}
	}
}

// FuzzParse: any input is refused or gives a valid policy, never a panic.
func FuzzParse(f *testing.F) {
	f.Add(`{"default_months": 12, "categories": {"billing": 24}}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, in string) {
		p, err := retention.Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid policy: %v", err)
		}
		if m := p.Months("any"); m < 1 || m > retention.MaxMonths {
			t.Fatalf("months %d", m)
		}
	})
}
