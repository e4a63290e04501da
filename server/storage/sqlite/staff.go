package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"ombud/server/storage"
	"ombud/shared/staff"
)

var _ storage.Staff = (*Store)(nil)

const staffColumns = `id, branch_id, name, role, pin_hash, revoked_at, updated_at, version, teams`

// scanStaff reads one row of staffColumns.
func scanStaff(row interface{ Scan(...any) error }) (staff.Account, int64, error) {
	var (
		a                staff.Account
		role, teams      string
		revoked, updated sql.NullInt64
		version          int64
	)
	if err := row.Scan(&a.ID, &a.Branch, &a.Name, &role, &a.PINHash, &revoked, &updated, &version, &teams); err != nil {
		return staff.Account{}, 0, err
	}
	a.Role, a.Teams = staff.Role(role), splitTeams(teams)
	a.RevokedAt, a.UpdatedAt = fromNanos(revoked), fromNanos(updated)
	return a, version, nil
}

// nextStaffVersion takes the next value of the counter every staff change
// is stamped with, inside the change's transaction.
func nextStaffVersion(ctx context.Context, tx *sql.Tx) (int64, error) {
	var v int64
	if err := tx.QueryRowContext(ctx, `UPDATE counters SET value = value + 1 WHERE name = 'staff_version' RETURNING value`).Scan(&v); err != nil {
		return 0, fmt.Errorf("next staff version: %w", err)
	}
	return v, nil
}

// CreateStaff implements storage.Staff.
func (s *Store) CreateStaff(ctx context.Context, a staff.Account) error {
	if err := a.Validate(); err != nil {
		return &storage.Error{Code: storage.Invalid, Message: err.Error(), Err: err}
	}
	if a.Revoked() {
		return storage.Errorf(storage.Invalid, "account %s: a new account cannot be revoked", a.ID)
	}
	if a.UpdatedAt.IsZero() {
		a.UpdatedAt = time.Now()
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create staff %s: begin: %w", a.ID, err)
	}
	defer tx.Rollback()
	// Terminals refuse a directory longer than this, so one account more
	// would stop the whole branch's directory from reaching them.
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff WHERE branch_id = ?`, a.Branch).Scan(&n); err != nil {
		return fmt.Errorf("create staff %s: count branch accounts: %w", a.ID, err)
	}
	if n >= staff.MaxDirectoryAccounts {
		return storage.Errorf(storage.Invalid, "branch %s already has %d staff accounts, the most a directory carries", a.Branch, n)
	}
	v, err := nextStaffVersion(ctx, tx)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO staff (`+staffColumns+`) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)`,
		a.ID, a.Branch, a.Name, string(a.Role), a.PINHash, nanos(a.UpdatedAt), v, strings.Join(a.Teams, ","))
	switch {
	case isForeignKeyViolation(err):
		return storage.Errorf(storage.NotFound, "branch %s not found", a.Branch)
	case isUniqueViolation(err):
		return storage.Errorf(storage.Conflict, "staff id %s is taken (ids are never reused, even after a revocation)", a.ID)
	case err != nil:
		return fmt.Errorf("create staff %s: %w", a.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create staff %s: commit: %w", a.ID, err)
	}
	return nil
}

