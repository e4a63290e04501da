package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"ombud/server/storage"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
)

// CreateBranch implements storage.Devices.
func (s *Store) CreateBranch(ctx context.Context, id, name string) error {
	if id == "" || name == "" {
		return storage.Errorf(storage.Invalid, "branch id and name are required")
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO branches (id, name, created_at) VALUES (?, ?, ?)`,
		id, name, nanos(time.Now()))
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
	_, err := s.w.ExecContext(ctx, `INSERT INTO enrolments (code_hash, branch_id, expires_at, role, teams) VALUES (?, ?, ?, ?, ?)`,
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

// checkRole refuses a role and teams that do not go together.
func checkRole(role device.Role, teams []string) error {
	if !role.Valid() {
		return storage.Errorf(storage.Invalid, "device role %q is not one of kiosk, staff, team", role)
	}
	if err := device.CheckTeams(role, teams); err != nil {
		return &storage.Error{Code: storage.Invalid, Message: err.Error(), Err: err}
	}
	return nil
}

// splitTeams reads the teams column.
func splitTeams(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// SetDeviceRole implements storage.Devices.
func (s *Store) SetDeviceRole(ctx context.Context, id string, role device.Role, teams []string) error {
	if err := checkRole(role, teams); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set role of device %s: %w", id, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE devices SET role = ?, teams = ? WHERE id = ?`, string(role), strings.Join(teams, ","), id)
	if err != nil {
		return fmt.Errorf("set role of device %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("set role of device %s: %w", id, err)
	} else if n == 0 {
		return storage.Errorf(storage.NotFound, "device %s not found", id)
	}
	// The operator has said what it is: no more reminders.
	if _, err := tx.ExecContext(ctx, `DELETE FROM device_role_review WHERE device_id = ?`, id); err != nil {
		return fmt.Errorf("set role of device %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set role of device %s: %w", id, err)
	}
	return nil
}

// DevicesToReview implements storage.Devices.
func (s *Store) DevicesToReview(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT device_id FROM device_role_review ORDER BY device_id`)
	if err != nil {
		return nil, fmt.Errorf("read devices to review: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read devices to review: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// RedeemEnrolment implements storage.Devices. The code is spent, the prefix
// counter advanced and the device created in one IMMEDIATE transaction: it
// holds the write lock from its first statement, so two redemptions of the
// same code (from this process or another) run one after the other and the
// second sees the code used.
func (s *Store) RedeemEnrolment(ctx context.Context, codeHash []byte, now time.Time, deviceID string, credentialHash []byte) (storage.Device, error) {
	if len(codeHash) == 0 || deviceID == "" || len(credentialHash) == 0 || now.IsZero() {
		return storage.Device{}, storage.Errorf(storage.Invalid, "code hash, device id, credential hash and time are required")
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return storage.Device{}, fmt.Errorf("redeem enrolment: begin: %w", err)
	}
	defer tx.Rollback()

	var (
		branch, role, teams string
		expires             int64
		used                sql.NullInt64
	)
	err = tx.QueryRowContext(ctx, `SELECT branch_id, expires_at, used_at, role, teams FROM enrolments WHERE code_hash = ?`, codeHash).
		Scan(&branch, &expires, &used, &role, &teams)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return storage.Device{}, storage.Errorf(storage.NotFound, "enrolment code not found")
	case err != nil:
		return storage.Device{}, fmt.Errorf("redeem enrolment: read code: %w", err)
	case used.Valid:
		return storage.Device{}, storage.Errorf(storage.Conflict, "enrolment code already used")
	case nanos(now) >= expires:
		return storage.Device{}, storage.Errorf(storage.Expired, "enrolment code expired")
	}
	// The guard on used_at repeats the check above so that the statement is
	// one-time on its own, whatever isolation a future backend gives.
	res, err := tx.ExecContext(ctx, `UPDATE enrolments SET used_at = ?, device_id = ? WHERE code_hash = ? AND used_at IS NULL`,
		nanos(now), deviceID, codeHash)
	if err != nil {
		return storage.Device{}, fmt.Errorf("redeem enrolment: spend code: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return storage.Device{}, storage.Errorf(storage.Conflict, "enrolment code already used")
	}

	var n int64
	if err := tx.QueryRowContext(ctx, `UPDATE counters SET value = value + 1 WHERE name = 'device_prefix' RETURNING value`).Scan(&n); err != nil {
		return storage.Device{}, fmt.Errorf("redeem enrolment: next prefix: %w", err)
	}
	prefix, err := storage.PrefixForSequence(n)
	if err != nil {
		return storage.Device{}, err
	}
	d := storage.Device{
		ID:             deviceID,
		Branch:         branch,
		Role:           device.Role(role),
		Teams:          splitTeams(teams),
		CredentialHash: credentialHash,
		Prefix:         prefix,
		EnrolledAt:     now.UTC(),
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO devices (id, branch_id, role, teams, credential_hash, prefix, enrolled_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.Branch, role, teams, d.CredentialHash, d.Prefix, nanos(d.EnrolledAt))
	switch {
	case isUniqueViolation(err):
		// The prefix is fresh from the counter, so it is the device id.
		return storage.Device{}, storage.Errorf(storage.Conflict, "device %s already enrolled", deviceID)
	case err != nil:
		return storage.Device{}, fmt.Errorf("redeem enrolment: create device %s: %w", deviceID, err)
	}
	if err := tx.Commit(); err != nil {
		return storage.Device{}, fmt.Errorf("redeem enrolment: commit: %w", err)
	}
	return d, nil
}

// Device implements storage.Devices.
func (s *Store) Device(ctx context.Context, id string) (storage.Device, error) {
	d, err := scanDevice(s.read.device.QueryRowContext(ctx, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
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
	res, err := s.w.ExecContext(ctx, `UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, nanos(at), id)
	if err != nil {
		return fmt.Errorf("revoke device %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("revoke device %s: %w", id, err)
	} else if n == 0 {
		return storage.Errorf(storage.NotFound, "device %s not found", id)
	}
	return nil
}

// RevokedSince implements storage.Devices. Revocations are rare and the
// partial index holds only revoked devices, so this is cheap at any fleet
// size.
func (s *Store) RevokedSince(ctx context.Context, since time.Time) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM devices WHERE revoked_at IS NOT NULL AND revoked_at >= ?`, nanos(since))
	if err != nil {
		return nil, fmt.Errorf("read revoked devices: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read revoked devices: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read revoked devices: %w", err)
	}
	return ids, nil
}

// ListDevices implements storage.Devices.
func (s *Store) ListDevices(ctx context.Context) ([]storage.Device, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+deviceColumns+` FROM devices ORDER BY enrolled_at, id`)
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return ds, nil
}

// Branch implements storage.Devices.
func (s *Store) Branch(ctx context.Context, id string) (storage.Branch, error) {
	b := storage.Branch{ID: id}
	err := s.r.QueryRowContext(ctx, `SELECT name FROM branches WHERE id = ?`, id).Scan(&b.Name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return storage.Branch{}, storage.Errorf(storage.NotFound, "branch %s not found", id)
	case err != nil:
		return storage.Branch{}, fmt.Errorf("read branch %s: %w", id, err)
	}
	return b, nil
}

const deviceColumns = `id, branch_id, role, teams, credential_hash, prefix, enrolled_at, revoked_at, acked_seq, last_hello_at, last_device_seq, software`

// scanDevice reads one row of deviceColumns.
func scanDevice(row interface{ Scan(...any) error }) (storage.Device, error) {
	var (
		d                        storage.Device
		role, teams              string
		enrolled, revoked, hello sql.NullInt64
	)
	if err := row.Scan(&d.ID, &d.Branch, &role, &teams, &d.CredentialHash, &d.Prefix, &enrolled, &revoked, &d.AckedSeq,
		&hello, &d.LastDeviceSeq, &d.Software); err != nil {
		return d, err
	}
	d.Role, d.Teams = device.Role(role), splitTeams(teams)
	d.EnrolledAt, d.RevokedAt, d.LastHelloAt = fromNanos(enrolled), fromNanos(revoked), fromNanos(hello)
	return d, nil
}

// DeviceActivity implements storage.Devices.
func (s *Store) DeviceActivity(ctx context.Context, id string, limit int) (storage.Activity, error) {
	var a storage.Activity
	if _, err := s.Device(ctx, id); err != nil {
		return a, err
	}
	limit = max(1, min(limit, storage.MaxPage))
	rows, err := s.r.QueryContext(ctx, `SELECT device_seq, stored_at, attest, `+eventColumns+` FROM events
		WHERE device_id = ? ORDER BY device_seq DESC LIMIT ?`, id, limit)
	if err != nil {
		return a, fmt.Errorf("device activity %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			p      storage.PushedEvent
			stored int64
			se     storage.StoredEvent
			e      = &se.Event
			typ    string
			kind   string
			at     int64
			data   []byte
		)
		if err := rows.Scan(&p.DeviceSeq, &stored, &p.Attest, &se.Seq, &e.ID, &e.ComplaintID, &e.Branch, &typ, &kind, &e.Actor.ID, &at, &data); err != nil {
			return a, fmt.Errorf("device activity %s: %w", id, err)
		}
		e.Type, e.Actor.Kind, e.At = event.Type(typ), event.ActorKind(kind), hlc.Timestamp(at)
		p.StoredAt, p.Event = time.Unix(0, stored).UTC(), se.Event
		a.Events = append(a.Events, p)
	}
	if err := rows.Err(); err != nil {
		return a, fmt.Errorf("device activity %s: %w", id, err)
	}
	rrows, err := s.r.QueryContext(ctx, `SELECT device_seq, event_id, code, reason, rejected_at FROM event_rejections
		WHERE device_id = ? ORDER BY device_seq DESC LIMIT ?`, id, limit)
	if err != nil {
		return a, fmt.Errorf("device activity %s: %w", id, err)
	}
	defer rrows.Close()
	for rrows.Next() {
		var (
			r  storage.RecordedRejection
			at int64
		)
		if err := rrows.Scan(&r.DeviceSeq, &r.EventID, &r.Code, &r.Reason, &at); err != nil {
			return a, fmt.Errorf("device activity %s: %w", id, err)
		}
		r.RejectedAt = time.Unix(0, at).UTC()
		a.Rejections = append(a.Rejections, r)
	}
	return a, rrows.Err()
}
