// Package postgres implements the central server's storage on PostgreSQL
// (github.com/jackc/pgx/v5): the backend for deployments that outgrow one
// machine or run several server replicas on one database. It keeps every
// promise package storage states, runs the same admission rules (package
// server/admit, shared, never copied) and passes the same conformance suite
// (package storage/storetest) as the embedded SQLite default.
//
// What differs from SQLite, and why:
//
//   - Several writers. SQLite has one writer connection; here every replica
//     writes. Transactions that store events take the log's advisory lock
//     (logLock) and hold it to their commit, and draw their global
//     sequences under it, so sequences are given in commit order across all
//     replicas, as the sync cursor requires. Pushes from many devices still
//     share transactions (group commit, push.go), so the lock is taken once
//     per group, not per push.
//   - Replicas learn of each other's commits. Every storing transaction
//     sends a NOTIFY on commit; each store LISTENs on a dedicated
//     connection and, when woken (or every PollInterval if notifications
//     stop, e.g. across a reconnect), reads which scopes gained events
//     after the global sequence it last saw and publishes them on its
//     commit feed (watch.go).
//   - Once-only work (the case engine, the delivery followers) runs on one
//     replica at a time under a lease (lease.go).
//   - Migrations are taken under an advisory lock, so replicas starting at
//     once apply each exactly once (migrate.go).
//   - The audit chain's links are computed in Go under the log's lock from
//     the last stored hash (audit.go), so replicas cannot fork it.
//   - Console search folds accents and case in Go into a 'simple' tsvector
//     written with each event (text.go): no unaccent extension needed.
//   - Compare-and-sets that SQLite gets from its single writer (erasure
//     approvals, TOTP steps, corrective actions, configuration versions,
//     the kpi cursor) are conditional UPDATEs or take an advisory lock.
package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"ombud/server/admit"
	"ombud/server/delivery"
	"ombud/server/notify"
	"ombud/server/storage"
	"ombud/server/webhook"
	"ombud/shared/audit"
	"ombud/sync/hub"
)

var (
	_ storage.Store    = (*Store)(nil)
	_ storage.Cases    = (*Store)(nil)
	_ storage.Tracking = (*Store)(nil)
	_ hub.Log          = (*Store)(nil)
	_ delivery.Store   = (*Store)(nil)
	_ notify.Store     = (*Store)(nil)
	_ webhook.Store    = (*Store)(nil)
)

// Advisory locks. Their keys are PostgreSQL's hash of the schema's name
// and the lock's: advisory locks are database-wide, and two deployments (or
// two tests) in separate schemas of one database must not share them.
const (
	logLock     = "ombud/log"     // held by every transaction that stores events
	migrateLock = "ombud/migrate" // held while a migration is applied
	leaseLock   = "ombud/lease"   // the case engine's and delivery followers' lease
)

// lockKey is the SQL for the key of lock name ($n holds the name).
func lockKey(n int) string {
	return fmt.Sprintf("hashtextextended(current_schema() || '/' || $%d, 0)", n)
}

// Store is a storage.Store on a PostgreSQL database.
type Store struct {
	pool   *pgxpool.Pool
	policy admit.Policy
	log    *slog.Logger
	id     string // this store's instance id, in its notifications

	pushes pushGroup
	feed   storage.Feed
	hellos hellos
	watch  watcher
}

// Options tune Open. The zero value is the production setting.
type Options struct {
	Admission admit.Policy
	Logger    *slog.Logger
	// PollInterval is how often the store looks for other replicas'
	// commits when no notification came (DefaultPollInterval).
	PollInterval time.Duration
	// MaxConns bounds the pool (default: pgxpool's, at least 8).
	MaxConns int32
}

// DefaultPollInterval bounds how late another replica's commit reaches this
// replica's devices if its notification is lost (a LISTEN connection that
// reconnects misses what was sent meanwhile).
const DefaultPollInterval = 2 * time.Second

// IsDSN reports whether s names a PostgreSQL database (a postgres:// or
// postgresql:// URL), as --db takes it.
func IsDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Redact returns dsn with any password replaced, for messages and logs: the
// DSN may carry the database credentials.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable database URL)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Open connects to the database at dsn, applies pending migrations (under
// the migration lock) and starts the watcher that hears other replicas'
// commits.
func Open(ctx context.Context, dsn string) (*Store, error) { return OpenWith(ctx, dsn, Options{}) }

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, opts Options) (*Store, error) {
	s, err := connect(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, s.pool); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("open database %s: %w", Redact(dsn), err)
	}
	if err := s.backfillChain(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("open database %s: %w", Redact(dsn), err)
	}
	if err := s.backfillText(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("open database %s: %w", Redact(dsn), err)
	}
	s.startHellos()
	s.startWatch(ctx, opts.PollInterval)
	return s, nil
}

