// Package kpi owns the complaint-handling figures of the improvement loop
// (ISO 10002 9.4): complaints received, time to acknowledge and to respond
// against the SLA, escalations, reopenings, satisfaction and the open
// backlog, for a period, a set of branches, a category and a channel.
//
// Every figure is computed from the event log. A follower of the commit
// feed (Follower) folds each complaint an event touches into one Fact and
// keeps per-day aggregates (DayCounts, by day, branch, category and
// channel) beside the facts; the facts, the aggregates and the follower's
// cursor in the log are committed in one transaction, so a restart resumes
// exactly and a rebuild (Rebuild: reset, then follow the whole log again)
// gives the same numbers. Counts and trends read the per-day aggregates;
// medians, 90th percentiles and the backlog read the facts of the period.
//
// The package holds the rules (what a fact is, how figures follow from
// facts and aggregates) and declares the storage it needs (Store); the
// server's SQLite storage implements it.
package kpi

import (
	"context"
	"errors"
	"time"

	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/lifecycle"
	"ombud/shared/rootcause"
	"ombud/shared/sla"
)

// DayLayout is how a Fact's day is written (in the server's time zone).
const DayLayout = "2006-01-02"

// SLA judgements of one target of one case.
const (
	NotJudged = 0 // not met yet, or no SLA
	OnTime    = 1 // met no later than its deadline
	Late      = 2 // met after its deadline
)

// Fact is one complaint as the figures see it: a pure function of its
// events (and the SLA configuration), so a rebuild gives the same fact.
// Times are UTC; zero means "not yet" (or "none" for the deadlines).
type Fact struct {
	ComplaintID string
	Code        string
	Day         string // filing day, DayLayout, in the server's time zone
	Branch      string
	Category    string // as filed, or as corrected at assessment
	Channel     string
	State       lifecycle.State

	FiledAt        time.Time
	AcknowledgedAt time.Time
	RespondedAt    time.Time // the first response (9.4 "time to respond")
	ClosedAt       time.Time // the latest closure; zero while open

	AckSLA, RespondSLA int       // NotJudged, OnTime or Late
	AckDue, RespondDue time.Time // the deadlines; zero without SLA or while paused

	Escalated    bool
	Reopened     bool
	NotSatisfied bool // closed with the customer's refusal, or rated 1 or 2 stars
	Stars        int  // the latest rating; 0 when not rated
	// RootCause is the cause staff recorded (shared/rootcause), from the
	// latest closure or root_cause_set event; "" when none.
	RootCause string

	Seq int64 // the highest global sequence among the events folded
}

// Open reports whether the case is open (not closed now).
func (f Fact) Open() bool { return f.ClosedAt.IsZero() }

// FactOf is the fact of a folded case. events are the events it was folded
// from; cfg may be nil (no SLA judgements). loc sets the filing day.
func FactOf(cs lifecycle.Case, events []event.Event, seq int64, cfg *sla.Config, loc *time.Location) Fact {
	f := Fact{
		ComplaintID: cs.ID, Code: cs.Code, Branch: cs.Branch, Category: cs.Category,
		Channel: string(cs.Complaint.Channel), State: cs.State,
		FiledAt:        clockTime(cs.FiledAt),
		AcknowledgedAt: clockTime(cs.AcknowledgedAt),
		RespondedAt:    clockTime(cs.RespondedAt),
		ClosedAt:       clockTime(cs.ClosedAt),
		Escalated:      cs.Escalated,
		Reopened:       cs.ReopenCount > 0,
		Seq:            seq,
	}
	f.Day = f.FiledAt.In(loc).Format(DayLayout)
	if cs.Rating != nil {
		f.Stars = cs.Rating.Stars
	}
	if rootcause.Validate(cs.RootCause) == nil {
		f.RootCause = cs.RootCause
	}
	refused := !f.ClosedAt.IsZero() && cs.CustomerAccepted != nil && !*cs.CustomerAccepted
	f.NotSatisfied = refused || (f.Stars > 0 && f.Stars <= 2)
	if cfg == nil {
		return f
	}
	k, err := cfg.Clock(cs, events)
	if err != nil {
		return f
	}
	// The clock of the last event, not the wall clock: met targets and
	// running deadlines do not depend on it, and a rebuild must agree.
	st, err := k.Status(clockTime(cs.LastEventAt))
	if err != nil {
		return f
	}
	judge := func(ts sla.TargetStatus) (int, time.Time) {
		if ts.Condition == sla.Met {
			if ts.OnTime {
				return OnTime, ts.Deadline.UTC()
			}
			return Late, ts.Deadline.UTC()
		}
		if ts.Paused {
			return NotJudged, time.Time{}
		}
		return NotJudged, ts.Deadline.UTC()
	}
	f.AckSLA, f.AckDue = judge(st.Acknowledge)
	f.RespondSLA, f.RespondDue = judge(st.Respond)
	return f
}

