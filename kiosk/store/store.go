// Package store owns the kiosk's local SQLite database file: opening it
// (the pragmas every connection gets, and the migrations of every table in
// the file, one ordered set), the device's identity, the complaints filed
// or received here and their event log, the outbox of this device's events
// still to be sent upstream and the quarantine of those the server
// refused, the downstream cursors and the sync status: the storage
// sync/client declares (client.Store), which the store implements.
//
// A complaint, its "filed" event and its outbox entry are committed
// together with fsync before the kiosk shows a receipt (ARCHITECTURE.md,
// Sync guarantee 1), so the kiosk keeps working, and loses nothing, while
// the branch's network is down.
//
// Tables derived from the log are not the store's: a Projection (the staff
// queue's cases, kiosk/store/cases) is given to Open and called inside
// every write transaction that changes the log or the outbox, so its rows
// are committed with the events they derive from. Packages that keep
// their own tables in this file (kiosk/store/signin) read and write them
// through View and Update; the log and the outbox are written only here.
//
// The files are the owner's alone (0600), and what the store deletes is
// overwritten, not left in free pages or the WAL (secure_delete, and a
// truncating checkpoint after each deletion: forget.go): a customer
// kiosk deletes the customer's words of each complaint once the server
// acknowledges it (Options.RedactAcknowledged), a staff terminal deletes
// cases it no longer needs (Forget).
//
// One connection writes (SQLite allows one writer at a time, and serialising
// in Go means our own writes never wait on each other's locks); a small pool of
// query-only connections reads concurrently, which WAL allows.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

var (
	// ErrCodeTaken: a complaint with the same tracking code is already stored.
	// Nothing was written; draw another code and file again.
	ErrCodeTaken = errors.New("tracking code already taken")
	// ErrSchemaTooNew: the database was written by a newer kiosk version. It is
	// refused rather than used, since this binary cannot know what the newer
	// schema promises.
	ErrSchemaTooNew = errors.New("database schema is newer than this program")
	// ErrUnavailable wraps the errors of staff writes (Record, and so
	// cases' Act; signin's SignIn and SaveDirectory), and filing's
	// (filing.ErrUnavailable is this error), that failed in storage rather
	// than by a rule: nothing was saved, and trying again later may work.
	// Unavailable tells the transient faults (locked, full) apart for logs.
	ErrUnavailable = errors.New("storage unavailable: nothing was saved")
)

// DefaultBusyTimeout is how long a write waits for another process's lock
// before giving up with SQLITE_BUSY.
const DefaultBusyTimeout = 5 * time.Second

// readers is the size of the read pool: a kiosk has few concurrent readers (the
// screen and the sync client), and each connection costs a page cache.
const readers = 4

// Attribute keys of the store's log records.
const (
	logKeyComponent = "component"
	logKeyVersion   = "version"
	logKeyName      = "name"
)

// Options tune Open. The zero value is the production setting.
type Options struct {
	// BusyTimeout is how long a write waits for a lock held by another
	// process (DefaultBusyTimeout when zero). Tests use a few milliseconds.
	BusyTimeout time.Duration

	// RedactAcknowledged makes AckOutbox delete the customer's words (the
	// description, the desired outcome and the contact details) of each
	// complaint filed here once the server acknowledges it, from the
	// complaints table and from the Filed event's data alike, and then
	// checkpoint the WAL, so the bytes leave the files too. What sync and
	// idempotency need stays: the ids, the tracking code, the category, the
	// language, the filing time, the event row itself. For customer kiosks,
	// which stand in a public lobby: whoever takes one finds nothing of the
	// customers it has sent on. A staff terminal keeps its queue's text.
	RedactAcknowledged bool

	// upTo stops the migrations at a version, for tests that make the
	// database an older kiosk left behind; 0 applies all.
	upTo int
}