func connect(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Admission.MaxOffline <= 0 {
		opts.Admission.MaxOffline = admit.DefaultMaxOffline
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password and all.
		return nil, fmt.Errorf("database URL %s is not valid", Redact(dsn))
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	} else if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", Redact(dsn), err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open database %s: %w", Redact(dsn), safeConnErr(err))
	}
	var id [8]byte
	rand.Read(id[:])
	return &Store{pool: pool, policy: opts.Admission, log: opts.Logger.With("component", "postgres"), id: fmt.Sprintf("%x", id)}, nil
}

// safeConnErr keeps a connection error's reason, on one line (pgx lists
// each address and TLS mode it tried on a line of its own), and drops
// anything that could carry a credential.
func safeConnErr(err error) error {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		err = ce.Unwrap()
	}
	var lines []string
	for l := range strings.SplitSeq(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(lines, l) {
			lines = append(lines, l)
		}
	}
	return errors.New(strings.Join(lines, "; "))
}

// Close stops the watcher and the hello flusher and closes the pool.
func (s *Store) Close() error {
	s.stopWatch()
	s.stopHellos()
	s.pool.Close()
	return nil
}

// Ping checks that the database answers: /readyz asks it.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.pool.QueryRow(ctx, `SELECT 1`).Scan(&one)
}

// Pool is the connection pool, for tests, benchmarks and tools in this
// module.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Secret returns the shared secret name, made (size random bytes) by the
// first replica that asks.
func (s *Store) Secret(ctx context.Context, name string, size int) ([]byte, error) {
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, b); err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	var v []byte
	if err := s.pool.QueryRow(ctx, `SELECT value FROM server_secrets WHERE name = $1`, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	if len(v) != size {
		return nil, fmt.Errorf("secret %s: %d bytes stored, want %d", name, len(v), size)
	}
	return v, nil
}

// pgCode is the SQLSTATE of err, "" if it is not a server error.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isUniqueViolation(err error) bool     { return pgCode(err) == "23505" }
func isForeignKeyViolation(err error) bool { return pgCode(err) == "23503" }

// logMark is where the log's sequences stood when a transaction took the
// log's lock, and the last event's link of the audit chain.
type logMark struct {
	seq, pos int64
	prev     audit.Hash
}

// seqsNow reads the highest global sequence and team-stream position drawn.
const seqsNow = `(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_seq),
	(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM scope_log_pos)`

// lockLog takes the log's lock for the rest of tx (see the package doc) and
// reads where the sequences stand.
func lockLog(ctx context.Context, tx pgx.Tx) (logMark, error) {
	// A batch: one round trip, statements run in order, so the
	// sequences are read after the lock is held.
	var m logMark
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock(`+lockKey(1)+`)`, logLock)
	b.Queue(`SELECT ` + seqsNow).QueryRow(func(row pgx.Row) error { return row.Scan(&m.seq, &m.pos) })
	b.Queue(lastHashSQL).QueryRow(func(row pgx.Row) error {
		var h []byte
		err := row.Scan(&h)
		m.prev = prevHash(h)
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return m, fmt.Errorf("lock the log: %w", err)
	}
	return m, nil
}

// commitLog commits a transaction that took the log's lock at mark. Every
// sequence and position drawn since mark is this transaction's (the lock
// kept everyone else out), so before committing it notes them as its own,
// for the watcher to skip, and queues the notification that wakes the other
// replicas (scopes nil: nothing stored, nobody to wake).
func (s *Store) commitLog(ctx context.Context, tx pgx.Tx, mark logMark, scopes []string) error {
	var after logMark
	payload := s.id
	if len(scopes) == 0 {
		payload = ""
	}
	if err := tx.QueryRow(ctx, `SELECT CASE WHEN $1 = '' THEN '' ELSE pg_notify($2, $1)::text END, `+seqsNow, payload, notifyChannel).
		Scan(new(string), &after.seq, &after.pos); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	r := ownRange{seq: [2]int64{mark.seq, after.seq}, pos: [2]int64{mark.pos, after.pos}}
	s.watch.addOwn(r)
	if err := tx.Commit(ctx); err != nil {
		// The range may hold nothing committed; skipping an empty range
		// costs nothing, and nobody else can have drawn from it.
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// nanos and fromNanos store times as unix nanoseconds; zero time is NULL.
func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(0, *n).UTC()
}

// nullNanos stores a zero time as NULL, so "not yet" is not 1970.
func nullNanos(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.UnixNano()
	return &n
}

func splitTeams(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
