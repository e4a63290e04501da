package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"ombud/server/central"
	"ombud/server/privacy"
	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/server/tracking"
)

// extraSecret names the tracking page's secret inside a backup file.
const extraSecret = "tracking_secret"

// backup is `server backup`: an online, consistent copy of the SQLite
// database while the server serves (sqlite.Backup: VACUUM INTO, then the
// copy's integrity and event-log checks), with the tracking page's secret
// inside it, so one file restores the whole data directory.
func backup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backup", stderr)
	data := fs.String("data", "", "data directory (holds server.db)")
	to := fs.String("to", "", "file to write the backup to (must not exist)")
	db := fs.String("db", "", "a PostgreSQL URL here is refused: PostgreSQL is backed up with its own tools")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *db != "" {
		return usageError{"backup: the database is PostgreSQL (--db or OMBUD_SERVER_DB): back it up with pg_dump, or pg_basebackup and WAL archiving (deploy/README.md, Backups)"}
	}
	if *data == "" || *to == "" {
		return usageError{"backup: --data and --to are required"}
	}
	src := filepath.Join(*data, central.DBFile)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: no database in %s: %w", *data, err)
	}
	extras := map[string][]byte{}
	switch secret, err := os.ReadFile(filepath.Join(*data, tracking.SecretFile)); {
	case err == nil:
		extras[extraSecret] = secret
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("backup: %w", err)
	}
	start := time.Now()
	info, err := sqlite.Backup(ctx, src, *to, extras)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Backup written to %s in %s and verified: %d events up to sequence %d, %d devices, schema version %d.\n",
		*to, time.Since(start).Round(time.Millisecond), info.Events, info.MaxSeq, info.Devices, info.SchemaVersion)
	if info.Chain.Seq > 0 {
		fmt.Fprintf(stdout, "Its event log's hash chain verifies up to %s (compare with `server audit head` on the live server).\n", info.Chain)
	}
	fmt.Fprintln(stdout, "Keep it as private as the server: it holds complaints, contact details, credential hashes and the tracking page's secret.")
	return nil
}

// restore is `server restore`: it verifies the backup, refuses while a
// server holds the data directory, keeps the current database aside and
// installs the backup with its tracking secret.
func restore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("restore", stderr)
	data := fs.String("data", "", "data directory to restore into (created if missing)")
	from := fs.String("from", "", "backup file written by `server backup`")
	db := fs.String("db", "", "a PostgreSQL URL here is refused: PostgreSQL is backed up with its own tools")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *db != "" {
		return usageError{"restore: the database is PostgreSQL (--db or OMBUD_SERVER_DB): back it up with pg_dump, or pg_basebackup and WAL archiving (deploy/README.md, Backups)"}
	}
	if *data == "" || *from == "" {
		return usageError{"restore: --data and --from are required"}
	}
	info, err := sqlite.Verify(ctx, *from)
	if err != nil {
		return fmt.Errorf("restore: %s does not verify, nothing changed: %w", *from, err)
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	unlock, err := central.LockData(*data, true)
	if errors.Is(err, central.ErrLocked) {
		return fmt.Errorf("restore: a server is running on %s: stop it first (every replica using this directory), nothing changed", *data)
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer unlock()

	stamp := time.Now().UTC().Format("20060102T150405Z")
	dst := filepath.Join(*data, central.DBFile)
	aside := dst + ".before-restore-" + stamp
	if err := sqlite.Install(ctx, *from, dst, aside); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	kept := ""
	if _, err := os.Stat(aside); err == nil {
		kept = aside
	}
	secretNote := "the tracking page's secret in the data directory is kept (the backup holds none)"
	if secret, ok := info.Extras[extraSecret]; ok {
		path := filepath.Join(*data, tracking.SecretFile)
		if _, err := os.Stat(path); err == nil {
			if err := os.Rename(path, path+".before-restore-"+stamp); err != nil {
				return fmt.Errorf("restore: tracking secret: %w", err)
			}
		}
		if err := writePrivate(path, secret); err != nil {
			return fmt.Errorf("restore: tracking secret: %w", err)
		}
		secretNote = "the tracking page's secret restored with it (links in sent notifications keep working)"
	}
	taken := "at an unknown time (not written by `server backup`)"
	if !info.TakenAt.IsZero() {
		taken = "taken " + info.TakenAt.Local().Format(time.DateTime)
	}
	fmt.Fprintf(stdout, "Restored %s (%s): %d events up to sequence %d, %d devices; %s.\n",
		*from, taken, info.Events, info.MaxSeq, info.Devices, secretNote)
	if info.Chain.Seq > 0 {
		fmt.Fprintf(stdout, "The event log's hash chain verifies up to %s.\n", info.Chain)
	}
	if kept != "" {
		fmt.Fprintf(stdout, "The previous database is kept as %s.\n", kept)
	}
	// Erasure survives the restore: the redaction ledger beside the
	// database lists every case redacted since, and they are redacted
	// again before any server starts (package privacy).
	if _, err := os.Stat(filepath.Join(*data, privacy.LedgerFile)); err == nil {
		err := withPrivacy(ctx, central.Database{Data: *data}, "", func(svc *privacy.Service, _ storage.Privacy) error {
			res, err := svc.Reapply(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Redaction ledger reapplied: %d complaint(s) redacted again (%d not in the backup, %d under a legal hold).\n",
				res.Redacted, res.Missing, res.Held)
			return nil
		})
		if err != nil {
			return fmt.Errorf("restore: the backup is installed, but reapplying the redaction ledger failed: run `server erasure reapply --data %s` before starting the server: %w", *data, err)
		}
	}
	fmt.Fprintln(stdout, "Start the server: devices resend what they still hold and the server did not have at the backup.")
	return nil
}

// writePrivate writes b to path (0600) through a temporary file.
func writePrivate(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