// Store is the kiosk's database. It is safe for concurrent use.
type Store struct {
	w           *sql.DB // the one writer: MaxOpenConns 1
	r           *sql.DB // query-only readers
	log         *slog.Logger
	proj        Projection
	redactOnAck bool // Options.RedactAcknowledged
	// unswept is set while text deleted by a redaction or a purge may
	// still be in the WAL (a checkpoint that readers kept from finishing):
	// the next write that deletes tries again, and Close checkpoints.
	unswept atomic.Bool
	// stmts are what proj prepared on the writer, closed with the store.
	stmts []*sql.Stmt

	subsMu sync.Mutex
	subs   map[*subscription]struct{} // Changes subscribers
}

// Identity is who this device is: its id (the actor of the events it makes)
// and the prefix of the tracking codes it issues.
type Identity struct {
	DeviceID  string
	Prefix    string
	CreatedAt time.Time
}

// Settings are the connection settings SQLite reports, as Open verifies them.
type Settings struct {
	JournalMode string // "wal"
	Synchronous int    // 2 = FULL: every commit is fsynced
	ForeignKeys bool
	BusyTimeout time.Duration
	// SecureDelete: deleted content is overwritten with zeros, in the
	// pages and in the free list, instead of staying in the file until the
	// space is reused (redaction and purges rely on it).
	SecureDelete bool
}

// Open opens (creating if needed) the database at path with the production
// options, applies pending migrations, makes the device identity on first
// use and lets p prepare its statements.
//
// p is required: every program that opens the file may migrate it or write
// to the log, and the rows p derives from the log must be written with it.
// A Projection serves one Store.
func Open(ctx context.Context, path string, logger *slog.Logger, p Projection) (*Store, error) {
	return OpenWith(ctx, path, logger, p, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, logger *slog.Logger, p Projection, opts Options) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		// An in-memory database would give every pooled connection its own
		// empty database; a URI would bypass the pragmas below.
		return nil, fmt.Errorf("open db: want a file path, got %q", path)
	}
	if p == nil {
		return nil, errors.New("open db: no projection: the case rows must be kept with the log (kiosk/store/cases)")
	}
	if err := private(path); err != nil {
		return nil, fmt.Errorf("open db: %w", err)
	}
	if err := writable(path); err != nil {
		return nil, fmt.Errorf("open db: not writable: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = DefaultBusyTimeout
	}
	busyMS := max(busy.Milliseconds(), 1)
	// Pragmas go in the DSN so that every pooled connection gets them, including
	// ones database/sql opens later to replace a broken one.
	// secure_delete: what is deleted (a redacted complaint's text, a purged
	// case) is overwritten in the file, not left in free space.
	base := "file:" + escapePath(path) + fmt.Sprintf(
		"?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=secure_delete(1)", busyMS)
	s := &Store{log: logger.With(logKeyComponent, "store"), proj: p, redactOnAck: opts.RedactAcknowledged}

	var err error
	// synchronous(FULL) fsyncs the WAL on every commit: the receipt promises
	// the complaint survives a power cut. _txlock=immediate takes the write lock
	// at BEGIN, where the busy timeout applies; a deferred transaction that
	// upgrades to a writer later gets SQLITE_BUSY at once, without waiting.
	if s.w, err = sql.Open("sqlite", base+"&_pragma=synchronous(FULL)&_txlock=immediate"); err != nil {
		return nil, fmt.Errorf("open db: %w", err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)

	if err := s.init(ctx, time.Duration(busyMS)*time.Millisecond, opts.upTo); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("open db %s: %w", path, err)
	}
	if opts.upTo == 0 { // an older schema (tests) may lack the projection's tables
		if err := p.Prepare(ctx, writerStmts{s}); err != nil {
			s.closeStmts()
			s.w.Close()
			return nil, fmt.Errorf("open db %s: projection: %w", path, err)
		}
	}

	// Readers cannot write by accident: query_only makes any write an error.
	if s.r, err = sql.Open("sqlite", base+"&_pragma=query_only(1)"); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("open db: %w", err)
	}
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)
	return s, nil
}

