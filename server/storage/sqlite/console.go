package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

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
	var on int
	err = s.r.QueryRowContext(ctx, `SELECT password_hash, totp_secret, totp_on, branches FROM console_accounts WHERE staff_id = ?`, staffID).
		Scan(&ca.PasswordHash, &ca.TOTPSecret, &on, &branches)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ca, nil
	case err != nil:
		return ca, fmt.Errorf("read console account %s: %w", staffID, err)
	}
	ca.TOTPOn, ca.Branches = on == 1, splitTeams(branches)
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM console_recovery_codes WHERE staff_id = ? AND used_at IS NULL`, staffID).Scan(&ca.Recovery); err != nil {
		return ca, fmt.Errorf("count recovery codes %s: %w", staffID, err)
	}
	return ca, nil
}

// upsertConsole makes sure the account's console row exists, in tx.
func upsertConsole(ctx context.Context, tx *sql.Tx, staffID string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO console_accounts (staff_id, updated_at) VALUES (?, ?)
		ON CONFLICT (staff_id) DO UPDATE SET updated_at = excluded.updated_at`, staffID, nanos(at))
	if isForeignKeyViolation(err) {
		return storage.Errorf(storage.NotFound, "staff account %s not found", staffID)
	}
	return err
}

// consoleChange runs f on a console row in one write transaction.
func (s *Store) consoleChange(ctx context.Context, what, staffID string, at time.Time, f func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s %s: begin: %w", what, staffID, err)
	}
	defer tx.Rollback()
	if err := upsertConsole(ctx, tx, staffID, at); err != nil {
		return err
	}
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
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
	return s.consoleChange(ctx, "set console password", staffID, at, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE console_accounts SET password_hash = ? WHERE staff_id = ?`, hash, staffID)
		return err
	})
}

// SetConsoleTOTP implements storage.Console.
func (s *Store) SetConsoleTOTP(ctx context.Context, staffID, secret string, on bool, recoveryHashes [][]byte, at time.Time) error {
	return s.consoleChange(ctx, "set console TOTP", staffID, at, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE console_accounts SET totp_secret = ?, totp_on = ? WHERE staff_id = ?`, secret, boolInt(on), staffID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM console_recovery_codes WHERE staff_id = ?`, staffID); err != nil {
			return err
		}
		for _, h := range recoveryHashes {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO console_recovery_codes (staff_id, code_hash) VALUES (?, ?)`, staffID, h); err != nil {
				return err
			}
		}
		return nil
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
	return s.consoleChange(ctx, "set console branches", staffID, at, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE console_accounts SET branches = ? WHERE staff_id = ?`, strings.Join(branches, ","), staffID)
		return err
	})
}

// SetStaffRole implements storage.Console.
func (s *Store) SetStaffRole(ctx context.Context, id string, role staff.Role, teams []string, at time.Time) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set staff role %s: begin: %w", id, err)
	}
	defer tx.Rollback()
	a, _, err := scanStaff(tx.QueryRowContext(ctx, `SELECT `+staffColumns+` FROM staff WHERE id = ?`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
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
	if _, err := tx.ExecContext(ctx, `UPDATE staff SET role = ?, teams = ?, updated_at = ?, version = ? WHERE id = ?`,
		string(role), strings.Join(teams, ","), nanos(at), v, id); err != nil {
		return fmt.Errorf("set staff role %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set staff role %s: commit: %w", id, err)
	}
	return nil
}

// UseTOTPStep implements storage.Console.
func (s *Store) UseTOTPStep(ctx context.Context, staffID string, step int64) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE console_accounts SET totp_step = ? WHERE staff_id = ? AND totp_step < ?`, step, staffID, step)
	if err != nil {
		return false, fmt.Errorf("use TOTP step: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// UseRecoveryCode implements storage.Console.
func (s *Store) UseRecoveryCode(ctx context.Context, staffID string, hash []byte, at time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE console_recovery_codes SET used_at = ? WHERE staff_id = ? AND code_hash = ? AND used_at IS NULL`,
		nanos(at), staffID, hash)
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// CreateConsoleSession implements storage.Console.
func (s *Store) CreateConsoleSession(ctx context.Context, cs storage.ConsoleSession) error {
	if cs.ID == "" || len(cs.TokenHash) == 0 || cs.StaffID == "" || !cs.ExpiresAt.After(cs.StartedAt) {
		return storage.Errorf(storage.Invalid, "a console session needs an id, a token, an account and an expiry after its start")
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO console_sessions (token_hash, id, staff_id, stage, started_at, seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
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
	var started, seen, expires int64
	var ended sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT id, staff_id, stage, started_at, seen_at, expires_at, ended_at FROM console_sessions WHERE token_hash = ?`, tokenHash).
		Scan(&cs.ID, &cs.StaffID, &cs.Stage, &started, &seen, &expires, &ended)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return cs, storage.Errorf(storage.NotFound, "no such console session")
	case err != nil:
		return cs, fmt.Errorf("read console session: %w", err)
	}
	cs.StartedAt, cs.SeenAt, cs.ExpiresAt, cs.EndedAt = time.Unix(0, started), time.Unix(0, seen), time.Unix(0, expires), fromNanos(ended)
	return cs, nil
}

