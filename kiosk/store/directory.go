package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"ombud/shared/staff"
)

// The staff directory as the server last sent it, and sign-in against it,
// so that staff can sign in while the branch is offline.

// SaveDirectory replaces the staff directory with d, atomically, unless the
// stored one has a higher Version (then it is a no-op and returns false).
// d must be valid (staff.Directory.Validate). The same version again
// replaces it (a resend is harmless). Sign-in failures of accounts no
// longer listed are forgotten.
func (s *Store) SaveDirectory(ctx context.Context, d staff.Directory) (replaced bool, err error) {
	if err := d.Validate(); err != nil {
		return false, fmt.Errorf("save directory: %w", err)
	}
	unavailable := func(what string, err error) error {
		return fmt.Errorf("save directory: %s: %w: %w", what, ErrUnavailable, err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, unavailable("begin", err)
	}
	defer tx.Rollback()
	var stored int64
	err = tx.QueryRowContext(ctx, `SELECT version FROM staff_directory WHERE singleton = 1`).Scan(&stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return false, unavailable("read version", err)
	case stored > d.Version:
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO staff_directory (singleton, branch, version, issued_at, saved_at)
		VALUES (1, ?, ?, ?, ?) ON CONFLICT (singleton) DO UPDATE SET branch = excluded.branch,
		version = excluded.version, issued_at = excluded.issued_at, saved_at = excluded.saved_at`,
		d.Branch, d.Version, unixNano(d.IssuedAt), time.Now().UnixMilli()); err != nil {
		return false, unavailable("write directory", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM staff_accounts`); err != nil {
		return false, unavailable("clear accounts", err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO staff_accounts (id, position, name, role,
		branch, pin_hash, revoked_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return false, unavailable("prepare", err)
	}
	defer ins.Close()
	for i, a := range d.Accounts {
		if _, err := ins.ExecContext(ctx, a.ID, i, a.Name, string(a.Role), a.Branch, a.PINHash,
			unixNano(a.RevokedAt), unixNano(a.UpdatedAt)); err != nil {
			return false, unavailable("write account "+a.ID, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM signin_failures
		WHERE account_id NOT IN (SELECT id FROM staff_accounts)`); err != nil {
		return false, unavailable("prune failures", err)
	}
	if err := tx.Commit(); err != nil {
		return false, unavailable("commit", err)
	}
	s.changed()
	return true, nil
}

// Directory returns the stored staff directory; Version 0 and no accounts
// when none has been received. Accounts are in the order received.
func (s *Store) Directory(ctx context.Context) (staff.Directory, error) {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return staff.Directory{}, fmt.Errorf("directory: %w", err)
	}
	defer tx.Rollback()
	var d staff.Directory
	var issued sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT branch, version, issued_at FROM staff_directory
		WHERE singleton = 1`).Scan(&d.Branch, &d.Version, &issued)
	if errors.Is(err, sql.ErrNoRows) {
		return staff.Directory{}, nil
	}
	if err != nil {
		return staff.Directory{}, fmt.Errorf("directory: %w", err)
	}
	d.IssuedAt = fromUnixNano(issued)
	rows, err := tx.QueryContext(ctx, `SELECT `+accountColumns+` FROM staff_accounts ORDER BY position`)
	if err != nil {
		return staff.Directory{}, fmt.Errorf("directory: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return staff.Directory{}, fmt.Errorf("directory: %w", err)
		}
		d.Accounts = append(d.Accounts, a)
	}
	if err := rows.Err(); err != nil {
		return staff.Directory{}, fmt.Errorf("directory: %w", err)
	}
	return d, nil
}

const accountColumns = `id, name, role, branch, pin_hash, revoked_at, updated_at`

type scanner interface{ Scan(dst ...any) error }

func scanAccount(row scanner) (staff.Account, error) {
	var a staff.Account
	var role string
	var revoked, updated sql.NullInt64
	if err := row.Scan(&a.ID, &a.Name, &role, &a.Branch, &a.PINHash, &revoked, &updated); err != nil {
		return a, err
	}
	a.Role = staff.Role(role)
	a.RevokedAt, a.UpdatedAt = fromUnixNano(revoked), fromUnixNano(updated)
	return a, nil
}

// SignIn checks a staff id and PIN against the stored directory at now,
// applying l. Errors: staff.ErrWrongCredentials (unknown id or wrong PIN;
// the same message and about the same time either way), *staff.LockedError
// (too many failures: the PIN is not checked), staff.ErrRevoked (right PIN,
// revoked account). Failures are counted in the database, so a restart does
// not reset a lock-out; a success clears them.
//
// A zero l is staff.DefaultLockout. Failures are counted for listed
// accounts only. Storage faults wrap ErrUnavailable.
func (s *Store) SignIn(ctx context.Context, id, pin string, now time.Time, l staff.Lockout) (staff.Account, error) {
	if l.MaxFailures <= 0 {
		l = staff.DefaultLockout
	}
	id = staff.NormalizeID(id)
	unavailable := func(what string, err error) error {
		return fmt.Errorf("sign in: %s: %w: %w", what, ErrUnavailable, err)
	}
	// One sign-in at a time: the count read below is the one incremented.
	s.signIn.Lock()
	defer s.signIn.Unlock()

	a, err := scanAccount(s.r.QueryRowContext(ctx,
		`SELECT `+accountColumns+` FROM staff_accounts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		// Spend what checking a real PIN costs, so the time taken does not
		// tell whether the id exists.
		cost, err := s.dummyCost(ctx)
		if err != nil {
			return staff.Account{}, unavailable("read directory", err)
		}
		staff.VerifyPIN(dummyHash(cost), pin)
		return staff.Account{}, staff.ErrWrongCredentials
	}
	if err != nil {
		return staff.Account{}, unavailable("read account", err)
	}

	var failures int
	var last int64
	err = s.r.QueryRowContext(ctx, `SELECT failures, last_at FROM signin_failures
		WHERE account_id = ?`, id).Scan(&failures, &last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return staff.Account{}, unavailable("read failures", err)
	}
	if locked, until := l.Locked(failures, time.UnixMilli(last), now); locked {
		return staff.Account{}, &staff.LockedError{Until: until}
	}

	if !staff.VerifyPIN(a.PINHash, pin) {
		if err := s.w.QueryRowContext(ctx, `INSERT INTO signin_failures (account_id, failures, last_at)
			VALUES (?, 1, ?) ON CONFLICT (account_id) DO UPDATE SET failures = failures + 1,
			last_at = excluded.last_at RETURNING failures`, id, now.UnixMilli()).Scan(&failures); err != nil {
			return staff.Account{}, unavailable("count failure", err)
		}
		if locked, until := l.Locked(failures, time.UnixMilli(now.UnixMilli()), now); locked {
			return staff.Account{}, &staff.LockedError{Until: until}
		}
		return staff.Account{}, staff.ErrWrongCredentials
	}
	if a.Revoked() {
		return staff.Account{}, staff.ErrRevoked
	}
	if failures > 0 {
		if _, err := s.w.ExecContext(ctx, `DELETE FROM signin_failures WHERE account_id = ?`, id); err != nil {
			return staff.Account{}, unavailable("clear failures", err)
		}
	}
	return a, nil
}

// dummyCost is the iteration count of the first stored account's PIN hash,
// what a sign-in with an unknown id must spend to look like a real one.
func (s *Store) dummyCost(ctx context.Context) (int, error) {
	var hash string
	err := s.r.QueryRowContext(ctx, `SELECT pin_hash FROM staff_accounts ORDER BY position LIMIT 1`).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return staff.DefaultIterations, nil
	}
	if err != nil {
		return 0, err
	}
	return hashCost(hash), nil
}

// maxHashCost is the most iterations staff accepts in a hash.
const maxHashCost = 10_000_000

// hashCost reads the iteration count of a PIN hash (format: see
// staff.HashPIN), staff.DefaultIterations if unreadable.
func hashCost(hash string) int {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 {
		return staff.DefaultIterations
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n < staff.MinIterations || n > maxHashCost {
		return staff.DefaultIterations
	}
	return n
}

// dummyHash is a well-formed PIN hash of cost iterations that no PIN
// matches: random salt and key in staff's documented encoding. Making it
// costs nothing, unlike hashing a PIN, so the first unknown id is not
// slower than the next.
func dummyHash(cost int) string {
	salt, key := make([]byte, 16), make([]byte, 32)
	rand.Read(salt)
	rand.Read(key)
	enc := base64.RawStdEncoding
	return "pbkdf2-sha256$" + strconv.Itoa(cost) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key)
}

// unixNano stores a time exactly; the zero time is NULL.
func unixNano(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromUnixNano(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}
