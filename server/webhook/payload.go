package webhook

import (
	"encoding/json"
	"time"

	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/event"
)

// Payload is the JSON body of a delivery (docs/API.md, "Webhooks"). It
// never carries contact details. Free text (the complaint's description
// and desired outcome, messages, notes, decisions, comments) is left out
// unless the webhook was added with --include-text: customers write
// account numbers and health details into it, and most integrations need
// the case's movement, not its words.
type Payload struct {
	ID        string           `json:"id"` // the delivery id, as HeaderID
	Webhook   string           `json:"webhook"`
	Event     PayloadEvent     `json:"event"`
	Complaint PayloadComplaint `json:"complaint"`
}

// PayloadEvent is the event the delivery is about.
type PayloadEvent struct {
	ID    string          `json:"id"`
	Seq   int64           `json:"seq"`
	Type  event.Type      `json:"type"`
	At    time.Time       `json:"at"`
	Actor event.Actor     `json:"actor"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// PayloadComplaint is what the complaint was filed as, without contact
// details.
type PayloadComplaint struct {
	ID             string            `json:"id"`
	Code           string            `json:"code"`
	Branch         string            `json:"branch"`
	Channel        complaint.Channel `json:"channel,omitempty"`
	Category       string            `json:"category,omitempty"`
	Language       string            `json:"language,omitempty"`
	FiledAt        *time.Time        `json:"filed_at,omitempty"`
	Description    string            `json:"description,omitempty"`
	DesiredOutcome string            `json:"desired_outcome,omitempty"`
}

// eventData is the event's payload as delivered: the fields of its type
// that are not free text, and the text only with includeText. Types not
// listed carry no data: a field added to an event later is not sent until
// someone decides it may be.
func eventData(e *event.Event, includeText bool) json.RawMessage {
	text := func(s string) string {
		if includeText {
			return s
		}
		return ""
	}
	var out any
	switch e.Type {
	case event.Assessed:
		var a event.Assessment
		if json.Unmarshal(e.Data, &a) == nil {
			out = a
		}
	case event.Assigned:
		var a event.Assignment
		if json.Unmarshal(e.Data, &a) == nil {
			out = a
		}
	case event.Escalated:
		var x event.Escalation
		if json.Unmarshal(e.Data, &x) == nil {
			out = struct {
				Level int    `json:"level,omitempty"`
				Text  string `json:"text,omitempty"`
			}{x.Level, text(x.Text)}
		}
	case event.Closed:
		var x event.Closure
		if json.Unmarshal(e.Data, &x) == nil {
			out = struct {
				CustomerAccepted *bool  `json:"customer_accepted,omitempty"`
				Text             string `json:"text,omitempty"`
			}{x.CustomerAccepted, text(x.Text)}
		}
	case event.SatisfactionRated:
		var x event.Rating
		if json.Unmarshal(e.Data, &x) == nil {
			out = struct {
				Stars   int    `json:"stars"`
				Comment string `json:"comment,omitempty"`
			}{x.Stars, text(x.Comment)}
		}
	case event.NoteAdded, event.MessageSent, event.InfoRequested, event.InfoProvided,
		event.Responded, event.Reopened, event.RootCauseSet:
		var x event.Text
		if includeText && json.Unmarshal(e.Data, &x) == nil && x.Text != "" {
			out = x
		}
	}
	if out == nil {
		return nil
	}
	b, err := json.Marshal(out)
	if err != nil || string(b) == "{}" {
		return nil
	}
	return b
}

// complaintOf is the delivered view of a filed complaint; c is nil when
// its Filed event is not stored (yet).
func complaintOf(id string, c *complaint.Complaint, includeText bool) PayloadComplaint {
	if c == nil {
		return PayloadComplaint{ID: id}
	}
	p := PayloadComplaint{
		ID: c.ID, Code: c.Code, Branch: c.Branch, Channel: c.Channel, Category: c.Category, Language: c.Language,
	}
	if !c.FiledAt.IsZero() {
		t := c.FiledAt.UTC()
		p.FiledAt = &t
	}
	if includeText {
		p.Description, p.DesiredOutcome = c.Description, c.DesiredOutcome
	}
	return p
}

// Body is the delivery of se to hook: c is the complaint as filed (nil if
// not stored).
func Body(hook Webhook, se storage.StoredEvent, c *complaint.Complaint) ([]byte, error) {
	e := &se.Event
	return json.Marshal(Payload{
		ID:      DeliveryID(hook.ID, e.ID),
		Webhook: hook.ID,
		Event: PayloadEvent{
			ID: e.ID, Seq: se.Seq, Type: e.Type, At: e.At.Time().UTC(), Actor: e.Actor,
			Data: eventData(e, hook.IncludeText),
		},
		Complaint: complaintOf(e.ComplaintID, c, hook.IncludeText),
	})
}

// DeliveryID is a delivery's id and idempotency key: one per webhook and
// event.
func DeliveryID(hookID, eventID string) string { return hookID + "/" + eventID }
