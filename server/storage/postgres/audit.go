package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"ombud/server/storage"
	"ombud/shared/audit"
)

var _ storage.Audit = (*Store)(nil)

// The audit chain (package shared/audit) on PostgreSQL. Every transaction
// that stores events holds the log's advisory lock and reads the last
// event's hash under it (lockLog), so the links are computed in Go in
// sequence order by one transaction at a time across every replica: two
// replicas cannot fork the chain. A push rolled back to its savepoint
// inside a group takes its links back with its sequences.

// lastHashSQL reads the hash of the last stored event (NULL for an empty
// log), read under the log's lock.
const lastHashSQL = `SELECT (SELECT hash FROM events ORDER BY seq DESC LIMIT 1)`

// prevHash reads a stored link; an empty log (or a NULL that the backfill
// has yet to fill, which a store never leaves behind) starts at Genesis.
func prevHash(b []byte) audit.Hash {
	h, _ := audit.HashOf(b)
	return h
}

// record is what the chain covers of an event about to be stored.
func record(seq int64, deviceID string, deviceSeq int64, id, complaintID, branch, typ, actorKind, actorID string, at int64, data []byte) audit.Record {
	return audit.Record{Seq: seq, ID: id, DeviceID: deviceID, DeviceSeq: deviceSeq, ComplaintID: complaintID,
		Branch: branch, Type: typ, ActorKind: actorKind, ActorID: actorID, At: at, PayloadHash: audit.PayloadHash(data)}
}

// chainColumns are what the chain covers, plus the payload, the stored
// hashes and the redaction mark.
const chainColumns = `seq, id, COALESCE(device_id, ''), COALESCE(device_seq, 0), complaint_id, branch, type,
	actor_kind, actor_id, at, data, hash, payload_hash, redacted_at IS NOT NULL`

func scanChainRow(rows pgx.Rows) (audit.Row, error) {
	var (
		r  audit.Row
		ph []byte
	)
	err := rows.Scan(&r.Seq, &r.ID, &r.DeviceID, &r.DeviceSeq, &r.ComplaintID, &r.Branch, &r.Type,
		&r.ActorKind, &r.ActorID, &r.At, &r.Data, &r.Hash, &ph, &r.Redacted)
	if h, ok := audit.HashOf(ph); ok {
		r.PayloadHash = h
	}
	return r, err
}

// backfillChain chains the events stored before migration 0002 (or by an
// older replica that left hash NULL), in sequence order, in one
// transaction under the log's lock.
func (s *Store) backfillChain(ctx context.Context) error {
	var any bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE hash IS NULL)`).Scan(&any); err != nil {
		return fmt.Errorf("audit backfill: %w", err)
	}
	if !any {
		return nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("audit backfill: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := lockLog(ctx, tx); err != nil {
		return fmt.Errorf("audit backfill: %w", err)
	}
	var first *int64
	if err := tx.QueryRow(ctx, `SELECT MIN(seq) FROM events WHERE hash IS NULL`).Scan(&first); err != nil {
		return fmt.Errorf("audit backfill: %w", err)
	}
	if first == nil {
		return nil // another replica did it meanwhile
	}
	var ph []byte
	err = tx.QueryRow(ctx, `SELECT hash FROM events WHERE seq < $1 ORDER BY seq DESC LIMIT 1`, *first).Scan(&ph)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("audit backfill: %w", err)
	}
	c := audit.From(prevHash(ph))
	rows, err := tx.Query(ctx, `SELECT `+chainColumns+` FROM events WHERE seq >= $1 ORDER BY seq`, *first)
	if err != nil {
		return fmt.Errorf("audit backfill: %w", err)
	}
	var (
		seqs             []int64
		hashes, payloads [][]byte
	)
	for rows.Next() {
		r, err := scanChainRow(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("audit backfill: %w", err)
		}
		r.PayloadHash = audit.PayloadHash(r.Data)
		h := c.Next(&r.Record)
		seqs, hashes, payloads = append(seqs, r.Seq), append(hashes, h[:]), append(payloads, r.PayloadHash[:])
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit backfill: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE events e SET hash = t.h, payload_hash = t.p
		FROM unnest($1::bigint[], $2::bytea[], $3::bytea[]) AS t(s, h, p) WHERE e.seq = t.s`, seqs, hashes, payloads); err != nil {
		return fmt.Errorf("audit backfill: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("audit backfill: %w", err)
	}
	s.log.Info("audit chain: chained the events stored before it", "events", len(seqs))
	return nil
}

// AuditHead implements storage.Audit.
func (s *Store) AuditHead(ctx context.Context) (audit.Head, error) {
	var (
		h    audit.Head
		hash []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1`).Scan(&h.Seq, &hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return h, nil
	case err != nil:
		return h, fmt.Errorf("read the audit head: %w", err)
	}
	h.Hash, _ = audit.HashOf(hash)
	return h, nil
}

// AuditVerify implements storage.Audit. It reads in one repeatable-read,
// read-only transaction, so it sees one snapshot while the servers keep
// storing.
func (s *Store) AuditVerify(ctx context.Context, head *audit.Head) (audit.Report, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return audit.Report{}, fmt.Errorf("audit verify: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	red := make(map[string]int64)
	rr, err := tx.Query(ctx, `SELECT complaint_id, MAX(seq) FROM events WHERE type = 'redacted' GROUP BY complaint_id`)
	if err != nil {
		return audit.Report{}, fmt.Errorf("audit verify: %w", err)
	}
	for rr.Next() {
		var (
			c   string
			seq int64
		)
		if err := rr.Scan(&c, &seq); err != nil {
			rr.Close()
			return audit.Report{}, fmt.Errorf("audit verify: %w", err)
		}
		red[c] = seq
	}
	rr.Close()
	if err := rr.Err(); err != nil {
		return audit.Report{}, fmt.Errorf("audit verify: %w", err)
	}
	v := audit.NewVerifier(head, red)
	rows, err := tx.Query(ctx, `SELECT `+chainColumns+` FROM events ORDER BY seq`)
	if err != nil {
		return audit.Report{}, fmt.Errorf("audit verify: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanChainRow(rows)
		if err != nil {
			return audit.Report{}, fmt.Errorf("audit verify: %w", err)
		}
		if v.Add(r) != nil {
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return audit.Report{}, fmt.Errorf("audit verify: %w", err)
	}
	return v.Report(), nil
}
