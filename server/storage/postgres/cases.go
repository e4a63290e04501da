package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
)

const caseColumns = `complaint_id, code, branch, state, queue, severity, priority, category,
	escalation_level, waiting_on_customer, filed_at, acknowledged_at, responded_at, closed_at,
	ack_due, respond_due, next_due, next_target, updated_at, seq`

// CasesCursor implements storage.Cases.
func (s *Store) CasesCursor(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT seq FROM cases_cursor WHERE id = 1`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read cases cursor: %w", err)
	}
	return seq, nil
}

// CasesConfig implements storage.Cases.
func (s *Store) CasesConfig(ctx context.Context) (string, error) {
	var fp string
	if err := s.pool.QueryRow(ctx, `SELECT config FROM cases_cursor WHERE id = 1`).Scan(&fp); err != nil {
		return "", fmt.Errorf("read cases config: %w", err)
	}
	return fp, nil
}

// SetCasesConfig implements storage.Cases.
func (s *Store) SetCasesConfig(ctx context.Context, fingerprint string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE cases_cursor SET config = $1 WHERE id = 1`, fingerprint); err != nil {
		return fmt.Errorf("save cases config: %w", err)
	}
	return nil
}

const upsertCase = `INSERT INTO cases (` + caseColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
	ON CONFLICT (complaint_id) DO UPDATE SET
		code = excluded.code, branch = excluded.branch, state = excluded.state,
		queue = excluded.queue, severity = excluded.severity, priority = excluded.priority,
		category = excluded.category, escalation_level = excluded.escalation_level,
		waiting_on_customer = excluded.waiting_on_customer, filed_at = excluded.filed_at,
		acknowledged_at = excluded.acknowledged_at, responded_at = excluded.responded_at,
		closed_at = excluded.closed_at, ack_due = excluded.ack_due,
		respond_due = excluded.respond_due, next_due = excluded.next_due,
		next_target = excluded.next_target, updated_at = excluded.updated_at, seq = excluded.seq`

// SaveCases implements storage.Cases: the cursor's compare-and-set, then
// every row, sent as one pipelined batch.
func (s *Store) SaveCases(ctx context.Context, from, to int64, rows []storage.CaseRow) error {
	if to < from {
		return storage.Errorf(storage.Invalid, "cases cursor cannot move back from %d to %d", from, to)
	}
	for i := range rows {
		if rows[i].ComplaintID == "" {
			return storage.Errorf(storage.Invalid, "a case row needs a complaint id")
		}
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE cases_cursor SET seq = $1 WHERE id = 1 AND seq = $2`, to, from)
		if err != nil {
			return fmt.Errorf("save cases: move cursor: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return storage.Errorf(storage.Conflict, "cases cursor is no longer at %d", from)
		}
		if len(rows) == 0 {
			return nil
		}
		b := &pgx.Batch{}
		for i := range rows {
			c := &rows[i]
			b.Queue(upsertCase, c.ComplaintID, c.Code, c.Branch, string(c.State), c.Queue,
				string(c.Severity), c.Priority, c.Category, c.EscalationLevel, c.WaitingOnCustomer,
				nanos(c.FiledAt), nullNanos(c.AcknowledgedAt), nullNanos(c.RespondedAt), nullNanos(c.ClosedAt),
				nullNanos(c.AckDue), nullNanos(c.RespondDue), nullNanos(c.NextDue), c.NextTarget,
				nanos(c.UpdatedAt), c.Seq)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("save cases: %w", err)
		}
		return nil
	})
}

// Case implements storage.Cases.
func (s *Store) Case(ctx context.Context, complaintID string) (storage.CaseRow, error) {
	c, err := scanCase(s.pool.QueryRow(ctx, `SELECT `+caseColumns+` FROM cases WHERE complaint_id = $1`, complaintID))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
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
	afterDue := int64(math.MinInt64)
	if !after.NextDue.IsZero() {
		afterDue = after.NextDue.UnixNano()
	}
	rows, err := s.pool.Query(ctx, `SELECT `+caseColumns+` FROM cases
		WHERE next_due IS NOT NULL AND next_due < $1 AND (next_due, complaint_id) > ($2, $3)
		ORDER BY next_due, complaint_id LIMIT $4`,
		nanos(by), afterDue, after.ComplaintID, min(limit, storage.MaxPage))
	if err != nil {
		return nil, fmt.Errorf("read cases due: %w", err)
	}
	return scanCases(rows)
}

// CasesAfter implements storage.Cases. Ids order by bytes, as in SQLite:
// every text column is COLLATE "C" (migrations/0001_init.sql).
func (s *Store) CasesAfter(ctx context.Context, afterID string, limit int) ([]storage.CaseRow, error) {
	if limit < 1 {
		return nil, storage.Errorf(storage.Invalid, "limit %d is below 1", limit)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+caseColumns+` FROM cases
		WHERE complaint_id > $1 ORDER BY complaint_id LIMIT $2`, afterID, min(limit, storage.MaxPage))
	if err != nil {
		return nil, fmt.Errorf("read cases: %w", err)
	}
	return scanCases(rows)
}

// ResetCases implements storage.Cases.
func (s *Store) ResetCases(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM cases`); err != nil {
			return fmt.Errorf("reset cases: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE cases_cursor SET seq = 0, config = '' WHERE id = 1`); err != nil {
			return fmt.Errorf("reset cases: %w", err)
		}
		return nil
	})
}

func scanCase(row pgx.Row) (storage.CaseRow, error) {
	var (
		c                           storage.CaseRow
		state, severity             string
		filed, updated              int64
		ack, resp, closed           *int64
		ackDue, respondDue, nextDue *int64
		priority, level             int32
	)
	err := row.Scan(&c.ComplaintID, &c.Code, &c.Branch, &state, &c.Queue, &severity, &priority, &c.Category,
		&level, &c.WaitingOnCustomer, &filed, &ack, &resp, &closed,
		&ackDue, &respondDue, &nextDue, &c.NextTarget, &updated, &c.Seq)
	if err != nil {
		return c, err
	}
	c.Priority, c.EscalationLevel = int(priority), int(level)
	c.State, c.Severity = lifecycle.State(state), event.Severity(severity)
	c.FiledAt, c.UpdatedAt = time.Unix(0, filed).UTC(), time.Unix(0, updated).UTC()
	c.AcknowledgedAt, c.RespondedAt, c.ClosedAt = fromNanos(ack), fromNanos(resp), fromNanos(closed)
	c.AckDue, c.RespondDue, c.NextDue = fromNanos(ackDue), fromNanos(respondDue), fromNanos(nextDue)
	return c, nil
}

func scanCases(rows pgx.Rows) ([]storage.CaseRow, error) {
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
