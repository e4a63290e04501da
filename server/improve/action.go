// Package improve owns the corrective actions of the improvement loop
// (ISO 10002 9.7): a problem (cases and/or a recurring group), its root
// cause, the action taken, an owner, a due date and a state, tracked
// until a manager records whether it worked, after an effectiveness check
// that compares the complaints of its cause before and after.
//
// An action is a series of immutable events with an actor and a time
// (storage.Improve); its state is a fold of them, like a complaint's.
package improve

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"ombud/server/storage"
	"ombud/shared/rootcause"
	"ombud/shared/textsafe"
)

// States of an action.
const (
	Planned      = "planned"
	InProgress   = "in_progress"
	Done         = "done"
	Effective    = "verified_effective"
	NotEffective = "not_effective"
)

// States lists them in their usual order.
var States = []string{Planned, InProgress, Done, Effective, NotEffective}

// StateLabel names a state for people.
func StateLabel(s string) string {
	switch s {
	case Planned:
		return "planned"
	case InProgress:
		return "in progress"
	case Done:
		return "done"
	case Effective:
		return "verified effective"
	case NotEffective:
		return "not effective"
	}
	return s
}

// Event types.
const (
	Opened   = "opened"  // Data: Opening
	Changed  = "changed" // Data: Change (action, owner, due, check period)
	Moved    = "moved"   // Data: Move (a state among planned, in progress, done)
	Verdict  = "verdict" // Data: Judgement (a manager's: effective or not)
	maxText  = 2000
	maxCases = 200
)

// Opening is the payload of an Opened event.
type Opening struct {
	Problem   string   `json:"problem"`
	Cause     string   `json:"cause"`           // rootcause code or "other: ..."
	Group     string   `json:"group,omitempty"` // a recurring group's id
	Cases     []string `json:"cases,omitempty"` // complaint ids
	Action    string   `json:"action"`
	Owner     string   `json:"owner"`      // a staff id
	Due       string   `json:"due"`        // YYYY-MM-DD
	CheckDays int      `json:"check_days"` // the effectiveness check's period
}

// Change is the payload of a Changed event: the fields it sets.
type Change struct {
	Action    string `json:"action,omitempty"`
	Owner     string `json:"owner,omitempty"`
	Due       string `json:"due,omitempty"`
	CheckDays int    `json:"check_days,omitempty"`
}

// Move is the payload of a Moved event.
type Move struct {
	State string `json:"state"`
	Note  string `json:"note,omitempty"`
}

// Judgement is the payload of a Verdict event.
type Judgement struct {
	Effective bool   `json:"effective"`
	Note      string `json:"note"`
	Before    int64  `json:"before"` // the counts the manager saw
	After     int64  `json:"after"`
}

// Action is an action as its events leave it.
type Action struct {
	ID string
	Opening
	State     string
	OpenedBy  string
	OpenedAt  time.Time
	DoneAt    time.Time // when it last became done; zero before
	Verdict   *Judgement
	VerdictBy string
	History   []storage.ActionEvent
	Seq       int64 // the latest event's sequence
}

// DueDate parses Due.
func (a Action) DueDate() time.Time {
	t, _ := time.Parse(time.DateOnly, a.Due)
	return t
}

// CheckFrom is when the effectiveness check can be read: the check
// period after the action was done (zero before it is done).
func (a Action) CheckFrom() time.Time {
	if a.DoneAt.IsZero() {
		return time.Time{}
	}
	return a.DoneAt.AddDate(0, 0, a.CheckDays)
}

// Input errors are in words for the person.
var ErrInput = errors.New("improve: invalid input")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInput}, args...)...)
}

func cleanText(name, s string, required bool) (string, error) {
	s = strings.TrimSpace(textsafe.Clean(s))
	switch {
	case s == "" && required:
		return "", bad("the %s is missing", name)
	case utf8.RuneCountInString(s) > maxText:
		return "", bad("the %s is longer than %d characters", name, maxText)
	}
	return s, nil
}

// Check cleans and checks an opening.
func (o Opening) Check() (Opening, error) {
	var err error
	if o.Problem, err = cleanText("problem", o.Problem, true); err != nil {
		return o, err
	}
	if o.Action, err = cleanText("action", o.Action, true); err != nil {
		return o, err
	}
	if err := rootcause.Validate(o.Cause); err != nil {
		return o, bad("choose the root cause")
	}
	if o.Owner = strings.TrimSpace(textsafe.Line(o.Owner)); o.Owner == "" || len(o.Owner) > 64 {
		return o, bad("name the owner (a staff id)")
	}
	if _, err := time.Parse(time.DateOnly, o.Due); err != nil {
		return o, bad("the due date must be a day such as 2026-03-31")
	}
	if o.CheckDays < 1 || o.CheckDays > 366 {
		return o, bad("the check period must be 1 to 366 days")
	}
	if len(o.Cases) > maxCases {
		return o, bad("at most %d cases", maxCases)
	}
	o.Group = strings.TrimSpace(textsafe.Line(o.Group))
	if len(o.Group) > 64 {
		return o, bad("the group id is too long")
	}
	if o.Group == "" && len(o.Cases) == 0 {
		return o, bad("link the problem to cases or a recurring group")
	}
	return o, nil
}

