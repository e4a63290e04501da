package sla

import (
	"bytes"
	"strings"
	"time"
)

// DefaultCalendar is the calendar of branches that have none of their own.
const DefaultCalendar = "default"

// Policy sets the targets for cases of one category and priority. Targets
// are business time on the policy's calendar: "16h" on a calendar open
// 09:00-17:00 is two working days.
type Policy struct {
	Category string // empty: any category
	Priority int    // 0: any priority (and the only match before assessment)
	// Acknowledge is the time allowed from filing to the Acknowledged event
	// (ISO 10002 8.4).
	Acknowledge time.Duration
	// Respond is the time allowed from filing to the first Responded event
	// (8.7); it is never shorter than Acknowledge.
	Respond time.Duration
	// Calendar names the calendar the targets count on; empty means the
	// case's branch calendar, or DefaultCalendar when the branch has none.
	Calendar string
}

type policyKey struct {
	category string
	priority int
}

// categoryKey is how categories compare: the kiosk and the config file are
// written by different people, and "Billing" and "billing " are one category.
func categoryKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Config is a loaded, validated SLA configuration. It is immutable and safe
// for concurrent use.
type Config struct {
	calendars map[string]*Calendar
	policies  []Policy
	index     map[policyKey]int
	digest    string
	raw       []byte // the file as Parse read it: what the server sends devices
	// acceptWithin is the customer's time to answer a decision (8.9).
	acceptWithin time.Duration
}

// DefaultAcceptWithin is the customer's time to accept a decision or say
// they are not satisfied when the configuration names none: 14 days.
const DefaultAcceptWithin = 14 * 24 * time.Hour

// AcceptWithin is how long after a decision the customer may accept it or
// say they are not satisfied; when it has passed with no answer, the case
// closes (ISO 10002 8.9). Wall-clock time: the customer's evenings count.
func (c *Config) AcceptWithin() time.Duration { return c.acceptWithin }

// JSON is the configuration file exactly as parsed: the server sends it to
// devices (docs/API.md), which Parse it again and keep it for offline use,
// so every side computes dates from the same rules.
func (c *Config) JSON() []byte { return bytes.Clone(c.raw) }

// Digest identifies the configuration's content: a hex SHA-256 of the file
// Parse read, ignoring insignificant whitespace. Two configs with one
// digest give every case the same deadlines, so a store of deadlines can
// record it and recompute them when a restart brings a different one.
func (c *Config) Digest() string { return c.digest }

// Calendar returns the calendar with the given name (a branch id or
// DefaultCalendar).
func (c *Config) Calendar(name string) (*Calendar, bool) {
	cal, ok := c.calendars[name]
	return cal, ok
}

// Policies lists the policies in file order.
func (c *Config) Policies() []Policy {
	return append([]Policy(nil), c.policies...)
}

// Policy returns the policy for a case: the one for its category and
// priority, else its category at any priority, else any category at its
// priority, else the default policy (which Parse requires). Priority 0 (not
// yet assessed) matches only "any priority".
func (c *Config) Policy(category string, priority int) Policy {
	cat := categoryKey(category)
	for _, k := range []policyKey{{cat, priority}, {cat, 0}, {"", priority}, {"", 0}} {
		if i, ok := c.index[k]; ok {
			return c.policies[i]
		}
	}
	// Unreachable for a Config from Parse, which requires a default policy.
	return Policy{}
}

// CalendarFor returns the calendar a policy's targets count on for a case
// filed at branch: the policy's own, else the branch's, else the default.
func (c *Config) CalendarFor(p Policy, branch string) *Calendar {
	if p.Calendar != "" {
		if cal, ok := c.calendars[p.Calendar]; ok {
			return cal
		}
	}
	if cal, ok := c.calendars[branch]; ok {
		return cal
	}
	return c.calendars[DefaultCalendar]
}
