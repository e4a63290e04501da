package cases

import (
	"context"
	"errors"
	"time"

	"ombud/server/storage"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
)

// The seams for the tracking page and the API: small, read-only, and safe
// to call from any goroutine while Run runs.

// Step is the next thing due on a case, for the tracking page and the API.
type Step struct {
	Name sla.Target // sla.Acknowledge or sla.Respond
	Due  time.Time  // may be in the past: overdue
}

// Row is a case as the projection holds it: state, queue, deadlines.
type Row = storage.CaseRow

// Deadlines returns the next step due on a complaint under the SLA config,
// computed now from its events (not from the projection, so a customer who
// just answered sees the clock running again at once). ok is false when
// there is no honest date to show: no SLA config, the case is answered or
// closed, or the clock is paused while the case waits on the customer. An
// unknown complaint is a storage NotFound error.
func (e *Engine) Deadlines(ctx context.Context, complaintID string) (next Step, ok bool, err error) {
	stored, err := e.cfg.Store.ComplaintEvents(ctx, complaintID)
	if err != nil {
		return Step{}, false, err
	}
	events := eventsOf(stored)
	cs, err := lifecycle.Fold(events)
	if errors.Is(err, lifecycle.ErrNotFiled) {
		return Step{}, false, &storage.Error{Code: storage.NotFound, Message: "complaint not found", Err: err}
	}
	if err != nil {
		return Step{}, false, err
	}
	if !cs.State.Open() {
		return Step{}, false, nil
	}
	if e.sla.Load() == nil {
		return Step{}, false, nil
	}
	step, due, err := e.sla.Load().Next(&cs, events, e.now(cs.LastEventAt))
	if err != nil {
		e.log.Error("sla: no deadlines for case", logComplaint, cs.ID, logErr, err)
		return Step{}, false, nil
	}
	if step == sla.StepNone {
		return Step{}, false, nil
	}
	return Step{Name: sla.Target(step), Due: due}, true, nil
}

// Case returns the projection's row of a complaint: its state, queue and
// deadlines as of the follower's last page (normally under a second old).
// NotFound if the complaint is unknown or not folded yet.
func (e *Engine) Case(ctx context.Context, complaintID string) (Row, error) {
	return e.cfg.Store.Case(ctx, complaintID)
}
