// Package redact says what of a complaint's events is personal data and
// removes it, the same way on the server and on every device: contact
// details, the description and desired outcome, information the customer
// added, and the free text of messages, notes, responses, escalations,
// closures and rating comments. What stays is what the statistics and the
// audit trail need: the lifecycle, the dates, the category, the branch,
// assessments, assignments, escalation levels, the root cause and the
// rating's stars.
//
// Payload is deterministic (the kept keys re-encoded in sorted order), so
// a server and a terminal that redact the same event hold the same bytes.
package redact

import (
	"encoding/json"

	"ombud/shared/complaint"
	"ombud/shared/event"
)

// all keeps a payload whole: it holds nothing personal.
var all = []string{"*"}

// kept lists, per event type, the payload keys that survive. A type not
// listed (a future one included) keeps nothing: privacy first, and the
// fold ignores what it does not know.
var kept = map[event.Type][]string{
	event.Filed:             {"id", "code", "branch", "device", "channel", "category", "language", "filed_at"},
	event.Assessed:          all,
	event.Assigned:          all,
	event.Escalated:         {"level"},
	event.Closed:            {"customer_accepted", "root_cause"}, // the cause is the organisation's finding (9.7), kept like RootCauseSet
	event.SatisfactionRated: {"stars"},
	event.RootCauseSet:      all, // the organisation's finding (9.2), not the customer's words
	event.Redacted:          all,
}

// Payload returns the redacted form of an event's payload and whether it
// differs from data. An empty payload stays empty.
func Payload(t event.Type, data []byte) ([]byte, bool) {
	if len(data) == 0 {
		return data, false
	}
	keys := kept[t]
	if len(keys) == 1 && keys[0] == "*" {
		return data, false
	}
	var obj map[string]json.RawMessage
	if len(keys) == 0 || json.Unmarshal(data, &obj) != nil {
		return nil, true
	}
	out := make(map[string]json.RawMessage, len(keys))
	for _, k := range keys {
		if v, ok := obj[k]; ok {
			out[k] = v
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, true
	}
	return b, string(b) != string(data)
}

// Complaint is c without its personal data.
func Complaint(c complaint.Complaint) complaint.Complaint {
	c.Description, c.DesiredOutcome, c.Contact = "", "", nil
	return c
}

// Event redacts e's payload in place and reports whether it changed.
func Event(e *event.Event) bool {
	d, changed := Payload(e.Type, e.Data)
	if changed {
		e.Data = d
	}
	return changed
}