// SetStaffPIN implements storage.Staff.
func (s *Store) SetStaffPIN(ctx context.Context, id, pinHash string, at time.Time) error {
	if at.IsZero() {
		return storage.Errorf(storage.Invalid, "the time of the change is required")
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set staff PIN %s: begin: %w", id, err)
	}
	defer tx.Rollback()
	a, _, err := scanStaff(tx.QueryRowContext(ctx, `SELECT `+staffColumns+` FROM staff WHERE id = ?`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return storage.Errorf(storage.NotFound, "staff account %s not found", id)
	case err != nil:
		return fmt.Errorf("set staff PIN %s: read account: %w", id, err)
	case a.Revoked():
		return storage.Errorf(storage.Invalid, "staff account %s is revoked: a new PIN does not bring it back; add an account with a new id", id)
	}
	// The account as it would be stored must be valid: that checks the
	// hash's format with the rest.
	a.PINHash = pinHash
	if err := a.Validate(); err != nil {
		return &storage.Error{Code: storage.Invalid, Message: err.Error(), Err: err}
	}
	v, err := nextStaffVersion(ctx, tx)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE staff SET pin_hash = ?, updated_at = ?, version = ? WHERE id = ?`,
		pinHash, nanos(at), v, id); err != nil {
		return fmt.Errorf("set staff PIN %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set staff PIN %s: commit: %w", id, err)
	}
	return nil
}

// RevokeStaff implements storage.Staff.
func (s *Store) RevokeStaff(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return storage.Errorf(storage.Invalid, "revocation time is required")
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("revoke staff %s: begin: %w", id, err)
	}
	defer tx.Rollback()
	var revoked sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT revoked_at FROM staff WHERE id = ?`, id).Scan(&revoked)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return storage.Errorf(storage.NotFound, "staff account %s not found", id)
	case err != nil:
		return fmt.Errorf("revoke staff %s: read account: %w", id, err)
	case revoked.Valid:
		// Already revoked: the first time stays (the audit trail and Push's
		// grace both want it), and nothing changed for the terminals.
		return nil
	}
	v, err := nextStaffVersion(ctx, tx)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE staff SET revoked_at = ?1, updated_at = ?1, version = ?2 WHERE id = ?3`,
		nanos(at), v, id); err != nil {
		return fmt.Errorf("revoke staff %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("revoke staff %s: commit: %w", id, err)
	}
	return nil
}

// StaffAccount implements storage.Staff.
func (s *Store) StaffAccount(ctx context.Context, id string) (staff.Account, error) {
	a, _, err := scanStaff(s.r.QueryRowContext(ctx, `SELECT `+staffColumns+` FROM staff WHERE id = ?`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return staff.Account{}, storage.Errorf(storage.NotFound, "staff account %s not found", id)
	case err != nil:
		return staff.Account{}, fmt.Errorf("read staff account %s: %w", id, err)
	}
	return a, nil
}

// StaffDirectory implements storage.Staff. The version is the largest
// among the rows read, so it always describes the accounts sent with it.
func (s *Store) StaffDirectory(ctx context.Context, branch string) (staff.Directory, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return staff.Directory{}, fmt.Errorf("staff directory of %s: %w", branch, err)
	}
	defer tx.Rollback()
	if err := branchExists(ctx, tx, branch); err != nil {
		return staff.Directory{}, err
	}
	d := staff.Directory{Branch: branch, Accounts: []staff.Account{}}
	err = queryStaff(ctx, tx, `SELECT `+staffColumns+` FROM staff WHERE branch_id = ? ORDER BY id`, []any{branch},
		func(a staff.Account, version int64) {
			d.Accounts = append(d.Accounts, a)
			d.Version = max(d.Version, version)
		})
	if err != nil {
		return staff.Directory{}, fmt.Errorf("staff directory of %s: %w", branch, err)
	}
	d.IssuedAt = time.Now().UTC()
	return d, nil
}

// TeamDirectory implements storage.Staff. Team accounts are few, so the
// accounts with any team are read and filtered here.
func (s *Store) TeamDirectory(ctx context.Context, teams []string) (staff.Directory, error) {
	if len(teams) == 0 {
		return staff.Directory{}, storage.Errorf(storage.Invalid, "a team directory needs teams")
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return staff.Directory{}, fmt.Errorf("team directory: %w", err)
	}
	defer tx.Rollback()
	d := staff.Directory{Teams: teams, Accounts: []staff.Account{}}
	err = queryStaff(ctx, tx, `SELECT `+staffColumns+` FROM staff WHERE teams != '' ORDER BY id`, nil,
		func(a staff.Account, version int64) {
			if a.InTeam(teams) {
				d.Accounts = append(d.Accounts, a)
				d.Version = max(d.Version, version)
			}
		})
	if err != nil {
		return staff.Directory{}, fmt.Errorf("team directory: %w", err)
	}
	d.IssuedAt = time.Now().UTC()
	return d, nil
}

// ListStaff implements storage.Staff.
func (s *Store) ListStaff(ctx context.Context, branch string) ([]staff.Account, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("list staff: %w", err)
	}
	defer tx.Rollback()
	query, args := `SELECT `+staffColumns+` FROM staff ORDER BY branch_id, id`, []any(nil)
	if branch != "" {
		if err := branchExists(ctx, tx, branch); err != nil {
			return nil, err
		}
		query, args = `SELECT `+staffColumns+` FROM staff WHERE branch_id = ? ORDER BY id`, []any{branch}
	}
	var out []staff.Account
	if err := queryStaff(ctx, tx, query, args, func(a staff.Account, _ int64) { out = append(out, a) }); err != nil {
		return nil, fmt.Errorf("list staff: %w", err)
	}
	return out, nil
}

func branchExists(ctx context.Context, tx *sql.Tx, branch string) error {
	var ok bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM branches WHERE id = ?)`, branch).Scan(&ok); err != nil {
		return fmt.Errorf("read branch %s: %w", branch, err)
	}
	if !ok {
		return storage.Errorf(storage.NotFound, "branch %s not found", branch)
	}
	return nil
}

