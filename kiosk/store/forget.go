package store

import (
	"context"
	"database/sql"
	"fmt"

	"ombud/shared/event"
	"ombud/shared/redact"
)

// What the store deletes, and how the deleted bytes leave the files: the
// customer's words of the complaints a customer kiosk has sent
// (Options.RedactAcknowledged, RedactSent), and whole complaints a staff
// terminal no longer needs (Forget). secure_delete, set on every
// connection, zeroes what a write frees in the database file; the WAL
// still holds the pages as they were before the write until a checkpoint
// copies the new ones back and truncates it (sweep).

// Attribute keys of these log records.
const (
	logKeyCount = "count"
	logKeyBusy  = "busy"
)

// redactColumns empties what the customer wrote and gave in a complaints
// row. The CHECKs of the table hold: no contact, no consent.
const redactComplaint = `UPDATE complaints SET description = '', desired_outcome = '',
	contact_name = NULL, contact_email = NULL, contact_phone = NULL,
	consent_at = NULL, notice_version = NULL WHERE id = ?`

// redactEvent removes the same from a Filed event's complaint: the ids, the
// code, the branch, the device, the channel, the category, the language and
// the filing time stay, so the event still folds into its case.
const redactEvent = `UPDATE events SET data = json_remove(data, '$.description',
	'$.desired_outcome', '$.contact') WHERE id = ? AND data IS NOT NULL`

// filing is a Filed event and its complaint.
type filing struct{ event, complaint string }

// acknowledgedFilings lists the Filed events among the outbox entries up
// to upTo, which the server has just acknowledged.
func acknowledgedFilings(ctx context.Context, tx Tx, upTo int64) ([]filing, error) {
	return queryFilings(ctx, tx, `SELECT e.id, e.complaint_id FROM outbox o
		JOIN events e ON e.id = o.event_id WHERE o.seq <= ? AND e.type = 'filed'`, upTo)
}

func queryFilings(ctx context.Context, tx Tx, query string, args ...any) ([]filing, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find filings: %w", err)
	}
	defer rows.Close()
	var out []filing
	for rows.Next() {
		var f filing
		if err := rows.Scan(&f.event, &f.complaint); err != nil {
			return nil, fmt.Errorf("find filings: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find filings: %w", err)
	}
	return out, nil
}

// redact deletes the customer's words of the filings, and tells the
// projection, whose rows hold a summary and the search text, in tx. It
// returns the complaints redacted.
func (s *Store) redact(ctx context.Context, tx Tx, fs []filing) ([]string, error) {
	ids := make([]string, 0, len(fs))
	for _, f := range fs {
		if _, err := tx.ExecContext(ctx, redactEvent, f.event); err != nil {
			return nil, fmt.Errorf("redact event %s: %w", f.event, err)
		}
		if _, err := tx.ExecContext(ctx, redactComplaint, f.complaint); err != nil {
			return nil, fmt.Errorf("redact complaint %s: %w", f.complaint, err)
		}
		ids = append(ids, f.complaint)
	}
	if err := s.proj.Logged(ctx, tx, ids); err != nil {
		return nil, fmt.Errorf("redact: %w", err)
	}
	return ids, nil
}

// redactBatch bounds the complaints RedactSent redacts per transaction, so
// a filing never waits long behind it.
const redactBatch = 200

