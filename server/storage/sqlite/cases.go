package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
)

var _ storage.Cases = (*Store)(nil)

// The projection's statements are run ad hoc rather than prepared in
// ingestStmts/readStmts: they run once per batch of events or per scan, not
// per event, so parsing costs nothing that matters, and keeping them here
// keeps the case engine's storage in one file.

const caseColumns = `complaint_id, code, branch, state, queue, severity, priority, category,
	escalation_level, waiting_on_customer, filed_at, acknowledged_at, responded_at, closed_at,
	ack_due, respond_due, next_due, next_target, updated_at, seq`

// CasesCursor implements storage.Cases.
func (s *Store) CasesCursor(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.r.QueryRowContext(ctx, `SELECT seq FROM cases_cursor WHERE id = 1`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read cases cursor: %w", err)
	}
	return seq, nil
}

// CasesConfig implements storage.Cases.
func (s *Store) CasesConfig(ctx context.Context) (string, error) {
	var fp string
	if err := s.r.QueryRowContext(ctx, `SELECT config FROM cases_cursor WHERE id = 1`).Scan(&fp); err != nil {
		return "", fmt.Errorf("read cases config: %w", err)
	}
	return fp, nil
}

// SetCasesConfig implements storage.Cases.
func (s *Store) SetCasesConfig(ctx context.Context, fingerprint string) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE cases_cursor SET config = ? WHERE id = 1`, fingerprint); err != nil {
		return fmt.Errorf("save cases config: %w", err)
	}
	return nil
}

// SaveCases implements storage.Cases.
func (s *Store) SaveCases(ctx context.Context, from, to int64, rows []storage.CaseRow) error {
	if to < from {
		return storage.Errorf(storage.Invalid, "cases cursor cannot move back from %d to %d", from, to)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save cases: begin: %w", err)
	}
	defer tx.Rollback()
	// The cursor first: a lost compare-and-set writes no row at all.
	r, err := tx.ExecContext(ctx, `UPDATE cases_cursor SET seq = ? WHERE id = 1 AND seq = ?`, to, from)
	if err != nil {
		return fmt.Errorf("save cases: move cursor: %w", err)
	}
	if n, err := r.RowsAffected(); err != nil {
		return fmt.Errorf("save cases: move cursor: %w", err)
	} else if n != 1 {
		return storage.Errorf(storage.Conflict, "cases cursor is no longer at %d", from)
	}
	if len(rows) > 0 {
		st, err := tx.PrepareContext(ctx, `INSERT INTO cases (`+caseColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (complaint_id) DO UPDATE SET
				code = excluded.code, branch = excluded.branch, state = excluded.state,
				queue = excluded.queue, severity = excluded.severity, priority = excluded.priority,
				category = excluded.category, escalation_level = excluded.escalation_level,
				waiting_on_customer = excluded.waiting_on_customer, filed_at = excluded.filed_at,
				acknowledged_at = excluded.acknowledged_at, responded_at = excluded.responded_at,
				closed_at = excluded.closed_at, ack_due = excluded.ack_due,
				respond_due = excluded.respond_due, next_due = excluded.next_due,
				next_target = excluded.next_target, updated_at = excluded.updated_at, seq = excluded.seq`)
		if err != nil {
			return fmt.Errorf("save cases: prepare: %w", err)
		}
		defer st.Close()
		for i := range rows {
			c := &rows[i]
			if c.ComplaintID == "" {
				return storage.Errorf(storage.Invalid, "a case row needs a complaint id")
			}
			_, err := st.ExecContext(ctx, c.ComplaintID, c.Code, c.Branch, string(c.State), c.Queue,
				string(c.Severity), c.Priority, c.Category, c.EscalationLevel, c.WaitingOnCustomer,
				nanos(c.FiledAt), nullNanos(c.AcknowledgedAt), nullNanos(c.RespondedAt), nullNanos(c.ClosedAt),
				nullNanos(c.AckDue), nullNanos(c.RespondDue), nullNanos(c.NextDue), c.NextTarget,
				nanos(c.UpdatedAt), c.Seq)
			if err != nil {
				return fmt.Errorf("save cases: case %s: %w", c.ComplaintID, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save cases: commit: %w", err)
	}
	return nil
}

// Case implements storage.Cases.
func (s *Store) Case(ctx context.Context, complaintID string) (storage.CaseRow, error) {
	c, err := scanCase(s.r.QueryRowContext(ctx, `SELECT `+caseColumns+` FROM cases WHERE complaint_id = ?`, complaintID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return c, &storage.Error{Code: storage.NotFound, Message: "case not found", Err: complaint.ErrNotFound}
	case err != nil:
		return c, fmt.Errorf("read case %s: %w", complaintID, err)
	}
	return c, nil
}

// CasesDue implements storage.Cases.
func (s *Store) CasesDue(ctx context.Context, by time.Time, after storage.DueKey, limit int) ([]storage.CaseRow, error) {
	if limit < 1 {
		return nil, storage.Errorf(storage.Invalid, "limit %d is below 1", limit)
	}
	// The zero key is before every stored deadline; time.Time{} itself has
	// no UnixNano.
	afterDue := int64(math.MinInt64)
	if !after.NextDue.IsZero() {
		afterDue = after.NextDue.UnixNano()
	}
	// The row value comparison walks the cases_next_due index from the key.
	rows, err := s.r.QueryContext(ctx, `SELECT `+caseColumns+` FROM cases
		WHERE next_due IS NOT NULL AND next_due < ? AND (next_due, complaint_id) > (?, ?)
		ORDER BY next_due, complaint_id LIMIT ?`,
		nanos(by), afterDue, after.ComplaintID, min(limit, storage.MaxPage))
	if err != nil {
		return nil, fmt.Errorf("read cases due: %w", err)
	}
	return scanCases(rows)
}

// CasesAfter implements storage.Cases.
func (s *Store) CasesAfter(ctx context.Context, afterID string, limit int) ([]storage.CaseRow, error) {
	if limit < 1 {
		return nil, storage.Errorf(storage.Invalid, "limit %d is below 1", limit)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+caseColumns+` FROM cases
		WHERE complaint_id > ? ORDER BY complaint_id LIMIT ?`, afterID, min(limit, storage.MaxPage))
	if err != nil {
		return nil, fmt.Errorf("read cases: %w", err)
	}
	return scanCases(rows)
}

// ResetCases implements storage.Cases.
func (s *Store) ResetCases(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("reset cases: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM cases`); err != nil {
		return fmt.Errorf("reset cases: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE cases_cursor SET seq = 0, config = '' WHERE id = 1`); err != nil {
		return fmt.Errorf("reset cases: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("reset cases: commit: %w", err)
	}
	return nil
}

func scanCase(row eventScanner) (storage.CaseRow, error) {
	var (
		c                           storage.CaseRow
		state, severity             string
		filed, updated              int64
		ack, resp, closed           sql.NullInt64
		ackDue, respondDue, nextDue sql.NullInt64
	)
	err := row.Scan(&c.ComplaintID, &c.Code, &c.Branch, &state, &c.Queue, &severity, &c.Priority, &c.Category,
		&c.EscalationLevel, &c.WaitingOnCustomer, &filed, &ack, &resp, &closed,
		&ackDue, &respondDue, &nextDue, &c.NextTarget, &updated, &c.Seq)
	if err != nil {
		return c, err
	}
	c.State, c.Severity = lifecycle.State(state), event.Severity(severity)
	c.FiledAt, c.UpdatedAt = time.Unix(0, filed).UTC(), time.Unix(0, updated).UTC()
	c.AcknowledgedAt, c.RespondedAt, c.ClosedAt = fromNanos(ack), fromNanos(resp), fromNanos(closed)
	c.AckDue, c.RespondDue, c.NextDue = fromNanos(ackDue), fromNanos(respondDue), fromNanos(nextDue)
	return c, nil
}

func scanCases(rows *sql.Rows) ([]storage.CaseRow, error) {
	defer rows.Close()
	var out []storage.CaseRow
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, fmt.Errorf("read cases: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read cases: %w", err)
	}
	return out, nil
}

// nullNanos stores a zero time as NULL, so "not yet" is not 1970.
func nullNanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}
