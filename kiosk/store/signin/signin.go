// Package signin owns a staff terminal's copy of its branch's staff
// directory (shared/staff) in the kiosk database, and sign-in against it
// with a lock-out after wrong PINs that a restart does not lift: staff sign
// in while the branch is offline with what the server last sent
// (kiosk/directory fetches it), for as long as the server allows after the
// terminal's last contact with it (contact.go). When the server can be
// reached it checks the PIN itself (kiosk/session), and this package only
// keeps the lock-out in step (Locked, Refused, Confirmed). Its tables
// (staff_directory, staff_accounts, signin_failures, server_contact) are
// made by kiosk/store's migrations, one ordered set for the one file, and
// read and written through store.Store.View and Update.
package signin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"ombud/kiosk/store"
	"ombud/shared/staff"
)

// Accounts are the branch's staff accounts as the server last sent them,
// and sign-in against them. Safe for concurrent use; use one per database,
// since it is what serialises sign-ins.
type Accounts struct {
	db *store.Store
	// signIn serialises sign-ins, so concurrent wrong PINs cannot each read
	// the failure count before the other writes it.
	signIn sync.Mutex
}

// New makes the accounts kept in db.
func New(db *store.Store) *Accounts { return &Accounts{db: db} }

// errOlder rolls back SaveDirectory's transaction when the directory held
// is newer.
var errOlder = errors.New("older directory")

