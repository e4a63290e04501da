package event

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// The payloads of events that carry more than one message. Their JSON names
// are the stored format: never rename them.

// Severity is how serious a complaint is judged to be at assessment (8.5).
type Severity string

const (
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

var severities = []Severity{SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// Priority bounds: 1 is the most urgent. Four levels, because SLA targets are
// set per priority and more levels than people can tell apart go unused.
const (
	PriorityHighest = 1
	PriorityLowest  = 4
)

// Assessment is the payload of an event.Assessed event.
type Assessment struct {
	Severity Severity `json:"severity"`
	Priority int      `json:"priority"`
	// Category corrects the category the customer chose; empty keeps it.
	Category string `json:"category,omitempty"`
}

// Validate reports whether dispatch and the SLA clock can act on a.
func (a Assessment) Validate() error {
	if !slices.Contains(severities, a.Severity) {
		return fmt.Errorf("an assessment needs a severity of low, medium, high or critical, not %q", a.Severity)
	}
	if a.Priority < PriorityHighest || a.Priority > PriorityLowest {
		return fmt.Errorf("an assessment needs a priority from %d to %d, not %d", PriorityHighest, PriorityLowest, a.Priority)
	}
	return nil
}

// Assignment is the payload of an event.Assigned event.
type Assignment struct {
	Queue string `json:"queue"`
	// Rule names the dispatch rule that chose the queue; empty when a person
	// assigned the case by hand. Kept so routing can be audited (4, objectivity).
	Rule string `json:"rule,omitempty"`
}

// Validate reports whether a names a queue.
func (a Assignment) Validate() error {
	if a.Queue == "" {
		return errors.New("an assignment needs a queue")
	}
	return nil
}

// Escalation is the payload of an event.Escalated event. It is a superset of
// event.Text (same "text" key), so events written with event.Text still read.
type Escalation struct {
	// Level is the level escalated to. Zero means "one above the current
	// level". An explicit level makes concurrent escalations to the same level
	// (a manager and the SLA clock at once) count once, not twice.
	Level int    `json:"level,omitempty"`
	Text  string `json:"text"`
}

// Validate rejects negative levels.
func (e Escalation) Validate() error {
	if e.Level < 0 {
		return fmt.Errorf("an escalation level cannot be negative (%d)", e.Level)
	}
	return nil
}

// Closure is the payload of an event.Closed event (8.9: closed with the
// customer's acceptance or recorded refusal).
type Closure struct {
	// CustomerAccepted is nil when the customer could not be reached or did
	// not say; false records a refusal (and that recourse was offered).
	CustomerAccepted *bool  `json:"customer_accepted,omitempty"`
	Text             string `json:"text,omitempty"`
	// RootCause is the cause staff found (ISO 10002 9.7): a code of the
	// taxonomy (package rootcause) or "other: <text>". Empty on closures
	// by the customer or the server, and on older events.
	RootCause string `json:"root_cause,omitempty"`
}

// Rating bounds.
const (
	MinStars = 1
	MaxStars = 5
)

// Rating is the payload of an event.SatisfactionRated event (9.3).
type Rating struct {
	Stars   int    `json:"stars"`
	Comment string `json:"comment,omitempty"`
}

// Validate checks the star count.
func (r Rating) Validate() error {
	if r.Stars < MinStars || r.Stars > MaxStars {
		return fmt.Errorf("a rating needs from %d to %d stars, not %d", MinStars, MaxStars, r.Stars)
	}
	return nil
}

// Decision is the payload of an event.Responded event (8.7, 8.8). It is a
// superset of event.Text (same "text" key), so decisions written with
// event.Text still read.
type Decision struct {
	Text string `json:"text"`
	// AnswerBy is until when the customer may accept the decision or say
	// they are not satisfied (8.9): the case closes on its own then, and
	// staff may not close it before unless the customer accepted. Set by
	// the device that records the decision from the SLA rules
	// (sla.Config.AcceptWithin); zero on older events, which then give
	// the customer lifecycle.DefaultAcceptWithin.
	AnswerBy time.Time `json:"answer_by,omitzero"`
}

// Redaction reasons.
const (
	RedactRetention = "retention" // the retention period after closure ran out
	RedactErasure   = "erasure"   // the customer asked, two supervisors agreed
)

// Redaction is the payload of an event.Redacted event. It names why, never
// whom: no contact detail, no text.
type Redaction struct {
	Reason string `json:"reason"` // RedactRetention or RedactErasure
	// Policy names the rule applied, e.g. "retention: 12 months after
	// closure (category billing)", or the erasure request's id.
	Policy string `json:"policy"`
	// Months is the retention period applied (retention only), so the
	// tracking page can say it in the customer's language.
	Months int `json:"months,omitempty"`
}
