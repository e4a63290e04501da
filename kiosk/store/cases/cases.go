// Package cases owns the staff queue's view of the complaints in the kiosk
// database: the projection of each case (the fold of its events: state,
// deadline, queue line, search text) that the queue lists, filters and
// counts without folding 50,000 logs, a case's whole timeline, and the
// actions staff record on a case, admitted by the lifecycle's rules
// (shared/lifecycle) before they are appended to the log.
//
// The rows are derived from the log that kiosk/store owns, and must never
// lag it: Projection is the store.Projection the store calls inside every
// write transaction that changes the log or the outbox (File, Record,
// ApplyRemote, AckOutbox, Quarantine), so a case's row is committed with
// the events it derives from. Its tables are made by kiosk/store's
// migrations (one ordered set for the one file); the migration that made
// them filled them in its own transaction (Projection.Migrated).
//
// A staff terminal deletes the cases closed long ago (Queue.PurgeClosed,
// through store.Forget): it holds customers' words only while they are
// worked.
//
// Every program that opens the database gives the store a Projection, the
// customer kiosk too: its filings are cases a staff terminal on the same
// file would list.
package cases

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"ombud/kiosk/store"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
	"ombud/shared/trackcode"
)

// DeadlineFunc computes a case's next step and when it is due, from the
// fold and the events it was folded from. Options.Deadline; nil is
// SLADeadline of sla.Fallback(2, 15, time.Local).
type DeadlineFunc func(c *lifecycle.Case, events []event.Event) (sla.Step, time.Time)

// Row is one line of the staff queue: the projection of a case,
// refreshed in the same transaction as every event that changes it.
type Row struct {
	ComplaintID string
	Code        string // canonical tracking code
	State       lifecycle.State
	Queue       string // latest assignment; "" before dispatch
	Category    string
	Severity    event.Severity // "" until assessed
	Priority    int            // 0 until assessed
	Escalated   bool
	Waiting     bool // waiting on the customer (SLA clock paused)
	FiledAt     time.Time
	NextStep    sla.Step  // StepNone when nothing is due
	DueAt       time.Time // zero when nothing is due
	Summary     string    // the start of the description, textsafe.Line-cleaned, at most 120 runes
	Unsynced    int       // this device's events of the case not yet acknowledged by the server
	Refused     int       // events of the case the fold did not apply (lifecycle.Case.Rejected)
	UpdatedAt   time.Time // time of the latest event
}

// Overdue reports whether something is due and the time has passed.
//
// A decided case waiting for the customer's answer (sla.StepClose) is never
// overdue: the date is the customer's, and the server closes it then.
func (r Row) Overdue(now time.Time) bool {
	return !r.DueAt.IsZero() && now.After(r.DueAt) && r.NextStep != sla.StepClose
}

// Filter selects queue rows. Zero fields select everything.
type Filter struct {
	States   []lifecycle.State // any of these; empty: all states
	Category string
	Priority int    // 1-4; 0: any
	Queue    string // exact queue; "": any
	// Search matches a tracking code (any spelling trackcode.Parse accepts,
	// or a prefix of at least 4 symbols) or, otherwise, words that all
	// appear (case-insensitively) in the description or the category.
	//
	// Text that is a valid code matches that code only. Text that could be a
	// prefix (4 to 12 code symbols once dashes and spaces are dropped) also
	// matches as words: "card" or "charged" are spelled with code symbols
	// too, and staff searching for them must not get an empty queue.
	Search string
	Limit  int // 0: no limit
}

// maxSearchWords bounds the LIKE conditions of one search.
const maxSearchWords = 8

// Queue is the branch's cases as the staff terminal works them: the
// queue's rows (Cases, CaseCounts), a case with its timeline (CaseDetail),
// the actions staff record (Act) and the refusals they are told of
// (RefusedActions). Safe for concurrent use.
type Queue struct {
	db *store.Store
	p  *Projection
}

// New makes the queue of db, which must have been opened with p.
func New(db *store.Store, p *Projection) *Queue {
	return &Queue{db: db, p: p}
}

