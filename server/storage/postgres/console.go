package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"ombud/server/storage"
	"ombud/shared/device"
	"ombud/shared/lifecycle"
	"ombud/shared/staff"
)

var _ storage.Console = (*Store)(nil)

// ConsoleAccount implements storage.Console.
func (s *Store) ConsoleAccount(ctx context.Context, staffID string) (storage.ConsoleAccount, error) {
	a, err := s.StaffAccount(ctx, staffID)
	if err != nil {
		return storage.ConsoleAccount{}, err
	}
	ca := storage.ConsoleAccount{Account: a}
	var branches string
	err = s.pool.QueryRow(ctx, `SELECT password_hash, totp_secret, totp_on, branches,
		(SELECT COUNT(*) FROM console_recovery_codes WHERE staff_id = $1 AND used_at IS NULL)
		FROM console_accounts WHERE staff_id = $1`, staffID).
		Scan(&ca.PasswordHash, &ca.TOTPSecret, &ca.TOTPOn, &branches, &ca.Recovery)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ca, nil
	case err != nil:
		return ca, fmt.Errorf("read console account %s: %w", staffID, err)
	}
	ca.Branches = splitTeams(branches)
	return ca, nil
}

// consoleChange runs f on a console row (made if missing) in one
// transaction.
func (s *Store) consoleChange(ctx context.Context, what, staffID string, at time.Time, f func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s %s: begin: %w", what, staffID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	_, err = tx.Exec(ctx, `INSERT INTO console_accounts (staff_id, updated_at) VALUES ($1, $2)
		ON CONFLICT (staff_id) DO UPDATE SET updated_at = excluded.updated_at`, staffID, nanos(at))
	switch {
	case isForeignKeyViolation(err):
		return storage.Errorf(storage.NotFound, "staff account %s not found", staffID)
	case err != nil:
		return fmt.Errorf("%s %s: %w", what, staffID, err)
	}
	if err := f(tx); err != nil {
		return fmt.Errorf("%s %s: %w", what, staffID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%s %s: commit: %w", what, staffID, err)
	}
	return nil
}

// SetConsolePassword implements storage.Console.
func (s *Store) SetConsolePassword(ctx context.Context, staffID, hash string, at time.Time) error {
	a, err := s.StaffAccount(ctx, staffID)
	if err != nil {
		return err
	}
	if a.Revoked() {
		return storage.Errorf(storage.Invalid, "staff account %s is revoked", staffID)
	}
	return s.consoleChange(ctx, "set console password", staffID, at, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE console_accounts SET password_hash = $1 WHERE staff_id = $2`, hash, staffID)
		return err
	})
}