// allowed moves: from state to the states a Moved event may give.
var moves = map[string][]string{
	Planned:      {InProgress, Done},
	InProgress:   {Planned, Done},
	Done:         {InProgress},
	NotEffective: {InProgress}, // try again
}

// Fold folds an action's events. Events that do not fit (a move the
// state does not allow, a verdict before done) are errors: the store only
// holds events this package checked, so they mean a damaged log.
func Fold(events []storage.ActionEvent) (Action, error) {
	var a Action
	for i, e := range events {
		if i == 0 {
			if e.Type != Opened {
				return a, fmt.Errorf("action %s does not start with its opening", e.ActionID)
			}
			var o Opening
			if err := json.Unmarshal(e.Data, &o); err != nil {
				return a, fmt.Errorf("action %s: opening: %w", e.ActionID, err)
			}
			a = Action{ID: e.ActionID, Opening: o, State: Planned, OpenedBy: e.ActorID, OpenedAt: e.At}
		} else if err := a.apply(e); err != nil {
			return a, fmt.Errorf("action %s event %d: %w", e.ActionID, e.Seq, err)
		}
		a.History = append(a.History, e)
		a.Seq = e.Seq
	}
	if len(events) == 0 {
		return a, errors.New("improve: no such action")
	}
	return a, nil
}

// Next checks that e may follow a's events.
func (a Action) Next(e storage.ActionEvent) error {
	return a.apply(e)
}

func (a *Action) apply(e storage.ActionEvent) error {
	switch e.Type {
	case Changed:
		var c Change
		if err := json.Unmarshal(e.Data, &c); err != nil {
			return err
		}
		if c.Action != "" {
			a.Action = c.Action
		}
		if c.Owner != "" {
			a.Owner = c.Owner
		}
		if c.Due != "" {
			a.Due = c.Due
		}
		if c.CheckDays > 0 {
			a.CheckDays = c.CheckDays
		}
	case Moved:
		var m Move
		if err := json.Unmarshal(e.Data, &m); err != nil {
			return err
		}
		if !slices.Contains(moves[a.State], m.State) {
			return bad("an action %s cannot become %s", StateLabel(a.State), StateLabel(m.State))
		}
		a.State = m.State
		if m.State == Done {
			a.DoneAt = e.At
		}
		if m.State == InProgress {
			a.Verdict, a.VerdictBy = nil, ""
		}
	case Verdict:
		var j Judgement
		if err := json.Unmarshal(e.Data, &j); err != nil {
			return err
		}
		if a.State != Done {
			return bad("a verdict is recorded on a done action, not one %s", StateLabel(a.State))
		}
		a.Verdict, a.VerdictBy = &j, e.ActorID
		a.State = NotEffective
		if j.Effective {
			a.State = Effective
		}
	default:
		return fmt.Errorf("unknown event type %q", e.Type)
	}
	return nil
}

// Effect is the effectiveness check: complaints of the action's cause in
// the check period before it was done and the same period after.
type Effect struct {
	Ready          bool // the period after has run its course
	From, Done, To time.Time
	Before, After  int64
	Fell           bool
}

// Counter counts complaints of a cause (storage.Improve's CauseCounts).
type Counter func(cause string, from, to time.Time) (int64, error)

// Check reads the effectiveness check of a at now.
func Check(a Action, now time.Time, count Counter) (Effect, error) {
	if a.DoneAt.IsZero() {
		return Effect{}, nil
	}
	period := time.Duration(a.CheckDays) * 24 * time.Hour
	ef := Effect{From: a.DoneAt.Add(-period), Done: a.DoneAt, To: a.DoneAt.Add(period)}
	ef.Ready = !now.Before(ef.To)
	var err error
	key := rootcause.Key(a.Cause)
	if ef.Before, err = count(key, ef.From, ef.Done); err != nil {
		return ef, err
	}
	if ef.After, err = count(key, ef.Done, ef.To); err != nil {
		return ef, err
	}
	ef.Fell = ef.After < ef.Before
	return ef, nil
}