// private makes the database's files readable and writable by their owner
// only, whatever the umask: they hold customers' complaints. A missing
// database file is created 0600 here, before SQLite opens it, because
// SQLite gives the -wal and -shm files it creates the database file's
// mode; existing files that others may read are tightened, and when that
// is not possible (another user's files) Open refuses, saying how to fix it.
func private(path string) error {
	// When the file cannot be made (an unwritable directory), writable and
	// SQLite say what is wrong.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		// The umask may have taken bits the owner needs.
		err = f.Chmod(0o600)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("create %s: %w", path, err)
		}
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		perm := fi.Mode().Perm()
		if perm&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, perm&^0o077); err != nil {
			return fmt.Errorf("%s can be read by other users (mode %#o) and could not be made private (%v): run `chmod 600 %s*` as its owner", p, perm, err, path)
		}
	}
	return nil
}

// writable fails when the database files exist but cannot be opened for
// writing (read-only file system, immutable file, permissions). SQLite would
// quietly open them read-only instead, and an up-to-date database needs no
// write at start-up, so the kiosk would start and then refuse every complaint.
// Checking here costs no lock, unlike a trial write transaction.
func writable(path string) error {
	for _, p := range []string{path, path + "-wal"} {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue // SQLite creates it
		}
		if err != nil {
			return err
		}
		f.Close()
	}
	return nil
}

// init checks the connection settings, migrates and makes the identity. On an
// up-to-date database it only reads, and reads nothing that grows with the
// number of complaints, so start-up time does not depend on history.
func (s *Store) init(ctx context.Context, busy time.Duration, upTo int) error {
	got, err := settings(ctx, s.w)
	if err != nil {
		return err
	}
	switch {
	case got.JournalMode != "wal":
		return fmt.Errorf("journal_mode is %q, want wal", got.JournalMode)
	case got.Synchronous != 2:
		return fmt.Errorf("synchronous is %d, want 2 (FULL)", got.Synchronous)
	case !got.ForeignKeys:
		return errors.New("foreign_keys is off")
	case got.BusyTimeout != busy:
		return fmt.Errorf("busy_timeout is %v, want %v", got.BusyTimeout, busy)
	case !got.SecureDelete:
		return errors.New("secure_delete is off")
	}
	// The Go part of a migration is the projection's: a table it derives
	// from the log is filled in the migration that makes it, in the same
	// transaction, so its rows exist exactly when the table does.
	if err := migrate(ctx, s.w, s.log, upTo, s.proj.Migrated); err != nil {
		return err
	}
	return s.ensureIdentity(ctx)
}

// Settings reports the writer connection's settings.
func (s *Store) Settings(ctx context.Context) (Settings, error) {
	return settings(ctx, s.w)
}

func settings(ctx context.Context, db *sql.DB) (Settings, error) {
	// One pinned connection, so all the answers describe the same connection.
	conn, err := db.Conn(ctx)
	if err != nil {
		return Settings{}, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	var st Settings
	var fk, secure int
	var busyMS int64
	for _, q := range []struct {
		pragma string
		dst    any
	}{
		{"journal_mode", &st.JournalMode},
		{"synchronous", &st.Synchronous},
		{"foreign_keys", &fk},
		{"busy_timeout", &busyMS},
		{"secure_delete", &secure},
	} {
		if err := conn.QueryRowContext(ctx, "PRAGMA "+q.pragma).Scan(q.dst); err != nil {
			return Settings{}, fmt.Errorf("read pragma %s: %w", q.pragma, err)
		}
	}
	st.JournalMode = strings.ToLower(st.JournalMode)
	st.ForeignKeys = fk == 1
	st.SecureDelete = secure == 1
	st.BusyTimeout = time.Duration(busyMS) * time.Millisecond
	return st, nil
}

// Close closes the database. The last connection to close checkpoints the WAL
// into the main file.
func (s *Store) Close() error {
	if s.unswept.Load() {
		// Closing checkpoints too, but deletes the WAL only when this is
		// the file's last connection: another process may hold it open.
		ctx, cancel := context.WithTimeout(context.Background(), DefaultBusyTimeout)
		s.sweep(ctx)
		cancel()
	}
	errs := []error{s.closeStmts()}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close db: %w", err)
	}
	return nil
}

