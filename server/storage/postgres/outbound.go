package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"ombud/server/storage"
	"ombud/server/webhook"
	"ombud/shared/event"
)

// Unsubscribe implements notify.Store.
func (s *Store) Unsubscribe(ctx context.Context, contactKey string, at time.Time) error {
	if contactKey == "" {
		return storage.Errorf(storage.Invalid, "a contact key is required")
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO notify_unsubscribed (contact_key, at) VALUES ($1, $2)
		ON CONFLICT (contact_key) DO NOTHING`, contactKey, nanos(at)); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	return nil
}

// Unsubscribed implements notify.Store.
func (s *Store) Unsubscribed(ctx context.Context, contactKey string) (bool, error) {
	var off bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM notify_unsubscribed WHERE contact_key = $1)`, contactKey).Scan(&off); err != nil {
		return false, fmt.Errorf("read unsubscriptions: %w", err)
	}
	return off, nil
}

// AddWebhook implements webhook.Store. The webhook starts after the log's
// current end, read under the log's lock so no commit slips between.
func (s *Store) AddWebhook(ctx context.Context, h webhook.Webhook) (webhook.Webhook, error) {
	if h.ID == "" || h.URL == "" || h.Secret == "" {
		return h, storage.Errorf(storage.Invalid, "a webhook needs an id, a URL and a secret")
	}
	types := make([]string, len(h.Events))
	for i, t := range h.Events {
		types[i] = string(t)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return h, fmt.Errorf("add webhook: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := lockLog(ctx, tx); err != nil {
		return h, fmt.Errorf("add webhook: %w", err)
	}
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events`).Scan(&h.FromSeq); err != nil {
		return h, fmt.Errorf("add webhook: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO webhooks (id, url, secret, events, include_text, created_at, from_seq)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, h.ID, h.URL, h.Secret, strings.Join(types, ","), h.IncludeText, nanos(h.CreatedAt), h.FromSeq)
	if isUniqueViolation(err) {
		return h, storage.Errorf(storage.Conflict, "webhook %s exists", h.ID)
	}
	if err != nil {
		return h, fmt.Errorf("add webhook: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return h, fmt.Errorf("add webhook: commit: %w", err)
	}
	return h, nil
}

// Webhooks implements webhook.Store.
func (s *Store) Webhooks(ctx context.Context) ([]webhook.Webhook, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, url, secret, events, include_text, created_at, from_seq, removed_at
		FROM webhooks ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("read webhooks: %w", err)
	}
	defer rows.Close()
	var out []webhook.Webhook
	for rows.Next() {
		var (
			h       webhook.Webhook
			types   string
			created int64
			removed *int64
		)
		if err := rows.Scan(&h.ID, &h.URL, &h.Secret, &types, &h.IncludeText, &created, &h.FromSeq, &removed); err != nil {
			return nil, fmt.Errorf("read webhooks: %w", err)
		}
		for t := range strings.SplitSeq(types, ",") {
			if t != "" {
				h.Events = append(h.Events, event.Type(t))
			}
		}
		h.CreatedAt, h.RemovedAt = time.Unix(0, created).UTC(), fromNanos(removed)
		out = append(out, h)
	}
	return out, rows.Err()
}

// RemoveWebhook implements webhook.Store.
func (s *Store) RemoveWebhook(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE webhooks SET removed_at = COALESCE(removed_at, $1) WHERE id = $2`, nanos(at), id)
	if err != nil {
		return fmt.Errorf("remove webhook: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return storage.Errorf(storage.NotFound, "no webhook %s", id)
	}
	return nil
}