// DayCounts are the additive figures of a set of facts; per-day rows of
// them are what the store maintains.
type DayCounts struct {
	Received     int64
	Acked        int64
	AckOnTime    int64
	AckLate      int64
	Responded    int64
	RespOnTime   int64
	RespLate     int64
	Escalated    int64
	Reopened     int64
	Closed       int64
	NotSatisfied int64
	Rated        int64
	StarsSum     int64
	Stars        [5]int64 // Stars[i] counts ratings of i+1 stars
}

// Add adds o, times sign (1 or -1).
func (c *DayCounts) Add(o DayCounts, sign int64) {
	c.Received += sign * o.Received
	c.Acked += sign * o.Acked
	c.AckOnTime += sign * o.AckOnTime
	c.AckLate += sign * o.AckLate
	c.Responded += sign * o.Responded
	c.RespOnTime += sign * o.RespOnTime
	c.RespLate += sign * o.RespLate
	c.Escalated += sign * o.Escalated
	c.Reopened += sign * o.Reopened
	c.Closed += sign * o.Closed
	c.NotSatisfied += sign * o.NotSatisfied
	c.Rated += sign * o.Rated
	c.StarsSum += sign * o.StarsSum
	for i := range c.Stars {
		c.Stars[i] += sign * o.Stars[i]
	}
}

// Counts is one fact's contribution to its day's row.
func (f Fact) Counts() DayCounts {
	b := func(v bool) int64 {
		if v {
			return 1
		}
		return 0
	}
	c := DayCounts{
		Received:     1,
		Acked:        b(!f.AcknowledgedAt.IsZero()),
		AckOnTime:    b(f.AckSLA == OnTime),
		AckLate:      b(f.AckSLA == Late),
		Responded:    b(!f.RespondedAt.IsZero()),
		RespOnTime:   b(f.RespondSLA == OnTime),
		RespLate:     b(f.RespondSLA == Late),
		Escalated:    b(f.Escalated),
		Reopened:     b(f.Reopened),
		Closed:       b(!f.ClosedAt.IsZero()),
		NotSatisfied: b(f.NotSatisfied),
	}
	if f.Stars >= event.MinStars && f.Stars <= event.MaxStars {
		c.Rated, c.StarsSum = 1, int64(f.Stars)
		c.Stars[f.Stars-1] = 1
	}
	return c
}

// DayRow is one row of the per-day aggregates.
type DayRow struct {
	Day, Branch, Category, Channel string
	DayCounts
}

// Query selects facts and day rows: filing days From to To inclusive
// (DayLayout), within Branches (nil with All false selects nothing), and,
// when set, one category and one channel.
type Query struct {
	From, To string
	All      bool
	Branches []string
	Category string
	Channel  string
}

// Store is what the figures need of the server's storage.
type Store interface {
	Reader
	// KPICursor is the global sequence the facts are folded up to and the
	// configuration fingerprint they were computed under.
	KPICursor(ctx context.Context) (seq int64, config string, err error)
	// SaveFacts upserts facts and moves the cursor from from to to, in one
	// transaction, and keeps the day rows equal to the sum of the facts'
	// Counts (subtracting a replaced fact's). A compare-and-set on the
	// cursor: a Conflict (storage.ErrorCode) when it is not at from, and
	// nothing is written.
	SaveFacts(ctx context.Context, from, to int64, facts []Fact) error
	// ResetKPI deletes every fact and day row and sets the cursor to 0 and
	// the fingerprint to config, in one transaction.
	ResetKPI(ctx context.Context, config string) error
}

// Reader is the read side.
type Reader interface {
	// DayRows returns the day rows q selects, in day order.
	DayRows(ctx context.Context, q Query) ([]DayRow, error)
	// Facts returns the facts of the complaints filed in q, in filing
	// order, at most limit (ErrTooMany beyond).
	Facts(ctx context.Context, q Query, limit int) ([]Fact, error)
	// OpenFacts returns the facts of complaints in q's scope (branches,
	// category, channel; not its days) filed by asOf and not closed by it.
	OpenFacts(ctx context.Context, q Query, asOf time.Time, limit int) ([]Fact, error)
}

// ErrTooMany is returned when a query would return more than its limit.
var ErrTooMany = errors.New("kpi: more cases than this view shows; narrow the period or scope")

func clockTime(t hlc.Timestamp) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return t.Time().UTC()
}