// Identity returns this device's identity.
func (s *Store) Identity(ctx context.Context) (Identity, error) {
	var id Identity
	var created int64
	err := s.r.QueryRowContext(ctx,
		`SELECT id, code_prefix, created_at FROM device WHERE singleton = 1`).
		Scan(&id.DeviceID, &id.Prefix, &created)
	if err != nil {
		return Identity{}, fmt.Errorf("read identity: %w", err)
	}
	id.CreatedAt = time.UnixMilli(created).UTC()
	return id, nil
}

// ensureIdentity makes the device row on first open: a fresh device id and a
// random code prefix, used until enrolment assigns one (SetPrefix).
func (s *Store) ensureIdentity(ctx context.Context) error {
	var exists bool
	// Read first: an existing device must not cost a write (and a write lock)
	// at every start-up.
	if err := s.w.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM device WHERE singleton = 1)`).Scan(&exists); err != nil {
		return fmt.Errorf("read identity: %w", err)
	}
	if exists {
		return nil
	}
	now := time.Now()
	device, prefix := uid.NewAt(now), trackcode.NewPrefix()
	// OR IGNORE: another process opening the same new file may have won.
	res, err := s.w.ExecContext(ctx,
		`INSERT OR IGNORE INTO device (singleton, id, code_prefix, created_at) VALUES (1, ?, ?, ?)`,
		device, prefix, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("create identity: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		s.log.Info("device identity created", "device", device, "prefix", prefix)
	}
	return nil
}

// SetPrefix replaces the tracking code prefix, when enrolment assigns a
// fleet-unique one. Codes already issued keep their old prefix.
func (s *Store) SetPrefix(ctx context.Context, prefix string) error {
	if !trackcode.ValidPrefix(prefix) {
		return fmt.Errorf("set prefix: %q is not %d Crockford symbols", prefix, trackcode.PrefixLen)
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE device SET code_prefix = ? WHERE singleton = 1`, prefix); err != nil {
		return fmt.Errorf("set prefix: %w", err)
	}
	return nil
}

// File stores a complaint, the event that records its filing, that event's
// outbox entry and what the projection derives from it (the case's queue
// row) in one transaction, durably committed. On any error nothing is
// written. A tracking code already in use gives ErrCodeTaken.
//
// Times are kept to the millisecond: pass times truncated to the millisecond
// if they must read back equal.
func (s *Store) File(ctx context.Context, c complaint.Complaint, e event.Event) error {
	if e.Type != event.Filed || e.ComplaintID != c.ID {
		return fmt.Errorf("file complaint %s: event %s is %q for complaint %s, want %q for it",
			c.ID, e.ID, e.Type, e.ComplaintID, event.Filed)
	}
	at, err := hlcInt(e.At)
	if err != nil {
		return fmt.Errorf("file complaint %s: %w", c.ID, err)
	}
	var name, email, phone, notice sql.NullString
	var consent sql.NullInt64
	if ct := c.Contact; ct != nil {
		name, email, phone = nullString(ct.Name), nullString(ct.Email), nullString(ct.Phone)
		consent = sql.NullInt64{Int64: ct.ConsentAt.UnixMilli(), Valid: true}
		notice = sql.NullString{String: ct.NoticeVersion, Valid: true}
	}

	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see _txlock)
	if err != nil {
		return fmt.Errorf("file complaint %s: begin: %w", c.ID, err)
	}
	defer tx.Rollback() // after Commit, a no-op

	_, err = tx.ExecContext(ctx, `INSERT INTO complaints (id, code, branch, device, channel,
		category, description, desired_outcome, contact_name, contact_email, contact_phone,
		consent_at, notice_version, language, filed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Code, c.Branch, c.Device, string(c.Channel), c.Category, c.Description,
		c.DesiredOutcome, name, email, phone, consent, notice, c.Language, c.FiledAt.UnixMilli())
	if err != nil {
		if constraint(err) {
			// Ask rather than parse the message: the failed statement was
			// rolled back but the transaction is still usable. The error
			// names no code: errors reach logs, and a tracking code is
			// enough to act on a case.
			var taken bool
			if qerr := tx.QueryRowContext(ctx,
				`SELECT EXISTS (SELECT 1 FROM complaints WHERE code = ?)`, c.Code).Scan(&taken); qerr == nil && taken {
				return fmt.Errorf("file complaint %s: %w", c.ID, ErrCodeTaken)
			}
		}
		return fmt.Errorf("file complaint %s: insert complaint: %w", c.ID, err)
	}
	if err := insertEvent(ctx, tx, e, at); err != nil {
		return fmt.Errorf("file complaint %s: %w", c.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (event_id, created_at) VALUES (?, ?)`,
		e.ID, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("file complaint %s: insert outbox entry: %w", c.ID, err)
	}
	if err := s.proj.Logged(ctx, tx, []string{c.ID}); err != nil {
		return fmt.Errorf("file complaint %s: %w", c.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("file complaint %s: commit: %w", c.ID, err)
	}
	s.Changed()
	return nil
}