func queryStaff(ctx context.Context, tx *sql.Tx, query string, args []any, row func(staff.Account, int64)) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		a, v, err := scanStaff(rows)
		if err != nil {
			return err
		}
		row(a, v)
	}
	return rows.Err()
}

var _ storage.Sessions = (*Store)(nil)

// StartSession implements storage.Sessions.
func (s *Store) StartSession(ctx context.Context, ss storage.Session) error {
	if ss.ID == "" || ss.DeviceID == "" || ss.StaffID == "" || ss.StartedAt.IsZero() || !ss.ExpiresAt.After(ss.StartedAt) {
		return storage.Errorf(storage.Invalid, "a session needs an id, a device, an account, and an expiry after its start")
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO staff_sessions (id, device_id, staff_id, started_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		ss.ID, ss.DeviceID, ss.StaffID, nanos(ss.StartedAt), nanos(ss.ExpiresAt))
	switch {
	case isForeignKeyViolation(err):
		return storage.Errorf(storage.NotFound, "device %s or staff account %s not found", ss.DeviceID, ss.StaffID)
	case isUniqueViolation(err):
		return storage.Errorf(storage.Conflict, "session %s exists", ss.ID)
	case err != nil:
		return fmt.Errorf("start session: %w", err)
	}
	return nil
}

// EndSession implements storage.Sessions.
func (s *Store) EndSession(ctx context.Context, deviceID, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE staff_sessions SET ended_at = COALESCE(ended_at, ?) WHERE id = ? AND device_id = ?`,
		nanos(at), id, deviceID)
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("end session: %w", err)
	} else if n == 0 {
		return storage.Errorf(storage.NotFound, "no such session on this device")
	}
	return nil
}

// SignInFailures implements storage.Sessions.
func (s *Store) SignInFailures(ctx context.Context, staffID string) (int, time.Time, error) {
	var (
		n    int
		last int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT failures, last_at FROM staff_signin_failures WHERE staff_id = ?`, staffID).Scan(&n, &last)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, time.Time{}, nil
	case err != nil:
		return 0, time.Time{}, fmt.Errorf("read sign-in failures: %w", err)
	}
	return n, time.Unix(0, last).UTC(), nil
}

// RecordSignInFailure implements storage.Sessions.
func (s *Store) RecordSignInFailure(ctx context.Context, staffID string, at time.Time) (int, error) {
	var n int
	err := s.w.QueryRowContext(ctx, `INSERT INTO staff_signin_failures (staff_id, failures, last_at) VALUES (?, 1, ?)
		ON CONFLICT (staff_id) DO UPDATE SET failures = failures + 1, last_at = excluded.last_at RETURNING failures`,
		staffID, nanos(at)).Scan(&n)
	switch {
	case isForeignKeyViolation(err):
		return 0, storage.Errorf(storage.NotFound, "staff account %s not found", staffID)
	case err != nil:
		return 0, fmt.Errorf("record sign-in failure: %w", err)
	}
	return n, nil
}

// ClearSignInFailures implements storage.Sessions.
func (s *Store) ClearSignInFailures(ctx context.Context, staffID string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM staff_signin_failures WHERE staff_id = ?`, staffID); err != nil {
		return fmt.Errorf("clear sign-in failures: %w", err)
	}
	return nil
}
