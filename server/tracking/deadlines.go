package tracking

import (
	"context"
	"time"

	"ombud/shared/lifecycle"
	"ombud/shared/sla"
)

// Deadlines is the seam to the case engine (SLA policies, pauses while
// waiting on the customer, escalation clock, dispatch), which knows when a
// case's next step is due. An implementation must never make a date up:
// when it does not know, it returns a zero NextStep and the page says
// nothing about dates.
type Deadlines interface {
	NextStep(ctx context.Context, c *lifecycle.Case) (NextStep, error)
}

// StepKind is what the customer is waiting for.
type StepKind string

const (
	StepAcknowledge StepKind = "acknowledge" // staff confirm they handle it (8.4)
	StepRespond     StepKind = "respond"     // the decision (8.7, 8.8), first or after a reopen
	// StepClose: the decision is given; the customer may accept it or
	// say they are not satisfied until Due, when the case closes (8.9).
	StepClose StepKind = "close"
)

// Basis says where a date comes from, so the page can say it honestly.
type Basis string

// BasisPolicy: computed from the SLA configuration, the one the kiosk
// printed the receipt's dates from (shared/sla).
const BasisPolicy Basis = "policy"

// NextStep is the next thing due on a case. Zero Due: nothing to show.
type NextStep struct {
	Kind  StepKind
	Due   time.Time
	Basis Basis
	// Team is the public name of the team handling the case ("Customer
	// relations"), never a person's; empty shows nothing.
	Team string
}

// SLA gives dates from an SLA configuration and the folded case alone,
// for a handler without a case engine (tests, tools). Without the events
// it cannot time a pause, so it gives no date while the case waits on the
// customer; the server's engine (server/cases) gives the same dates
// otherwise, from the same sla.Config.Next.
type SLA struct {
	Config *sla.Config
	Now    func() time.Time // time.Now when nil
}

// NextStep implements Deadlines.
func (d SLA) NextStep(_ context.Context, c *lifecycle.Case) (NextStep, error) {
	if c.WaitingOnCustomer || d.Config == nil {
		return NextStep{}, nil
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	step, due, err := d.Config.Next(c, nil, now())
	if err != nil || step == sla.StepNone {
		return NextStep{}, err
	}
	return NextStep{Kind: StepKind(step), Due: due, Basis: BasisPolicy}, nil
}