func insertEvent(ctx context.Context, tx Tx, e event.Event, at int64) error {
	var data sql.NullString
	if len(e.Data) > 0 {
		data = sql.NullString{String: string(e.Data), Valid: true}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, complaint_id, type, actor_kind,
		actor_id, at, branch, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.ComplaintID, string(e.Type), string(e.Actor.Kind), e.Actor.ID, at, e.Branch, data); err != nil {
		return fmt.Errorf("insert event %s: %w", e.ID, err)
	}
	return nil
}

// hlcInt converts a clock reading for an INTEGER column, which is signed.
func hlcInt(t hlc.Timestamp) (int64, error) {
	if uint64(t) > math.MaxInt64 {
		return 0, fmt.Errorf("hlc timestamp %d does not fit a signed 64-bit column", uint64(t))
	}
	return int64(t), nil
}

// Complaint returns the complaint with the given id, or complaint.ErrNotFound.
func (s *Store) Complaint(ctx context.Context, id string) (complaint.Complaint, error) {
	c, err := ScanComplaint(s.r.QueryRowContext(ctx,
		`SELECT `+ComplaintColumns+` FROM complaints WHERE id = ?`, id))
	if err != nil {
		return complaint.Complaint{}, fmt.Errorf("complaint %s: %w", id, err)
	}
	return c, nil
}

// ByCode returns the complaint with the given canonical tracking code, or
// complaint.ErrNotFound.
func (s *Store) ByCode(ctx context.Context, code trackcode.Code) (complaint.Complaint, error) {
	c, err := ScanComplaint(s.r.QueryRowContext(ctx,
		`SELECT `+ComplaintColumns+` FROM complaints WHERE code = ?`, string(code)))
	if err != nil {
		return complaint.Complaint{}, fmt.Errorf("complaint by tracking code: %w", err)
	}
	return c, nil
}

// Events returns a complaint's events in timeline order (event.Less).
func (s *Store) Events(ctx context.Context, complaintID string) ([]event.Event, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+EventColumns+` FROM events e
		WHERE e.complaint_id = ? ORDER BY e.at, e.id`, complaintID)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", complaintID, err)
	}
	defer rows.Close()
	var out []event.Event
	for rows.Next() {
		e, err := ScanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("events of %s: %w", complaintID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events of %s: %w", complaintID, err)
	}
	return out, nil
}

