package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"ombud/server/storage"
	"ombud/shared/device"
)

// CreateBranch implements storage.Devices.
func (s *Store) CreateBranch(ctx context.Context, id, name string) error {
	if id == "" || name == "" {
		return storage.Errorf(storage.Invalid, "branch id and name are required")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO branches (id, name, created_at) VALUES ($1, $2, $3)`, id, name, nanos(time.Now()))
	switch {
	case isUniqueViolation(err):
		return storage.Errorf(storage.Conflict, "branch %s already exists", id)
	case err != nil:
		return fmt.Errorf("create branch %s: %w", id, err)
	}
	return nil
}

// CreateEnrolment implements storage.Devices.
func (s *Store) CreateEnrolment(ctx context.Context, e storage.Enrolment) error {
	if e.Branch == "" || len(e.CodeHash) == 0 || e.ExpiresAt.IsZero() {
		return storage.Errorf(storage.Invalid, "branch, code hash and expiry are required")
	}
	if err := checkRole(e.Role, e.Teams); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO enrolments (code_hash, branch_id, expires_at, role, teams) VALUES ($1, $2, $3, $4, $5)`,
		e.CodeHash, e.Branch, nanos(e.ExpiresAt), string(e.Role), strings.Join(e.Teams, ","))
	switch {
	case isForeignKeyViolation(err):
		return storage.Errorf(storage.NotFound, "branch %s not found", e.Branch)
	case isUniqueViolation(err):
		return storage.Errorf(storage.Conflict, "enrolment code already exists")
	case err != nil:
		return fmt.Errorf("create enrolment for branch %s: %w", e.Branch, err)
	}
	return nil
}

func checkRole(role device.Role, teams []string) error {
	if !role.Valid() {
		return storage.Errorf(storage.Invalid, "device role %q is not one of kiosk, staff, team", role)
	}
	if err := device.CheckTeams(role, teams); err != nil {
		return &storage.Error{Code: storage.Invalid, Message: err.Error(), Err: err}
	}
	return nil
}

// SetDeviceRole implements storage.Devices.
func (s *Store) SetDeviceRole(ctx context.Context, id string, role device.Role, teams []string) error {
	if err := checkRole(role, teams); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE devices SET role = $1, teams = $2 WHERE id = $3`, string(role), strings.Join(teams, ","), id)
		if err != nil {
			return fmt.Errorf("set role of device %s: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return storage.Errorf(storage.NotFound, "device %s not found", id)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM device_role_review WHERE device_id = $1`, id); err != nil {
			return fmt.Errorf("set role of device %s: %w", id, err)
		}
		return nil
	})
}

// DevicesToReview implements storage.Devices.
func (s *Store) DevicesToReview(ctx context.Context) ([]string, error) {
	return s.strings(ctx, "read devices to review", `SELECT device_id FROM device_role_review ORDER BY device_id`)
}

// strings runs a one-column query.
func (s *Store) strings(ctx context.Context, what, query string, args ...any) ([]string, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// RedeemEnrolment implements storage.Devices. The UPDATE that spends the
// code is guarded on used_at IS NULL: of two redemptions racing, the second
// waits for the first's row lock, then finds the code used.
func (s *Store) RedeemEnrolment(ctx context.Context, codeHash []byte, now time.Time, deviceID string, credentialHash []byte) (storage.Device, error) {
	if len(codeHash) == 0 || deviceID == "" || len(credentialHash) == 0 || now.IsZero() {
		return storage.Device{}, storage.Errorf(storage.Invalid, "code hash, device id, credential hash and time are required")
	}
	var d storage.Device
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			branch, role, teams string
			expires             int64
			used                *int64
		)
		err := tx.QueryRow(ctx, `SELECT branch_id, expires_at, used_at, role, teams FROM enrolments WHERE code_hash = $1`, codeHash).
			Scan(&branch, &expires, &used, &role, &teams)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return storage.Errorf(storage.NotFound, "enrolment code not found")
		case err != nil:
			return fmt.Errorf("redeem enrolment: read code: %w", err)
		case used != nil:
			return storage.Errorf(storage.Conflict, "enrolment code already used")
		case nanos(now) >= expires:
			return storage.Errorf(storage.Expired, "enrolment code expired")
		}
		tag, err := tx.Exec(ctx, `UPDATE enrolments SET used_at = $1, device_id = $2 WHERE code_hash = $3 AND used_at IS NULL`,
			nanos(now), deviceID, codeHash)
		if err != nil {
			return fmt.Errorf("redeem enrolment: spend code: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return storage.Errorf(storage.Conflict, "enrolment code already used")
		}
		var n int64
		if err := tx.QueryRow(ctx, `UPDATE counters SET value = value + 1 WHERE name = 'device_prefix' RETURNING value`).Scan(&n); err != nil {
			return fmt.Errorf("redeem enrolment: next prefix: %w", err)
		}
		prefix, err := storage.PrefixForSequence(n)
		if err != nil {
			return err
		}
		d = storage.Device{
			ID: deviceID, Branch: branch, Role: device.Role(role), Teams: splitTeams(teams),
			CredentialHash: credentialHash, Prefix: prefix, EnrolledAt: now.UTC(),
		}
		_, err = tx.Exec(ctx, `INSERT INTO devices (id, branch_id, role, teams, credential_hash, prefix, enrolled_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			d.ID, d.Branch, role, teams, d.CredentialHash, d.Prefix, nanos(d.EnrolledAt))
		switch {
		case isUniqueViolation(err):
			return storage.Errorf(storage.Conflict, "device %s already enrolled", deviceID)
		case err != nil:
			return fmt.Errorf("redeem enrolment: create device %s: %w", deviceID, err)
		}
		return nil
	})
	if err != nil {
		return storage.Device{}, err
	}
	return d, nil
}

const deviceColumns = `id, branch_id, role, teams, credential_hash, prefix, enrolled_at, revoked_at, acked_seq, last_hello_at, last_device_seq, software`

func scanDevice(row pgx.Row) (storage.Device, error) {
	var (
		d              storage.Device
		role, teams    string
		enrolled       int64
		revoked, hello *int64
	)
	if err := row.Scan(&d.ID, &d.Branch, &role, &teams, &d.CredentialHash, &d.Prefix, &enrolled, &revoked, &d.AckedSeq,
		&hello, &d.LastDeviceSeq, &d.Software); err != nil {
		return d, err
	}
	d.Role, d.Teams = device.Role(role), splitTeams(teams)
	d.EnrolledAt, d.RevokedAt, d.LastHelloAt = time.Unix(0, enrolled).UTC(), fromNanos(revoked), fromNanos(hello)
	return d, nil
}

// Device implements storage.Devices.
func (s *Store) Device(ctx context.Context, id string) (storage.Device, error) {
	d, err := scanDevice(s.pool.QueryRow(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id = $1`, id))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return storage.Device{}, storage.Errorf(storage.NotFound, "device %s not found", id)
	case err != nil:
		return storage.Device{}, fmt.Errorf("read device %s: %w", id, err)
	}
	return d, nil
}

