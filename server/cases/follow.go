package cases

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"ombud/server/dispatch"
	"ombud/server/storage"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
)

// catchUp pages through the log from the projection's cursor until it is
// exhausted, after making sure (once per engine) that the stored rows were
// folded under the engine's configuration. The caller holds e.mu.
func (e *Engine) catchUp(ctx context.Context) error {
	if err := e.checkConfig(ctx); err != nil {
		return err
	}
	st := e.cfg.Store
	for {
		cursor, err := st.CasesCursor(ctx)
		if err != nil {
			return err
		}
		page, err := st.AllEventsAfter(ctx, cursor, e.cfg.PageSize)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		rows, err := e.fold(ctx, page)
		if err != nil {
			return err
		}
		to := page[len(page)-1].Seq
		err = st.SaveCases(ctx, cursor, to, rows)
		if storage.ErrorCode(err) == storage.Conflict {
			// Another engine on this database (or a Rebuild) moved the
			// cursor: its rows stand, read where it left off.
			continue
		}
		if err != nil {
			return err
		}
	}
}

// fold refreshes every complaint that page touches, in the order they first
// appear. The routing decisions the page calls for are stored together, in
// one Append (one commit) per storage.MaxBatch cases, not one per case: at
// ingest rates a commit per decision is what held dispatch back (issue 12).
func (e *Engine) fold(ctx context.Context, page []storage.StoredEvent) ([]storage.CaseRow, error) {
	seen := make(map[string]bool)
	inPage := make(map[string]bool, len(page))
	var ids []string
	for _, se := range page {
		inPage[se.Event.ID] = true
		if id := se.Event.ComplaintID; !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return e.foldCases(ctx, ids, inPage)
}

// foldCases refreshes the given complaints (see refresh), stores the
// routing decisions they call for in batches, and returns their rows.
func (e *Engine) foldCases(ctx context.Context, ids []string, inPage map[string]bool) ([]storage.CaseRow, error) {
	var (
		folded  []folded
		pending []int // indexes into folded of the cases with a decision
		read    map[string][]storage.StoredEvent
	)
	if br, ok := e.cfg.Store.(batchReader); ok && len(ids) > 1 {
		var err error
		if read, err = br.ComplaintsEvents(ctx, ids); err != nil {
			return nil, err
		}
	}
	for _, id := range ids {
		f, ok, err := e.refresh(ctx, id, inPage, read)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		folded = append(folded, f)
		if f.decided {
			pending = append(pending, len(folded)-1)
		}
	}
	for len(pending) > 0 {
		n := min(len(pending), storage.MaxBatch)
		if err := e.storeDecisions(ctx, folded, pending[:n]); err != nil {
			return nil, err
		}
		pending = pending[n:]
	}
	rows := make([]storage.CaseRow, len(folded))
	for i, f := range folded {
		rows[i] = e.row(f.cs, f.events, maxSeq(f.stored))
	}
	return rows, nil
}

// batchReader is a store that reads many complaints' events at once: one
// round trip for a page on PostgreSQL, where one per case is most of the
// cost. Each complaint's events come in global sequence order, as
// ComplaintEvents gives them; a complaint with none may be absent.
type batchReader interface {
	ComplaintsEvents(ctx context.Context, ids []string) (map[string][]storage.StoredEvent, error)
}

// folded is one complaint of a page, folded, with the routing decision it
// calls for, if any, not yet stored.
type folded struct {
	cs       lifecycle.Case
	stored   []storage.StoredEvent
	events   []event.Event
	decided  bool
	decision event.Event
	d        dispatch.Decision
}

// storeDecisions appends the decisions of folded[which...] in one Append,
// then refolds each of those cases with its decision.
func (e *Engine) storeDecisions(ctx context.Context, folded []folded, which []int) error {
	batch := make([]event.Event, len(which))
	for i, j := range which {
		batch[i] = folded[j].decision
	}
	got, err := e.cfg.Store.Append(ctx, batch)
	if err != nil {
		return fmt.Errorf("append %d assignments: %w", len(batch), err)
	}
	if len(got) != len(batch) {
		return fmt.Errorf("append %d assignments: %d stored", len(batch), len(got))
	}
	for i, j := range which {
		f := &folded[j]
		// One line per case is DEBUG: at ingest rates it would be most of
		// the log. ombud_dispatch_cases_assigned_total counts them.
		e.log.Debug("dispatch: case assigned", logComplaint, f.cs.ID, logQueue, f.d.Queue, logRule, f.d.Rule)
		e.cfg.Observer.Assigned(f.d.Rule)
		f.stored = append(f.stored, got[i])
		f.events = eventsOf(f.stored)
		cs, err := lifecycle.Fold(f.events)
		if err != nil {
			return fmt.Errorf("fold case %s: %w", f.cs.ID, err)
		}
		f.cs, f.decided = cs, false
	}
	return nil
}

// refresh folds one complaint from all its stored events (taken from read
// when the caller read them in a batch, else read here; not only those up
// to the page: the row is then the freshest the log allows, and a later page
// refolds it anyway) and decides whether it needs routing; the caller
// stores the decision. ok is false when the complaint has no Filed event
// yet: events may arrive before it, and its arrival will refresh the case.
// inPage holds the ids of the events the follower is folding now: the ones
// it sees for the first time (or again, after a crash or in a Rebuild).
func (e *Engine) refresh(ctx context.Context, id string, inPage map[string]bool, read map[string][]storage.StoredEvent) (folded, bool, error) {
	stored := read[id]
	if read == nil {
		var err error
		if stored, err = e.cfg.Store.ComplaintEvents(ctx, id); err != nil {
			return folded{}, false, err
		}
	}
	events := eventsOf(stored)
	cs, err := lifecycle.Fold(events)
	if errors.Is(err, lifecycle.ErrNotFiled) {
		return folded{}, false, nil
	}
	if err != nil {
		return folded{}, false, fmt.Errorf("fold case %s: %w", id, err)
	}
	f := folded{cs: cs, stored: stored, events: events}
	f.decision, f.d, f.decided = e.route(cs, events, inPage)
	return f, true, nil
}

// route decides whether the case needs an Assigned event from dispatch, and
// makes it.
//
// Re-routing is triggered by seeing the case's current assessment in the
// page, not by comparing clocks: an assessment made on a terminal whose
// clock lags the server's can carry an earlier time than the assignment it
// follows. A case whose assessment routes to the queue it is in gets no
// event; meeting the assessment again (a replay) just routes again, which
// is pure.
func (e *Engine) route(cs lifecycle.Case, events []event.Event, inPage map[string]bool) (event.Event, dispatch.Decision, bool) {
	if !cs.State.Open() {
		return event.Event{}, dispatch.Decision{}, false
	}
	applied := appliedInOrder(cs, events)
	assigned := lastOf(applied, event.Assigned)
	var cause *event.Event
	purpose := ""
	switch {
	case assigned == nil:
		// Never assigned: route on receipt. Staff on a device may have
		// assessed it already (offline), so the assessment counts too.
		cause, purpose = firstOf(applied, event.Filed), "dispatch"
	case assigned.Actor == actorDispatch && cs.Priority > 0:
		// Assigned by a rule, then (re)assessed: severity and a
		// corrected category may now match another rule. A person's or
		// the escalation clock's assignment is never overridden.
		assessed := lastOf(applied, event.Assessed)
		if assessed == nil || !inPage[assessed.ID] {
			return event.Event{}, dispatch.Decision{}, false
		}
		cause, purpose = assessed, "reroute"
	default:
		return event.Event{}, dispatch.Decision{}, false
	}
	if cause == nil {
		return event.Event{}, dispatch.Decision{}, false
	}
	d := e.cfg.Dispatch().Route(cs.Complaint, assessmentOf(cs))
	if assigned != nil && d.Queue == cs.Queue {
		return event.Event{}, dispatch.Decision{}, false
	}
	ev, err := dispatch.Event(d, cs.Complaint, e.stamp(cs.LastEventAt), actorDispatch)
	if err != nil {
		// The rules produced a queue dispatch.Event refuses: a bug in
		// the config's validation, not something a retry fixes.
		e.log.Error("dispatch: no assignment made", logComplaint, cs.ID, logRule, d.Rule, logErr, err)
		return event.Event{}, dispatch.Decision{}, false
	}
	ev.ID = derivedID(cause.At.Time(), cs.ID, purpose, cause.ID)
	return ev, d, true
}

// assessmentOf is the case's latest assessment for Route, nil before one.
func assessmentOf(cs lifecycle.Case) *event.Assessment {
	if cs.Priority == 0 {
		return nil
	}
	return &event.Assessment{Severity: cs.Severity, Priority: cs.Priority, Category: cs.Category}
}

// row is the projection of a folded case. Everything in it comes from the
// events (and the SLA config), none from the wall clock, so the follower and
// a Rebuild give the same row.
func (e *Engine) row(cs lifecycle.Case, events []event.Event, seq int64) storage.CaseRow {
	r := storage.CaseRow{
		ComplaintID:       cs.ID,
		Code:              cs.Code,
		Branch:            cs.Branch,
		State:             cs.State,
		Queue:             cs.Queue,
		Severity:          cs.Severity,
		Priority:          cs.Priority,
		Category:          cs.Category,
		EscalationLevel:   cs.EscalationLevel,
		WaitingOnCustomer: cs.WaitingOnCustomer,
		FiledAt:           clockTime(cs.FiledAt),
		AcknowledgedAt:    clockTime(cs.AcknowledgedAt),
		RespondedAt:       clockTime(cs.RespondedAt),
		ClosedAt:          clockTime(cs.ClosedAt),
		UpdatedAt:         clockTime(cs.LastEventAt),
		Seq:               seq,
	}
	st, ok := e.status(cs, events, e.now(cs.LastEventAt))
	if !ok {
		return r
	}
	// Unpaused, the deadlines do not depend on now (every pause has ended
	// before it); paused, they would, so there is none until the customer
	// answers: a date that moves every minute is not a date.
	due := func(ts sla.TargetStatus) time.Time {
		if ts.Condition != sla.Met && ts.Paused {
			return time.Time{}
		}
		return ts.Deadline.UTC()
	}
	r.AckDue, r.RespondDue = due(st.Acknowledge), due(st.Respond)
	if !cs.State.Open() {
		return r
	}
	ids := idSet(events)
	for _, ts := range st.Targets() {
		if ts.Condition == sla.Met || ts.Paused || ids[escalationID(cs, ts.Target)] {
			continue
		}
		if r.NextDue.IsZero() || ts.Deadline.Before(r.NextDue) {
			// A reopened case's new answer is, to everyone reading the
			// row, an answer due.
			target := ts.Target
			if target == sla.Reanswer {
				target = sla.Respond
			}
			r.NextDue, r.NextTarget = ts.Deadline.UTC(), string(target)
		}
	}
	if cs.State == lifecycle.Responded && !cs.AnswerBy.IsZero() && r.NextDue.IsZero() {
		// Decided: the case closes on its own when the customer's time
		// to answer ends (Tick, closeUnanswered).
		r.NextDue, r.NextTarget = cs.AnswerBy.UTC(), string(sla.StepClose)
	}
	return r
}

// status is the case's SLA standing at now; ok is false without an SLA
// config or when the deadline cannot be computed (logged).
func (e *Engine) status(cs lifecycle.Case, events []event.Event, now time.Time) (sla.Status, bool) {
	if e.sla.Load() == nil {
		return sla.Status{}, false
	}
	k, err := e.sla.Load().Clock(cs, events)
	if err == nil {
		var st sla.Status
		if st, err = k.Status(now); err == nil {
			return st, true
		}
	}
	// Only a target beyond the horizon (years of closed calendar) gets
	// here: a config mistake an operator must see.
	e.log.Error("sla: no deadlines for case", logComplaint, cs.ID, logErr, err)
	return sla.Status{}, false
}

func eventsOf(stored []storage.StoredEvent) []event.Event {
	out := make([]event.Event, len(stored))
	for i := range stored {
		out[i] = stored[i].Event
	}
	return out
}

func maxSeq(stored []storage.StoredEvent) int64 {
	var m int64
	for _, se := range stored {
		m = max(m, se.Seq)
	}
	return m
}

func idSet(events []event.Event) map[string]bool {
	ids := make(map[string]bool, len(events))
	for i := range events {
		ids[events[i].ID] = true
	}
	return ids
}

// appliedInOrder returns the events the fold applied, in the fold's order:
// sorted by event.Less, each id once, without the ones it rejected.
func appliedInOrder(cs lifecycle.Case, events []event.Event) []*event.Event {
	rejected := make(map[string]bool, len(cs.Rejected))
	for _, r := range cs.Rejected {
		if r.Code != lifecycle.DuplicateID { // the first event with the id was applied
			rejected[r.EventID] = true
		}
	}
	sorted := make([]*event.Event, 0, len(events))
	seen := make(map[string]bool, len(events))
	for i := range events {
		ev := &events[i]
		if seen[ev.ID] || rejected[ev.ID] {
			continue
		}
		seen[ev.ID] = true
		sorted = append(sorted, ev)
	}
	sortEvents(sorted)
	return sorted
}

func lastOf(events []*event.Event, t event.Type) *event.Event {
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Type == t {
			return events[i]
		}
	}
	return nil
}

func firstOf(events []*event.Event, t event.Type) *event.Event {
	for _, ev := range events {
		if ev.Type == t {
			return ev
		}
	}
	return nil
}

// clockTime is a hybrid logical clock reading as a time; zero stays zero
// rather than becoming 1970.
func clockTime(t hlc.Timestamp) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return t.Time()
}

// sortEvents puts events in the fold's order.
func sortEvents(events []*event.Event) {
	slices.SortStableFunc(events, func(a, b *event.Event) int {
		switch {
		case event.Less(a, b):
			return -1
		case event.Less(b, a):
			return 1
		}
		return 0
	})
}
