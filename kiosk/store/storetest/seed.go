// Package storetest fills kiosk databases for benchmarks and tests: a store
// with a long history, made in batched transactions because filing 100,000
// complaints one durable commit at a time would take minutes.
package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
)

// Seed creates a store at path holding n complaints with their events,
// outbox entries and case rows, as n filings would, in batched transactions
// for speed. The complaints, events and outbox entries are written as
// store.File writes them; the case rows by the case projection itself
// (cases.Queue.RebuildCases), from the log.
func Seed(path string, n int) error {
	ctx := context.Background()
	st, err := store.Open(ctx, path, nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		return err
	}
	id, err := st.Identity(ctx)
	st.Close()
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	clock := hlc.New(nil)
	seen := make(map[trackcode.Code]bool, n)
	actor := event.Actor{Kind: event.ActorDevice, ID: id.DeviceID}
	const batch = 1000
	for done := 0; done < n; done += batch {
		if err := seedBatch(ctx, db, clock, actor, id.Prefix, seen, min(batch, n-done)); err != nil {
			return err
		}
	}
	if err := db.Close(); err != nil {
		return err
	}
	p := cases.NewProjection(cases.Options{})
	if st, err = store.Open(ctx, path, nil, p); err != nil {
		return err
	}
	_, err = cases.New(st, p).RebuildCases(ctx)
	return errors.Join(err, st.Close())
}

func seedBatch(ctx context.Context, db *sql.DB, clock *hlc.Clock, actor event.Actor,
	prefix string, seen map[trackcode.Code]bool, n int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	insC, err := tx.PrepareContext(ctx, `INSERT INTO complaints (id, code, branch, device, channel,
		category, description, desired_outcome, language, filed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	insE, err := tx.PrepareContext(ctx, `INSERT INTO events (id, complaint_id, type, actor_kind,
		actor_id, at, branch, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	insO, err := tx.PrepareContext(ctx, `INSERT INTO outbox (event_id, created_at) VALUES (?, ?)`)
	if err != nil {
		return err
	}
	for range n {
		code, err := trackcode.Generate(prefix)
		if err != nil {
			return err
		}
		if seen[code] { // 40 random bits: rare, but 100,000 draws make it possible
			continue
		}
		seen[code] = true
		now := time.Now().UTC().Truncate(time.Millisecond)
		c := complaint.Complaint{ID: uid.NewAt(now), Code: string(code), Branch: "Main",
			Device: actor.ID, Channel: complaint.ChannelKiosk, Category: "billing",
			Description: "The card machine charged me twice for one coffee and nobody could refund it.",
			Language:    "en", FiledAt: now}
		e, err := event.NewFiled(c, actor, clock.Now())
		if err != nil {
			return err
		}
		if _, err := insC.ExecContext(ctx, c.ID, c.Code, c.Branch, c.Device, string(c.Channel),
			c.Category, c.Description, c.DesiredOutcome, c.Language, c.FiledAt.UnixMilli()); err != nil {
			return fmt.Errorf("complaint: %w", err)
		}
		if _, err := insE.ExecContext(ctx, e.ID, e.ComplaintID, string(e.Type), string(e.Actor.Kind),
			e.Actor.ID, int64(e.At), e.Branch, string(e.Data)); err != nil {
			return fmt.Errorf("event: %w", err)
		}
		if _, err := insO.ExecContext(ctx, e.ID, now.UnixMilli()); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	return tx.Commit()
}
