package store

// Staff terminal support: the case projection the queue reads, actions
// staff record locally, the staff directory and sign-in (directory.go).
//
// A case's row (table cases) is rewritten from its folded log in the same
// transaction as every write that changes the log or its outbox entries:
// File, Act, ApplyRemote, AckOutbox, Quarantine. Only a case's own screen
// (CaseDetail) and RefusedActions fold logs on reading.

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
	"ombud/shared/trackcode"
)

// DeadlineFunc computes a case's next step and when it is due, from the
// fold and the events it was folded from. Options.Deadline; nil is
// sla.Promise{AckDays: 2, RespondDays: 15, Location: time.Local}.Next.
type DeadlineFunc func(c *lifecycle.Case, events []event.Event) (sla.Step, time.Time)

// CaseRow is one line of the staff queue: the projection of a case,
// refreshed in the same transaction as every event that changes it.
type CaseRow struct {
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
func (r CaseRow) Overdue(now time.Time) bool { return !r.DueAt.IsZero() && now.After(r.DueAt) }

// CaseFilter selects queue rows. Zero fields select everything.
type CaseFilter struct {
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

// Cases returns the rows f selects, sorted by DueAt (zero last), then
// FiledAt, then ComplaintID: what is due next comes first.
func (s *Store) Cases(ctx context.Context, f CaseFilter) ([]CaseRow, error) {
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
	q := `SELECT line, unsynced FROM cases`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	// The order is the table's primary key: no sort step, and a limit stops
	// the walk early.
	q += ` ORDER BY due_key, filed_at, complaint_id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	var out []CaseRow
	switch {
	case f.Limit > 0:
		out = make([]CaseRow, 0, min(f.Limit, 1024))
	case len(where) == 0:
		// The whole queue: size it once rather than grow it a dozen times
		// (a row is a few hundred bytes, and there may be 50,000). Counted
		// before the query takes its connection from the pool.
		var n int
		if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM cases`).Scan(&n); err == nil {
			out = make([]CaseRow, 0, n+16)
		}
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	defer rows.Close()
	var line sql.RawBytes // decodeLine copies it
	for rows.Next() {
		var unsynced int
		if err := rows.Scan(&line, &unsynced); err != nil {
			return nil, fmt.Errorf("cases: %w", err)
		}
		r, err := decodeLine(line)
		if err != nil {
			return nil, fmt.Errorf("cases: %w", err)
		}
		r.Unsynced = unsynced
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	return out, nil
}

// searchCondition turns CaseFilter.Search into a WHERE condition.
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
func (s *Store) CaseCounts(ctx context.Context) (map[lifecycle.State]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT state, count(*) FROM cases GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("case counts: %w", err)
	}
	defer rows.Close()
	out := make(map[lifecycle.State]int)
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("case counts: %w", err)
		}
		out[lifecycle.State(state)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("case counts: %w", err)
	}
	return out, nil
}

// CaseDetail is everything the case screen shows.
type CaseDetail struct {
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
func (s *Store) CaseDetail(ctx context.Context, complaintID string) (CaseDetail, error) {
	// One read transaction: the log, the outbox and the complaint row as of
	// one moment.
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return CaseDetail{}, fmt.Errorf("case %s: %w", complaintID, err)
	}
	defer tx.Rollback()
	l, err := loadCaseLog(ctx, tx, complaintID)
	if err != nil {
		return CaseDetail{}, fmt.Errorf("case %s: %w", complaintID, err)
	}
	c, err := lifecycle.Fold(l.events)
	if errors.Is(err, lifecycle.ErrNotFiled) {
		return CaseDetail{}, fmt.Errorf("case %s: %w", complaintID, ErrNoCase)
	}
	if err != nil {
		return CaseDetail{}, fmt.Errorf("case %s: %w", complaintID, err)
	}
	cp, err := scanComplaint(tx.QueryRowContext(ctx,
		`SELECT `+complaintColumns+` FROM complaints WHERE id = ?`, complaintID))
	switch {
	case errors.Is(err, complaint.ErrNotFound):
		// Its tracking code clashed with another complaint's, so it has no
		// row: show it as its Filed event carries it.
		cp = c.Complaint
		if cp.Contact != nil && (cp.Contact.ConsentAt.IsZero() || cp.Contact.NoticeVersion == "") {
			cp.Contact = nil
		}
	case err != nil:
		return CaseDetail{}, fmt.Errorf("case %s: complaint: %w", complaintID, err)
	}
	d := CaseDetail{
		Case: c, Complaint: cp, Events: l.events,
		Unsynced: l.unsynced, Quarantined: l.quarantined,
	}
	if d.Unsynced == nil {
		d.Unsynced = map[string]bool{}
	}
	if d.Quarantined == nil {
		d.Quarantined = map[string]string{}
	}
	d.NextStep, d.DueAt = s.deadline(&c, l.events)
	if d.NextStep == sla.StepNone {
		d.DueAt = time.Time{}
	}
	return d, nil
}

