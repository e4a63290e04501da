// Package complaint owns what a customer files: the complaint itself, its
// optional contact details with recorded consent, and the limits and rules a
// complaint must meet before any node accepts it (ISO 10002 8.2).
package complaint

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"ombud/shared/textsafe"
)

// Limits on customer text, in characters (runes). They are stated to the
// customer on screen, so keep them round.
const (
	MaxDescription = 2000
	MaxOutcome     = 1000
	MaxName        = 100
	MaxEmail       = 254
	MaxPhone       = 32
	MaxCategory    = 64
)

// Channel says how a complaint came in.
type Channel string

const (
	ChannelKiosk Channel = "kiosk" // filed by the customer at a branch kiosk
	ChannelStaff Channel = "staff" // filed by staff on the customer's behalf
)

// Complaint is a complaint as filed. Its id and tracking code are made on the
// device that filed it; it never changes afterwards (changes are events).
type Complaint struct {
	ID             string    `json:"id"`   // UUIDv7, see package uid
	Code           string    `json:"code"` // tracking code, canonical form (package trackcode)
	Branch         string    `json:"branch"`
	Device         string    `json:"device"`
	Channel        Channel   `json:"channel"`
	Category       string    `json:"category"`
	Description    string    `json:"description"`
	DesiredOutcome string    `json:"desired_outcome,omitempty"`
	Contact        *Contact  `json:"contact,omitempty"`
	Language       string    `json:"language"`
	FiledAt        time.Time `json:"filed_at"`
}

// Contact is how the customer agreed to be reached. It exists only with consent.
type Contact struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	// ConsentAt is when the customer agreed to the privacy notice identified by
	// NoticeVersion; both are required for a Contact to be kept at all.
	ConsentAt     time.Time `json:"consent_at"`
	NoticeVersion string    `json:"notice_version"`
}

// Empty reports whether no contact detail was given.
func (c *Contact) Empty() bool {
	return c == nil || strings.TrimSpace(c.Name+c.Email+c.Phone) == ""
}

// Normalize neutralises control characters and escape sequences in every
// customer-typed field and trims surrounding space. Contact details given
// without consent are dropped: nothing personal is kept that was not agreed to.
func (c *Complaint) Normalize() {
	c.Category = strings.TrimSpace(textsafe.Line(c.Category))
	c.Description = strings.TrimSpace(textsafe.Clean(c.Description))
	c.DesiredOutcome = strings.TrimSpace(textsafe.Clean(c.DesiredOutcome))
	if c.Contact != nil {
		c.Contact.Name = strings.TrimSpace(textsafe.Line(c.Contact.Name))
		c.Contact.Email = strings.TrimSpace(textsafe.Line(c.Contact.Email))
		c.Contact.Phone = strings.TrimSpace(textsafe.Line(c.Contact.Phone))
		if c.Contact.Empty() || c.Contact.ConsentAt.IsZero() {
			c.Contact = nil
		}
	}
}

// Field names used in validation errors; the kiosk maps them to its screens.
const (
	FieldID          = "id"
	FieldCode        = "code"
	FieldBranch      = "branch"
	FieldCategory    = "category"
	FieldDescription = "description"
	FieldOutcome     = "desired_outcome"
	FieldName        = "name"
	FieldEmail       = "email"
	FieldPhone       = "phone"
	FieldConsent     = "consent"
)

// Problem codes in validation errors; the kiosk maps them to messages.
const (
	ProblemRequired = "required"
	ProblemTooLong  = "too_long"
	ProblemInvalid  = "invalid"
)

// FieldError says which field is wrong and why, in codes a UI can translate.
type FieldError struct {
	Field   string
	Problem string
	Limit   int // for ProblemTooLong
}

func (e *FieldError) Error() string {
	if e.Problem == ProblemTooLong {
		return fmt.Sprintf("%s: longer than %d characters", e.Field, e.Limit)
	}
	return e.Field + ": " + e.Problem
}

// Validate checks a normalised complaint and returns the first problem as a
// *FieldError, or nil.
func (c *Complaint) Validate() error {
	if c.ID == "" {
		return &FieldError{Field: FieldID, Problem: ProblemRequired}
	}
	if c.Code == "" {
		return &FieldError{Field: FieldCode, Problem: ProblemRequired}
	}
	if c.Branch == "" {
		return &FieldError{Field: FieldBranch, Problem: ProblemRequired}
	}
	checks := []lengthCheck{
		{FieldCategory, c.Category, MaxCategory, true},
		{FieldDescription, c.Description, MaxDescription, true},
		{FieldOutcome, c.DesiredOutcome, MaxOutcome, false},
	}
	if c.Contact != nil {
		checks = append(checks,
			lengthCheck{FieldName, c.Contact.Name, MaxName, false},
			lengthCheck{FieldEmail, c.Contact.Email, MaxEmail, false},
			lengthCheck{FieldPhone, c.Contact.Phone, MaxPhone, false})
	}
	for _, ch := range checks {
		if ch.required && strings.TrimSpace(ch.value) == "" {
			return &FieldError{Field: ch.field, Problem: ProblemRequired}
		}
		if utf8.RuneCountInString(ch.value) > ch.max {
			return &FieldError{Field: ch.field, Problem: ProblemTooLong, Limit: ch.max}
		}
	}
	if c.Contact != nil {
		if c.Contact.ConsentAt.IsZero() || c.Contact.NoticeVersion == "" {
			return &FieldError{Field: FieldConsent, Problem: ProblemRequired}
		}
		if e := c.Contact.Email; e != "" && !plausibleEmail(e) {
			return &FieldError{Field: FieldEmail, Problem: ProblemInvalid}
		}
		if p := c.Contact.Phone; p != "" && !plausiblePhone(p) {
			return &FieldError{Field: FieldPhone, Problem: ProblemInvalid}
		}
	}
	return nil
}

type lengthCheck struct {
	field, value string
	max          int
	required     bool
}

// plausibleEmail catches the typos a customer can fix on the spot (no @, no
// domain); it is not an RFC 5322 parser and accepts anything deliverable.
func plausibleEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at < 1 || at == len(s)-1 || strings.ContainsAny(s, " ,;<>") {
		return false
	}
	domain := s[at+1:]
	return strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// plausiblePhone accepts digits with the usual separators and at least 6 digits.
func plausiblePhone(s string) bool {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0, r == ' ', r == '-', r == '(', r == ')', r == '.':
		default:
			return false
		}
	}
	return digits >= 6
}

// ErrNotFound is returned by stores when no complaint matches.
var ErrNotFound = errors.New("complaint not found")
