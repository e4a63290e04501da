package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"ombud/server/delivery"
	"ombud/server/storage"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
)

// Kind is the step a notification tells of.
type Kind string

const (
	Acknowledged Kind = "acknowledged" // staff confirmed they are handling it (8.4)
	Answered     Kind = "answered"     // the decision was recorded (8.7, 8.8)
	Messaged     Kind = "message"      // staff wrote to the customer, or asked them something
	Closed       Kind = "closed"       // 8.9
)

func (k Kind) valid() bool {
	switch k {
	case Acknowledged, Answered, Messaged, Closed:
		return true
	}
	return false
}

// KindOf is the rule: which events notify the customer, as what. Only
// staff's public steps do: the customer's own actions (adding information,
// rating) and everything internal (notes, assignment, escalation) never
// do.
func KindOf(e *event.Event) (Kind, bool) {
	if e.Actor.Kind != event.ActorStaff {
		return "", false
	}
	switch e.Type {
	case event.Acknowledged:
		return Acknowledged, true
	case event.Responded:
		return Answered, true
	case event.MessageSent, event.InfoRequested:
		return Messaged, true
	case event.Closed:
		return Closed, true
	}
	return "", false
}

// plan is the follower's Plan: a job per configured channel the customer
// gave a contact for, for each notifying event the fold applied.
func (n *Notifier) plan(ctx context.Context, page []storage.StoredEvent) ([]delivery.Job, error) {
	now := n.cfg.Now()
	folded := map[string]*lifecycle.Case{} // per complaint, for this page
	var jobs []delivery.Job
	for i := range page {
		se := &page[i]
		e := &se.Event
		kind, ok := KindOf(e)
		if !ok {
			continue
		}
		if now.Sub(e.At.Time()) > n.cfg.MaxAge {
			n.log.Info("notify: event too old to tell the customer about", "complaint", e.ComplaintID, "event", e.ID)
			continue
		}
		cs, ok := folded[e.ComplaintID]
		if !ok {
			c, err := n.fold(ctx, e.ComplaintID)
			if err != nil {
				return nil, err
			}
			folded[e.ComplaintID], cs = c, c
		}
		if cs == nil || !applied(cs, e.ID) {
			// Not filed yet, or an event the lifecycle refused (a second
			// acknowledgement from an offline terminal): nothing happened
			// that the customer should hear of.
			continue
		}
		data, err := json.Marshal(payload{Kind: kind})
		if err != nil {
			return nil, err
		}
		for _, ch := range n.channels {
			to, ok := Address(cs.Complaint, ch)
			if !ok {
				continue
			}
			jobs = append(jobs, delivery.Job{
				Queue: Queue, Key: e.ID + "/" + ch, Channel: ch, Subject: n.keys.Contact(ch, to),
				ComplaintID: e.ComplaintID, EventID: e.ID, Seq: se.Seq, Payload: data,
				CreatedAt: now,
			})
		}
	}
	return jobs, nil
}

// fold is the complaint's case from all its stored events; nil when it has
// no Filed event yet.
func (n *Notifier) fold(ctx context.Context, id string) (*lifecycle.Case, error) {
	stored, err := n.cfg.Log.ComplaintEvents(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read complaint %s: %w", id, err)
	}
	events := make([]event.Event, len(stored))
	for i := range stored {
		events[i] = stored[i].Event
	}
	cs, err := lifecycle.Fold(events)
	if errors.Is(err, lifecycle.ErrNotFiled) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fold complaint %s: %w", id, err)
	}
	return &cs, nil
}

// applied reports whether the fold applied event id (the first of its id).
func applied(cs *lifecycle.Case, id string) bool {
	for _, r := range cs.Rejected {
		if r.EventID == id && r.Code != lifecycle.DuplicateID {
			return false
		}
	}
	return true
}
