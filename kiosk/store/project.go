package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
	"ombud/shared/textsafe"
)

// The cases projection: one row per complaint with a Filed event, the fold
// of its events, written in the same transaction as the events. The queue
// reads rows; only a case's own screen folds its log.

// noDue is the due_key of a case with nothing due: it sorts after every date.
const noDue = math.MaxInt64

// summaryRunes bounds CaseRow.Summary.
const summaryRunes = 120

// defaultDeadline is the receipt's promise in the kiosk's own zone: what
// the customer was told, for a terminal that was given no SLA policy.
func defaultDeadline() DeadlineFunc {
	p := sla.Promise{AckDays: 2, RespondDays: 15, Location: time.Local}
	return func(c *lifecycle.Case, _ []event.Event) (sla.Step, time.Time) { return p.Next(c) }
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
const selectCaseLog = `SELECT o.seq IS NOT NULL, q.reason, ` + eventColumns + `
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
		e, err := scanEvent(rows, &pending, &reason)
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
	row        CaseRow
	searchText string
}

// record computes the row of a folded case.
func (s *Store) record(c *lifecycle.Case, events []event.Event, unsynced int) caseRecord {
	step, due := s.deadline(c, events)
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
		row: CaseRow{
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

func prepareCaseStmts(ctx context.Context, w *sql.DB) (caseStmts, error) {
	var st caseStmts
	for _, p := range []struct {
		dst   **sql.Stmt
		query string
	}{{&st.load, selectCaseLog}, {&st.upsert, upsertCase}, {&st.search, upsertSearch}} {
		var err error
		if *p.dst, err = w.PrepareContext(ctx, p.query); err != nil {
			st.close()
			return caseStmts{}, fmt.Errorf("prepare: %w", err)
		}
	}
	return st, nil
}

func (st caseStmts) close() error {
	var errs []error
	for _, s := range []*sql.Stmt{st.load, st.upsert, st.search} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// caseWriter writes rows within one transaction.
type caseWriter struct {
	row, search *sql.Stmt
	load        func(id string) (caseLog, error)
}

// writer binds the prepared statements to tx; on the single writer
// connection, where they were prepared, that reuses them as they are.
// During the migration that makes the tables they are not prepared yet,
// and are prepared in tx (closed with it).
func (s *Store) writer(ctx context.Context, tx *sql.Tx) (caseWriter, error) {
	st := s.stmts
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

// refreshCases rewrites the rows of the given complaints from their events,
// inside tx: each complaint is folded once, however many of its events the
// caller wrote. A complaint without a valid Filed event here has no row yet
// (its events arrived first) and gets one when the Filed event arrives.
func (s *Store) refreshCases(ctx context.Context, tx *sql.Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	w, err := s.writer(ctx, tx)
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
			continue
		}
		if err != nil {
			return fmt.Errorf("refresh case %s: %w", id, err)
		}
		if err := w.write(ctx, s.record(&c, l.events, len(l.unsynced))); err != nil {
			return fmt.Errorf("refresh cases: %w", err)
		}
	}
	return nil
}

// recountUnsynced sets the unsynced count of the given complaints' rows from
// the outbox, after entries left it.
func recountUnsynced(ctx context.Context, tx *sql.Tx, ids []string) error {
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `UPDATE cases SET unsynced = (SELECT count(*)
			FROM events e JOIN outbox o ON o.event_id = e.id WHERE e.complaint_id = ?1)
			WHERE complaint_id = ?1`, id); err != nil {
			return fmt.Errorf("recount unsynced of %s: %w", id, err)
		}
	}
	return nil
}

// backfillBatch is how many complaints projectLogs folds per read.
const backfillBatch = 500

// projectAll writes the row of every complaint with a Filed event, in tx.
func (s *Store) projectAll(ctx context.Context, tx *sql.Tx) (int, error) {
	total, after := 0, ""
	for {
		n, last, err := s.projectLogs(ctx, tx, after)
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
func (s *Store) projectLogs(ctx context.Context, tx *sql.Tx, after string) (int, string, error) {
	logs, last, err := readLogs(ctx, tx, after, backfillBatch)
	if err != nil || len(logs) == 0 {
		return 0, last, err
	}
	w, err := s.writer(ctx, tx)
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
		if err := w.write(ctx, s.record(&c, l.events, len(l.unsynced))); err != nil {
			return n, "", fmt.Errorf("project cases: %w", err)
		}
		n++
	}
	return n, last, nil
}

// readLogs reads the logs of up to limit complaints with ids after after,
// in id order, and the last id read ("" when there are no more).
func readLogs(ctx context.Context, tx *sql.Tx, after string, limit int) ([]caseLog, string, error) {
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
	rows, err := tx.QueryContext(ctx, `SELECT o.seq IS NOT NULL, `+eventColumns+`
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
		e, err := scanEvent(rows, &pending)
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