// TouchConsoleSession implements storage.Console.
func (s *Store) TouchConsoleSession(ctx context.Context, tokenHash []byte, stage string, seen time.Time) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE console_sessions SET stage = ?, seen_at = max(seen_at, ?) WHERE token_hash = ? AND ended_at IS NULL`,
		stage, nanos(seen), tokenHash); err != nil {
		return fmt.Errorf("touch console session: %w", err)
	}
	return nil
}

// EndConsoleSessions implements storage.Console.
func (s *Store) EndConsoleSessions(ctx context.Context, staffID string, tokenHash []byte, at time.Time) ([]string, error) {
	q, args := `UPDATE console_sessions SET ended_at = ? WHERE staff_id = ? AND ended_at IS NULL RETURNING id`, []any{nanos(at), staffID}
	if tokenHash != nil {
		q, args = `UPDATE console_sessions SET ended_at = ? WHERE staff_id = ? AND token_hash = ? AND ended_at IS NULL RETURNING id`, append(args, tokenHash)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("end console sessions: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("end console sessions: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// The sessions the console's pushes are attributed to, one per branch
	// device ("<id>@<branch>"), end with it: an action after a sign-out is
	// not covered.
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `UPDATE staff_sessions SET ended_at = COALESCE(ended_at, ?) WHERE id >= ? AND id < ?`,
			nanos(at), id+"@", id+"A"); err != nil {
			return nil, fmt.Errorf("end console sessions: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("end console sessions: commit: %w", err)
	}
	return ids, nil
}

// ConsoleFailures implements storage.Console.
func (s *Store) ConsoleFailures(ctx context.Context, staffID string) (int, time.Time, error) {
	var n int
	var last int64
	err := s.r.QueryRowContext(ctx, `SELECT failures, last_at FROM console_failures WHERE staff_id = ?`, staffID).Scan(&n, &last)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, time.Time{}, nil
	case err != nil:
		return 0, time.Time{}, fmt.Errorf("read console failures: %w", err)
	}
	return n, time.Unix(0, last), nil
}

// RecordConsoleFailure implements storage.Console.
func (s *Store) RecordConsoleFailure(ctx context.Context, staffID string, at time.Time) (int, error) {
	var n int
	err := s.w.QueryRowContext(ctx, `INSERT INTO console_failures (staff_id, failures, last_at) VALUES (?, 1, ?)
		ON CONFLICT (staff_id) DO UPDATE SET failures = failures + 1, last_at = excluded.last_at RETURNING failures`,
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
	if _, err := s.w.ExecContext(ctx, `DELETE FROM console_failures WHERE staff_id = ?`, staffID); err != nil {
		return fmt.Errorf("clear console failures: %w", err)
	}
	return nil
}

// AuditConsole implements storage.Console.
func (s *Store) AuditConsole(ctx context.Context, e storage.AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO console_audit (at, staff_id, action, detail, client) VALUES (?, ?, ?, ?, ?)`,
		nanos(e.At), e.StaffID, e.Action, e.Detail, e.Client); err != nil {
		return fmt.Errorf("console audit: %w", err)
	}
	return nil
}

