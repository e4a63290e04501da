package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"ombud/server/storage"
	"ombud/shared/staff"
)

var (
	_ storage.Staff    = (*Store)(nil)
	_ storage.Sessions = (*Store)(nil)
)

const staffColumns = `id, branch_id, name, role, pin_hash, revoked_at, updated_at, version, teams`

func scanStaff(row pgx.Row) (staff.Account, int64, error) {
	var (
		a                staff.Account
		role, teams      string
		revoked, updated *int64
		version          int64
	)
	if err := row.Scan(&a.ID, &a.Branch, &a.Name, &role, &a.PINHash, &revoked, &updated, &version, &teams); err != nil {
		return staff.Account{}, 0, err
	}
	a.Role, a.Teams = staff.Role(role), splitTeams(teams)
	a.RevokedAt, a.UpdatedAt = fromNanos(revoked), fromNanos(updated)
	return a, version, nil
}

func nextStaffVersion(ctx context.Context, tx pgx.Tx) (int64, error) {
	var v int64
	if err := tx.QueryRow(ctx, `UPDATE counters SET value = value + 1 WHERE name = 'staff_version' RETURNING value`).Scan(&v); err != nil {
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
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The version counter's row lock serialises staff changes, so the
		// count below cannot be overtaken by another creation.
		v, err := nextStaffVersion(ctx, tx)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM staff WHERE branch_id = $1`, a.Branch).Scan(&n); err != nil {
			return fmt.Errorf("create staff %s: count branch accounts: %w", a.ID, err)
		}
		if n >= staff.MaxDirectoryAccounts {
			return storage.Errorf(storage.Invalid, "branch %s already has %d staff accounts, the most a directory carries", a.Branch, n)
		}
		_, err = tx.Exec(ctx, `INSERT INTO staff (`+staffColumns+`) VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8)`,
			a.ID, a.Branch, a.Name, string(a.Role), a.PINHash, nanos(a.UpdatedAt), v, strings.Join(a.Teams, ","))
		switch {
		case isForeignKeyViolation(err):
			return storage.Errorf(storage.NotFound, "branch %s not found", a.Branch)
		case isUniqueViolation(err):
			return storage.Errorf(storage.Conflict, "staff id %s is taken (ids are never reused, even after a revocation)", a.ID)
		case err != nil:
			return fmt.Errorf("create staff %s: %w", a.ID, err)
		}
		return nil
	})
}

// SetStaffPIN implements storage.Staff.
func (s *Store) SetStaffPIN(ctx context.Context, id, pinHash string, at time.Time) error {
	if at.IsZero() {
		return storage.Errorf(storage.Invalid, "the time of the change is required")
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		a, _, err := scanStaff(tx.QueryRow(ctx, `SELECT `+staffColumns+` FROM staff WHERE id = $1 FOR UPDATE`, id))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return storage.Errorf(storage.NotFound, "staff account %s not found", id)
		case err != nil:
			return fmt.Errorf("set staff PIN %s: read account: %w", id, err)
		case a.Revoked():
			return storage.Errorf(storage.Invalid, "staff account %s is revoked: a new PIN does not bring it back; add an account with a new id", id)
		}
		a.PINHash = pinHash
		if err := a.Validate(); err != nil {
			return &storage.Error{Code: storage.Invalid, Message: err.Error(), Err: err}
		}
		v, err := nextStaffVersion(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE staff SET pin_hash = $1, updated_at = $2, version = $3 WHERE id = $4`,
			pinHash, nanos(at), v, id); err != nil {
			return fmt.Errorf("set staff PIN %s: %w", id, err)
		}
		return nil
	})
}