// RedactSent redacts, as AckOutbox does under Options.RedactAcknowledged,
// every complaint filed by this device whose Filed event the server
// acknowledged before this store redacted on acknowledgement (it is in
// neither the outbox nor the quarantine, and still holds text): a kiosk
// upgraded to redaction forgets what it sent before. It works a batch per
// transaction, reads the whole complaints table, and returns how many it
// redacted: run it in the background, once at start.
func (s *Store) RedactSent(ctx context.Context) (int, error) {
	total := 0
	for {
		var n int
		err := s.Update(ctx, func(tx Tx) error {
			fs, err := queryFilings(ctx, tx, `SELECT e.id, c.id FROM complaints c
				JOIN events e ON e.complaint_id = c.id AND e.type = 'filed'
				WHERE c.device = (SELECT id FROM device WHERE singleton = 1)
				AND (c.description != '' OR c.desired_outcome != '' OR c.consent_at IS NOT NULL)
				AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = e.id)
				AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.event_id = e.id)
				LIMIT ?`, redactBatch)
			if err != nil {
				return err
			}
			n = len(fs)
			_, err = s.redact(ctx, tx, fs)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("redact sent complaints: %w", err)
		}
		total += n
		if n > 0 {
			s.unswept.Store(true)
		}
		if n < redactBatch {
			break
		}
	}
	if s.unswept.Load() {
		s.sweep(ctx)
		s.Changed()
	}
	if total > 0 {
		s.log.Info("sent complaints redacted", logKeyCount, total)
	}
	return total, nil
}

// Forget deletes from this database the complaints pick chooses: their
// events, their complaints rows and, through the projection (which finds
// no filing left in their logs), their case rows, in one write transaction
// in which pick runs first and reads the database as it stands. A
// complaint with an event still waiting in the outbox, or in the
// quarantine, is kept whatever pick says: the server does not hold it, or
// staff must see why. It returns the complaints deleted.
//
// Forgetting is local: the server keeps every event. An event that
// arrives later for a forgotten complaint is stored, and projects no case
// here (its log holds no filing).
func (s *Store) Forget(ctx context.Context, pick func(tx Tx) ([]string, error)) ([]string, error) {
	var gone []string
	err := s.Update(ctx, func(tx Tx) error {
		ids, err := pick(tx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			var held bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM events e
				WHERE e.complaint_id = ? AND (EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = e.id)
				OR EXISTS (SELECT 1 FROM quarantine q WHERE q.event_id = e.id)))`, id).Scan(&held); err != nil {
				return fmt.Errorf("forget %s: %w", id, err)
			}
			if held {
				continue
			}
			evs, err := tx.ExecContext(ctx, `DELETE FROM events WHERE complaint_id = ?`, id)
			if err != nil {
				return fmt.Errorf("forget %s: events: %w", id, err)
			}
			row, err := tx.ExecContext(ctx, `DELETE FROM complaints WHERE id = ?`, id)
			if err != nil {
				return fmt.Errorf("forget %s: complaint: %w", id, err)
			}
			n, _ := evs.RowsAffected()
			m, _ := row.RowsAffected()
			if n+m > 0 {
				gone = append(gone, id)
			}
		}
		if len(gone) == 0 {
			return nil
		}
		if err := s.proj.Logged(ctx, tx, gone); err != nil {
			return fmt.Errorf("forget: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(gone) > 0 {
		s.unswept.Store(true)
		s.sweep(ctx)
		s.Changed()
	}
	return gone, nil
}

// sweep checkpoints the WAL into the database file and truncates it, so
// the page images that a redaction or a purge replaced are gone from the
// WAL too. A reader in the middle of a read keeps it from finishing (it
// waits for readers up to the busy timeout): unswept then stays set, and
// the next deletion, or Close, tries again.
func (s *Store) sweep(ctx context.Context) {
	var busy, frames, done int
	err := s.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done)
	if err == nil && busy == 0 {
		s.unswept.Store(false)
		return
	}
	s.unswept.Store(true)
	s.log.Warn("WAL not truncated after deleting customer text: trying again later", logKeyBusy, busy, logKeyErr, err)
}

// redactReceived applies Redacted events received from the server (its
// retention policy ran out, or an approved erasure request) in tx: every
// event of each complaint loses its personal data as the server's copy did
// (shared/redact, the same bytes), and the complaints row its text and
// contact. The caller tells the projection and sweeps after the commit.
func redactReceived(ctx context.Context, tx Tx, ids []string) error {
	for _, id := range ids {
		rows, err := tx.QueryContext(ctx, `SELECT id, type, data FROM events WHERE complaint_id = ? AND data IS NOT NULL`, id)
		if err != nil {
			return fmt.Errorf("redact %s: %w", id, err)
		}
		type change struct {
			id   string
			data sql.NullString
		}
		var changes []change
		for rows.Next() {
			var (
				eid, typ, data string
			)
			if err := rows.Scan(&eid, &typ, &data); err != nil {
				rows.Close()
				return fmt.Errorf("redact %s: %w", id, err)
			}
			if nd, changed := redact.Payload(event.Type(typ), []byte(data)); changed {
				changes = append(changes, change{eid, sql.NullString{String: string(nd), Valid: len(nd) > 0}})
			}
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("redact %s: %w", id, err)
		}
		for _, c := range changes {
			if _, err := tx.ExecContext(ctx, `UPDATE events SET data = ? WHERE id = ?`, c.data, c.id); err != nil {
				return fmt.Errorf("redact %s: event %s: %w", id, c.id, err)
			}
		}
		if _, err := tx.ExecContext(ctx, redactComplaint, id); err != nil {
			return fmt.Errorf("redact complaint %s: %w", id, err)
		}
	}
	return nil
}
