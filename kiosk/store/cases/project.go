package cases

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"ombud/kiosk/store"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
	"ombud/shared/textsafe"
)

// The cases projection: one row per complaint with a Filed event, the fold
// of its events, written in the same transaction as the events. The queue
// reads rows; only a case's own screen folds its log.

// casesMigration is the migration that makes the cases table
// (kiosk/store/migrations/0003_staff.sql): a kiosk that filed complaints
// before it gets their rows in that migration's transaction.
const casesMigration = 3

// Attribute keys of the projection's log records.
const (
	logKeyComponent = "component"
	logKeyCount     = "count"
	logKeyElapsed   = "elapsed"
)

// Options configure a Projection. The zero value is the receipt's promise
// and no log.
type Options struct {
	// Deadline computes the next step and due date stored in each case's
	// row. Nil is the receipt's promise (2 and 15 business days,
	// time.Local). Rows are computed when their case changes: a different
	// function applies to the rows written after it (see
	// Queue.RebuildCases).
	Deadline DeadlineFunc
	// Logger logs what the migration that makes the table backfills.
	Logger *slog.Logger
}

// Projection keeps the cases table (and case_search) in step with the log:
// the kiosk store calls it inside every write transaction (it is a
// store.Projection), so a case's row is committed with every event that
// changes it. Give a new one to store.Open, and the same to New. It serves
// one store.
type Projection struct {
	deadline DeadlineFunc
	log      *slog.Logger
	// stmts are prepared once on the writer (Prepare): every filing and
	// action runs them, and parsing them each time cost as much as running
	// them.
	stmts caseStmts
}

var _ store.Projection = (*Projection)(nil)

