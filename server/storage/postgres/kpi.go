package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"ombud/server/kpi"
	"ombud/server/storage"
	"ombud/shared/lifecycle"
)

var _ kpi.Store = (*Store)(nil)

const factColumns = `complaint_id, code, day, branch, category, channel, state, filed_at,
	acknowledged_at, responded_at, closed_at, ack_sla, respond_sla, ack_due, respond_due,
	escalated, reopened, not_satisfied, stars, seq, root_cause`

const dayCountColumns = `received, acked, ack_on_time, ack_late, responded, resp_on_time, resp_late,
	escalated, reopened, closed, not_satisfied, rated, stars_sum, stars1, stars2, stars3, stars4, stars5`

// KPICursor implements kpi.Store.
func (s *Store) KPICursor(ctx context.Context) (int64, string, error) {
	var (
		seq    int64
		config string
	)
	if err := s.pool.QueryRow(ctx, `SELECT seq, config FROM kpi_cursor WHERE id = 1`).Scan(&seq, &config); err != nil {
		return 0, "", fmt.Errorf("read kpi cursor: %w", err)
	}
	return seq, config, nil
}

// ResetKPI implements kpi.Store.
func (s *Store) ResetKPI(ctx context.Context, config string) error {
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM kpi_facts`)
	b.Queue(`DELETE FROM kpi_daily`)
	b.Queue(`UPDATE kpi_cursor SET seq = 0, config = $1 WHERE id = 1`, config)
	// A batch outside a transaction runs as one implicit transaction.
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("reset kpi: %w", err)
	}
	return nil
}

// SaveFacts implements kpi.Store. The cursor's row is taken first (the
// compare-and-set), so two followers on two replicas take turns and the
// second finds the cursor moved.
func (s *Store) SaveFacts(ctx context.Context, from, to int64, facts []kpi.Fact) error {
	if to < from {
		return storage.Errorf(storage.Invalid, "kpi cursor cannot move back from %d to %d", from, to)
	}
	for i := range facts {
		if facts[i].ComplaintID == "" || facts[i].Day == "" {
			return storage.Errorf(storage.Invalid, "a kpi fact needs a complaint id and a day")
		}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("save kpi: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	tag, err := tx.Exec(ctx, `UPDATE kpi_cursor SET seq = $1 WHERE id = 1 AND seq = $2`, to, from)
	if err != nil {
		return fmt.Errorf("save kpi: move cursor: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return storage.Errorf(storage.Conflict, "kpi cursor is no longer at %d", from)
	}
	for i := range facts {
		f := &facts[i]
		old, err := scanFact(tx.QueryRow(ctx, `SELECT `+factColumns+` FROM kpi_facts WHERE complaint_id = $1`, f.ComplaintID))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return fmt.Errorf("save kpi: read fact %s: %w", f.ComplaintID, err)
		default:
			if err := addDay(ctx, tx, old, -1); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO kpi_facts (`+factColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
			ON CONFLICT (complaint_id) DO UPDATE SET
				code = excluded.code, day = excluded.day, branch = excluded.branch,
				category = excluded.category, channel = excluded.channel, state = excluded.state,
				filed_at = excluded.filed_at, acknowledged_at = excluded.acknowledged_at,
				responded_at = excluded.responded_at, closed_at = excluded.closed_at,
				ack_sla = excluded.ack_sla, respond_sla = excluded.respond_sla,
				ack_due = excluded.ack_due, respond_due = excluded.respond_due,
				escalated = excluded.escalated, reopened = excluded.reopened,
				not_satisfied = excluded.not_satisfied, stars = excluded.stars, seq = excluded.seq,
				root_cause = excluded.root_cause`,
			f.ComplaintID, f.Code, f.Day, f.Branch, f.Category, f.Channel, string(f.State),
			zeroNanos(f.FiledAt), zeroNanos(f.AcknowledgedAt), zeroNanos(f.RespondedAt), zeroNanos(f.ClosedAt),
			f.AckSLA, f.RespondSLA, zeroNanos(f.AckDue), zeroNanos(f.RespondDue),
			f.Escalated, f.Reopened, f.NotSatisfied, f.Stars, f.Seq, f.RootCause); err != nil {
			return fmt.Errorf("save kpi: fact %s: %w", f.ComplaintID, err)
		}
		if err := addDay(ctx, tx, *f, 1); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("save kpi: commit: %w", err)
	}
	return nil
}

// addDay adds (sign 1) or takes away (-1) a fact's counts from its day
// row; a row that counts nothing any more is deleted, so the rows after a
// rebuild are the rows after live upkeep.
func addDay(ctx context.Context, tx pgx.Tx, f kpi.Fact, sign int64) error {
	c := f.Counts()
	args := []any{f.Day, f.Branch, f.Category, f.Channel,
		sign * c.Received, sign * c.Acked, sign * c.AckOnTime, sign * c.AckLate, sign * c.Responded,
		sign * c.RespOnTime, sign * c.RespLate, sign * c.Escalated, sign * c.Reopened, sign * c.Closed,
		sign * c.NotSatisfied, sign * c.Rated, sign * c.StarsSum,
		sign * c.Stars[0], sign * c.Stars[1], sign * c.Stars[2], sign * c.Stars[3], sign * c.Stars[4]}
	var set, params []string
	for _, col := range strings.Split(dayCountColumns, ",") {
		col = strings.TrimSpace(col)
		set = append(set, col+" = kpi_daily."+col+" + excluded."+col)
	}
	for i := range args {
		params = append(params, "$"+strconv.Itoa(i+1))
	}
	if _, err := tx.Exec(ctx, `INSERT INTO kpi_daily (day, branch, category, channel, `+dayCountColumns+`)
		VALUES (`+strings.Join(params, ", ")+`)
		ON CONFLICT (day, branch, category, channel) DO UPDATE SET `+strings.Join(set, ", "), args...); err != nil {
		return fmt.Errorf("save kpi: day row: %w", err)
	}
	if sign < 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM kpi_daily WHERE day = $1 AND branch = $2 AND category = $3 AND channel = $4 AND received = 0`,
			f.Day, f.Branch, f.Category, f.Channel); err != nil {
			return fmt.Errorf("save kpi: day row: %w", err)
		}
	}
	return nil
}