// Changes is the database's commit feed (store.Store.Changes): a signal
// after every commit that may change what the queue or a case shows,
// including a new staff directory.
func (q *Queue) Changes() (ch <-chan struct{}, cancel func()) { return q.db.Changes() }

// Cases returns the rows f selects, sorted by DueAt (zero last), then
// FiledAt, then ComplaintID: what is due next comes first.
func (q *Queue) Cases(ctx context.Context, f Filter) ([]Row, error) {
	var where []string
	var args []any
	if len(f.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	if f.Category != "" {
		where = append(where, "category = ?")
		args = append(args, f.Category)
	}
	if f.Priority != 0 {
		where = append(where, "priority = ?")
		args = append(args, f.Priority)
	}
	if f.Queue != "" {
		where = append(where, "queue = ?")
		args = append(args, f.Queue)
	}
	if cond, cargs := searchCondition(f.Search); cond != "" {
		where = append(where, cond)
		args = append(args, cargs...)
	}
	query := `SELECT line, unsynced FROM cases`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	// The order is the table's primary key: no sort step, and a limit stops
	// the walk early.
	query += ` ORDER BY due_key, filed_at, complaint_id`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	var out []Row
	err := q.db.View(ctx, func(tx store.Tx) error {
		switch {
		case f.Limit > 0:
			out = make([]Row, 0, min(f.Limit, 1024))
		case len(where) == 0:
			// The whole queue: size it once rather than grow it a dozen
			// times (a row is a few hundred bytes, and there may be 50,000).
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM cases`).Scan(&n); err == nil {
				out = make([]Row, 0, n+16)
			}
		}
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var line sql.RawBytes // decodeLine copies it
		for rows.Next() {
			var unsynced int
			if err := rows.Scan(&line, &unsynced); err != nil {
				return err
			}
			r, err := decodeLine(line)
			if err != nil {
				return err
			}
			r.Unsynced = unsynced
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	return out, nil
}

// searchCondition turns Filter.Search into a WHERE condition.
func searchCondition(text string) (string, []any) {
	text = strings.TrimSpace(text)
	if text == "" {
		return "", nil
	}
	// Codes are looked up in the complaints table's index rather than
	// given an index of their own here: one tree fewer for every filing to
	// write. (A complaint whose code clashed has no complaints row, and is
	// found by the other complaint's code only.)
	if code, err := trackcode.Parse(text); err == nil {
		return "complaint_id IN (SELECT id FROM complaints WHERE code = ?)", []any{string(code)}
	}
	words := strings.Fields(strings.ToLower(text))
	if len(words) > maxSearchWords {
		words = words[:maxSearchWords]
	}
	conds := make([]string, len(words))
	args := make([]any, 0, len(words)+2)
	for i, w := range words {
		conds[i] = `text LIKE ? ESCAPE '\'`
		args = append(args, "%"+escapeLike(w)+"%")
	}
	cond := "complaint_id IN (SELECT complaint_id FROM case_search WHERE " + strings.Join(conds, " AND ") + ")"
	if prefix, ok := codePrefix(text); ok {
		// Every code is upper-case letters and digits, all below '~'.
		return "(complaint_id IN (SELECT id FROM complaints WHERE code >= ? AND code < ?) OR " + cond + ")",
			append([]any{prefix, prefix + "~"}, args...)
	}
	return cond, args
}

// escapeLike makes s match itself literally in LIKE ... ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// crockford maps what a person types for a code symbol to the canonical
// symbol, as trackcode.Parse reads it: case folded, I and L as 1, O as 0.
func crockford(c byte) (byte, bool) {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	if c >= 'a' && c <= 'z' {
		c -= 'a' - 'A'
	}
	switch c {
	case 'I', 'L':
		return '1', true
	case 'O':
		return '0', true
	}
	return c, strings.IndexByte(alphabet, c) >= 0
}

// codePrefix reads text as the start of a tracking code: at least 4
// symbols once spaces and dashes are dropped, at most a whole code.
func codePrefix(text string) (string, bool) {
	var b []byte
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == ' ' || c == '-' || c == '\t' {
			continue
		}
		sym, ok := crockford(c)
		if !ok || len(b) == trackcode.Len {
			return "", false
		}
		b = append(b, sym)
	}
	if len(b) < 4 {
		return "", false
	}
	return string(b), true
}

// CaseCounts counts cases per state (all cases, no filter). States with no
// case are absent.
func (q *Queue) CaseCounts(ctx context.Context) (map[lifecycle.State]int, error) {
	out := make(map[lifecycle.State]int)
	err := q.db.View(ctx, func(tx store.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT state, count(*) FROM cases GROUP BY state`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var state string
			var n int
			if err := rows.Scan(&state, &n); err != nil {
				return err
			}
			out[lifecycle.State(state)] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("case counts: %w", err)
	}
	return out, nil
}

// Detail is everything the case screen shows.
type Detail struct {
	Case      lifecycle.Case
	Complaint complaint.Complaint // as filed; Contact only when the customer consented
	Events    []event.Event       // the whole log in event.Less order, rejected ones included
	Unsynced  map[string]bool     // ids of this device's events not yet acknowledged
	// Quarantined maps ids of this device's events the server refused
	// (push_reject) to the server's reason.
	Quarantined map[string]string
	NextStep    sla.Step
	DueAt       time.Time
}

// ErrNoCase is returned (wrapped) for a complaint this store has no
// Filed event of.
var ErrNoCase = errors.New("no such case here")

// CaseDetail loads one case. ErrNoCase if unknown.
func (q *Queue) CaseDetail(ctx context.Context, complaintID string) (Detail, error) {
	var d Detail
	// One read transaction: the log, the outbox and the complaint row as of
	// one moment.
	err := q.db.View(ctx, func(tx store.Tx) error {
		l, err := loadCaseLog(ctx, tx, complaintID)
		if err != nil {
			return err
		}
		c, err := lifecycle.Fold(l.events)
		if errors.Is(err, lifecycle.ErrNotFiled) {
			return ErrNoCase
		}
		if err != nil {
			return err
		}
		cp, err := store.ScanComplaint(tx.QueryRowContext(ctx,
			`SELECT `+store.ComplaintColumns+` FROM complaints WHERE id = ?`, complaintID))
		switch {
		case errors.Is(err, complaint.ErrNotFound):
			// Its tracking code clashed with another complaint's, so it has
			// no row: show it as its Filed event carries it.
			cp = c.Complaint
			if cp.Contact != nil && (cp.Contact.ConsentAt.IsZero() || cp.Contact.NoticeVersion == "") {
				cp.Contact = nil
			}
		case err != nil:
			return fmt.Errorf("complaint: %w", err)
		}
		d = Detail{
			Case: c, Complaint: cp, Events: l.events,
			Unsynced: l.unsynced, Quarantined: l.quarantined,
		}
		return nil
	})
	if err != nil {
		return Detail{}, fmt.Errorf("case %s: %w", complaintID, err)
	}
	if d.Unsynced == nil {
		d.Unsynced = map[string]bool{}
	}
	if d.Quarantined == nil {
		d.Quarantined = map[string]string{}
	}
	d.NextStep, d.DueAt = q.p.deadline(&d.Case, d.Events)
	if d.NextStep == sla.StepNone {
		d.DueAt = time.Time{}
	}
	return d, nil
}

// Act records a staff action: in one transaction it folds the case's
// events, refuses the event with the *lifecycle.Error that
// lifecycle.Allowed or lifecycle.Apply gives (state or payload), and
// otherwise stores the event, queues it in the outbox and refreshes the
// case's row (store.Store.Record). It returns the case as it now stands.
// ErrNoCase if the complaint is unknown here; errors wrapping
// store.ErrUnavailable for storage faults (nothing written). The caller
// builds e (id, clock, actor, branch).
//
// A refusal returns the *lifecycle.Error itself (its Message is for staff)
// together with the case as it stands, unchanged. The case returned after
// a success is the fold of the whole log, e included: what the queue row
// now shows.
func (q *Queue) Act(ctx context.Context, e event.Event) (lifecycle.Case, error) {
	if e.ComplaintID == "" {
		return lifecycle.Case{}, fmt.Errorf("act: event %s names no complaint: %w", e.ID, ErrNoCase)
	}
	// What the rules are given is the log as it stands in the write
	// transaction: no other write can slip between the check and the append.
	var before, after lifecycle.Case
	folded := false
	err := q.db.Record(ctx, e, func(tx store.Tx) error {
		w, err := q.p.writer(ctx, tx)
		if err != nil {
			return fmt.Errorf("prepare: %w: %w", store.ErrUnavailable, err)
		}
		l, err := w.load(e.ComplaintID)
		if err != nil {
			return fmt.Errorf("read: %w: %w", store.ErrUnavailable, err)
		}
		c, err := lifecycle.Fold(l.events)
		if errors.Is(err, lifecycle.ErrNotFiled) {
			return ErrNoCase
		}
		if err != nil {
			return err
		}
		before, folded = c, true
		if err := lifecycle.Allowed(c.State, e.Type); err != nil {
			return err
		}
		check := c // Apply changes only its argument, and only on success
		if err := lifecycle.Apply(&check, e); err != nil {
			return err
		}
		if len(e.Data) > 0 && !json.Valid(e.Data) {
			// Apply reads only the payloads it needs; the log takes JSON only.
			return &lifecycle.Error{Code: lifecycle.InvalidData, State: c.State, Type: e.Type,
				EventID: e.ID, Message: "the event's data could not be read"}
		}
		if after, err = lifecycle.Fold(append(l.events, e)); err != nil {
			folded = false // not a refusal: no case to return with it
		}
		return err
	})
	if le, ok := errors.AsType[*lifecycle.Error](err); ok {
		return before, le // a refusal, for staff as it is
	}
	if err != nil {
		if !folded || errors.Is(err, store.ErrUnavailable) {
			before = lifecycle.Case{}
		}
		return before, fmt.Errorf("act on %s: %w", e.ComplaintID, err)
	}
	return after, nil
}

// RefusedAction is an event someone recorded that the fold did not apply,
// usually because a concurrent action on another terminal won.
type RefusedAction struct {
	ComplaintID string
	Code        string
	Rejection   lifecycle.Rejection
}

// RefusedActions lists the refused events whose actor id is actorID, across
// all cases, oldest first: what the staff terminal tells that person.
func (q *Queue) RefusedActions(ctx context.Context, actorID string) ([]RefusedAction, error) {
	var out []RefusedAction
	err := q.db.View(ctx, func(tx store.Tx) error {
		// Only the few cases with a refused event are folded (partial index).
		rows, err := tx.QueryContext(ctx, `SELECT complaint_id FROM cases WHERE refused > 0`)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			l, err := loadCaseLog(ctx, tx, id)
			if err != nil {
				return fmt.Errorf("case %s: %w", id, err)
			}
			c, err := lifecycle.Fold(l.events)
			if err != nil {
				continue // no row is made for such a log
			}
			for _, r := range c.Rejected {
				if r.Actor.ID == actorID {
					out = append(out, RefusedAction{ComplaintID: c.ID, Code: c.Code, Rejection: r})
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("refused actions: %w", err)
	}
	slices.SortFunc(out, func(a, b RefusedAction) int {
		return cmp.Or(cmp.Compare(a.Rejection.At, b.Rejection.At),
			strings.Compare(a.Rejection.EventID, b.Rejection.EventID))
	})
	return out, nil
}

// RebuildCases rewrites every case's row from its log, a few hundred cases
// per transaction so filings are not held up: after Options.Deadline
// changed (a new policy or time zone), or to repair rows. It returns how
// many rows it wrote.
func (q *Queue) RebuildCases(ctx context.Context) (int, error) {
	total, after := 0, ""
	for {
		var n int
		var last string
		err := q.db.Update(ctx, func(tx store.Tx) error {
			var err error
			n, last, err = q.p.projectLogs(ctx, tx, after)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("rebuild cases: %w", err)
		}
		total += n
		if last == "" {
			break
		}
		after = last
	}
	if total > 0 {
		q.db.Changed()
	}
	return total, nil
}