// RevokeStaff implements storage.Staff.
func (s *Store) RevokeStaff(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return storage.Errorf(storage.Invalid, "revocation time is required")
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var revoked *int64
		err := tx.QueryRow(ctx, `SELECT revoked_at FROM staff WHERE id = $1 FOR UPDATE`, id).Scan(&revoked)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return storage.Errorf(storage.NotFound, "staff account %s not found", id)
		case err != nil:
			return fmt.Errorf("revoke staff %s: read account: %w", id, err)
		case revoked != nil:
			return nil
		}
		v, err := nextStaffVersion(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE staff SET revoked_at = $1, updated_at = $1, version = $2 WHERE id = $3`, nanos(at), v, id); err != nil {
			return fmt.Errorf("revoke staff %s: %w", id, err)
		}
		return nil
	})
}

// StaffAccount implements storage.Staff.
func (s *Store) StaffAccount(ctx context.Context, id string) (staff.Account, error) {
	a, _, err := scanStaff(s.pool.QueryRow(ctx, `SELECT `+staffColumns+` FROM staff WHERE id = $1`, id))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return staff.Account{}, storage.Errorf(storage.NotFound, "staff account %s not found", id)
	case err != nil:
		return staff.Account{}, fmt.Errorf("read staff account %s: %w", id, err)
	}
	return a, nil
}

// readOnly runs fn in a read-only REPEATABLE READ transaction: one snapshot.
func (s *Store) readOnly(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// StaffDirectory implements storage.Staff.
func (s *Store) StaffDirectory(ctx context.Context, branch string) (staff.Directory, error) {
	d := staff.Directory{Branch: branch, Accounts: []staff.Account{}}
	err := s.readOnly(ctx, func(tx pgx.Tx) error {
		if err := branchExists(ctx, tx, branch); err != nil {
			return err
		}
		return queryStaff(ctx, tx, `SELECT `+staffColumns+` FROM staff WHERE branch_id = $1 ORDER BY id`, []any{branch},
			func(a staff.Account, version int64) {
				d.Accounts = append(d.Accounts, a)
				d.Version = max(d.Version, version)
			})
	})
	if err != nil {
		if storage.ErrorCode(err) == storage.NotFound {
			return staff.Directory{}, err
		}
		return staff.Directory{}, fmt.Errorf("staff directory of %s: %w", branch, err)
	}
	d.IssuedAt = time.Now().UTC()
	return d, nil
}

// TeamDirectory implements storage.Staff.
func (s *Store) TeamDirectory(ctx context.Context, teams []string) (staff.Directory, error) {
	if len(teams) == 0 {
		return staff.Directory{}, storage.Errorf(storage.Invalid, "a team directory needs teams")
	}
	d := staff.Directory{Teams: teams, Accounts: []staff.Account{}}
	err := s.readOnly(ctx, func(tx pgx.Tx) error {
		return queryStaff(ctx, tx, `SELECT `+staffColumns+` FROM staff WHERE teams != '' ORDER BY id`, nil,
			func(a staff.Account, version int64) {
				if a.InTeam(teams) {
					d.Accounts = append(d.Accounts, a)
					d.Version = max(d.Version, version)
				}
			})
	})
	if err != nil {
		return staff.Directory{}, fmt.Errorf("team directory: %w", err)
	}
	d.IssuedAt = time.Now().UTC()
	return d, nil
}

// ListStaff implements storage.Staff.
func (s *Store) ListStaff(ctx context.Context, branch string) ([]staff.Account, error) {
	var out []staff.Account
	err := s.readOnly(ctx, func(tx pgx.Tx) error {
		query, args := `SELECT `+staffColumns+` FROM staff ORDER BY branch_id, id`, []any(nil)
		if branch != "" {
			if err := branchExists(ctx, tx, branch); err != nil {
				return err
			}
			query, args = `SELECT `+staffColumns+` FROM staff WHERE branch_id = $1 ORDER BY id`, []any{branch}
		}
		return queryStaff(ctx, tx, query, args, func(a staff.Account, _ int64) { out = append(out, a) })
	})
	if err != nil {
		if storage.ErrorCode(err) == storage.NotFound {
			return nil, err
		}
		return nil, fmt.Errorf("list staff: %w", err)
	}
	return out, nil
}

func branchExists(ctx context.Context, tx pgx.Tx, branch string) error {
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM branches WHERE id = $1)`, branch).Scan(&ok); err != nil {
		return fmt.Errorf("read branch %s: %w", branch, err)
	}
	if !ok {
		return storage.Errorf(storage.NotFound, "branch %s not found", branch)
	}
	return nil
}

func queryStaff(ctx context.Context, tx pgx.Tx, query string, args []any, row func(staff.Account, int64)) error {
	rows, err := tx.Query(ctx, query, args...)
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

// StartSession implements storage.Sessions.
func (s *Store) StartSession(ctx context.Context, ss storage.Session) error {
	if ss.ID == "" || ss.DeviceID == "" || ss.StaffID == "" || ss.StartedAt.IsZero() || !ss.ExpiresAt.After(ss.StartedAt) {
		return storage.Errorf(storage.Invalid, "a session needs an id, a device, an account, and an expiry after its start")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO staff_sessions (id, device_id, staff_id, started_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
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
	tag, err := s.pool.Exec(ctx, `UPDATE staff_sessions SET ended_at = COALESCE(ended_at, $1) WHERE id = $2 AND device_id = $3`,
		nanos(at), id, deviceID)
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	if tag.RowsAffected() == 0 {
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
	err := s.pool.QueryRow(ctx, `SELECT failures, last_at FROM staff_signin_failures WHERE staff_id = $1`, staffID).Scan(&n, &last)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, time.Time{}, nil
	case err != nil:
		return 0, time.Time{}, fmt.Errorf("read sign-in failures: %w", err)
	}
	return n, time.Unix(0, last).UTC(), nil
}

// RecordSignInFailure implements storage.Sessions.
func (s *Store) RecordSignInFailure(ctx context.Context, staffID string, at time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `INSERT INTO staff_signin_failures (staff_id, failures, last_at) VALUES ($1, 1, $2)
		ON CONFLICT (staff_id) DO UPDATE SET failures = staff_signin_failures.failures + 1, last_at = excluded.last_at RETURNING failures`,
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
	if _, err := s.pool.Exec(ctx, `DELETE FROM staff_signin_failures WHERE staff_id = $1`, staffID); err != nil {
		return fmt.Errorf("clear sign-in failures: %w", err)
	}
	return nil
}
