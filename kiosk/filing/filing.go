// Package filing turns what a customer typed at the kiosk into a durable
// complaint: it assigns the id and tracking code, validates, and commits the
// complaint, its "filed" event and its outbox entry in one transaction before
// anything is shown or printed (ARCHITECTURE.md, Sync guarantee 1).
package filing

import (
	"errors"
	"time"

	"ombud/shared/complaint"
	"ombud/shared/trackcode"
)

// Draft is what the customer entered, not yet validated or stored.
type Draft struct {
	Category       string
	Description    string
	DesiredOutcome string
	// Contact is nil unless the customer gave details AND agreed to the
	// privacy notice; ConsentAt and NoticeVersion must then be set.
	Contact  *complaint.Contact
	Language string
}

// Filed is a complaint that is durably stored: safe to show and print.
type Filed struct {
	Complaint     complaint.Complaint
	Code          trackcode.Code
	URL           string    // <public base URL>/t/<code>, what the QR encodes
	AcknowledgeBy time.Time // promised dates, in the branch's local time
	RespondBy     time.Time
}

// ErrUnavailable wraps every storage failure (locked, read-only, disk full):
// the complaint was NOT stored, the customer should be told so and asked to
// try again, and the draft must be kept.
var ErrUnavailable = errors.New("complaint storage unavailable")