// kpiWhere renders q's scope (and, with days, its filing days) as a WHERE
// clause.
func kpiWhere(q kpi.Query, days bool) (string, []any) {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, a any) {
		args = append(args, a)
		conds = append(conds, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	if days {
		add("day >= $?", q.From)
		add("day <= $?", q.To)
	}
	if !q.All {
		add("branch = ANY($?::text[])", append([]string{}, q.Branches...))
	}
	if q.Category != "" {
		add("category = $?", q.Category)
	}
	if q.Channel != "" {
		add("channel = $?", q.Channel)
	}
	if len(conds) == 0 {
		return " WHERE true", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// DayRows implements kpi.Reader.
func (s *Store) DayRows(ctx context.Context, q kpi.Query) ([]kpi.DayRow, error) {
	where, args := kpiWhere(q, true)
	rows, err := s.pool.Query(ctx, `SELECT day, branch, category, channel, `+dayCountColumns+`
		FROM kpi_daily`+where+` ORDER BY day, branch, category, channel`, args...)
	if err != nil {
		return nil, fmt.Errorf("read kpi days: %w", err)
	}
	defer rows.Close()
	var out []kpi.DayRow
	for rows.Next() {
		var d kpi.DayRow
		c := &d.DayCounts
		if err := rows.Scan(&d.Day, &d.Branch, &d.Category, &d.Channel, &c.Received, &c.Acked, &c.AckOnTime,
			&c.AckLate, &c.Responded, &c.RespOnTime, &c.RespLate, &c.Escalated, &c.Reopened, &c.Closed,
			&c.NotSatisfied, &c.Rated, &c.StarsSum, &c.Stars[0], &c.Stars[1], &c.Stars[2], &c.Stars[3], &c.Stars[4]); err != nil {
			return nil, fmt.Errorf("read kpi days: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read kpi days: %w", err)
	}
	return out, nil
}

// Facts implements kpi.Reader.
func (s *Store) Facts(ctx context.Context, q kpi.Query, limit int) ([]kpi.Fact, error) {
	where, args := kpiWhere(q, true)
	return s.queryFacts(ctx, `SELECT `+factColumns+` FROM kpi_facts`+where+` ORDER BY filed_at, complaint_id LIMIT $`+strconv.Itoa(len(args)+1),
		append(args, limit+1), limit)
}

// OpenFacts implements kpi.Reader.
func (s *Store) OpenFacts(ctx context.Context, q kpi.Query, asOf time.Time, limit int) ([]kpi.Fact, error) {
	where, args := kpiWhere(q, false)
	n := len(args)
	where += fmt.Sprintf(" AND filed_at <= $%[1]d AND (closed_at = 0 OR closed_at > $%[1]d)", n+1)
	args = append(args, asOf.UnixNano(), limit+1)
	return s.queryFacts(ctx, `SELECT `+factColumns+` FROM kpi_facts`+where+` ORDER BY filed_at, complaint_id LIMIT $`+strconv.Itoa(n+2), args, limit)
}

func (s *Store) queryFacts(ctx context.Context, q string, args []any, limit int) ([]kpi.Fact, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read kpi facts: %w", err)
	}
	defer rows.Close()
	var out []kpi.Fact
	for rows.Next() {
		f, err := scanFact(rows)
		if err != nil {
			return nil, fmt.Errorf("read kpi facts: %w", err)
		}
		if len(out) == limit {
			return nil, kpi.ErrTooMany
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read kpi facts: %w", err)
	}
	return out, nil
}

func scanFact(row pgx.Row) (kpi.Fact, error) {
	var (
		f                        kpi.Fact
		state                    string
		filed, ack, resp, closed int64
		ackDue, respDue          int64
	)
	err := row.Scan(&f.ComplaintID, &f.Code, &f.Day, &f.Branch, &f.Category, &f.Channel, &state, &filed,
		&ack, &resp, &closed, &f.AckSLA, &f.RespondSLA, &ackDue, &respDue,
		&f.Escalated, &f.Reopened, &f.NotSatisfied, &f.Stars, &f.Seq, &f.RootCause)
	if err != nil {
		return f, err
	}
	f.State = lifecycle.State(state)
	f.FiledAt, f.AcknowledgedAt, f.RespondedAt, f.ClosedAt = unzero(filed), unzero(ack), unzero(resp), unzero(closed)
	f.AckDue, f.RespondDue = unzero(ackDue), unzero(respDue)
	return f, nil
}

func zeroNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func unzero(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
