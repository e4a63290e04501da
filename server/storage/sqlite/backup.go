package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"ombud/shared/audit"
)

// Online backup and its verification (`server backup`, `server restore`).
//
// Backup copies the database with VACUUM INTO on a connection of its own:
// SQLite runs it inside one read transaction, so under WAL the copy is the
// database as of one commit, taken while a server goes on writing (the
// writer is never blocked; the WAL just cannot be checkpointed past the
// snapshot until the copy ends). The copy is compacted and holds no WAL: a
// single self-contained file.

// backupMeta is a table that exists only in backup files: what the data
// directory holds besides the database (the tracking page's secret, from
// which the unsubscribe links' key is also derived), so one file restores
// a whole server. Restore moves it out and drops the table.
const backupMeta = "ombud_backup_meta"

// BackupInfo describes a backup file or a database.
type BackupInfo struct {
	SchemaVersion int
	Events        int64 // rows in the event log
	MaxSeq        int64 // the highest global sequence
	Devices       int
	TakenAt       time.Time // zero for a database that is not a backup
	Extras        map[string][]byte
	// Chain is the event log's hash chain head (shared/audit), verified
	// link by link from the first event; zero on a schema before the
	// chain.
	Chain audit.Head
}

// Backup writes a consistent copy of the database at src to dst, which
// must not exist, with extras (name to bytes, e.g. the tracking secret)
// stored inside it, then verifies the copy (Verify). The copy is written
// beside dst under a temporary name, synced and renamed, so dst is either
// absent or complete. It works while a server has src open.
func Backup(ctx context.Context, src, dst string, extras map[string][]byte) (BackupInfo, error) {
	if _, err := os.Stat(src); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: the database: %w", err)
	}
	if _, err := os.Lstat(dst); err == nil {
		return BackupInfo{}, fmt.Errorf("backup: %s exists: choose a new file name", dst)
	}
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".partial")
	os.Remove(tmp) // an interrupted earlier attempt
	defer os.Remove(tmp)

	db, err := sql.Open("sqlite", plainDSN(src))
	if err != nil {
		return BackupInfo{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: copy: %w", err)
	}
	if err := db.Close(); err != nil {
		return BackupInfo{}, err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return BackupInfo{}, err
	}
	if err := writeMeta(ctx, tmp, extras); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	info, err := Verify(ctx, tmp)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: the copy does not verify: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return BackupInfo{}, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return BackupInfo{}, err
	}
	return info, syncDir(filepath.Dir(dst))
}

// plainDSN opens a file with a busy timeout and nothing else: no WAL
// switch (Verify must not turn a backup file into WAL mode), no
// migrations.
func plainDSN(path string) string {
	return fmt.Sprintf("file:%s?_pragma=busy_timeout(%d)", path, busyTimeout.Milliseconds())
}

