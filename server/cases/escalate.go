package cases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"ombud/server/dispatch"
	"ombud/server/storage"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
)

// scanPage is how many due cases Tick reads at a time.
const scanPage = 200

// Tick escalates every case with a target breached at now: it brings the
// projection up to date, reads the cases whose next deadline is before now,
// and escalates each from a fresh fold of its events (the row only says
// where to look; the log decides). A due row whose fold finds nothing to
// escalate is out of date (an event stored since the catch-up, or a row
// written by an engine with another config on the same database) and is
// saved afresh, so it leaves the scan or gets its true date. The scan pages
// by (deadline, complaint id) from where the last page ended, so however
// many rows cannot be acted on, every due case is looked at once. Run calls
// it every Interval with the wall clock; tests call it with an injected
// time.
//
// Priority is deliberately left as staff assessed it. Raising it would take
// an Assessed event, which the lifecycle refuses before acknowledgement (the
// most common breach); and the SLA policy follows the priority and re-times
// the case from filing, so a raised priority would move the deadline
// earlier, breach it again under a new policy, and judge the case (and the
// 9.4 figures) against a target nobody set for it. The escalation level and
// the escalation queue are what make the case urgent.
func (e *Engine) Tick(ctx context.Context, now time.Time) error {
	if e.sla.Load() == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.catchUp(ctx); err != nil {
		return err
	}
	// done guards against a row met twice: one whose refreshed deadline
	// moved later in the order but is still before now.
	done := make(map[string]bool)
	var (
		errs  []error
		after storage.DueKey
	)
	for {
		rows, err := e.cfg.Store.CasesDue(ctx, now, after, scanPage)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		if len(rows) == 0 {
			return errors.Join(errs...)
		}
		after = storage.DueKeyOf(rows[len(rows)-1])
		var stale []string
		for _, r := range rows {
			if done[r.ComplaintID] {
				continue
			}
			done[r.ComplaintID] = true
			escalated, err := e.escalateCase(ctx, r.ComplaintID, now)
			if err != nil {
				// One case's failure must not hold up the others; the
				// next tick retries it.
				errs = append(errs, err)
				continue
			}
			if !escalated {
				stale = append(stale, r.ComplaintID)
			}
		}
		if len(stale) > 0 {
			if _, err := e.refoldInPlace(ctx, stale); err != nil {
				errs = append(errs, fmt.Errorf("refresh due cases: %w", err))
			} else {
				e.log.Info("sla: due cases had nothing to escalate; their rows were refreshed", logCount, len(stale))
			}
		}
		// Fold what was appended, so the escalated cases leave the scan.
		if err := e.catchUp(ctx); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
}

// escalateCase appends, in one Append, an Escalated event for each target of
// the case breached at now and not escalated yet, and the move to the
// escalation queue. escalated is false when there was nothing to append.
func (e *Engine) escalateCase(ctx context.Context, id string, now time.Time) (escalated bool, err error) {
	stored, err := e.cfg.Store.ComplaintEvents(ctx, id)
	if err != nil {
		return false, fmt.Errorf("escalate case %s: %w", id, err)
	}
	events := eventsOf(stored)
	cs, err := lifecycle.Fold(events)
	if err != nil {
		return false, fmt.Errorf("escalate case %s: %w", id, err)
	}
	if !cs.State.Open() {
		return false, nil
	}
	// An event dated after now (a device clock running ahead) has still
	// happened: an acknowledgement from the future is an acknowledgement.
	if t := clockTime(cs.LastEventAt); t.After(now) {
		now = t
	}
	if cs.State == lifecycle.Responded {
		return e.closeUnanswered(ctx, cs, events, now)
	}
	st, ok := e.status(cs, events, now)
	if !ok {
		return false, nil
	}
	ids := idSet(events)
	level := cs.EscalationLevel
	var (
		out     []event.Event
		targets []string
	)
	for _, ts := range st.Targets() {
		eid := escalationID(cs, ts.Target)
		if ts.Condition != sla.Breached || ts.Paused || ids[eid] {
			continue
		}
		level++
		targets = append(targets, string(ts.Target))
		// Explicit, so an escalation by a manager to the same level at
		// the same time counts once (event.Escalation).
		data, err := json.Marshal(event.Escalation{Level: level, Text: overdueText(ts, e.calendarOf(cs))})
		if err != nil {
			return false, fmt.Errorf("escalate case %s: %w", id, err)
		}
		out = append(out, event.Event{
			ID: eid, ComplaintID: cs.ID, Type: event.Escalated, Actor: actorSLA,
			At: e.stamp(cs.LastEventAt), Branch: cs.Branch, Data: data,
		})
	}
	if len(out) == 0 {
		return false, nil
	}
	if q := e.escalationQueue(cs); q != "" && q != cs.Queue {
		data, err := json.Marshal(event.Assignment{Queue: q, Rule: "sla escalation"})
		if err != nil {
			return false, fmt.Errorf("escalate case %s: %w", id, err)
		}
		first := out[0]
		out = append(out, event.Event{
			// One move per escalation event: a later escalation moves a
			// case back if staff took it out of the queue meanwhile.
			ID: derivedID(first.At.Time(), cs.ID, "escalation queue", first.ID), ComplaintID: cs.ID,
			Type: event.Assigned, Actor: actorSLA, At: e.stamp(cs.LastEventAt), Branch: cs.Branch, Data: data,
		})
	}
	if _, err := e.cfg.Store.Append(ctx, out); err != nil {
		return false, fmt.Errorf("escalate case %s: %w", id, err)
	}
	e.log.Info("sla: case escalated", logComplaint, cs.ID, logLevel, level, logTarget, strings.Join(targets, ","))
	for _, t := range targets {
		e.cfg.Observer.Escalated(t)
	}
	return true, nil
}

// escalationQueue resolves Config.EscalationQueue for a case; "" means stay.
func (e *Engine) escalationQueue(cs lifecycle.Case) string {
	q := e.cfg.EscalationQueue
	switch {
	case q == dispatch.FilingBranch:
		return dispatch.BranchQueue(cs.Branch)
	case strings.HasPrefix(q, "team:") && !teamDeclared(q, e.cfg.Dispatch()):
		// The dispatch config changed under us. The filing branch's queue
		// always has terminals; a team nobody declares may have none.
		e.warnMu.Lock()
		if e.warnedTeam != q {
			e.warnedTeam = q
			e.log.Warn("sla: escalation queue is no longer declared in the dispatch config; escalating to the filing branch", logQueue, q)
		}
		e.warnMu.Unlock()
		return dispatch.BranchQueue(cs.Branch)
	}
	return q
}

func (e *Engine) calendarOf(cs lifecycle.Case) *sla.Calendar {
	p := e.sla.Load().Policy(cs.Category, cs.Priority)
	return e.sla.Load().CalendarFor(p, cs.Branch)
}

// overdueText says, for staff, which target was missed and since when, in
// the calendar's zone (the branch's local time).
func overdueText(ts sla.TargetStatus, cal *sla.Calendar) string {
	what := "response"
	if ts.Target == sla.Acknowledge {
		what = "acknowledgement"
	}
	due := ts.Deadline
	if cal != nil {
		due = due.In(cal.Location())
	}
	return fmt.Sprintf("%s overdue since %s", what, due.Format("Mon 2 Jan 2006 15:04 MST"))
}

// actorClosure closes a decided case when the customer's time to answer
// has passed (ISO 10002 8.9: closed after a stated time with no answer).
var actorClosure = event.Actor{Kind: event.ActorSystem, ID: "closure"}

// closeUnanswered closes a decided case whose customer did not answer by
// the decision's AnswerBy: one Closed event, with no acceptance recorded,
// whose id is derived from the decision it closes, so however many ticks
// or servers race, the log holds it once (a second Append of the same id
// is a duplicate). A customer who answered in time closed or reopened the
// case already and it is not Responded here.
func (e *Engine) closeUnanswered(ctx context.Context, cs lifecycle.Case, events []event.Event, now time.Time) (bool, error) {
	if cs.AnswerBy.IsZero() || now.Before(cs.AnswerBy) {
		return false, nil
	}
	id := derivedID(cs.FiledAt.Time(), cs.ID, "close unanswered", strconv.FormatUint(uint64(cs.AnsweredAt), 10))
	if idSet(events)[id] {
		return false, nil
	}
	// Never stamped before AnswerBy, which the lifecycle would refuse
	// (whole milliseconds, rounded up).
	at := e.stamp(cs.LastEventAt)
	if at.Time().Before(cs.AnswerBy) {
		ms := cs.AnswerBy.UnixMilli()
		if time.UnixMilli(ms).Before(cs.AnswerBy) {
			ms++
		}
		at = hlc.Make(ms, 0)
		e.clock.Observe(at)
	}
	data, err := json.Marshal(event.Closure{})
	if err != nil {
		return false, err
	}
	ev := event.Event{ID: id, ComplaintID: cs.ID, Type: event.Closed, Actor: actorClosure, At: at, Branch: cs.Branch, Data: data}
	if err := lifecycle.Apply(&cs, ev); err != nil {
		return false, fmt.Errorf("close case %s: %w", cs.ID, err)
	}
	if _, err := e.cfg.Store.Append(ctx, []event.Event{ev}); err != nil {
		return false, fmt.Errorf("close case %s: %w", cs.ID, err)
	}
	e.log.Info("case closed: the customer did not answer the decision in time", logComplaint, cs.ID)
	return true, nil
}