// SetConsoleTOTP implements storage.Console.
func (s *Store) SetConsoleTOTP(ctx context.Context, staffID, secret string, on bool, recoveryHashes [][]byte, at time.Time) error {
	return s.consoleChange(ctx, "set console TOTP", staffID, at, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`UPDATE console_accounts SET totp_secret = $1, totp_on = $2 WHERE staff_id = $3`, secret, on, staffID)
		b.Queue(`DELETE FROM console_recovery_codes WHERE staff_id = $1`, staffID)
		if len(recoveryHashes) > 0 {
			b.Queue(`INSERT INTO console_recovery_codes (staff_id, code_hash) SELECT $1, h FROM unnest($2::bytea[]) AS t(h)
				ON CONFLICT DO NOTHING`, staffID, recoveryHashes)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// SetConsoleBranches implements storage.Console.
func (s *Store) SetConsoleBranches(ctx context.Context, staffID string, branches []string, at time.Time) error {
	for _, b := range branches {
		if b == "*" {
			continue
		}
		if _, err := s.Branch(ctx, b); err != nil {
			return err
		}
	}
	return s.consoleChange(ctx, "set console branches", staffID, at, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE console_accounts SET branches = $1 WHERE staff_id = $2`, strings.Join(branches, ","), staffID)
		return err
	})
}

// SetStaffRole implements storage.Console.
func (s *Store) SetStaffRole(ctx context.Context, id string, role staff.Role, teams []string, at time.Time) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("set staff role %s: begin: %w", id, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	a, _, err := scanStaff(tx.QueryRow(ctx, `SELECT `+staffColumns+` FROM staff WHERE id = $1 FOR UPDATE`, id))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return storage.Errorf(storage.NotFound, "staff account %s not found", id)
	case err != nil:
		return fmt.Errorf("set staff role %s: %w", id, err)
	case a.Revoked():
		return storage.Errorf(storage.Invalid, "staff account %s is revoked", id)
	}
	a.Role, a.Teams = role, teams
	if err := a.Validate(); err != nil {
		return &storage.Error{Code: storage.Invalid, Message: err.Error(), Err: err}
	}
	v, err := nextStaffVersion(ctx, tx)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE staff SET role = $1, teams = $2, updated_at = $3, version = $4 WHERE id = $5`,
		string(role), strings.Join(teams, ","), nanos(at), v, id); err != nil {
		return fmt.Errorf("set staff role %s: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("set staff role %s: commit: %w", id, err)
	}
	return nil
}

// UseTOTPStep implements storage.Console. The comparison is in the
// UPDATE: of two replicas given the same code, one wins.
func (s *Store) UseTOTPStep(ctx context.Context, staffID string, step int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE console_accounts SET totp_step = $1 WHERE staff_id = $2 AND totp_step < $1`, step, staffID)
	if err != nil {
		return false, fmt.Errorf("use TOTP step: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// UseRecoveryCode implements storage.Console.
func (s *Store) UseRecoveryCode(ctx context.Context, staffID string, hash []byte, at time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE console_recovery_codes SET used_at = $1 WHERE staff_id = $2 AND code_hash = $3 AND used_at IS NULL`,
		nanos(at), staffID, hash)
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// CreateConsoleSession implements storage.Console.
func (s *Store) CreateConsoleSession(ctx context.Context, cs storage.ConsoleSession) error {
	if cs.ID == "" || len(cs.TokenHash) == 0 || cs.StaffID == "" || !cs.ExpiresAt.After(cs.StartedAt) {
		return storage.Errorf(storage.Invalid, "a console session needs an id, a token, an account and an expiry after its start")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO console_sessions (token_hash, id, staff_id, stage, started_at, seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		cs.TokenHash, cs.ID, cs.StaffID, cs.Stage, nanos(cs.StartedAt), nanos(cs.SeenAt), nanos(cs.ExpiresAt))
	switch {
	case isForeignKeyViolation(err):
		return storage.Errorf(storage.NotFound, "staff account %s not found", cs.StaffID)
	case isUniqueViolation(err):
		return storage.Errorf(storage.Conflict, "console session exists")
	case err != nil:
		return fmt.Errorf("create console session: %w", err)
	}
	return nil
}

// ConsoleSessionByToken implements storage.Console.
func (s *Store) ConsoleSessionByToken(ctx context.Context, tokenHash []byte) (storage.ConsoleSession, error) {
	cs := storage.ConsoleSession{TokenHash: tokenHash}
	var (
		started, seen, expires int64
		ended                  *int64
	)
	err := s.pool.QueryRow(ctx, `SELECT id, staff_id, stage, started_at, seen_at, expires_at, ended_at FROM console_sessions WHERE token_hash = $1`, tokenHash).
		Scan(&cs.ID, &cs.StaffID, &cs.Stage, &started, &seen, &expires, &ended)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return cs, storage.Errorf(storage.NotFound, "no such console session")
	case err != nil:
		return cs, fmt.Errorf("read console session: %w", err)
	}
	cs.StartedAt, cs.SeenAt, cs.ExpiresAt, cs.EndedAt = time.Unix(0, started), time.Unix(0, seen), time.Unix(0, expires), fromNanos(ended)
	return cs, nil
}

// TouchConsoleSession implements storage.Console.
func (s *Store) TouchConsoleSession(ctx context.Context, tokenHash []byte, stage string, seen time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE console_sessions SET stage = $1, seen_at = GREATEST(seen_at, $2) WHERE token_hash = $3 AND ended_at IS NULL`,
		stage, nanos(seen), tokenHash); err != nil {
		return fmt.Errorf("touch console session: %w", err)
	}
	return nil
}

// EndConsoleSessions implements storage.Console.
func (s *Store) EndConsoleSessions(ctx context.Context, staffID string, tokenHash []byte, at time.Time) ([]string, error) {
	q, args := `UPDATE console_sessions SET ended_at = $1 WHERE staff_id = $2 AND ended_at IS NULL RETURNING id`, []any{nanos(at), staffID}
	if tokenHash != nil {
		q, args = `UPDATE console_sessions SET ended_at = $1 WHERE staff_id = $2 AND token_hash = $3 AND ended_at IS NULL RETURNING id`, append(args, tokenHash)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("end console sessions: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("end console sessions: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("end console sessions: %w", err)
	}
	// The sessions the console's pushes are attributed to, one per branch
	// device ("<id>@<branch>"), end with it: an action after a sign-out is
	// not covered.
	for _, id := range ids {
		if _, err := tx.Exec(ctx, `UPDATE staff_sessions SET ended_at = COALESCE(ended_at, $1) WHERE id >= $2 AND id < $3`,
			nanos(at), id+"@", id+"A"); err != nil {
			return nil, fmt.Errorf("end console sessions: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("end console sessions: commit: %w", err)
	}
	return ids, nil
}

// ConsoleFailures implements storage.Console.
func (s *Store) ConsoleFailures(ctx context.Context, staffID string) (int, time.Time, error) {
	var (
		n    int
		last int64
	)
	err := s.pool.QueryRow(ctx, `SELECT failures, last_at FROM console_failures WHERE staff_id = $1`, staffID).Scan(&n, &last)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, time.Time{}, nil
	case err != nil:
		return 0, time.Time{}, fmt.Errorf("read console failures: %w", err)
	}
	return n, time.Unix(0, last), nil
}

// RecordConsoleFailure implements storage.Console.
func (s *Store) RecordConsoleFailure(ctx context.Context, staffID string, at time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `INSERT INTO console_failures (staff_id, failures, last_at) VALUES ($1, 1, $2)
		ON CONFLICT (staff_id) DO UPDATE SET failures = console_failures.failures + 1, last_at = excluded.last_at RETURNING failures`,
		staffID, nanos(at)).Scan(&n)
	switch {
	case isForeignKeyViolation(err):
		return 0, storage.Errorf(storage.NotFound, "staff account %s not found", staffID)
	case err != nil:
		return 0, fmt.Errorf("record console failure: %w", err)
	}
	return n, nil
}

// ClearConsoleFailures implements storage.Console.
func (s *Store) ClearConsoleFailures(ctx context.Context, staffID string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM console_failures WHERE staff_id = $1`, staffID); err != nil {
		return fmt.Errorf("clear console failures: %w", err)
	}
	return nil
}

// AuditConsole implements storage.Console.
func (s *Store) AuditConsole(ctx context.Context, e storage.AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO console_audit (at, staff_id, action, detail, client) VALUES ($1, $2, $3, $4, $5)`,
		nanos(e.At), e.StaffID, e.Action, e.Detail, e.Client); err != nil {
		return fmt.Errorf("console audit: %w", err)
	}
	return nil
}

// ConsoleAudit implements storage.Console.
func (s *Store) ConsoleAudit(ctx context.Context, limit int) ([]storage.AuditEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, at, staff_id, action, detail, client FROM console_audit ORDER BY seq DESC LIMIT $1`, max(limit, 0))
	if err != nil {
		return nil, fmt.Errorf("read console audit: %w", err)
	}
	defer rows.Close()
	var out []storage.AuditEntry
	for rows.Next() {
		var (
			e  storage.AuditEntry
			at int64
		)
		if err := rows.Scan(&e.Seq, &at, &e.StaffID, &e.Action, &e.Detail, &e.Client); err != nil {
			return nil, err
		}
		e.At = time.Unix(0, at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ConsoleDevice implements storage.Console (see the SQLite store: a prefix
// no tracking code has, a credential hash no credential hashes to).
func (s *Store) ConsoleDevice(ctx context.Context, branch string) (storage.Device, error) {
	id := "console." + branch
	d, err := s.Device(ctx, id)
	if err == nil || storage.ErrorCode(err) != storage.NotFound {
		return d, err
	}
	cred := make([]byte, 32)
	rand.Read(cred)
	_, err = s.pool.Exec(ctx, `INSERT INTO devices (id, branch_id, role, teams, credential_hash, prefix, enrolled_at) VALUES ($1, $2, $3, '', $4, $5, $6)
		ON CONFLICT DO NOTHING`, id, branch, string(device.Console), cred, "console:"+branch, nanos(time.Now()))
	switch {
	case isForeignKeyViolation(err):
		return storage.Device{}, storage.Errorf(storage.NotFound, "branch %s not found", branch)
	case err != nil:
		return storage.Device{}, fmt.Errorf("make console device for %s: %w", branch, err)
	}
	return s.Device(ctx, id)
}

// scopeFrom is the row source of a scope over the cases table, aliased c,
// and its arguments ($1 and $2, always both): the whole table, or the cases
// of some branches followed by those queued to some teams from other
// branches, each part read through its own index.
func scopeFrom(sc storage.Scope) (string, []any) {
	if sc.All {
		return "(SELECT * FROM cases WHERE $1::text[] IS NOT NULL AND $2::text[] IS NOT NULL) c", []any{[]string{}, []string{}}
	}
	queues := make([]string, len(sc.Teams))
	for i, t := range sc.Teams {
		queues[i] = "team:" + t
	}
	branches := append([]string{}, sc.Branches...)
	return `(SELECT * FROM cases WHERE branch = ANY($1::text[])
		UNION ALL SELECT * FROM cases WHERE queue = ANY($2::text[]) AND NOT branch = ANY($1::text[])) c`,
		[]any{branches, queues}
}

// MaxCount bounds the count of a queue page's cases, as on SQLite.
const MaxCount = 10000

// QueueCases implements storage.Console.
func (s *Store) QueueCases(ctx context.Context, f storage.CaseFilter) ([]storage.CaseRow, int, error) {
	from, args := scopeFrom(f.Scope)
	where := "true"
	add := func(cond string, a any) {
		args = append(args, a)
		where += " AND " + strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args)))
	}
	if len(f.States) > 0 {
		st := make([]string, len(f.States))
		for i, x := range f.States {
			st[i] = string(x)
		}
		add(`c.state = ANY($?::text[])`, st)
	}
	if f.Open {
		add(`c.state != $?`, string(lifecycle.Closed))
	}
	if f.Branch != "" {
		add(`c.branch = $?`, f.Branch)
	}
	if f.Category != "" {
		add(`c.category = $?`, f.Category)
	}
	if f.Queue != "" {
		add(`c.queue = $?`, f.Queue)
	}
	if f.Priority > 0 {
		add(`c.priority = $?`, f.Priority)
	}
	if !f.FiledFrom.IsZero() {
		add(`c.filed_at >= $?`, nanos(f.FiledFrom))
	}
	if !f.FiledTo.IsZero() {
		add(`c.filed_at < $?`, nanos(f.FiledTo))
	}
	limit := f.Limit
	if limit <= 0 || limit > storage.MaxPage {
		limit = 200
	}
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM `+from+` WHERE `+where+` LIMIT `+strconv.Itoa(MaxCount+1)+`) n`, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count queue cases: %w", err)
	}
	lim := "$" + strconv.Itoa(len(args)+1)
	rows, err := s.pool.Query(ctx, `SELECT `+prefixed("c.", caseColumns)+` FROM `+from+` WHERE `+where+`
		AND c.next_due IS NOT NULL ORDER BY c.next_due, c.complaint_id LIMIT `+lim, append(args, limit)...)
	if err != nil {
		return nil, 0, fmt.Errorf("read queue cases: %w", err)
	}
	out, err := scanCases(rows)
	if err != nil || len(out) >= limit {
		return out, total, err
	}
	rows, err = s.pool.Query(ctx, `SELECT `+prefixed("c.", caseColumns)+` FROM `+from+` WHERE `+where+`
		AND c.next_due IS NULL ORDER BY c.filed_at, c.complaint_id LIMIT `+lim, append(args, limit-len(out))...)
	if err != nil {
		return nil, 0, fmt.Errorf("read queue cases: %w", err)
	}
	more, err := scanCases(rows)
	return append(out, more...), total, err
}

// prefixed qualifies every column of a comma-separated list.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// QueueCounts implements storage.Console.
func (s *Store) QueueCounts(ctx context.Context, sc storage.Scope, now, soon time.Time) ([]storage.QueueCount, error) {
	from, args := scopeFrom(sc)
	rows, err := s.pool.Query(ctx, `SELECT c.queue, COUNT(*),
		COUNT(*) FILTER (WHERE c.next_due IS NOT NULL AND c.next_due < $3),
		COUNT(*) FILTER (WHERE c.next_due IS NOT NULL AND c.next_due >= $3 AND c.next_due < $4)
		FROM `+from+` WHERE c.state != 'closed' GROUP BY c.queue ORDER BY c.queue`,
		append(args, nanos(now), nanos(soon))...)
	if err != nil {
		return nil, fmt.Errorf("count queues: %w", err)
	}
	defer rows.Close()
	var out []storage.QueueCount
	for rows.Next() {
		var q storage.QueueCount
		if err := rows.Scan(&q.Queue, &q.Open, &q.Overdue, &q.AtRisk); err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// SearchCases implements storage.Console: the folded words typed, each a
// prefix, all required, in the case_text index (text.go); or the tracking
// code exactly.
func (s *Store) SearchCases(ctx context.Context, sc storage.Scope, query string, limit int) ([]storage.CaseRow, error) {
	if limit <= 0 || limit > storage.MaxPage {
		limit = 100
	}
	from, args := scopeFrom(sc)
	code := strings.ToUpper(strings.TrimSpace(query))
	match := tsQuery(query)
	if match == "" {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+prefixed("c.", caseColumns)+` FROM `+from+` WHERE (c.code = $3
		OR c.complaint_id IN (SELECT complaint_id FROM case_text WHERE body @@ to_tsquery('simple', $4)))
		ORDER BY c.filed_at DESC LIMIT $5`, append(args, code, match, limit)...)
	if err != nil {
		return nil, fmt.Errorf("search cases: %w", err)
	}
	return scanCases(rows)
}

// ListBranches implements storage.Console.
func (s *Store) ListBranches(ctx context.Context) ([]storage.Branch, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name FROM branches ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list branches: %w", err)
	}
	defer rows.Close()
	var out []storage.Branch
	for rows.Next() {
		var b storage.Branch
		if err := rows.Scan(&b.ID, &b.Name); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// EventOrigins implements storage.Console.
func (s *Store) EventOrigins(ctx context.Context, complaintID string) (map[string]storage.Origin, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, COALESCE(device_id, ''), attest FROM events WHERE complaint_id = $1`, complaintID)
	if err != nil {
		return nil, fmt.Errorf("read event origins: %w", err)
	}
	defer rows.Close()
	out := make(map[string]storage.Origin)
	for rows.Next() {
		var (
			id string
			o  storage.Origin
		)
		if err := rows.Scan(&id, &o.DeviceID, &o.Attest); err != nil {
			return nil, err
		}
		out[id] = o
	}
	return out, rows.Err()
}

// tsQuery turns what a person typed into a tsquery: every word folded and
// matched as a prefix, all required, at most 16. Only letters and digits
// reach it, so no tsquery syntax can. "" when nothing searchable is left.
func tsQuery(q string) string {
	var parts []string
	for _, w := range words(q) {
		if len(parts) == 16 {
			break
		}
		if f := fold(w); f != "" {
			parts = append(parts, f+":*")
		}
	}
	return strings.Join(parts, " & ")
}
