package storage

import (
	"context"
	"encoding/json"
	"time"
)

// Improve is what the improvement loop keeps besides the figures (package
// server/improve): the corrective actions (ISO 10002 9.7), each an
// append-only series of events with an actor and a time, and the counts
// the effectiveness check compares.
type Improve interface {
	// AppendActionEvent stores e as the next event of its action. after
	// is the sequence of the action's latest event as the caller saw it
	// (0 for a new action): a compare-and-set, so two people changing one
	// action at once do not both succeed; Conflict when it is not the
	// latest, and nothing is written. It returns e with its sequence.
	AppendActionEvent(ctx context.Context, e ActionEvent, after int64) (ActionEvent, error)
	// ActionEvents returns one action's events in order; none for an
	// unknown action.
	ActionEvents(ctx context.Context, actionID string) ([]ActionEvent, error)
	// ActionEventsAfter pages through every action's events (and the
	// RecurringStream's) in sequence order: up to limit (capped at MaxPage) after the sequence after.
	ActionEventsAfter(ctx context.Context, after int64, limit int) ([]ActionEvent, error)
	// CauseCounts counts the complaints within scope filed from from
	// (inclusive) to to (exclusive) whose root cause is cause (a
	// taxonomy code, or "other" for every "other: ..." cause), as the
	// improvement figures (server/kpi) last folded them.
	CauseCounts(ctx context.Context, scope Scope, cause string, from, to time.Time) (int64, error)
	// AddRecurringDecision remembers a supervisor's choice about a
	// recurring group; RecurringDecisions returns them all in order.
	AddRecurringDecision(ctx context.Context, d RecurringDecision) error
	RecurringDecisions(ctx context.Context) ([]RecurringDecision, error)
}

// RecurringStream is the action id under which the recurring groups'
// decisions are kept beside the actions' events; no action has it.
const RecurringStream = "recurring-decisions"

// RecurringDecision is a choice about recurring groups (server/recurring):
// Kind "dismiss" (the group holding Complaint), "merge" (it into the
// group holding Into) or "split" (Complaint out of its group).
type RecurringDecision struct {
	Seq       int64
	Kind      string
	Complaint string
	Into      string
	ActorID   string
	At        time.Time
}

// ActionEvent is one change to a corrective action.
type ActionEvent struct {
	Seq      int64
	ID       string // UUIDv7
	ActionID string
	Type     string
	ActorID  string // the staff member
	At       time.Time
	Data     json.RawMessage
}
