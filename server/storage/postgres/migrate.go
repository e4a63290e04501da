package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migration is one numbered SQL file from migrations/.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: name must start with a number and '_'", base)
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share a number", ms[i-1].Name, ms[i].Name)
		}
	}
	return ms, nil
}

// Migrate applies every pending embedded migration; see MigrateWith.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := Migrations()
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	_, err = MigrateWith(ctx, pool, ms)
	return err
}

// MigrateWith applies the pending migrations of ms, each in its own
// transaction that first takes the migration lock: two replicas starting at
// once take turns, and the second finds each version applied. A migration
// that fails (or a process killed during one) rolls back whole, leaving the
// schema at the previous version. A database newer than ms is refused: an
// old program could misread it. It returns the schema version reached.
func MigrateWith(ctx context.Context, pool *pgxpool.Pool, ms []Migration) (int, error) {
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].Version
	}
	current := 0
	for _, m := range append(ms, Migration{}) { // the sentinel checks the version once more
		v, err := applyMigration(ctx, pool, m, latest)
		if err != nil {
			if m.Name == "" {
				return v, err
			}
			return v, fmt.Errorf("migration %s: %w", m.Name, err)
		}
		current = v
	}
	return current, nil
}

// applyMigration applies m unless it is applied; m.Version 0 only reads the
// version. It returns the version after.
func applyMigration(ctx context.Context, pool *pgxpool.Pool, m Migration, latest int) (int, error) {
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+lockKey(1)+`)`, migrateLock); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at BIGINT NOT NULL)`); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if current > latest {
		return current, fmt.Errorf("database schema version %d is newer than this program's %d", current, latest)
	}
	if m.Version == 0 || m.Version <= current {
		return current, tx.Commit(ctx)
	}
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return current, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		m.Version, m.Name, time.Now().UnixNano()); err != nil {
		return current, err
	}
	if err := tx.Commit(ctx); err != nil {
		return current, err
	}
	return m.Version, nil
}

// SchemaVersion reads the applied version (0 for an empty database).
func SchemaVersion(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