// ConsoleAudit implements storage.Console.
func (s *Store) ConsoleAudit(ctx context.Context, limit int) ([]storage.AuditEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, at, staff_id, action, detail, client FROM console_audit ORDER BY seq DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read console audit: %w", err)
	}
	defer rows.Close()
	var out []storage.AuditEntry
	for rows.Next() {
		var e storage.AuditEntry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.StaffID, &e.Action, &e.Detail, &e.Client); err != nil {
			return nil, err
		}
		e.At = time.Unix(0, at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ConsoleDevice implements storage.Console. The device's prefix is not a
// tracking-code prefix (it is longer than one), so it never matches a code
// and takes none from the counter; its credential hash is random bytes no
// credential hashes to.
func (s *Store) ConsoleDevice(ctx context.Context, branch string) (storage.Device, error) {
	id := "console." + branch
	d, err := s.Device(ctx, id)
	if err == nil || storage.ErrorCode(err) != storage.NotFound {
		return d, err
	}
	cred := make([]byte, 32)
	rand.Read(cred)
	_, err = s.w.ExecContext(ctx, `INSERT INTO devices (id, branch_id, role, teams, credential_hash, prefix, enrolled_at) VALUES (?, ?, ?, '', ?, ?, ?)
		ON CONFLICT DO NOTHING`, id, branch, string(device.Console), cred, "console:"+branch, nanos(time.Now()))
	switch {
	case isForeignKeyViolation(err):
		return storage.Device{}, storage.Errorf(storage.NotFound, "branch %s not found", branch)
	case err != nil:
		return storage.Device{}, fmt.Errorf("make console device for %s: %w", branch, err)
	}
	return s.Device(ctx, id)
}

// scopeFrom is the row source (and its arguments) of a scope over the
// cases table, aliased c: the whole table, or the cases of some branches
// followed by those queued to some teams from other branches, each part
// read through its own index (an OR of the two would scan the table).
func scopeFrom(sc storage.Scope) (string, []any) {
	if sc.All {
		return "cases c", nil
	}
	queues := make([]string, len(sc.Teams))
	for i, t := range sc.Teams {
		queues[i] = "team:" + t
	}
	b, _ := json.Marshal(append([]string{}, sc.Branches...))
	q, _ := json.Marshal(queues)
	if len(queues) == 0 {
		// No teams: the branches alone (?2 stays, unused, so the
		// numbering is the same either way).
		return `(SELECT * FROM cases WHERE branch IN (SELECT value FROM json_each(?1)) AND ?2 IS NOT NULL) c`, []any{string(b), string(q)}
	}
	return `(SELECT * FROM cases WHERE branch IN (SELECT value FROM json_each(?1))
		UNION ALL SELECT * FROM cases WHERE queue IN (SELECT value FROM json_each(?2)) AND branch NOT IN (SELECT value FROM json_each(?1))) c`,
		[]any{string(b), string(q)}
}

// MaxCount bounds the count of a queue page's cases: beyond it the page
// says "more than", so a page over a million cases does not count them all.
const MaxCount = 10000

// QueueCases implements storage.Console.
func (s *Store) QueueCases(ctx context.Context, f storage.CaseFilter) ([]storage.CaseRow, int, error) {
	from, args := scopeFrom(f.Scope)
	scopeArgs := len(args)
	where := "1"
	add := func(cond string, a ...any) {
		where += " AND " + cond
		args = append(args, a...)
	}
	if len(f.States) > 0 {
		st := make([]string, len(f.States))
		for i, x := range f.States {
			st[i] = string(x)
		}
		j, _ := json.Marshal(st)
		add(`c.state IN (SELECT value FROM json_each(?))`, string(j))
	}
	if f.Open {
		add(`c.state != ?`, string(lifecycle.Closed))
	}
	if f.Branch != "" {
		add(`c.branch = ?`, f.Branch)
	}
	if f.Category != "" {
		add(`c.category = ?`, f.Category)
	}
	if f.Queue != "" {
		add(`c.queue = ?`, f.Queue)
	}
	if f.Priority > 0 {
		add(`c.priority = ?`, f.Priority)
	}
	if !f.FiledFrom.IsZero() {
		add(`c.filed_at >= ?`, nanos(f.FiledFrom))
	}
	if !f.FiledTo.IsZero() {
		add(`c.filed_at < ?`, nanos(f.FiledTo))
	}
	limit := f.Limit
	if limit <= 0 || limit > storage.MaxPage {
		limit = 200
	}
	// Numbered arguments (?1, ?2 in the scope) and plain ones must not
	// mix: make every later one numbered too.
	where = numbered(where, scopeArgs)
	var total int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM `+from+` WHERE `+where+` LIMIT `+strconv.Itoa(MaxCount+1)+`)`, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count queue cases: %w", err)
	}
	// Deadlines first, soonest first (the partial index on next_due walks
	// them in order and stops at the limit), then cases without one.
	n := len(args)
	rows, err := s.r.QueryContext(ctx, `SELECT `+prefixed("c.", caseColumns)+` FROM `+from+` WHERE `+where+`
		AND c.next_due IS NOT NULL ORDER BY c.next_due, c.complaint_id LIMIT ?`+strconv.Itoa(n+1), append(args, limit)...)
	if err != nil {
		return nil, 0, fmt.Errorf("read queue cases: %w", err)
	}
	out, err := scanCases(rows)
	if err != nil || len(out) >= limit {
		return out, total, err
	}
	rows, err = s.r.QueryContext(ctx, `SELECT `+prefixed("c.", caseColumns)+` FROM `+from+` WHERE `+where+`
		AND c.next_due IS NULL ORDER BY c.filed_at, c.complaint_id LIMIT ?`+strconv.Itoa(n+1), append(args, limit-len(out))...)
	if err != nil {
		return nil, 0, fmt.Errorf("read queue cases: %w", err)
	}
	more, err := scanCases(rows)
	return append(out, more...), total, err
}

// numbered rewrites the plain '?' parameters of cond as ?N, numbering from
// after the first n.
func numbered(cond string, n int) string {
	var b strings.Builder
	for _, r := range cond {
		if r == '?' {
			n++
			b.WriteString("?" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
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
	n := len(args)
	rows, err := s.r.QueryContext(ctx, fmt.Sprintf(`SELECT c.queue, COUNT(*),
		COALESCE(SUM(c.next_due IS NOT NULL AND c.next_due < ?%[1]d), 0),
		COALESCE(SUM(c.next_due IS NOT NULL AND c.next_due >= ?%[1]d AND c.next_due < ?%[2]d), 0)
		FROM `+from+` WHERE c.state != 'closed' GROUP BY c.queue ORDER BY c.queue`, n+1, n+2),
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

// ftsQuery turns what a person typed into an FTS5 query: each word quoted
// (so no FTS5 syntax reaches the engine) and matched as a prefix, all
// words required. "" when nothing searchable is left.
func ftsQuery(q string) string {
	words := strings.FieldsFunc(q, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
	var b strings.Builder
	for i, w := range words {
		if i == 16 {
			break
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(`"` + w + `"*`)
	}
	return b.String()
}

// SearchCases implements storage.Console.
func (s *Store) SearchCases(ctx context.Context, sc storage.Scope, query string, limit int) ([]storage.CaseRow, error) {
	if limit <= 0 || limit > storage.MaxPage {
		limit = 100
	}
	from, args := scopeFrom(sc)
	n := len(args)
	code := strings.ToUpper(strings.TrimSpace(query))
	match := ftsQuery(query)
	if match == "" {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, fmt.Sprintf(`SELECT `+prefixed("c.", caseColumns)+` FROM `+from+` WHERE (c.code = ?%d
		OR c.complaint_id IN (SELECT complaint_id FROM case_text WHERE case_text MATCH ?%d))
		ORDER BY c.filed_at DESC LIMIT ?%d`, n+1, n+2, n+3), append(args, code, match, limit)...)
	if err != nil {
		return nil, fmt.Errorf("search cases: %w", err)
	}
	return scanCases(rows)
}

// ListBranches implements storage.Console.
func (s *Store) ListBranches(ctx context.Context) ([]storage.Branch, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name FROM branches ORDER BY id`)
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

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// EventOrigins implements storage.Console.
func (s *Store) EventOrigins(ctx context.Context, complaintID string) (map[string]storage.Origin, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, coalesce(device_id, ''), attest FROM events WHERE complaint_id = ?`, complaintID)
	if err != nil {
		return nil, fmt.Errorf("read event origins: %w", err)
	}
	defer rows.Close()
	out := make(map[string]storage.Origin)
	for rows.Next() {
		var id string
		var o storage.Origin
		if err := rows.Scan(&id, &o.DeviceID, &o.Attest); err != nil {
			return nil, err
		}
		out[id] = o
	}
	return out, rows.Err()
}