// RevokeDevice implements storage.Devices.
func (s *Store) RevokeDevice(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return storage.Errorf(storage.Invalid, "revocation time is required")
	}
	tag, err := s.pool.Exec(ctx, `UPDATE devices SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2`, nanos(at), id)
	if err != nil {
		return fmt.Errorf("revoke device %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return storage.Errorf(storage.NotFound, "device %s not found", id)
	}
	return nil
}

// RevokedSince implements storage.Devices.
func (s *Store) RevokedSince(ctx context.Context, since time.Time) ([]string, error) {
	return s.strings(ctx, "read revoked devices", `SELECT id FROM devices WHERE revoked_at IS NOT NULL AND revoked_at >= $1`, nanos(since))
}

// ListDevices implements storage.Devices.
func (s *Store) ListDevices(ctx context.Context) ([]storage.Device, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deviceColumns+` FROM devices ORDER BY enrolled_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	var ds []storage.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		ds = append(ds, d)
	}
	return ds, rows.Err()
}

// Branch implements storage.Devices.
func (s *Store) Branch(ctx context.Context, id string) (storage.Branch, error) {
	b := storage.Branch{ID: id}
	err := s.pool.QueryRow(ctx, `SELECT name FROM branches WHERE id = $1`, id).Scan(&b.Name)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return storage.Branch{}, storage.Errorf(storage.NotFound, "branch %s not found", id)
	case err != nil:
		return storage.Branch{}, fmt.Errorf("read branch %s: %w", id, err)
	}
	return b, nil
}

// DeviceActivity implements storage.Devices.
func (s *Store) DeviceActivity(ctx context.Context, id string, limit int) (storage.Activity, error) {
	var a storage.Activity
	if _, err := s.Device(ctx, id); err != nil {
		return a, err
	}
	limit = max(1, min(limit, storage.MaxPage))
	rows, err := s.pool.Query(ctx, `SELECT device_seq, stored_at, attest, `+eventColumns+` FROM events
		WHERE device_id = $1 ORDER BY device_seq DESC LIMIT $2`, id, limit)
	if err != nil {
		return a, fmt.Errorf("device activity %s: %w", id, err)
	}
	for rows.Next() {
		var (
			p      storage.PushedEvent
			stored int64
		)
		se, err := scanEventWith(rows, &p.DeviceSeq, &stored, &p.Attest)
		if err != nil {
			rows.Close()
			return a, fmt.Errorf("device activity %s: %w", id, err)
		}
		p.StoredAt, p.Event = time.Unix(0, stored).UTC(), se.Event
		a.Events = append(a.Events, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return a, fmt.Errorf("device activity %s: %w", id, err)
	}
	rrows, err := s.pool.Query(ctx, `SELECT device_seq, event_id, code, reason, rejected_at FROM event_rejections
		WHERE device_id = $1 ORDER BY device_seq DESC LIMIT $2`, id, limit)
	if err != nil {
		return a, fmt.Errorf("device activity %s: %w", id, err)
	}
	defer rrows.Close()
	for rrows.Next() {
		var (
			r    storage.RecordedRejection
			at   int64
			code int32
		)
		if err := rrows.Scan(&r.DeviceSeq, &r.EventID, &code, &r.Reason, &at); err != nil {
			return a, fmt.Errorf("device activity %s: %w", id, err)
		}
		r.Code, r.RejectedAt = int(code), time.Unix(0, at).UTC()
		a.Rejections = append(a.Rejections, r)
	}
	return a, rrows.Err()
}
