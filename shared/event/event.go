// Package event owns the immutable events that record every change to a
// complaint. The event log is the audit trail (ISO 10002 8.3, 9.5): events are
// never updated or deleted, and a complaint's state is a fold of its events
// (package lifecycle).
package event

import (
	"encoding/json"
	"fmt"

	"ombud/shared/complaint"
	"ombud/shared/hlc"
	"ombud/shared/uid"
)

// Type names what happened. New types may be added; stored names never change.
type Type string

const (
	Filed              Type = "filed"               // Data: complaint.Complaint
	Acknowledged       Type = "acknowledged"        // staff confirmed receipt (8.4)
	Assessed           Type = "assessed"            // Data: Assessment (8.5)
	Assigned           Type = "assigned"            // Data: Assignment (dispatch or reassignment)
	InvestigationBegan Type = "investigation_began" // 8.6
	NoteAdded          Type = "note_added"          // internal; Data: Text
	MessageSent        Type = "message_sent"        // public, to the customer; Data: Text
	InfoRequested      Type = "info_requested"      // public; pauses the SLA clock; Data: Text
	InfoProvided       Type = "info_provided"       // by the customer; Data: Text
	Escalated          Type = "escalated"           // Data: Escalation
	Responded          Type = "responded"           // decision and remedy (8.7, 8.8); Data: Text
	Closed             Type = "closed"              // Data: Closure (8.9)
	Reopened           Type = "reopened"            // Data: Text (reason)
	SatisfactionRated  Type = "satisfaction_rated"  // Data: Rating (9.3)
	RootCauseSet       Type = "root_cause_set"      // Data: Text (9.2)
	// Redacted is the server's alone (devices cannot push it): the
	// complaint's personal data was removed from every event before it, by
	// the retention policy or an approved erasure request; Data: Redaction.
	Redacted Type = "redacted"
)

// ActorKind says who acted.
type ActorKind string

const (
	ActorCustomer ActorKind = "customer"
	ActorStaff    ActorKind = "staff"
	ActorDevice   ActorKind = "device"
	ActorSystem   ActorKind = "system"
)

// Actor is who caused an event: a staff member's id, a device id, or empty for
// the (anonymous) customer.
type Actor struct {
	Kind ActorKind `json:"kind"`
	ID   string    `json:"id,omitempty"`
}

// Event is one immutable change to one complaint.
type Event struct {
	ID          string          `json:"id"`           // UUIDv7
	ComplaintID string          `json:"complaint_id"` // the complaint it belongs to
	Type        Type            `json:"type"`
	Actor       Actor           `json:"actor"`
	At          hlc.Timestamp   `json:"at"`     // hybrid logical clock
	Branch      string          `json:"branch"` // the complaint's filing branch, for scoping
	Data        json.RawMessage `json:"data,omitempty"`
}

// Less orders events the same way on every node: by clock, then by id.
func Less(a, b *Event) bool {
	if a.At != b.At {
		return a.At < b.At
	}
	return a.ID < b.ID
}

// Text is the payload of events that carry one message.
type Text struct {
	Text string `json:"text"`
}

// NewFiled makes the event that records a complaint being filed. The complaint
// travels inside it, so replicating events replicates complaints.
func NewFiled(c complaint.Complaint, actor Actor, at hlc.Timestamp) (Event, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return Event{}, fmt.Errorf("encode complaint: %w", err)
	}
	return Event{
		ID:          uid.NewAt(at.Time()),
		ComplaintID: c.ID,
		Type:        Filed,
		Actor:       actor,
		At:          at,
		Branch:      c.Branch,
		Data:        data,
	}, nil
}

// Complaint decodes the complaint carried by a Filed event.
func (e *Event) Complaint() (complaint.Complaint, error) {
	var c complaint.Complaint
	if e.Type != Filed {
		return c, fmt.Errorf("event %s is %q, not %q", e.ID, e.Type, Filed)
	}
	if err := json.Unmarshal(e.Data, &c); err != nil {
		return c, fmt.Errorf("decode complaint in event %s: %w", e.ID, err)
	}
	return c, nil
}
