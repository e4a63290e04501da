// Package retention is the retention policy: how long after a complaint is
// closed its personal data is kept, per category, with a default. The
// server enforces it (package server/privacy redacts each case once its
// period has run out) and the kiosk states it to every customer who leaves
// contact details (its sentence is made from this policy, with the months
// filled in, in every language), so the promise and the rule cannot drift:
// both read the same file (--retention-config), or the same default.
package retention

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// DefaultMonths is the period when no policy is configured: what the kiosk
// has always promised.
const DefaultMonths = 12

// MaxMonths bounds a period: ten years.
const MaxMonths = 120

// Policy is the retention policy. The zero value is the default policy.
type Policy struct {
	// DefaultMonths applies to every category not listed; 0 means
	// DefaultMonths.
	DefaultMonths int `json:"default_months"`
	// Categories overrides the period for some categories (their ids).
	Categories map[string]int `json:"categories,omitempty"`
}

// Default is the policy without a configuration file.
func Default() Policy { return Policy{DefaultMonths: DefaultMonths} }

// Parse reads a policy from JSON, refusing unknown fields and periods out
// of range, so a typo is an error at start rather than a silent default.
func Parse(r io.Reader) (Policy, error) {
	var p Policy
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("retention policy: %w", err)
	}
	if dec.More() {
		return p, fmt.Errorf("retention policy: one JSON object expected")
	}
	if p.DefaultMonths == 0 {
		p.DefaultMonths = DefaultMonths
	}
	if err := p.Validate(); err != nil {
		return p, err
	}
	return p, nil
}

// Load reads the policy file at path; an empty path is the default.
func Load(path string) (Policy, error) {
	if path == "" {
		return Default(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Policy{}, fmt.Errorf("retention policy: %w", err)
	}
	return Parse(bytes.NewReader(b))
}

// Validate checks every period.
func (p Policy) Validate() error {
	if p.DefaultMonths < 0 || p.DefaultMonths > MaxMonths {
		return fmt.Errorf("retention policy: default_months must be 1 to %d, not %d", MaxMonths, p.DefaultMonths)
	}
	for c, m := range p.Categories {
		if strings.TrimSpace(c) == "" {
			return fmt.Errorf("retention policy: a category id is empty")
		}
		if m < 1 || m > MaxMonths {
			return fmt.Errorf("retention policy: category %q: months must be 1 to %d, not %d", c, MaxMonths, m)
		}
	}
	return nil
}

// Months is the period for a category.
func (p Policy) Months(category string) int {
	if m, ok := p.Categories[category]; ok {
		return m
	}
	if p.DefaultMonths == 0 {
		return DefaultMonths
	}
	return p.DefaultMonths
}

// Due is when a case of the category closed at closedAt is redacted.
func (p Policy) Due(closedAt time.Time, category string) time.Time {
	return closedAt.AddDate(0, p.Months(category), 0)
}

// Shortest is the shortest period of the policy, so a scan for due cases
// can start from cases closed at least that long ago.
func (p Policy) Shortest() int {
	m := p.Months("")
	for _, v := range p.Categories {
		m = min(m, v)
	}
	return m
}

// Name names the rule applied to a category, for the redacted event and
// the tracking page: "retention: 12 months after closure" or
// "retention: 24 months after closure (category billing)".
func (p Policy) Name(category string) string {
	if _, ok := p.Categories[category]; ok {
		return fmt.Sprintf("retention: %d months after closure (category %s)", p.Months(category), category)
	}
	return fmt.Sprintf("retention: %d months after closure", p.Months(category))
}

// String describes the whole policy for logs and `server retention show`.
func (p Policy) String() string {
	s := fmt.Sprintf("%d months after closure", p.Months(""))
	cats := make([]string, 0, len(p.Categories))
	for c := range p.Categories {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	for _, c := range cats {
		s += fmt.Sprintf("; %s: %d months", c, p.Categories[c])
	}
	return s
}

// JSON is the policy as the server serves it to devices
// (GET /api/v1/retention): what Parse reads back, the default filled in.
// encoding/json writes map keys sorted, so equal policies give equal bytes.
func (p Policy) JSON() []byte {
	if p.DefaultMonths == 0 {
		p.DefaultMonths = DefaultMonths
	}
	b, _ := json.Marshal(p)
	return b
}

// Digest names the policy's content (the served ETag; a device compares
// it to tell a changed policy).
func (p Policy) Digest() string {
	sum := sha256.Sum256(p.JSON())
	return hex.EncodeToString(sum[:16])
}