// SaveDirectory replaces the staff directory with d, atomically, unless the
// stored one has a higher Version (then it is a no-op and returns false).
// d must be valid (staff.Directory.Validate). The same version again
// replaces it (a resend is harmless). Sign-in failures of accounts no
// longer listed are forgotten. A replacement signals the database's
// Changes, so a signed-in terminal sees a revocation. Storage faults wrap
// store.ErrUnavailable.
func (a *Accounts) SaveDirectory(ctx context.Context, d staff.Directory) (replaced bool, err error) {
	if err := d.Validate(); err != nil {
		return false, fmt.Errorf("save directory: %w", err)
	}
	unavailable := func(what string, err error) error {
		return fmt.Errorf("save directory: %s: %w: %w", what, store.ErrUnavailable, err)
	}
	var failed error // a step's own failure, already wrapped
	err = a.db.Update(ctx, func(tx store.Tx) error {
		var stored int64
		err := tx.QueryRowContext(ctx, `SELECT version FROM staff_directory WHERE singleton = 1`).Scan(&stored)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			failed = unavailable("read version", err)
			return failed
		case stored > d.Version:
			return errOlder
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO staff_directory (singleton, branch, version, issued_at, saved_at)
			VALUES (1, ?, ?, ?, ?) ON CONFLICT (singleton) DO UPDATE SET branch = excluded.branch,
			version = excluded.version, issued_at = excluded.issued_at, saved_at = excluded.saved_at`,
			d.Branch, d.Version, unixNano(d.IssuedAt), time.Now().UnixMilli()); err != nil {
			failed = unavailable("write directory", err)
			return failed
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM staff_accounts`); err != nil {
			failed = unavailable("clear accounts", err)
			return failed
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO staff_accounts (id, position, name, role,
			branch, pin_hash, revoked_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			failed = unavailable("prepare", err)
			return failed
		}
		defer ins.Close()
		for i, acc := range d.Accounts {
			if _, err := ins.ExecContext(ctx, acc.ID, i, acc.Name, string(acc.Role), acc.Branch, acc.PINHash,
				unixNano(acc.RevokedAt), unixNano(acc.UpdatedAt)); err != nil {
				failed = unavailable("write account "+acc.ID, err)
				return failed
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM signin_failures
			WHERE account_id NOT IN (SELECT id FROM staff_accounts)`); err != nil {
			failed = unavailable("prune failures", err)
			return failed
		}
		return nil
	})
	switch {
	case errors.Is(err, errOlder):
		return false, nil
	case failed != nil:
		return false, failed
	case err != nil: // Update's begin or commit, which name themselves
		return false, fmt.Errorf("save directory: %w: %w", store.ErrUnavailable, err)
	}
	a.db.Changed()
	return true, nil
}

// Directory returns the stored staff directory; Version 0 and no accounts
// when none has been received. Accounts are in the order received.
func (a *Accounts) Directory(ctx context.Context) (staff.Directory, error) {
	var d staff.Directory
	err := a.db.View(ctx, func(tx store.Tx) error {
		var issued sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT branch, version, issued_at FROM staff_directory
			WHERE singleton = 1`).Scan(&d.Branch, &d.Version, &issued)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		d.IssuedAt = fromUnixNano(issued)
		rows, err := tx.QueryContext(ctx, `SELECT `+accountColumns+` FROM staff_accounts ORDER BY position`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			acc, err := scanAccount(rows)
			if err != nil {
				return err
			}
			d.Accounts = append(d.Accounts, acc)
		}
		return rows.Err()
	})
	if err != nil {
		return staff.Directory{}, fmt.Errorf("directory: %w", err)
	}
	return d, nil
}

const accountColumns = `id, name, role, branch, pin_hash, revoked_at, updated_at`

func scanAccount(row store.Scanner) (staff.Account, error) {
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
// applying l: the offline sign-in, for when the server cannot be reached.
// Errors: ErrNeverReached or *OutOfReachError (the terminal's last contact
// with the server is too old, or there was none: nothing is checked, see
// OfflineAllowed), staff.ErrWrongCredentials (unknown id or wrong PIN;
// the same message and about the same time either way),
// *staff.LockedError (too many failures: the PIN is not checked),
// staff.ErrRevoked (right PIN, revoked account). Failures are counted in
// the database, so a restart does not reset a lock-out; a success clears
// them.
//
// A zero l is staff.DefaultLockout. Failures are counted for listed
// accounts only. Storage faults wrap store.ErrUnavailable.
func (a *Accounts) SignIn(ctx context.Context, id, pin string, now time.Time, l staff.Lockout) (staff.Account, error) {
	if l.MaxFailures <= 0 {
		l = staff.DefaultLockout
	}
	id = staff.NormalizeID(id)
	unavailable := func(what string, err error) error {
		return fmt.Errorf("sign in: %s: %w: %w", what, store.ErrUnavailable, err)
	}
	// One sign-in at a time: the count read below is the one incremented.
	a.signIn.Lock()
	defer a.signIn.Unlock()

	var acc staff.Account
	var contact Contact
	var failures int
	var last int64
	var decoy string
	found := true
	err := a.db.View(ctx, func(tx store.Tx) error {
		var err error
		if contact, err = readContact(ctx, tx); err != nil {
			return fmt.Errorf("read server contact: %w", err)
		}
		acc, err = scanAccount(tx.QueryRowContext(ctx,
			`SELECT `+accountColumns+` FROM staff_accounts WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			found = false
			decoy, err = decoyHash(ctx, tx)
			if err != nil {
				return fmt.Errorf("read directory: %w", err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read account: %w", err)
		}
		failures, last, err = readFailures(ctx, tx, id)
		return err
	})
	if err != nil {
		return staff.Account{}, fmt.Errorf("sign in: %w: %w", store.ErrUnavailable, err)
	}
	if err := OfflineAllowed(contact, now); err != nil {
		return staff.Account{}, err
	}
	if !found {
		// Spend what checking a real PIN costs, so the time taken does not
		// tell whether the id exists.
		staff.VerifyPIN(decoy, pin)
		return staff.Account{}, staff.ErrWrongCredentials
	}
	if locked, until := l.Locked(failures, time.UnixMilli(last), now); locked {
		return staff.Account{}, &staff.LockedError{Until: until}
	}

	if !staff.VerifyPIN(acc.PINHash, pin) {
		n, err := a.countFailure(ctx, id, now)
		if err != nil {
			return staff.Account{}, unavailable("count failure", err)
		}
		if locked, until := l.Locked(n, time.UnixMilli(now.UnixMilli()), now); locked {
			return staff.Account{}, &staff.LockedError{Until: until}
		}
		return staff.Account{}, staff.ErrWrongCredentials
	}
	if acc.Revoked() {
		return staff.Account{}, staff.ErrRevoked
	}
	if failures > 0 {
		if err := a.clearFailures(ctx, id); err != nil {
			return staff.Account{}, unavailable("clear failures", err)
		}
	}
	return acc, nil
}

// Online sign-in (the server checks the PIN) keeps this terminal's
// lock-out in step: Locked is asked before a PIN is sent, Refused counts
// a PIN the server refused, Confirmed clears the count. So a person
// locked out here is locked out whether the server answers or not, and
// wrong PINs typed online count when the server later cannot be reached.

// Locked returns a *staff.LockedError when id is locked on this terminal
// at now under l (staff.DefaultLockout when zero), else nil. Storage
// faults wrap store.ErrUnavailable.
func (a *Accounts) Locked(ctx context.Context, id string, now time.Time, l staff.Lockout) error {
	if l.MaxFailures <= 0 {
		l = staff.DefaultLockout
	}
	id = staff.NormalizeID(id)
	var failures int
	var last int64
	err := a.db.View(ctx, func(tx store.Tx) error {
		var err error
		failures, last, err = readFailures(ctx, tx, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sign in: %w: %w", store.ErrUnavailable, err)
	}
	if locked, until := l.Locked(failures, time.UnixMilli(last), now); locked {
		return &staff.LockedError{Until: until}
	}
	return nil
}

// Refused counts a wrong PIN the server refused for id at now, as SignIn
// counts its own, and returns a *staff.LockedError when this failure
// locks id under l. An id not in the directory is not counted (as in
// SignIn). Storage faults wrap store.ErrUnavailable.
func (a *Accounts) Refused(ctx context.Context, id string, now time.Time, l staff.Lockout) error {
	if l.MaxFailures <= 0 {
		l = staff.DefaultLockout
	}
	id = staff.NormalizeID(id)
	a.signIn.Lock()
	defer a.signIn.Unlock()
	n, err := a.countFailure(ctx, id, now)
	if err != nil {
		return fmt.Errorf("sign in: count failure: %w: %w", store.ErrUnavailable, err)
	}
	if locked, until := l.Locked(n, time.UnixMilli(now.UnixMilli()), now); locked {
		return &staff.LockedError{Until: until}
	}
	return nil
}

// Confirmed clears id's failures: the server confirmed a sign-in. Storage
// faults wrap store.ErrUnavailable.
func (a *Accounts) Confirmed(ctx context.Context, id string) error {
	a.signIn.Lock()
	defer a.signIn.Unlock()
	if err := a.clearFailures(ctx, staff.NormalizeID(id)); err != nil {
		return fmt.Errorf("sign in: clear failures: %w: %w", store.ErrUnavailable, err)
	}
	return nil
}

// readFailures reads id's wrong PINs in a row and when the last was.
func readFailures(ctx context.Context, tx store.Tx, id string) (failures int, last int64, err error) {
	err = tx.QueryRowContext(ctx, `SELECT failures, last_at FROM signin_failures
		WHERE account_id = ?`, id).Scan(&failures, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read failures: %w", err)
	}
	return failures, last, nil
}

// countFailure adds a wrong PIN of id at now and returns the count, 0
// when id is not a listed account. Call it holding signIn.
func (a *Accounts) countFailure(ctx context.Context, id string, now time.Time) (int, error) {
	var n int
	err := a.db.Update(ctx, func(tx store.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO signin_failures (account_id, failures, last_at)
			SELECT id, 1, ? FROM staff_accounts WHERE id = ?
			ON CONFLICT (account_id) DO UPDATE SET failures = failures + 1,
			last_at = excluded.last_at RETURNING failures`, now.UnixMilli(), id).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // not listed
		}
		return err
	})
	return n, err
}

// clearFailures forgets id's wrong PINs. Call it holding signIn.
func (a *Accounts) clearFailures(ctx context.Context, id string) error {
	return a.db.Update(ctx, func(tx store.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM signin_failures WHERE account_id = ?`, id)
		return err
	})
}

// decoyHash is a hash no PIN matches at the cost of the first stored
// account's, what a sign-in with an unknown id must spend to look like a
// real one (staff.DecoyHash).
func decoyHash(ctx context.Context, tx store.Tx) (string, error) {
	var hash string
	err := tx.QueryRowContext(ctx, `SELECT pin_hash FROM staff_accounts ORDER BY position LIMIT 1`).Scan(&hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	return staff.DecoyHash(hash), nil
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
