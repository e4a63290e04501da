package tracking

import (
	"context"
	"time"

	"ombud/shared/lifecycle"
	"ombud/shared/sla"
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
	step, due := sla.Promise{AckDays: p.AckDays, RespondDays: p.RespondDays, Location: p.Location}.Next(c)
	if step == sla.StepNone {
		return NextStep{}, nil
	}
	return NextStep{Kind: StepKind(step), Due: due, Basis: BasisReceipt}, nil
}
