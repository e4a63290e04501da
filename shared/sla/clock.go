package sla

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"ombud/shared/event"
	"ombud/shared/lifecycle"
)

// Interval is a span of time [Start, End). A zero End means it has not ended
// yet: the case is still waiting on the customer.
type Interval struct {
	Start, End time.Time
}

// PausesFromEvents returns when a case waited on the customer: from an
// InfoRequested event to the InfoProvided, Responded or Closed event that
// answered it; the last interval is open (zero End) while the case still
// waits. Events may come in any order and with duplicates, as for
// lifecycle.Fold; they are ordered by event.Less.
//
// The events are replayed through lifecycle.Apply and a pause is exactly a
// span during which the folded case has WaitingOnCustomer set. So an event
// that the lifecycle rejects (a request for information that arrived after
// a concurrent response) pauses nothing, and the SLA clock can never
// disagree with what staff see on the case.
func PausesFromEvents(events []event.Event) []Interval {
	sorted := slices.Clone(events)
	slices.SortStableFunc(sorted, func(a, b event.Event) int {
		switch {
		case event.Less(&a, &b):
			return -1
		case event.Less(&b, &a):
			return 1
		}
		return 0
	})
	var (
		c    lifecycle.Case
		out  []Interval
		seen = make(map[string]bool, len(sorted))
	)
	for _, e := range sorted {
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		was := c.WaitingOnCustomer
		if lifecycle.Apply(&c, e) != nil {
			continue
		}
		switch {
		case !was && c.WaitingOnCustomer:
			out = append(out, Interval{Start: e.At.Time()})
		case was && !c.WaitingOnCustomer:
			out[len(out)-1].End = e.At.Time()
		}
	}
	return out
}

// Deadlines returns when a case filed at filedAt must be acknowledged and
// answered under policy p on calendar cal. Business time inside pauses does
// not count, so each pause moves the deadlines later by the open time it
// covered (a pause over a weekend moves nothing). A pause that has not ended
// is taken to end at now: the deadlines as they would be if the customer
// answered now.
func Deadlines(p Policy, cal *Calendar, filedAt time.Time, pauses []Interval, now time.Time) (acknowledgeBy, respondBy time.Time, err error) {
	ps := clip(pauses, filedAt, now)
	if acknowledgeBy, err = deadline(cal, filedAt, p.Acknowledge, ps); err != nil {
		return time.Time{}, time.Time{}, err
	}
	if respondBy, err = deadline(cal, filedAt, p.Respond, ps); err != nil {
		return time.Time{}, time.Time{}, err
	}
	return acknowledgeBy, respondBy, nil
}

// clip closes open pauses at limit, keeps only the parts inside
// [from, limit], and returns them sorted and merged.
func clip(pauses []Interval, from, limit time.Time) []Interval {
	var out []Interval
	for _, p := range pauses {
		start, end := p.Start, p.End
		if start.Before(from) {
			start = from
		}
		if end.IsZero() || end.After(limit) {
			end = limit
		}
		if end.After(start) {
			out = append(out, Interval{start, end})
		}
	}
	slices.SortFunc(out, func(a, b Interval) int { return a.Start.Compare(b.Start) })
	merged := out[:0]
	for _, p := range out {
		if n := len(merged); n > 0 && !p.Start.After(merged[n-1].End) {
			if p.End.After(merged[n-1].End) {
				merged[n-1].End = p.End
			}
			continue
		}
		merged = append(merged, p)
	}
	return merged
}

// deadline is when goal of running time has passed since start; time runs
// only while cal is open and outside the (clipped, merged) pauses.
func deadline(cal *Calendar, start time.Time, goal time.Duration, pauses []Interval) (time.Time, error) {
	cur, left := start, goal
	for _, p := range pauses {
		if !p.End.After(cur) {
			continue
		}
		if p.Start.After(cur) {
			avail := cal.BusinessBetween(cur, p.Start)
			if left <= avail {
				return cal.AddBusiness(cur, left)
			}
			left -= avail
		}
		cur = p.End
	}
	return cal.AddBusiness(cur, left)
}

