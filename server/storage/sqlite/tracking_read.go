package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"ombud/server/storage"
	"ombud/shared/complaint"
)

var _ storage.Tracking = (*Store)(nil)

// complaintHead reads the complaint row and its events' version in one
// statement, so both come from the same snapshot. The aggregates walk only
// the complaint's entries in the events_complaint index (which holds seq,
// the rowid): no event row is read.
const complaintHead = `SELECT c.id, c.code, c.branch, c.category, c.filed_at, c.filed_event_id,
	COALESCE(MAX(e.seq), 0), COUNT(e.seq)
	FROM complaints c LEFT JOIN events e ON e.complaint_id = c.id
	WHERE c.code = ? GROUP BY c.id`

// ComplaintHead implements storage.Tracking.
func (s *Store) ComplaintHead(ctx context.Context, code string) (storage.Complaint, storage.EventsVersion, error) {
	var (
		c     storage.Complaint
		v     storage.EventsVersion
		filed sql.NullInt64
	)
	err := s.read.complaintHead.QueryRowContext(ctx, code).
		Scan(&c.ID, &c.Code, &c.Branch, &c.Category, &filed, &c.FiledEventID, &v.LastSeq, &v.Count)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return c, v, &storage.Error{Code: storage.NotFound, Message: "complaint not found", Err: complaint.ErrNotFound}
	case err != nil:
		return c, v, fmt.Errorf("read complaint head by code: %w", err)
	}
	c.FiledAt = fromNanos(filed)
	return c, v, nil
}
