package cases

import (
	"context"
	"fmt"
	"time"

	"ombud/kiosk/store"
	"ombud/shared/hlc"
	"ombud/shared/lifecycle"
)

// purgeBatch bounds the cases PurgeClosed deletes per transaction, so
// staff actions never wait long behind it.
const purgeBatch = 200

// PurgeClosed deletes from this terminal the cases closed before before:
// closed, with no event at all (a rating, a note) since then, nothing of
// theirs waiting to be sent and nothing of theirs refused by the server.
// The complaint, its events and its case row go (store.Forget), so a
// terminal holds its customers' words only while they are being worked;
// the server keeps everything. It returns how many it deleted.
//
// A purged case that is reopened later (on the server, or at a terminal
// that still holds it) does not come back here: the reopening event is
// stored, but without the filing that the server sent long ago no case
// is projected from it, so the queue does not show it and nothing fails.
func (q *Queue) PurgeClosed(ctx context.Context, before time.Time) (int, error) {
	// Clock readings are unix milliseconds shifted left: every reading
	// before this one is before the cut-off.
	cutoff := int64(hlc.Make(before.UnixMilli(), 0))
	total := 0
	for {
		gone, err := q.db.Forget(ctx, func(tx store.Tx) ([]string, error) {
			rows, err := tx.QueryContext(ctx, `SELECT c.complaint_id FROM cases c
				WHERE c.state = ? AND c.unsynced = 0
				AND (SELECT max(e.at) FROM events e WHERE e.complaint_id = c.complaint_id) < ?
				AND NOT EXISTS (SELECT 1 FROM events e JOIN quarantine q ON q.event_id = e.id
					WHERE e.complaint_id = c.complaint_id)
				LIMIT ?`, string(lifecycle.Closed), cutoff, purgeBatch)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var ids []string
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return nil, err
				}
				ids = append(ids, id)
			}
			return ids, rows.Err()
		})
		if err != nil {
			return total, fmt.Errorf("purge closed cases: %w", err)
		}
		total += len(gone)
		if len(gone) < purgeBatch {
			return total, nil
		}
	}
}