// OutboxAfter returns up to limit outbox entries with a sequence number
// greater than seq, in sequence order: what the sync client sends next,
// in the push's own shape.
func (s *Store) OutboxAfter(ctx context.Context, seq int64, limit int) ([]wire.DeviceEvent, error) {
	if limit < 1 {
		return nil, fmt.Errorf("outbox after %d: limit %d, want at least 1", seq, limit)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT o.seq, `+EventColumns+`
		FROM outbox o JOIN events e ON e.id = o.event_id
		WHERE o.seq > ? ORDER BY o.seq LIMIT ?`, seq, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox after %d: %w", seq, err)
	}
	defer rows.Close()
	var out []wire.DeviceEvent
	for rows.Next() {
		var o wire.DeviceEvent
		o.Event, err = ScanEvent(rows, &o.Seq)
		if err != nil {
			return nil, fmt.Errorf("outbox after %d: %w", seq, err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox after %d: %w", seq, err)
	}
	return out, nil
}

// OutboxCount is the number of events not yet acknowledged upstream.
func (s *Store) OutboxCount(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count outbox: %w", err)
	}
	return n, nil
}

// CodeExists reports whether a complaint with this canonical code is stored.
func (s *Store) CodeExists(ctx context.Context, code trackcode.Code) (bool, error) {
	var ok bool
	if err := s.r.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM complaints WHERE code = ?)`, string(code)).Scan(&ok); err != nil {
		return false, fmt.Errorf("code exists: %w", err)
	}
	return ok, nil
}

// Count is the number of complaints stored. It walks an index of every
// complaint, so it is for staff screens, never for start-up.
func (s *Store) Count(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM complaints`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count complaints: %w", err)
	}
	return n, nil
}

// Unavailable reports whether err means the storage itself failed (locked
// past the busy timeout, read-only, full, an I/O error, cannot be opened or
// not writable at Open), as
// opposed to a bug or bad input: the operation may succeed later, and nothing
// was written.
func Unavailable(err error) bool {
	var pe *fs.PathError // from the writable check at Open
	if errors.As(err, &pe) {
		return true
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // primary code; extended codes carry detail above
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_READONLY,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_PROTOCOL: // PROTOCOL: a WAL lock race that persisted
		return true
	}
	return false
}

func constraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// escapePath makes a file path safe inside a SQLite URI, which
// percent-decodes the path and ends it at '?' or '#'.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// SLARules returns the SLA rules last saved (the server's configuration
// file), or nil when none has been received yet.
func (s *Store) SLARules(ctx context.Context) ([]byte, error) {
	var body []byte
	err := s.r.QueryRowContext(ctx, `SELECT body FROM sla_rules WHERE singleton = 1`).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load sla rules: %w", err)
	}
	return body, nil
}

// SaveSLARules replaces the saved SLA rules with body, received at at.
func (s *Store) SaveSLARules(ctx context.Context, body []byte, at time.Time) error {
	if _, err := s.w.ExecContext(ctx, `INSERT INTO sla_rules (singleton, body, received_at) VALUES (1, ?, ?)
		ON CONFLICT (singleton) DO UPDATE SET body = excluded.body, received_at = excluded.received_at`, body, at.UnixMilli()); err != nil {
		return fmt.Errorf("save sla rules: %w", err)
	}
	return nil
}

// RetentionPolicy returns the retention policy last saved (as the server
// sent it), or nil when none has been received yet.
func (s *Store) RetentionPolicy(ctx context.Context) ([]byte, error) {
	var body []byte
	err := s.r.QueryRowContext(ctx, `SELECT body FROM retention_policy WHERE singleton = 1`).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load retention policy: %w", err)
	}
	return body, nil
}

// SaveRetentionPolicy replaces the saved retention policy with body,
// received at at.
func (s *Store) SaveRetentionPolicy(ctx context.Context, body []byte, at time.Time) error {
	if _, err := s.w.ExecContext(ctx, `INSERT INTO retention_policy (singleton, body, received_at) VALUES (1, ?, ?)
		ON CONFLICT (singleton) DO UPDATE SET body = excluded.body, received_at = excluded.received_at`, body, at.UnixMilli()); err != nil {
		return fmt.Errorf("save retention policy: %w", err)
	}
	return nil
}
