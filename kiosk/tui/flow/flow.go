// Package flow owns the state of one customer's visit to the kiosk: which
// step they are on, what they have entered so far, and the rules for moving
// between steps. It has no user interface in it, so the rules (what may be
// skipped, what must be filled in, when contact details are kept) are tested
// without a screen; package tui draws whatever state this package is in.
package flow

import (
	"errors"
	"strings"
	"time"

	"ombud/kiosk/filing"
	"ombud/shared/complaint"
)

// Step is one screen of the customer's flow.
type Step int

// The steps in the order a customer meets them.
const (
	Welcome Step = iota
	Category
	Description
	Outcome
	Contact
	Review
	Receipt
)

// Steps numbered for the customer ("Step 2 of 5"): the ones where they enter
// something, welcome and receipt excluded.
const NumberedSteps = int(Review - Category + 1)

func (s Step) String() string {
	switch s {
	case Welcome:
		return "welcome"
	case Category:
		return "category"
	case Description:
		return "description"
	case Outcome:
		return "outcome"
	case Contact:
		return "contact"
	case Review:
		return "review"
	case Receipt:
		return "receipt"
	}
	return "unknown"
}

// NoticeVersion identifies the privacy notice a customer agrees to when they
// tick the consent box; the language is appended, since each translation is
// what that customer actually read. Change it whenever the notice changes.
const NoticeVersion = "kiosk-privacy-1"

// ContactState says what will happen to the contact details on the screen.
type ContactState int

const (
	ContactNone    ContactState = iota // nothing typed
	ContactKept                        // typed and consent given: kept
	ContactDropped                     // typed without consent: not kept
)

// Visit is one customer's visit. The zero value is not ready: use New.
type Visit struct {
	Step Step
	Lang string

	Category       string // category id
	Description    string
	DesiredOutcome string
	Name           string
	Email          string
	Phone          string
	// ConsentAt is when the consent box was ticked; zero when it is not.
	ConsentAt time.Time

	// editing is set when the customer came from Review to change one part:
	// Next and Back then return to Review instead of walking every step.
	editing bool
	filed   *filing.Filed
}

// New starts a visit on the welcome screen in lang.
func New(lang string) *Visit { return &Visit{Step: Welcome, Lang: lang} }

// Editing reports whether the current step was opened from Review.
func (v *Visit) Editing() bool { return v.editing }

// Next checks the current step and moves on. The error, when not nil, is a
// *complaint.FieldError for the field to fix, and the step does not change.
func (v *Visit) Next() error {
	if err := v.check(v.Step); err != nil {
		return err
	}
	switch {
	case v.Step >= Review:
		return nil // Review submits, Receipt finishes: not steps of this machine
	case v.editing:
		v.editing = false
		v.Step = Review
	default:
		v.Step++
	}
	return nil
}

// Back goes to the previous step without checking anything (what was typed
// is kept). From a step opened by Edit it returns to Review.
func (v *Visit) Back() {
	switch {
	case v.editing:
		v.editing = false
		v.Step = Review
	case v.Step > Welcome && v.Step < Receipt:
		v.Step--
	}
}

// Edit opens one step from Review; Next or Back then returns to Review.
func (v *Visit) Edit(s Step) {
	if s < Category || s > Contact {
		return
	}
	v.Step = s
	v.editing = true
}

// Fix opens the step that holds field (after the filing service refused the
// draft), as Edit does.
func (v *Visit) Fix(field string) Step {
	s := StepOf(field)
	v.Edit(s)
	if s == Review {
		v.Step = Review
	}
	return v.Step
}

// StepOf maps a complaint field to the step where the customer can fix it.
// Fields the customer does not enter (id, code, branch) map to Review.
func StepOf(field string) Step {
	switch field {
	case complaint.FieldCategory:
		return Category
	case complaint.FieldDescription:
		return Description
	case complaint.FieldOutcome:
		return Outcome
	case complaint.FieldName, complaint.FieldEmail, complaint.FieldPhone, complaint.FieldConsent:
		return Contact
	}
	return Review
}

