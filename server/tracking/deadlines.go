package tracking

import (
	"context"
	"time"

	"ombud/shared/lifecycle"
)

// Deadlines is the seam to the case engine (SLA policies, pauses while
// waiting on the customer, escalation clock, dispatch), which will know
// when a case's next step is due and which team has it. Until it exists,
// ReceiptPromise repeats what the receipt promised. An implementation must
// never make a date up: when it does not know, it returns a zero NextStep
// and the page says nothing about dates.
type Deadlines interface {
	NextStep(ctx context.Context, c *lifecycle.Case) (NextStep, error)
}

// StepKind is what the customer is waiting for.
type StepKind string

const (
	StepAcknowledge StepKind = "acknowledge" // staff confirm they handle it (8.4)
	StepRespond     StepKind = "respond"     // the decision (8.7, 8.8)
)

// Basis says where a date comes from, so the page can say it honestly.
type Basis string

const (
	BasisReceipt Basis = "receipt" // the promise printed at filing, not adjusted since
	BasisPolicy  Basis = "policy"  // computed by the case engine from current SLA policy
)

// NextStep is the next thing due on a case. Zero Due: nothing to show.
type NextStep struct {
	Kind  StepKind
	Due   time.Time
	Basis Basis
	// Team is the public name of the team handling the case ("Customer
	// relations"), never a person's; empty shows nothing.
	Team string
}

// ReceiptPromise is the stand-in Deadlines: the dates the kiosk printed on
// the receipt (kiosk --ack-days, --respond-days, --timezone; the server's
// flags of the same names must match), computed the same way from the
// complaint's filing time. It stops giving a date as soon as the receipt's
// promise no longer describes the case: once answered, while waiting on
// the customer (the SLA clock is paused, so the date would be wrong) and
// after a reopen (the case engine will set a new target).
type ReceiptPromise struct {
	AckDays, RespondDays int
	Location             *time.Location // the branch's zone; time.Local when nil
}

// NextStep implements Deadlines.
func (p ReceiptPromise) NextStep(_ context.Context, c *lifecycle.Case) (NextStep, error) {
	if c.WaitingOnCustomer || c.ReopenCount > 0 {
		return NextStep{}, nil
	}
	filed := c.Complaint.FiledAt // what the kiosk computed the receipt from
	if filed.IsZero() {
		filed = c.FiledAt.Time()
	}
	switch c.State {
	case lifecycle.Received:
		return NextStep{Kind: StepAcknowledge, Due: BusinessDeadline(filed, p.AckDays, p.Location), Basis: BasisReceipt}, nil
	case lifecycle.Acknowledged, lifecycle.Assessed, lifecycle.Investigating:
		return NextStep{Kind: StepRespond, Due: BusinessDeadline(filed, p.RespondDays, p.Location), Basis: BasisReceipt}, nil
	}
	return NextStep{}, nil
}

// BusinessDeadline is the end of the day (23:59:59 in loc) that falls days
// business days (Monday to Friday) after from's date. It is the kiosk's
// rule (kiosk/filing.BusinessDeadline, a test keeps the two equal), so the
// page repeats the receipt's dates exactly; the server does not import the
// kiosk's packages. The SLA engine (shared/sla, business hours and
// holidays) will replace both.
func BusinessDeadline(from time.Time, days int, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.Local
	}
	y, m, d := from.In(loc).Date()
	// Step on calendar dates at noon, not by 24 hours, so DST changes do
	// not move the date.
	day := time.Date(y, m, d, 12, 0, 0, 0, loc)
	for n := 0; n < days; {
		day = time.Date(day.Year(), day.Month(), day.Day()+1, 12, 0, 0, 0, loc)
		if wd := day.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
	}
	return time.Date(day.Year(), day.Month(), day.Day(), 23, 59, 59, 0, loc)
}
