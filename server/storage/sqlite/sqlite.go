// Package sqlite implements storage.Store on an embedded SQLite database
// (modernc.org/sqlite, pure Go): the server's default backend, which needs no
// set-up beyond a file path.
//
// Two pools share the file. The writer is one connection, so write
// transactions are serialised in this process and global sequences are given
// in commit order; its transactions begin IMMEDIATE, so they take SQLite's
// write lock up front instead of failing half-way with SQLITE_BUSY. The read
// pool is query-only and, thanks to WAL, reads beside the writer without
// waiting for it. Every connection gets its pragmas from the DSN (a pragma
// run once would reach only one pooled connection), and Open checks that
// they took.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"ombud/server/admit"
	"ombud/server/storage"
	"ombud/sync/hub"
)

var (
	_ storage.Store    = (*Store)(nil)
	_ storage.Cases    = (*Store)(nil)
	_ storage.Tracking = (*Store)(nil)
	_ hub.Log          = (*Store)(nil)
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// busyTimeout bounds how long a connection waits for another process's lock
// (a backup tool, a second server by mistake) before failing.
const busyTimeout = 5 * time.Second

// Store is a storage.Store backed by one SQLite file.
type Store struct {
	path string
	w    *sql.DB // exactly one connection: every write goes through it
	r    *sql.DB // query-only pool for reads

	write writeStmts
	read  readStmts

	pushes pushGroup    // Push calls waiting to share the next transaction (push.go)
	feed   storage.Feed // told after every commit that stored events
	policy admit.Policy
	hellos hellos                             // devices' last hellos, written every few seconds (hellos.go)
	watch  struct{ stop, done chan struct{} } // other processes' events (watch.go)
	local  localCommits                       // this process's own commits, which the watch skips
}

// Options tune Open. The zero value is the production setting.
type Options struct {
	// Admission is the operator's admission policy; a zero MaxOffline
	// takes admit.DefaultMaxOffline.
	Admission admit.Policy
}

// DSN returns the connection string for the database at path: the pragmas
// every connection needs (WAL so readers do not block the writer, synchronous
// FULL because an ack promises durability, a busy timeout, enforced foreign
// keys) and BEGIN IMMEDIATE for transactions. readOnly adds query_only, so a
// read connection cannot write by accident.
func DSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	// What a redaction replaces is overwritten in the file, not left in
	// free space (Sweep clears the WAL).
	q.Add("_pragma", "secure_delete(1)")
	if readOnly {
		q.Add("_query_only", "1")
		// Readers serve pages (the console's queues and searches) that
		// touch thousands of rows: 64 MiB of page cache each instead of
		// SQLite's 2 MiB keeps them out of the file-read system calls.
		q.Add("_pragma", "cache_size(-65536)")
	} else {
		q.Add("_txlock", "immediate")
	}
	// url.URL keeps the path readable (no escaping of '/') but escapes '?'
	// and '#', which would otherwise end the file name.
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath(), RawQuery: q.Encode()}
	return u.String()
}

// Open opens (creating if needed) the database at path, checks its pragmas,
// applies pending migrations and prepares the hot statements.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.Admission.MaxOffline <= 0 {
		opts.Admission.MaxOffline = admit.DefaultMaxOffline
	}
	s := &Store{path: path, policy: opts.Admission}
	var err error
	if s.w, err = sql.Open("sqlite", DSN(path, false)); err != nil {
		return nil, fmt.Errorf("open db %s: %w", path, err)
	}
	// One connection that is never closed while the store is open: the
	// writer's prepared statements live on it.
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)

	if err := s.open(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.startHellos()
	s.startWatch()
	return s, nil
}

func (s *Store) open(ctx context.Context) error {
	// The writer first: it turns WAL on and creates the schema, which the
	// query-only readers could not.
	if err := checkPragmas(ctx, s.w, false); err != nil {
		return fmt.Errorf("open db %s: writer: %w", s.path, err)
	}
	if err := migrate(ctx, s.w); err != nil {
		return fmt.Errorf("open db %s: %w", s.path, err)
	}
	if err := backfillChain(ctx, s.w); err != nil {
		return fmt.Errorf("open db %s: %w", s.path, err)
	}
	var err error
	if s.r, err = sql.Open("sqlite", DSN(s.path, true)); err != nil {
		return fmt.Errorf("open db %s: readers: %w", s.path, err)
	}
	// Bounded: each modernc connection costs memory, and more readers than
	// cores only queue inside SQLite.
	n := max(2, runtime.GOMAXPROCS(0))
	s.r.SetMaxOpenConns(n)
	s.r.SetMaxIdleConns(n)
	if err := checkPragmas(ctx, s.r, true); err != nil {
		return fmt.Errorf("open db %s: readers: %w", s.path, err)
	}
	if err := s.write.prepare(ctx, s.w); err != nil {
		return fmt.Errorf("open db %s: %w", s.path, err)
	}
	if err := s.read.prepare(ctx, s.r); err != nil {
		return fmt.Errorf("open db %s: %w", s.path, err)
	}
	return nil
}

