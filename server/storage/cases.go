package storage

import (
	"context"
	"time"

	"ombud/shared/event"
	"ombud/shared/lifecycle"
)

// Cases is the case engine's projection (package server/cases): one row per
// filed complaint with its state, queue and SLA deadlines, indexed by the
// next deadline so the escalation clock finds overdue cases without folding
// every case, plus the cursor in the global event log that the rows are
// folded up to.
//
// The rows are derived, never a source of truth: the event log is, and the
// engine can throw the rows away and fold them again (ResetCases, then
// replay). That is why there is no way to write a row without also moving
// the cursor: a row and the log position it reflects are committed
// together, so a restart resumes exactly where the last commit left off.
type Cases interface {
	// CasesCursor is the global sequence the projection is folded up to;
	// 0 for a new or reset projection.
	CasesCursor(ctx context.Context) (int64, error)

	// SaveCases upserts rows (by complaint id) and moves the cursor from
	// from to to, in one transaction. It is a compare-and-set on the
	// cursor: when the stored cursor is not from (another engine, or a
	// reset, moved it), nothing is written and the error is a Conflict, so
	// two engines on one database never both advance past the same events.
	// Invalid if to < from.
	SaveCases(ctx context.Context, from, to int64, rows []CaseRow) error

	// Case returns one row. NotFound (wrapping complaint.ErrNotFound) when
	// the projection has no row for the complaint: unknown, or not yet
	// folded.
	Case(ctx context.Context, complaintID string) (CaseRow, error)

	// CasesDue returns up to limit rows whose NextDue is before by, earliest
	// first (ties by complaint id), starting after the position after (the
	// zero DueKey starts at the earliest). A scan pages with the key of the
	// last row it got, so rows it could not act on never hide the rest.
	// limit is capped at MaxPage; below 1 is Invalid.
	CasesDue(ctx context.Context, by time.Time, after DueKey, limit int) ([]CaseRow, error)

	// CasesAfter pages through every row in complaint id order: up to limit
	// rows with an id greater than afterID ("" starts at the beginning).
	// For exports, staff lists and checking a rebuild. limit as CasesDue.
	CasesAfter(ctx context.Context, afterID string, limit int) ([]CaseRow, error)

	// CasesConfig is the fingerprint the engine recorded with
	// SetCasesConfig: which configuration the rows' deadlines were computed
	// under. "" for a new or reset projection, or one never fingerprinted.
	CasesConfig(ctx context.Context) (string, error)

	// SetCasesConfig records the fingerprint beside the cursor. The engine
	// calls it after refolding every row under that configuration.
	SetCasesConfig(ctx context.Context, fingerprint string) error

	// ResetCases deletes every row, sets the cursor to 0 and forgets the
	// fingerprint, in one transaction: the start of a rebuild.
	ResetCases(ctx context.Context) error
}

// DueKey is a position in CasesDue's order: after the row with this NextDue
// and complaint id.
type DueKey struct {
	NextDue     time.Time
	ComplaintID string
}

// DueKeyOf is the position just after row r.
func DueKeyOf(r CaseRow) DueKey {
	return DueKey{NextDue: r.NextDue, ComplaintID: r.ComplaintID}
}

// CaseRow is one complaint as the case engine last folded it. Times are UTC;
// a zero time means "not yet" (or, for the deadlines, "none": met targets
// keep the deadline they were met against, but a target whose clock is
// paused has no deadline until the customer answers).
type CaseRow struct {
	ComplaintID string
	Code        string
	Branch      string
	State       lifecycle.State
	Queue       string // from the latest assignment; "" until dispatched
	Severity    event.Severity
	Priority    int // 0 until assessed
	Category    string
	// EscalationLevel is the highest level reached; 0 if never escalated.
	EscalationLevel   int
	WaitingOnCustomer bool

	// FiledAt, AcknowledgedAt, RespondedAt, ClosedAt are the hybrid logical
	// clock times of the events that set them (lifecycle.Case).
	FiledAt        time.Time
	AcknowledgedAt time.Time
	RespondedAt    time.Time
	ClosedAt       time.Time

	AckDue     time.Time
	RespondDue time.Time
	// NextDue is the earliest deadline the escalation clock still has to
	// watch: of a target not met, not paused and not yet escalated, on an
	// open case. Zero when there is none.
	NextDue    time.Time
	NextTarget string // the target NextDue belongs to: "acknowledge" or "respond"

	// UpdatedAt is when the case last changed: the clock of its last
	// applied event. Taken from the log rather than the wall clock, so a
	// rebuild gives the same row.
	UpdatedAt time.Time
	// Seq is the highest global sequence among the events folded.
	Seq int64
}
