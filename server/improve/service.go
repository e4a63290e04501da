package improve

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"ombud/server/storage"
	"ombud/shared/uid"
)

// Actions records and reads corrective actions on a store.
type Actions struct {
	Store storage.Improve
	Now   func() time.Time
}

func (s Actions) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

// ErrNotFound is returned for an unknown action.
var ErrNotFound = errors.New("improve: no such action")

// Get reads one action.
func (s Actions) Get(ctx context.Context, id string) (Action, error) {
	if id == storage.RecurringStream {
		return Action{}, ErrNotFound
	}
	evs, err := s.Store.ActionEvents(ctx, id)
	if err != nil {
		return Action{}, err
	}
	if len(evs) == 0 {
		return Action{}, ErrNotFound
	}
	return Fold(evs)
}

// List reads every action, newest first.
func (s Actions) List(ctx context.Context) ([]Action, error) {
	by := map[string][]storage.ActionEvent{}
	var after int64
	for {
		page, err := s.Store.ActionEventsAfter(ctx, after, storage.MaxPage)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			if e.ActionID == storage.RecurringStream {
				continue
			}
			by[e.ActionID] = append(by[e.ActionID], e)
		}
		if len(page) < storage.MaxPage {
			break
		}
		after = page[len(page)-1].Seq
	}
	out := make([]Action, 0, len(by))
	for _, evs := range by {
		a, err := Fold(evs)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].History[0].Seq > out[j].History[0].Seq })
	return out, nil
}

// Open records a new action and returns it.
func (s Actions) Open(ctx context.Context, actor string, o Opening) (Action, error) {
	o, err := o.Check()
	if err != nil {
		return Action{}, err
	}
	at := s.now()
	id := uid.NewAt(at)
	if _, err := s.append(ctx, Action{}, actor, id, Opened, o, at); err != nil {
		return Action{}, err
	}
	return s.Get(ctx, id)
}

// Change changes an action's text, owner, due date or check period.
func (s Actions) Change(ctx context.Context, a Action, actor string, c Change) (Action, error) {
	var err error
	if c.Action != "" {
		if c.Action, err = cleanText("action", c.Action, false); err != nil {
			return a, err
		}
	}
	if c.Due != "" {
		if _, err := time.Parse(time.DateOnly, c.Due); err != nil {
			return a, bad("the due date must be a day such as 2026-03-31")
		}
	}
	if c.CheckDays < 0 || c.CheckDays > 366 {
		return a, bad("the check period must be 1 to 366 days")
	}
	if c == (Change{}) {
		return a, bad("nothing to change")
	}
	return s.append(ctx, a, actor, a.ID, Changed, c, s.now())
}

// MoveTo moves an action to state (planned, in progress or done).
func (s Actions) MoveTo(ctx context.Context, a Action, actor, state, note string) (Action, error) {
	note, err := cleanText("note", note, false)
	if err != nil {
		return a, err
	}
	return s.append(ctx, a, actor, a.ID, Moved, Move{State: state, Note: note}, s.now())
}

// Judge records a manager's verdict on a done action, with the counts of
// the effectiveness check they saw.
func (s Actions) Judge(ctx context.Context, a Action, actor string, j Judgement) (Action, error) {
	var err error
	if j.Note, err = cleanText("note", j.Note, true); err != nil {
		return a, err
	}
	return s.append(ctx, a, actor, a.ID, Verdict, j, s.now())
}

// append checks the event against a's state and stores it after a's
// latest event (a Conflict if someone else changed the action first).
func (s Actions) append(ctx context.Context, a Action, actor, id, typ string, v any, at time.Time) (Action, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return a, err
	}
	e := storage.ActionEvent{ID: uid.NewAt(at), ActionID: id, Type: typ, ActorID: actor, At: at, Data: data}
	if typ != Opened {
		if err := a.Next(e); err != nil {
			return a, err
		}
	}
	if e, err = s.Store.AppendActionEvent(ctx, e, a.Seq); err != nil {
		return a, err
	}
	if typ == Opened {
		return a, nil
	}
	next := a
	next.History = append(append([]storage.ActionEvent(nil), a.History...), e)
	if err := next.apply(e); err != nil {
		return a, err
	}
	next.Seq = e.Seq
	return next, nil
}
