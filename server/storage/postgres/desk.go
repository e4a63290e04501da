package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"ombud/server/storage"
)

var _ storage.Desk = (*Store)(nil)

// SaveView implements storage.Desk.
func (s *Store) SaveView(ctx context.Context, v storage.SavedView) error {
	if err := storage.CheckView(v); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO console_views (id, staff_id, name, query, team, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		v.ID, v.StaffID, v.Name, v.Query, v.Team, nullNanos(v.CreatedAt))
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

func scanView(row pgx.Row) (storage.SavedView, error) {
	var (
		v  storage.SavedView
		at *int64
	)
	err := row.Scan(&v.ID, &v.StaffID, &v.Name, &v.Query, &v.Team, &at)
	v.CreatedAt = fromNanos(at)
	return v, err
}

// Views implements storage.Desk.
func (s *Store) Views(ctx context.Context, staffID string, teams []string) ([]storage.SavedView, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+viewCols+` FROM console_views WHERE staff_id = $1 OR team = ANY($2::text[]) ORDER BY name, id`,
		staffID, append([]string{}, teams...))
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
	v, err := scanView(s.pool.QueryRow(ctx, `SELECT `+viewCols+` FROM console_views WHERE id = $1`, id))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return v, storage.Errorf(storage.NotFound, "no such view")
	case err != nil:
		return v, fmt.Errorf("read view: %w", err)
	}
	return v, nil
}

// DeleteView implements storage.Desk.
func (s *Store) DeleteView(ctx context.Context, id, staffID string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM console_views WHERE id = $1 AND staff_id = $2`, id, staffID)
	if err != nil {
		return fmt.Errorf("delete view: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return storage.Errorf(storage.NotFound, "no such view")
	}
	return nil
}

// AddConfigVersion implements storage.Desk. The kind's advisory lock
// makes two replicas applying a configuration at once number their
// versions one after the other instead of colliding.
func (s *Store) AddConfigVersion(ctx context.Context, v storage.ConfigVersion) (storage.ConfigVersion, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return v, fmt.Errorf("add config version: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock(`+lockKey(1)+`)`, "ombud/config/"+v.Kind)
	b.Queue(`SELECT COALESCE(MAX(version), 0) + 1 FROM config_versions WHERE kind = $1`, v.Kind).QueryRow(func(r pgx.Row) error { return r.Scan(&v.Version) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return v, fmt.Errorf("next config version: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO config_versions (kind, version, body, digest, source, staff_id, note, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		v.Kind, v.Version, v.Body, v.Digest, v.Source, v.StaffID, v.Note, nullNanos(v.At)); err != nil {
		return v, fmt.Errorf("add config version: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return v, fmt.Errorf("add config version: commit: %w", err)
	}
	return v, nil
}

const configCols = `kind, version, body, digest, source, staff_id, note, at`

func scanConfig(row pgx.Row) (storage.ConfigVersion, error) {
	var (
		v  storage.ConfigVersion
		at *int64
	)
	err := row.Scan(&v.Kind, &v.Version, &v.Body, &v.Digest, &v.Source, &v.StaffID, &v.Note, &at)
	v.At = fromNanos(at)
	return v, err
}

// ConfigVersions implements storage.Desk.
func (s *Store) ConfigVersions(ctx context.Context, kind string, limit int) ([]storage.ConfigVersion, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+configCols+` FROM config_versions WHERE kind = $1 ORDER BY version DESC LIMIT $2`, kind, max(limit, 0))
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
	v, err := scanConfig(s.pool.QueryRow(ctx, `SELECT `+configCols+` FROM config_versions WHERE kind = $1 AND version = $2`, kind, version))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return v, storage.Errorf(storage.NotFound, "no version %d of the %s configuration", version, kind)
	case err != nil:
		return v, fmt.Errorf("read config version: %w", err)
	}
	return v, nil
}
