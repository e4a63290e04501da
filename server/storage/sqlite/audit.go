package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"ombud/server/storage"
	"ombud/shared/audit"
)

var _ storage.Audit = (*Store)(nil)

// chainHeadSQL reads where the chain stands inside a write transaction: the
// next global sequence AUTOINCREMENT would give, and the hash of the last
// stored event. Events are inserted with explicit sequences from here, so
// each row's hash can be computed before its INSERT.
const chainHeadSQL = `SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
	(SELECT hash FROM events ORDER BY seq DESC LIMIT 1)`

// chainState is the chain inside one write transaction.
type chainState struct {
	next  int64 // the next global sequence
	chain *audit.Chain
}

// readChain reads the chain's head in tx.
func readChain(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (*chainState, error) {
	var (
		last int64
		hash []byte
	)
	if err := q.QueryRowContext(ctx, chainHeadSQL).Scan(&last, &hash); err != nil {
		return nil, fmt.Errorf("read the audit chain's head: %w", err)
	}
	prev := audit.Genesis
	if hash != nil {
		var ok bool
		if prev, ok = audit.HashOf(hash); !ok {
			return nil, fmt.Errorf("the audit chain's head at %d is malformed", last)
		}
	}
	return &chainState{next: last + 1, chain: audit.From(prev)}, nil
}

// link gives the next sequence and its hash.
func (c *chainState) link(r *audit.Record) (int64, audit.Hash) {
	r.Seq = c.next
	c.next++
	return r.Seq, c.chain.Next(r)
}

// backfillChain chains the events stored before migration 0013 (or by any
// writer that left hash NULL), in sequence order, in one transaction.
func backfillChain(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var first sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MIN(seq) FROM events WHERE hash IS NULL`).Scan(&first); err != nil {
		return fmt.Errorf("audit backfill: %w", err)
	}
	if !first.Valid {
		return nil
	}
	prev := audit.Genesis
	var ph []byte
	err = tx.QueryRowContext(ctx, `SELECT hash FROM events WHERE seq < ? ORDER BY seq DESC LIMIT 1`, first.Int64).Scan(&ph)
	switch {
	case err == sql.ErrNoRows:
	case err != nil:
		return fmt.Errorf("audit backfill: %w", err)
	default:
		prev, _ = audit.HashOf(ph)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+chainColumns+` FROM events WHERE seq >= ? ORDER BY seq`, first.Int64)
	if err != nil {
		return fmt.Errorf("audit backfill: %w", err)
	}
	type fill struct {
		seq           int64
		hash, payload audit.Hash
	}
	var fills []fill
	c := audit.From(prev)
	for rows.Next() {
		r, err := scanChainRow(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("audit backfill: %w", err)
		}
		r.PayloadHash = audit.PayloadHash(r.Data)
		fills = append(fills, fill{seq: r.Seq, hash: c.Next(&r.Record), payload: r.PayloadHash})
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("audit backfill: %w", err)
	}
	st, err := tx.PrepareContext(ctx, `UPDATE events SET hash = ?, payload_hash = ? WHERE seq = ?`)
	if err != nil {
		return fmt.Errorf("audit backfill: %w", err)
	}
	for _, f := range fills {
		if _, err := st.ExecContext(ctx, f.hash[:], f.payload[:], f.seq); err != nil {
			return fmt.Errorf("audit backfill of %d: %w", f.seq, err)
		}
	}
	return tx.Commit()
}

// chainColumns are what the chain covers, plus the payload, the stored
// hashes and the redaction mark.
const chainColumns = `seq, id, COALESCE(device_id, ''), COALESCE(device_seq, 0), complaint_id, branch, type,
	actor_kind, actor_id, at, data, hash, payload_hash, redacted_at IS NOT NULL`

func scanChainRow(rows *sql.Rows) (audit.Row, error) {
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

// AuditHead implements storage.Audit.
func (s *Store) AuditHead(ctx context.Context) (audit.Head, error) {
	var (
		h    audit.Head
		hash []byte
	)
	err := s.r.QueryRowContext(ctx, `SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1`).Scan(&h.Seq, &hash)
	switch {
	case err == sql.ErrNoRows:
		return h, nil
	case err != nil:
		return h, fmt.Errorf("read the audit head: %w", err)
	}
	h.Hash, _ = audit.HashOf(hash)
	return h, nil
}

// AuditVerify implements storage.Audit. It reads in one read transaction,
// so it sees one snapshot while the server keeps storing.
func (s *Store) AuditVerify(ctx context.Context, head *audit.Head) (audit.Report, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return audit.Report{}, fmt.Errorf("audit verify: %w", err)
	}
	defer tx.Rollback()
	red := make(map[string]int64)
	rr, err := tx.QueryContext(ctx, `SELECT complaint_id, MAX(seq) FROM events WHERE type = 'redacted' GROUP BY complaint_id`)
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
	if err := rr.Close(); err != nil {
		return audit.Report{}, fmt.Errorf("audit verify: %w", err)
	}
	v := audit.NewVerifier(head, red)
	rows, err := tx.QueryContext(ctx, `SELECT `+chainColumns+` FROM events ORDER BY seq`)
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
	if err := rows.Err(); err != nil {
		return audit.Report{}, fmt.Errorf("audit verify: %w", err)
	}
	return v.Report(), nil
}
