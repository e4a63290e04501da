package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"weak"

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
	stmt, err := s.headStmt(ctx)
	if err != nil {
		return c, v, fmt.Errorf("read complaint head by code: %w", err)
	}
	err = stmt.QueryRowContext(ctx, code).
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

// The tracking page runs ComplaintHead on every request, and parsing its
// SQL each time would cost more than running it, so it is prepared once
// per Store, on first use. Interim: it belongs with readStmts (prepared in
// Open, closed in Close) and moves there when events.go is next edited.
// Until then the statement is kept here, keyed weakly by its Store so a
// Store that is gone takes its entry with it; Close needs no hook, because
// closing the read pool finalises every statement prepared on it.
var heads sync.Map // weak.Pointer[Store] → *preparedHead

type preparedHead struct {
	stmt atomic.Pointer[sql.Stmt]
	mu   sync.Mutex // held while preparing
}

func (s *Store) headStmt(ctx context.Context) (*sql.Stmt, error) {
	key := weak.Make(s)
	v, ok := heads.Load(key)
	if !ok {
		var loaded bool
		if v, loaded = heads.LoadOrStore(key, &preparedHead{}); !loaded {
			runtime.AddCleanup(s, func(k weak.Pointer[Store]) { heads.Delete(k) }, key)
		}
	}
	p := v.(*preparedHead)
	if stmt := p.stmt.Load(); stmt != nil {
		return stmt, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if stmt := p.stmt.Load(); stmt != nil {
		return stmt, nil
	}
	// Not the request's context: a client hanging up must not fail the
	// preparation for everyone (a failure is retried on the next call).
	stmt, err := s.r.PrepareContext(context.WithoutCancel(ctx), complaintHead)
	if err != nil {
		return nil, fmt.Errorf("prepare complaint head: %w", err)
	}
	p.stmt.Store(stmt)
	return stmt, nil
}