// running is the time the clock ran in [a, b): open time outside pauses.
func running(cal *Calendar, a, b time.Time, pauses []Interval) time.Duration {
	d := cal.BusinessBetween(a, b)
	for _, p := range pauses {
		d -= cal.BusinessBetween(later(p.Start, a), earlier(p.End, b))
	}
	return d
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Target names an SLA target.
type Target string

const (
	Acknowledge Target = "acknowledge" // met by the Acknowledged event
	Respond     Target = "respond"     // met by the first Responded event
	// Reanswer is a reopened case's new answer: the policy's respond
	// target counted from the latest reopen, met by a Responded event
	// after it. A customer who said "not satisfied" is owed a date too.
	Reanswer Target = "reanswer"
)

// Condition is where a target stands.
type Condition string

const (
	Due      Condition = "due"      // not met, deadline not passed
	Breached Condition = "breached" // not met, deadline passed
	Met      Condition = "met"      // met, on time or late (see OnTime)
)

// TargetStatus is one target of one case at one moment.
type TargetStatus struct {
	Target    Target
	Condition Condition
	Goal      time.Duration // the policy's target, in business time
	// Deadline is when the target falls due. For a met target it is the
	// deadline as it stood when met; while the clock is paused it is the
	// deadline if the customer answered now, and it moves later as the
	// pause goes on.
	Deadline time.Time
	Paused   bool          // the case waits on the customer: the clock is stopped
	MetAt    time.Time     // Met only
	OnTime   bool          // Met only: met no later than Deadline
	Left     time.Duration // Due only: running time left until Deadline
	// Overdue is the running time past Deadline: until now when Breached,
	// until MetAt when met late. A breach in closed time is still a breach,
	// with Overdue zero.
	Overdue time.Duration
}

// Status is a case's SLA standing at one moment.
type Status struct {
	Acknowledge TargetStatus
	Respond     TargetStatus
	// Reanswer is the latest reopen's target; zero (empty Target) when
	// the case was never reopened.
	Reanswer TargetStatus
}

// Targets lists the case's targets in order: acknowledge, respond, and
// the reopen's new answer when there is one.
func (s Status) Targets() []TargetStatus {
	out := []TargetStatus{s.Acknowledge, s.Respond}
	if s.Reanswer.Target != "" {
		out = append(out, s.Reanswer)
	}
	return out
}

// Clock holds what decides a case's deadlines. Build it with Config.Clock
// from a lifecycle.Case and its events, or by hand.
type Clock struct {
	Policy   Policy
	Calendar *Calendar
	FiledAt  time.Time
	Pauses   []Interval // as from PausesFromEvents; may end with an open one
	// AcknowledgedAt and RespondedAt are when the targets were met; zero
	// while not yet.
	AcknowledgedAt time.Time
	RespondedAt    time.Time
	// ReopenedAt is the latest reopen (zero: never reopened) and
	// AnsweredAt the latest response: the new answer once after it.
	ReopenedAt time.Time
	AnsweredAt time.Time
}

// Clock builds the SLA clock of a case from its folded state and its events
// (the same events it was folded from). The policy follows the case's
// current category and priority: a re-assessment re-times the case from
// filing, as if it had been assessed right the first time.
func (c *Config) Clock(cs lifecycle.Case, events []event.Event) (Clock, error) {
	if cs.FiledAt == 0 {
		return Clock{}, errors.New("sla: the case has not been filed")
	}
	p := c.Policy(cs.Category, cs.Priority)
	k := Clock{
		Policy:   p,
		Calendar: c.CalendarFor(p, cs.Branch),
		FiledAt:  cs.FiledAt.Time(),
		Pauses:   PausesFromEvents(events),
	}
	if cs.AcknowledgedAt != 0 {
		k.AcknowledgedAt = cs.AcknowledgedAt.Time()
	}
	if cs.RespondedAt != 0 {
		k.RespondedAt = cs.RespondedAt.Time()
	}
	if cs.ReopenedAt != 0 {
		k.ReopenedAt = cs.ReopenedAt.Time()
	}
	if cs.AnsweredAt != 0 {
		k.AnsweredAt = cs.AnsweredAt.Time()
	}
	return k, nil
}

// Deadlines returns the acknowledge-by and respond-by instants as they
// stand at now (see TargetStatus.Deadline).
func (k Clock) Deadlines(now time.Time) (acknowledgeBy, respondBy time.Time, err error) {
	s, err := k.Status(now)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	return s.Acknowledge.Deadline, s.Respond.Deadline, nil
}

// Status says, for each target, whether it is due, breached or met at now.
// An event dated after now does not count yet, so the same Clock can replay
// a case's history.
func (k Clock) Status(now time.Time) (Status, error) {
	if k.Calendar == nil || k.FiledAt.IsZero() {
		return Status{}, errors.New("sla: the clock needs a calendar and a filing time")
	}
	ack, err := k.target(Acknowledge, k.Policy.Acknowledge, k.FiledAt, k.AcknowledgedAt, now)
	if err != nil {
		return Status{}, err
	}
	resp, err := k.target(Respond, k.Policy.Respond, k.FiledAt, k.RespondedAt, now)
	if err != nil {
		return Status{}, err
	}
	st := Status{Acknowledge: ack, Respond: resp}
	if !k.ReopenedAt.IsZero() && !k.ReopenedAt.After(now) {
		var answered time.Time
		if k.AnsweredAt.After(k.ReopenedAt) {
			answered = k.AnsweredAt
		}
		if st.Reanswer, err = k.target(Reanswer, k.Policy.Respond, k.ReopenedAt, answered, now); err != nil {
			return Status{}, err
		}
	}
	return st, nil
}

func (k Clock) target(t Target, goal time.Duration, start, metAt, now time.Time) (TargetStatus, error) {
	met := !metAt.IsZero() && !metAt.After(now)
	limit := now
	if met {
		// Pauses after the target was met cannot move its deadline.
		limit = metAt
	}
	pauses := clip(k.Pauses, start, limit)
	due, err := deadline(k.Calendar, start, goal, pauses)
	if err != nil {
		return TargetStatus{}, fmt.Errorf("sla: %s deadline: %w", t, err)
	}
	s := TargetStatus{Target: t, Goal: goal, Deadline: due}
	switch {
	case met:
		s.Condition, s.MetAt, s.OnTime = Met, metAt, !metAt.After(due)
		if !s.OnTime {
			s.Overdue = running(k.Calendar, due, metAt, pauses)
		}
	case now.After(due):
		s.Condition = Breached
		s.Overdue = running(k.Calendar, due, now, pauses)
	default:
		s.Condition = Due
		s.Left = max(goal-running(k.Calendar, start, now, pauses), 0)
	}
	if !met {
		for _, p := range k.Pauses {
			if !p.Start.After(now) && (p.End.IsZero() || p.End.After(now)) {
				s.Paused = true
			}
		}
	}
	return s, nil
}