// Pools returns the writer's pool (one connection) and the readers', for
// their statistics (database/sql DBStats on /metrics). Callers must not
// close them or change their settings.
func (s *Store) Pools() (writer, reader *sql.DB) { return s.w, s.r }

// Close closes the statements and both pools. The writer goes last, so its
// close checkpoints the WAL into the main file.
func (s *Store) Close() error {
	s.stopWatch()
	s.stopHellos()
	var errs []error
	errs = append(errs, s.read.close(), s.write.close())
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close db %s: %w", s.path, err)
	}
	return nil
}

// checkPragmas verifies on a pooled connection that the DSN pragmas took:
// a typo in a DSN, or a file system that cannot do WAL, would otherwise
// silently cost durability or concurrency.
func checkPragmas(ctx context.Context, db *sql.DB, readOnly bool) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	want := []struct{ pragma, value string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"busy_timeout", strconv.FormatInt(busyTimeout.Milliseconds(), 10)},
		{"foreign_keys", "1"},
		{"secure_delete", "1"},
	}
	if readOnly {
		want = append(want, struct{ pragma, value string }{"query_only", "1"})
	}
	for _, w := range want {
		var got string
		if err := conn.QueryRowContext(ctx, "PRAGMA "+w.pragma).Scan(&got); err != nil {
			return fmt.Errorf("read pragma %s: %w", w.pragma, err)
		}
		if !strings.EqualFold(got, w.value) {
			return fmt.Errorf("pragma %s is %q, want %q", w.pragma, got, w.value)
		}
	}
	return nil
}

// migration is one numbered SQL file from migrations/.
type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
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
		ms = append(ms, migration{version: v, name: base, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share a number", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrate applies each pending migration in its own transaction, so a failed
// one leaves the schema at the previous version, never half-way. It refuses a
// database whose schema is newer than this program knows: running an old
// binary against it could misread or corrupt data.
func migrate(ctx context.Context, db *sql.DB) error {
	return migrateTo(ctx, db, 1<<31-1)
}

// migrateTo applies pending migrations up to version upTo: tests build an
// older schema with it to check that an upgrade keeps the data.
func migrateTo(ctx context.Context, db *sql.DB, upTo int) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if latest := ms[len(ms)-1].version; current > latest {
		return fmt.Errorf("database schema version %d is newer than this program's %d", current, latest)
	}
	for _, m := range ms {
		if m.version <= current || m.version > upTo {
			continue
		}
		if err := applyMigration(ctx, db, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// foreignKeysOff, as a migration's first line, asks for foreign keys to be
// off while it runs: SQLite's documented way to rebuild a table that other
// tables reference (create, copy, drop, rename), because dropping the old
// table with foreign keys on would count every reference as a violation.
// PRAGMA foreign_keys cannot change inside a transaction, so it is set on a
// pinned connection around it, and PRAGMA foreign_key_check must find
// nothing before the migration commits.
const foreignKeysOff = "-- ombud:foreign-keys-off"

func applyMigration(ctx context.Context, db *sql.DB, m migration) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	fkOff := strings.HasPrefix(m.sql, foreignKeysOff)
	if fkOff {
		if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
			return err
		}
		// Back on before the connection returns to the pool, whatever
		// happens: every other statement relies on it.
		defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA foreign_keys = ON`)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Another process may have applied it while we waited for the lock.
	var done bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`, m.version).Scan(&done); err != nil {
		return err
	}
	if done {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if fkOff {
		if err := checkForeignKeys(ctx, tx); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, time.Now().UnixNano()); err != nil {
		return err
	}
	return tx.Commit()
}

// checkForeignKeys fails if any reference is broken (foreign_key_check
// returns one row per broken reference).
func checkForeignKeys(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		var table string
		var rowid sql.NullInt64
		var parent string
		var fkid int64
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return fmt.Errorf("foreign key check: %w", err)
		}
		return fmt.Errorf("foreign key check: %s row %d references a missing %s", table, rowid.Int64, parent)
	}
	return rows.Err()
}

// isUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// isForeignKeyViolation reports whether err is a FOREIGN KEY violation.
func isForeignKeyViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// nanos and fromNanos store times as unix nanoseconds; zero time is NULL.
func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// Ping checks that the database answers: /readyz asks it.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}
