package sla

import (
	"time"

	"ombud/shared/event"
	"ombud/shared/lifecycle"
)

// Step is what a case waits for next.
type Step string

const (
	StepNone        Step = ""            // nothing is due: answered, closed, or waiting on the customer
	StepAcknowledge Step = "acknowledge" // staff confirm they handle it (8.4)
	StepRespond     Step = "respond"     // the decision (8.7, 8.8)
)

// Promise is the deadline rule used where no SLA configuration is loaded:
// the dates the kiosk prints on the receipt, a number of business days
// (Monday to Friday) after filing, in the branch's time zone. The kiosk,
// the staff terminal and the tracking page all compute it here, so the
// three never disagree about a date.
type Promise struct {
	AckDays, RespondDays int
	Location             *time.Location // the branch's zone; time.Local when nil
}

// Next is the case's next step and when it is due under the receipt's
// promise. It gives no date once the promise no longer describes the case:
// after the response, while waiting on the customer (the clock is paused,
// so the printed date would be wrong) and after a reopen (a new target is
// a person's decision, not the receipt's).
func (p Promise) Next(c *lifecycle.Case) (Step, time.Time) {
	if c.WaitingOnCustomer || c.ReopenCount > 0 {
		return StepNone, time.Time{}
	}
	filed := c.Complaint.FiledAt // what the kiosk computed the receipt from
	if filed.IsZero() {
		filed = c.FiledAt.Time()
	}
	switch c.State {
	case lifecycle.Received:
		return StepAcknowledge, BusinessDeadline(filed, p.AckDays, p.Location)
	case lifecycle.Acknowledged, lifecycle.Assessed, lifecycle.Investigating:
		return StepRespond, BusinessDeadline(filed, p.RespondDays, p.Location)
	}
	return StepNone, time.Time{}
}

// BusinessDeadline is the end of the day (23:59:59 in loc) that falls days
// business days (Monday to Friday) after from's date.
func BusinessDeadline(from time.Time, days int, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.Local
	}
	y, m, d := from.In(loc).Date()
	// Step on calendar dates at noon, not by 24 hours, so DST changes do not
	// move the date; time.Date normalises month and year ends.
	day := time.Date(y, m, d, 12, 0, 0, 0, loc)
	for n := 0; n < days; {
		day = time.Date(day.Year(), day.Month(), day.Day()+1, 12, 0, 0, 0, loc)
		if wd := day.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
	}
	return time.Date(day.Year(), day.Month(), day.Day(), 23, 59, 59, 0, loc)
}

// Next is the case's next step and when it is due under the SLA config at
// now, the same rule the server's case engine uses: the first target not
// yet met, and no date while the clock is paused (it would move every
// minute) or once the case is answered or closed.
func (c *Config) Next(cs *lifecycle.Case, events []event.Event, now time.Time) (Step, time.Time, error) {
	if !cs.State.Open() {
		return StepNone, time.Time{}, nil
	}
	k, err := c.Clock(*cs, events)
	if err != nil {
		return StepNone, time.Time{}, err
	}
	st, err := k.Status(now)
	if err != nil {
		return StepNone, time.Time{}, err
	}
	for _, ts := range []TargetStatus{st.Acknowledge, st.Respond} {
		if ts.Condition == Met {
			continue
		}
		if ts.Paused {
			return StepNone, time.Time{}, nil
		}
		return Step(ts.Target), ts.Deadline, nil
	}
	return StepNone, time.Time{}, nil
}