// Act records a staff action: in one transaction it folds the case's
// events, refuses the event with the *lifecycle.Error that
// lifecycle.Allowed or lifecycle.Apply gives (state or payload), and
// otherwise stores the event, queues it in the outbox and refreshes the
// case's row. It returns the case as it now stands. ErrNoCase if the
// complaint is unknown here; errors wrapping ErrUnavailable for storage
// faults (nothing written). The caller builds e (id, clock, actor, branch).
//
// A refusal returns the *lifecycle.Error itself (its Message is for staff)
// together with the case as it stands, unchanged. The case returned after
// a success is the fold of the whole log, e included: what the queue row
// now shows.
func (s *Store) Act(ctx context.Context, e event.Event) (lifecycle.Case, error) {
	if e.ComplaintID == "" {
		return lifecycle.Case{}, fmt.Errorf("act: event %s names no complaint: %w", e.ID, ErrNoCase)
	}
	at, err := hlcInt(e.At)
	if err != nil {
		return lifecycle.Case{}, fmt.Errorf("act on %s: %w", e.ComplaintID, err)
	}
	unavailable := func(what string, err error) error {
		return fmt.Errorf("act on %s: %s: %w: %w", e.ComplaintID, what, ErrUnavailable, err)
	}

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return lifecycle.Case{}, unavailable("begin", err)
	}
	defer tx.Rollback()
	w, err := s.writer(ctx, tx)
	if err != nil {
		return lifecycle.Case{}, unavailable("prepare", err)
	}
	l, err := w.load(e.ComplaintID)
	if err != nil {
		return lifecycle.Case{}, unavailable("read", err)
	}
	c, err := lifecycle.Fold(l.events)
	if errors.Is(err, lifecycle.ErrNotFiled) {
		return lifecycle.Case{}, fmt.Errorf("act on %s: %w", e.ComplaintID, ErrNoCase)
	}
	if err != nil {
		return lifecycle.Case{}, fmt.Errorf("act on %s: %w", e.ComplaintID, err)
	}
	if err := lifecycle.Allowed(c.State, e.Type); err != nil {
		return c, err
	}
	check := c // Apply changes only its argument, and only on success
	if err := lifecycle.Apply(&check, e); err != nil {
		return c, err
	}
	if len(e.Data) > 0 && !json.Valid(e.Data) {
		// Apply reads only the payloads it needs; the log takes JSON only.
		return c, &lifecycle.Error{Code: lifecycle.InvalidData, State: c.State, Type: e.Type,
			EventID: e.ID, Message: "the event's data could not be read"}
	}

	if err := insertEvent(ctx, tx, e, at); err != nil {
		if constraint(err) {
			return c, fmt.Errorf("act on %s: an event with id %s is already stored: %w", e.ComplaintID, e.ID, err)
		}
		return lifecycle.Case{}, unavailable("store event", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (event_id, created_at) VALUES (?, ?)`,
		e.ID, time.Now().UnixMilli()); err != nil {
		return lifecycle.Case{}, unavailable("queue event", err)
	}
	events := append(l.events, e)
	now, err := lifecycle.Fold(events)
	if err != nil {
		return lifecycle.Case{}, fmt.Errorf("act on %s: %w", e.ComplaintID, err)
	}
	if err := w.write(ctx, s.record(&now, events, len(l.unsynced)+1)); err != nil {
		return lifecycle.Case{}, unavailable("refresh", err)
	}
	if err := tx.Commit(); err != nil {
		return lifecycle.Case{}, unavailable("commit", err)
	}
	s.changed()
	return now, nil
}

// subscription is one Changes channel.
type subscription struct{ ch chan struct{} }

// Changes returns a channel that receives (coalesced, never blocking the
// writer) after every commit that may change what the queue or a case
// shows: File, Act, ApplyRemote, AckOutbox, Quarantine, SaveDirectory.
// cancel stops the subscription.
//
// The channel holds one signal: a reader that was busy finds one waiting,
// however many commits happened meanwhile, and reads the store afresh.
// cancel does not close the channel.
func (s *Store) Changes() (ch <-chan struct{}, cancel func()) {
	sub := &subscription{ch: make(chan struct{}, 1)}
	s.subsMu.Lock()
	if s.subs == nil {
		s.subs = make(map[*subscription]struct{})
	}
	s.subs[sub] = struct{}{}
	s.subsMu.Unlock()
	var once sync.Once
	return sub.ch, func() {
		once.Do(func() {
			s.subsMu.Lock()
			delete(s.subs, sub)
			s.subsMu.Unlock()
		})
	}
}

// changed signals every subscriber after a commit.
func (s *Store) changed() {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	for sub := range s.subs {
		select {
		case sub.ch <- struct{}{}:
		default: // a signal is already waiting
		}
	}
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
func (s *Store) RefusedActions(ctx context.Context, actorID string) ([]RefusedAction, error) {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("refused actions: %w", err)
	}
	defer tx.Rollback()
	// Only the few cases with a refused event are folded (partial index).
	rows, err := tx.QueryContext(ctx, `SELECT complaint_id FROM cases WHERE refused > 0`)
	if err != nil {
		return nil, fmt.Errorf("refused actions: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("refused actions: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("refused actions: %w", err)
	}
	var out []RefusedAction
	for _, id := range ids {
		l, err := loadCaseLog(ctx, tx, id)
		if err != nil {
			return nil, fmt.Errorf("refused actions: case %s: %w", id, err)
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
func (s *Store) RebuildCases(ctx context.Context) (int, error) {
	total, after := 0, ""
	for {
		n, last, err := s.projectBatch(ctx, after)
		total += n
		if err != nil {
			return total, fmt.Errorf("rebuild cases: %w", err)
		}
		if last == "" {
			break
		}
		after = last
	}
	if total > 0 {
		s.changed()
	}
	return total, nil
}

func (s *Store) projectBatch(ctx context.Context, after string) (int, string, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, "", err
	}
	defer tx.Rollback()
	n, last, err := s.projectLogs(ctx, tx, after)
	if err != nil {
		return 0, "", err
	}
	if err := tx.Commit(); err != nil {
		return 0, "", err
	}
	return n, last, nil
}