func writeMeta(ctx context.Context, path string, extras map[string][]byte) error {
	db, err := sql.Open("sqlite", plainDSN(path))
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE `+backupMeta+` (name TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT`); err != nil {
		return err
	}
	extras["taken_at"] = []byte(time.Now().UTC().Format(time.RFC3339Nano))
	for k, v := range extras {
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+backupMeta+` (name, value) VALUES (?, ?)`, k, v); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return db.Close()
}

// Verify checks a database file without changing it: SQLite's
// integrity_check and foreign_key_check, a schema this program knows (not
// newer than its migrations), and an event log whose global sequences are
// unique and whose device sequences never repeat (each stored once). It
// returns what the file holds.
func Verify(ctx context.Context, path string) (BackupInfo, error) {
	if _, err := os.Stat(path); err != nil {
		return BackupInfo{}, err
	}
	db, err := sql.Open("sqlite", plainDSN(path)+"&mode=ro")
	if err != nil {
		return BackupInfo{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var info BackupInfo
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return info, fmt.Errorf("not a readable SQLite database: %w", err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return info, err
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return info, fmt.Errorf("integrity check: %w", err)
	}
	if len(problems) > 0 {
		return info, fmt.Errorf("integrity check: %s", strings.Join(problems[:min(5, len(problems))], "; "))
	}
	var fk int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_foreign_key_check`).Scan(&fk); err != nil {
		return info, fmt.Errorf("foreign key check: %w", err)
	}
	if fk > 0 {
		return info, fmt.Errorf("foreign key check: %d rows refer to missing rows", fk)
	}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&info.SchemaVersion); err != nil {
		return info, fmt.Errorf("not an Ombud server database (no schema version): %w", err)
	}
	ms, err := loadMigrations()
	if err != nil {
		return info, err
	}
	if latest := ms[len(ms)-1].version; info.SchemaVersion > latest {
		return info, fmt.Errorf("schema version %d is newer than this program's %d: use the newer program", info.SchemaVersion, latest)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*), COALESCE(MAX(seq), 0) FROM events`).Scan(&info.Events, &info.MaxSeq); err != nil {
		return info, fmt.Errorf("event log: %w", err)
	}
	// The constraints say so already; the check proves the copy kept them
	// (an index that integrity_check found sound but a table rebuilt by
	// hand could lack).
	var dupIDs, dupSlots int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT id FROM events GROUP BY id HAVING count(*) > 1)`).Scan(&dupIDs); err != nil {
		return info, fmt.Errorf("event log: %w", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM events WHERE device_id IS NOT NULL GROUP BY device_id, device_seq HAVING count(*) > 1)`).Scan(&dupSlots); err != nil {
		return info, fmt.Errorf("event log: %w", err)
	}
	if dupIDs > 0 || dupSlots > 0 {
		return info, fmt.Errorf("event log: %d event ids and %d device slots stored twice", dupIDs, dupSlots)
	}
	// Every device's acknowledged sequence must be held: a device trusts
	// it and forgets what it covers.
	var behind int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM devices d WHERE d.acked_seq > 0 AND NOT EXISTS (
		SELECT 1 FROM events e WHERE e.device_id = d.id AND e.device_seq = d.acked_seq)
		AND NOT EXISTS (SELECT 1 FROM event_rejections r WHERE r.device_id = d.id AND r.device_seq = d.acked_seq)
		AND NOT EXISTS (SELECT 1 FROM event_aliases a WHERE a.device_id = d.id AND a.device_seq = d.acked_seq)`).Scan(&behind); err != nil {
		return info, fmt.Errorf("devices: %w", err)
	}
	if behind > 0 {
		return info, fmt.Errorf("devices: %d acknowledged sequences not held in the log", behind)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM devices`).Scan(&info.Devices); err != nil {
		return info, fmt.Errorf("devices: %w", err)
	}
	if err := verifyChain(ctx, db, &info); err != nil {
		return info, err
	}
	var hasMeta bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?)`, backupMeta).Scan(&hasMeta); err != nil {
		return info, err
	}
	if hasMeta {
		info.Extras = map[string][]byte{}
		rows, err := db.QueryContext(ctx, `SELECT name, value FROM `+backupMeta)
		if err != nil {
			return info, err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var v []byte
			if err := rows.Scan(&k, &v); err != nil {
				return info, err
			}
			info.Extras[k] = v
		}
		if err := rows.Err(); err != nil {
			return info, err
		}
		if t, ok := info.Extras["taken_at"]; ok {
			info.TakenAt, _ = time.Parse(time.RFC3339Nano, string(t))
			delete(info.Extras, "taken_at")
		}
	}
	return info, nil
}

// verifyChain walks the event log's hash chain (shared/audit) from the
// first event: a copy with an event changed, dropped or reordered fails
// here even when SQLite finds the file sound.
func verifyChain(ctx context.Context, db *sql.DB, info *BackupInfo) error {
	var chained bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pragma_table_info('events') WHERE name = 'hash')`).Scan(&chained); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	if !chained {
		return nil // a schema from before the chain
	}
	red := make(map[string]int64)
	rr, err := db.QueryContext(ctx, `SELECT complaint_id, MAX(seq) FROM events WHERE type = 'redacted' GROUP BY complaint_id`)
	if err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	for rr.Next() {
		var (
			c   string
			seq int64
		)
		if err := rr.Scan(&c, &seq); err != nil {
			rr.Close()
			return fmt.Errorf("event log: %w", err)
		}
		red[c] = seq
	}
	if err := rr.Close(); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	v := audit.NewVerifier(nil, red)
	rows, err := db.QueryContext(ctx, `SELECT `+chainColumns+` FROM events ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanChainRow(rows)
		if err != nil {
			return fmt.Errorf("event log: %w", err)
		}
		if v.Add(r) != nil {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	rep := v.Report()
	if rep.Break != nil {
		return fmt.Errorf("event log: %w", rep.Break)
	}
	info.Chain = rep.Head
	return nil
}

// Install copies the verified backup file src to dst (a database path
// nobody has open) through a temporary file, drops the backup's own table
// from the copy, and syncs it. A database already at dst, with its WAL and
// shared-memory files, is renamed to aside first (aside must not exist).
func Install(ctx context.Context, src, dst, aside string) error {
	tmp := dst + ".restoring"
	os.Remove(tmp)
	defer os.Remove(tmp)
	if err := copyFile(src, tmp); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", plainDSN(tmp))
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `DROP TABLE IF EXISTS `+backupMeta); err != nil {
		db.Close()
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if _, err := os.Stat(dst); err == nil {
		if _, err := os.Lstat(aside); err == nil {
			return fmt.Errorf("%s exists", aside)
		}
		if err := os.Rename(dst, aside); err != nil {
			return err
		}
		for _, suffix := range []string{"-wal", "-shm"} {
			if err := os.Rename(dst+suffix, aside+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
