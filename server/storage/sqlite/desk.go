package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"ombud/server/storage"
)

var _ storage.Desk = (*Store)(nil)

// SaveView implements storage.Desk.
func (s *Store) SaveView(ctx context.Context, v storage.SavedView) error {
	if err := storage.CheckView(v); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO console_views (id, staff_id, name, query, team, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		v.ID, v.StaffID, v.Name, v.Query, v.Team, nanos(v.CreatedAt))
	switch {
	case isForeignKeyViolation(err):
		return storage.Errorf(storage.NotFound, "staff account %s not found", v.StaffID)
	case isUniqueViolation(err):
		return storage.Errorf(storage.Conflict, "you already have a view named %q", v.Name)
	case err != nil:
		return fmt.Errorf("save view: %w", err)
	}
	return nil
}

const viewCols = `id, staff_id, name, query, team, created_at`

func scanView(sc interface{ Scan(...any) error }) (storage.SavedView, error) {
	var v storage.SavedView
	var at sql.NullInt64
	err := sc.Scan(&v.ID, &v.StaffID, &v.Name, &v.Query, &v.Team, &at)
	v.CreatedAt = fromNanos(at)
	return v, err
}

// Views implements storage.Desk.
func (s *Store) Views(ctx context.Context, staffID string, teams []string) ([]storage.SavedView, error) {
	q := `SELECT ` + viewCols + ` FROM console_views WHERE staff_id = ?`
	args := []any{staffID}
	if len(teams) > 0 {
		q += ` OR team IN (?` + strings.Repeat(", ?", len(teams)-1) + `)`
		for _, t := range teams {
			args = append(args, t)
		}
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY name, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list views: %w", err)
	}
	defer rows.Close()
	var out []storage.SavedView
	for rows.Next() {
		v, err := scanView(rows)
		if err != nil {
			return nil, fmt.Errorf("list views: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// View implements storage.Desk.
func (s *Store) View(ctx context.Context, id string) (storage.SavedView, error) {
	v, err := scanView(s.r.QueryRowContext(ctx, `SELECT `+viewCols+` FROM console_views WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return v, storage.Errorf(storage.NotFound, "no such view")
	}
	return v, err
}

// DeleteView implements storage.Desk.
func (s *Store) DeleteView(ctx context.Context, id, staffID string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM console_views WHERE id = ? AND staff_id = ?`, id, staffID)
	if err != nil {
		return fmt.Errorf("delete view: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return storage.Errorf(storage.NotFound, "no such view")
	}
	return nil
}

// AddConfigVersion implements storage.Desk.
func (s *Store) AddConfigVersion(ctx context.Context, v storage.ConfigVersion) (storage.ConfigVersion, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return v, err
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM config_versions WHERE kind = ?`, v.Kind).Scan(&v.Version); err != nil {
		return v, fmt.Errorf("next config version: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO config_versions (kind, version, body, digest, source, staff_id, note, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		v.Kind, v.Version, v.Body, v.Digest, v.Source, v.StaffID, v.Note, nanos(v.At)); err != nil {
		return v, fmt.Errorf("add config version: %w", err)
	}
	return v, tx.Commit()
}

const configCols = `kind, version, body, digest, source, staff_id, note, at`

func scanConfig(sc interface{ Scan(...any) error }) (storage.ConfigVersion, error) {
	var v storage.ConfigVersion
	var at sql.NullInt64
	err := sc.Scan(&v.Kind, &v.Version, &v.Body, &v.Digest, &v.Source, &v.StaffID, &v.Note, &at)
	v.At = fromNanos(at)
	return v, err
}

// ConfigVersions implements storage.Desk.
func (s *Store) ConfigVersions(ctx context.Context, kind string, limit int) ([]storage.ConfigVersion, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+configCols+` FROM config_versions WHERE kind = ? ORDER BY version DESC LIMIT ?`, kind, limit)
	if err != nil {
		return nil, fmt.Errorf("list config versions: %w", err)
	}
	defer rows.Close()
	var out []storage.ConfigVersion
	for rows.Next() {
		v, err := scanConfig(rows)
		if err != nil {
			return nil, fmt.Errorf("list config versions: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ConfigVersion implements storage.Desk.
func (s *Store) ConfigVersion(ctx context.Context, kind string, version int64) (storage.ConfigVersion, error) {
	v, err := scanConfig(s.r.QueryRowContext(ctx, `SELECT `+configCols+` FROM config_versions WHERE kind = ? AND version = ?`, kind, version))
	if errors.Is(err, sql.ErrNoRows) {
		return v, storage.Errorf(storage.NotFound, "no version %d of the %s configuration", version, kind)
	}
	return v, err
}