// NewProjection makes the projection to open a store with.
func NewProjection(opts Options) *Projection {
	p := &Projection{deadline: opts.Deadline, log: opts.Logger}
	if p.deadline == nil {
		p.deadline = defaultDeadline()
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With(logKeyComponent, "cases")
	return p
}

// Prepare prepares the projection's statements on the writer
// (store.Projection).
func (p *Projection) Prepare(ctx context.Context, w store.Preparer) error {
	if p.stmts.upsert != nil {
		// Statements are bound to one database: a second store would run
		// them against the first one's.
		return errors.New("cases: this projection already serves another store")
	}
	var st caseStmts
	for _, q := range []struct {
		dst   **sql.Stmt
		query string
	}{{&st.load, selectCaseLog}, {&st.upsert, upsertCase}, {&st.search, upsertSearch}} {
		var err error
		if *q.dst, err = w.PrepareContext(ctx, q.query); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	p.stmts = st
	return nil
}

// Migrated fills the cases table in the migration that makes it, from the
// log of every complaint filed before it (store.Projection).
func (p *Projection) Migrated(ctx context.Context, tx store.Tx, version int) error {
	if version != casesMigration {
		return nil
	}
	start := time.Now()
	n, err := p.projectAll(ctx, tx)
	if err != nil {
		return err
	}
	if n > 0 {
		p.log.Info("cases projected from the log", logKeyCount, n, logKeyElapsed, time.Since(start))
	}
	return nil
}

// Logged rewrites the rows of the complaints whose logs gained events
// (store.Projection).
func (p *Projection) Logged(ctx context.Context, tx store.Tx, ids []string) error {
	return p.refresh(ctx, tx, ids)
}

// Unqueuing lowers the Unsynced counts of the cases whose outbox entries
// first..last are leaving (store.Projection). They are counted while still
// there; the outbox is walked by its key, the rows by theirs.
func (p *Projection) Unqueuing(ctx context.Context, tx store.Tx, first, last int64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE cases SET unsynced = max(cases.unsynced - d.n, 0)
		FROM (SELECT e.complaint_id AS id, count(*) AS n FROM outbox o
			JOIN events e ON e.id = o.event_id WHERE o.seq BETWEEN ? AND ? GROUP BY e.complaint_id) AS d
		WHERE cases.complaint_id = d.id`, first, last); err != nil {
		return fmt.Errorf("count unsynced cases: %w", err)
	}
	return nil
}

// noDue is the due_key of a case with nothing due: it sorts after every date.
const noDue = math.MaxInt64

// summaryRunes bounds Row.Summary.
const summaryRunes = 120

// defaultDeadline is sla.Fallback's 2 and 15 business days in the
// kiosk's own zone, for a terminal that was given no rules.
func defaultDeadline() DeadlineFunc {
	cfg, err := sla.Fallback(2, 15, time.Local)
	if err != nil {
		panic(err) // constant arguments
	}
	return SLADeadline(func() *sla.Config { return cfg }, nil)
}

// SLADeadline is the DeadlineFunc of the SLA rules rules returns at each
// call (the server's, as last received): sla.Config.Next, the rule the
// server's engine and the tracking page use, at now or at the case's last
// event when a device clock ran ahead. A case the rules cannot date is
// logged and gets none.
func SLADeadline(rules func() *sla.Config, logger *slog.Logger) DeadlineFunc {
	return func(c *lifecycle.Case, events []event.Event) (sla.Step, time.Time) {
		now := time.Now()
		if t := c.LastEventAt.Time(); t.After(now) {
			now = t
		}
		step, due, err := rules().Next(c, events, now)
		if err != nil {
			if logger != nil {
				logger.Error("sla: no deadline for case", "complaint", c.ID, "err", err)
			}
			return sla.StepNone, time.Time{}
		}
		return step, due
	}
}

// queryer is what reading a case's events needs: a transaction, or the
// read pool.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// caseLog is a complaint's events in event.Less order, with what this device
// still owes the server and what the server refused.
type caseLog struct {
	events      []event.Event
	unsynced    map[string]bool   // event id → still in the outbox
	quarantined map[string]string // event id → the server's reason
}

// selectCaseLog reads one complaint's events. ORDER BY at, id is
// event.Less: at is the clock as a (non-negative) INTEGER.
const selectCaseLog = `SELECT o.seq IS NOT NULL, q.reason, ` + store.EventColumns + `
	FROM events e
	LEFT JOIN outbox o ON o.event_id = e.id
	LEFT JOIN quarantine q ON q.event_id = e.id
	WHERE e.complaint_id = ? ORDER BY e.at, e.id`

// loadCaseLog reads one complaint's events with selectCaseLog.
func loadCaseLog(ctx context.Context, q queryer, complaintID string) (caseLog, error) {
	return scanCaseLog(q.QueryContext(ctx, selectCaseLog, complaintID))
}

func scanCaseLog(rows *sql.Rows, err error) (caseLog, error) {
	if err != nil {
		return caseLog{}, fmt.Errorf("events: %w", err)
	}
	defer rows.Close()
	var l caseLog
	for rows.Next() {
		var pending bool
		var reason sql.NullString
		e, err := store.ScanEvent(rows, &pending, &reason)
		if err != nil {
			return caseLog{}, fmt.Errorf("events: %w", err)
		}
		if pending {
			if l.unsynced == nil {
				l.unsynced = make(map[string]bool)
			}
			l.unsynced[e.ID] = true
		}
		if reason.Valid {
			if l.quarantined == nil {
				l.quarantined = make(map[string]string)
			}
			l.quarantined[e.ID] = reason.String
		}
		l.events = append(l.events, e)
	}
	if err := rows.Err(); err != nil {
		return caseLog{}, fmt.Errorf("events: %w", err)
	}
	return l, nil
}

// caseRecord is a cases row as written.
type caseRecord struct {
	row        Row
	searchText string
}

// record computes the row of a folded case.
func (p *Projection) record(c *lifecycle.Case, events []event.Event, unsynced int) caseRecord {
	step, due := p.deadline(c, events)
	filed := c.Complaint.FiledAt
	if filed.IsZero() {
		filed = c.FiledAt.Time()
	}
	var latest hlc.Timestamp
	for i := range events {
		latest = max(latest, events[i].At)
	}
	if step == sla.StepNone {
		due = time.Time{}
	}
	search := []string{c.Complaint.Description, c.Category}
	if c.Complaint.Category != c.Category {
		search = append(search, c.Complaint.Category)
	}
	return caseRecord{
		row: Row{
			ComplaintID: c.ID,
			Code:        c.Code,
			State:       c.State,
			Queue:       c.Queue,
			Category:    c.Category,
			Severity:    c.Severity,
			Priority:    c.Priority,
			Escalated:   c.Escalated,
			Waiting:     c.WaitingOnCustomer,
			FiledAt:     filed,
			NextStep:    step,
			DueAt:       due,
			Summary:     summarize(c.Complaint.Description),
			Unsynced:    unsynced,
			Refused:     len(c.Rejected),
			UpdatedAt:   latest.Time(),
		},
		searchText: strings.ToLower(strings.Join(search, "\n")),
	}
}

// summarize is the start of a description on one line.
func summarize(desc string) string {
	s := strings.Join(strings.Fields(textsafe.Line(desc)), " ")
	if utf8.RuneCountInString(s) <= summaryRunes {
		return s
	}
	r := []rune(s)[:summaryRunes-1]
	return strings.TrimRight(string(r), " ") + "…"
}

const (
	upsertCase = `INSERT INTO cases (due_key, filed_at, complaint_id, code, state, queue,
	category, priority, refused, unsynced, line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT DO UPDATE SET due_key = excluded.due_key, filed_at = excluded.filed_at,
	code = excluded.code, state = excluded.state, queue = excluded.queue,
	category = excluded.category, priority = excluded.priority, refused = excluded.refused,
	unsynced = excluded.unsynced, line = excluded.line`
	// The conflict target is left out above: complaint_id is both UNIQUE
	// and part of the primary key, and either names the same row.

	upsertSearch = `INSERT INTO case_search (complaint_id, text) VALUES (?, ?)
	ON CONFLICT (complaint_id) DO UPDATE SET text = excluded.text WHERE text != excluded.text`
)

// caseStmts are the projection's statements prepared on the writer.
type caseStmts struct{ load, upsert, search *sql.Stmt }

// caseWriter writes rows within one transaction.
type caseWriter struct {
	row, search *sql.Stmt
	load        func(id string) (caseLog, error)
}

// writer binds the prepared statements to tx; on the single writer
// connection, where they were prepared, that reuses them as they are.
// During the migration that makes the tables they are not prepared yet,
// and are prepared in tx (closed with it).
func (p *Projection) writer(ctx context.Context, tx store.Tx) (caseWriter, error) {
	st := p.stmts
	if st.upsert == nil {
		var err error
		if st.load, err = tx.PrepareContext(ctx, selectCaseLog); err != nil {
			return caseWriter{}, fmt.Errorf("prepare: %w", err)
		}
		if st.upsert, err = tx.PrepareContext(ctx, upsertCase); err != nil {
			return caseWriter{}, fmt.Errorf("prepare: %w", err)
		}
		if st.search, err = tx.PrepareContext(ctx, upsertSearch); err != nil {
			return caseWriter{}, fmt.Errorf("prepare: %w", err)
		}
	}
	load := tx.StmtContext(ctx, st.load)
	return caseWriter{
		row: tx.StmtContext(ctx, st.upsert), search: tx.StmtContext(ctx, st.search),
		load: func(id string) (caseLog, error) { return scanCaseLog(load.QueryContext(ctx, id)) },
	}, nil
}

// write upserts a case's row and its search text.
func (w caseWriter) write(ctx context.Context, r caseRecord) error {
	row := r.row
	due := int64(noDue)
	if !row.DueAt.IsZero() {
		due = row.DueAt.UnixMilli()
	}
	_, err := w.row.ExecContext(ctx, due, row.FiledAt.UnixMilli(), row.ComplaintID, row.Code,
		string(row.State), row.Queue, row.Category, row.Priority, row.Refused, row.Unsynced,
		encodeLine(row))
	if err != nil {
		return fmt.Errorf("write case %s: %w", row.ComplaintID, err)
	}
	if _, err := w.search.ExecContext(ctx, row.ComplaintID, r.searchText); err != nil {
		return fmt.Errorf("write case %s: search text: %w", row.ComplaintID, err)
	}
	return nil
}

// drop deletes a case's row and search text: its log holds no filing. A
// no-op for a case whose events came before its filing.
func (w caseWriter) drop(ctx context.Context, tx store.Tx, id string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM cases WHERE complaint_id = ?`, id); err != nil {
		return fmt.Errorf("drop case %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM case_search WHERE complaint_id = ?`, id); err != nil {
		return fmt.Errorf("drop case %s: search text: %w", id, err)
	}
	return nil
}

// refresh rewrites the rows of the given complaints from their events,
// inside tx: each complaint is folded once, however many of its events the
// caller wrote. A complaint without a valid Filed event here has no row:
// either its events arrived first (it gets one when the Filed event
// arrives) or its log was deleted (store.Forget), and then its row goes.
func (p *Projection) refresh(ctx context.Context, tx store.Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	w, err := p.writer(ctx, tx)
	if err != nil {
		return fmt.Errorf("refresh cases: %w", err)
	}
	for _, id := range ids {
		l, err := w.load(id)
		if err != nil {
			return fmt.Errorf("refresh case %s: %w", id, err)
		}
		c, err := lifecycle.Fold(l.events)
		if errors.Is(err, lifecycle.ErrNotFiled) {
			if err := w.drop(ctx, tx, id); err != nil {
				return fmt.Errorf("refresh cases: %w", err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("refresh case %s: %w", id, err)
		}
		if err := w.write(ctx, p.record(&c, l.events, len(l.unsynced))); err != nil {
			return fmt.Errorf("refresh cases: %w", err)
		}
	}
	return nil
}

// backfillBatch is how many complaints projectLogs folds per read.
const backfillBatch = 500

// projectAll writes the row of every complaint with a Filed event, in tx.
func (p *Projection) projectAll(ctx context.Context, tx store.Tx) (int, error) {
	total, after := 0, ""
	for {
		n, last, err := p.projectLogs(ctx, tx, after)
		total += n
		if err != nil || last == "" {
			return total, err
		}
		after = last
	}
}

// projectLogs writes the rows of the next backfillBatch complaints with ids
// after after, in tx, reading their logs in one query so memory stays small
// however long the history. It returns the number of rows written and the
// last complaint id read, "" when there were none left.
func (p *Projection) projectLogs(ctx context.Context, tx store.Tx, after string) (int, string, error) {
	logs, last, err := readLogs(ctx, tx, after, backfillBatch)
	if err != nil || len(logs) == 0 {
		return 0, last, err
	}
	w, err := p.writer(ctx, tx)
	if err != nil {
		return 0, "", fmt.Errorf("project cases: %w", err)
	}
	n := 0
	for _, l := range logs {
		c, err := lifecycle.Fold(l.events)
		if errors.Is(err, lifecycle.ErrNotFiled) {
			continue // its events came before its Filed event
		}
		if err != nil {
			return n, "", fmt.Errorf("project case %s: %w", l.events[0].ComplaintID, err)
		}
		if err := w.write(ctx, p.record(&c, l.events, len(l.unsynced))); err != nil {
			return n, "", fmt.Errorf("project cases: %w", err)
		}
		n++
	}
	return n, last, nil
}

// readLogs reads the logs of up to limit complaints with ids after after,
// in id order, and the last id read ("" when there are no more).
func readLogs(ctx context.Context, tx store.Tx, after string, limit int) ([]caseLog, string, error) {
	var lastID sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT max(complaint_id) FROM (SELECT DISTINCT complaint_id
		FROM events WHERE complaint_id > ? ORDER BY complaint_id LIMIT ?)`, after, limit).
		Scan(&lastID); err != nil {
		return nil, "", err
	}
	if !lastID.Valid {
		return nil, "", nil
	}
	last := lastID.String
	rows, err := tx.QueryContext(ctx, `SELECT o.seq IS NOT NULL, `+store.EventColumns+`
		FROM events e LEFT JOIN outbox o ON o.event_id = e.id
		WHERE e.complaint_id > ? AND e.complaint_id <= ?
		ORDER BY e.complaint_id, e.at, e.id`, after, last)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var logs []caseLog
	for rows.Next() {
		var pending bool
		e, err := store.ScanEvent(rows, &pending)
		if err != nil {
			return nil, "", err
		}
		if len(logs) == 0 || logs[len(logs)-1].events[0].ComplaintID != e.ComplaintID {
			logs = append(logs, caseLog{})
		}
		l := &logs[len(logs)-1]
		l.events = append(l.events, e)
		if pending {
			if l.unsynced == nil {
				l.unsynced = make(map[string]bool)
			}
			l.unsynced[e.ID] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	return logs, last, nil
}