// SetConsent records the consent box: ticked at now, or unticked.
func (v *Visit) SetConsent(ticked bool, now time.Time) {
	if !ticked {
		v.ConsentAt = time.Time{}
	} else if v.ConsentAt.IsZero() {
		v.ConsentAt = now
	}
}

// Consent reports whether the consent box is ticked.
func (v *Visit) Consent() bool { return !v.ConsentAt.IsZero() }

// ContactState says whether contact details are typed and whether they will
// be kept.
func (v *Visit) ContactState() ContactState {
	if strings.TrimSpace(v.Name+v.Email+v.Phone) == "" {
		return ContactNone
	}
	if !v.Consent() {
		return ContactDropped
	}
	return ContactKept
}

// check applies the rules a step can check on its own; the filing service
// checks everything again, so these exist only to tell the customer early,
// next to the field.
func (v *Visit) check(s Step) error {
	switch s {
	case Category:
		if v.Category == "" {
			return &complaint.FieldError{Field: complaint.FieldCategory, Problem: complaint.ProblemRequired}
		}
	case Description:
		if strings.TrimSpace(v.Description) == "" {
			return &complaint.FieldError{Field: complaint.FieldDescription, Problem: complaint.ProblemRequired}
		}
	case Contact:
		return v.checkContact()
	}
	return nil
}

// checkContact runs the domain's own contact rules (complaint.Validate) on
// the details that would be kept, so the kiosk never disagrees with the
// filing service about what a plausible email address is.
func (v *Visit) checkContact() error {
	d := v.Draft()
	if d.Contact == nil {
		return nil
	}
	// Placeholders stand in for the fields other steps own, so that the
	// first problem Validate reports is about contact details.
	c := complaint.Complaint{ID: "-", Code: "-", Branch: "-", Category: "-", Description: "-", Contact: d.Contact}
	c.Normalize()
	return c.Validate()
}

// ContactProblems lists every contact field that is wrong (name, e-mail,
// phone), in that order, not only the first: a customer whose e-mail and
// phone are both mistyped is told of both at once.
func (v *Visit) ContactProblems() []*complaint.FieldError {
	d := v.Draft()
	if d.Contact == nil {
		return nil
	}
	ct := *d.Contact
	var out []*complaint.FieldError
	for range 3 {
		c := complaint.Complaint{ID: "-", Code: "-", Branch: "-", Category: "-", Description: "-", Contact: &ct}
		c.Normalize()
		var fe *complaint.FieldError
		if !errors.As(c.Validate(), &fe) {
			break
		}
		switch fe.Field { // set the wrong one aside and look again
		case complaint.FieldName:
			ct.Name = ""
		case complaint.FieldEmail:
			ct.Email = ""
		case complaint.FieldPhone:
			ct.Phone = ""
		default:
			if len(out) == 0 {
				out = append(out, fe)
			}
			return out
		}
		out = append(out, fe)
	}
	return out
}

// Draft is what would be filed now. Contact details are included only when
// typed AND the consent box is ticked: details without consent are not kept
// anywhere, not even in the draft.
func (v *Visit) Draft() filing.Draft {
	d := filing.Draft{
		Category:       v.Category,
		Description:    v.Description,
		DesiredOutcome: v.DesiredOutcome,
		Language:       v.Lang,
	}
	if v.ContactState() == ContactKept {
		d.Contact = &complaint.Contact{
			Name:          v.Name,
			Email:         v.Email,
			Phone:         v.Phone,
			ConsentAt:     v.ConsentAt,
			NoticeVersion: NoticeVersion + "/" + v.Lang,
		}
	}
	return d
}

// Filed records that the draft is durably filed and moves to the receipt.
// Only the receipt remains of the visit: what was typed is forgotten, so
// nothing of it lingers in memory while the receipt is on screen.
func (v *Visit) Filed(f filing.Filed) {
	lang := v.Lang
	*v = Visit{Step: Receipt, Lang: lang, filed: &f}
}

// Receipt returns the filed complaint once Filed was called.
func (v *Visit) Receipt() (filing.Filed, bool) {
	if v.filed == nil {
		return filing.Filed{}, false
	}
	return *v.filed, true
}
