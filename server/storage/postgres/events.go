package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

const eventColumns = `seq, id, complaint_id, branch, type, actor_kind, actor_id, at, data`

// scanEventWith reads leading columns into lead, then one row of
// eventColumns.
func scanEventWith(row pgx.Row, lead ...any) (storage.StoredEvent, error) {
	var (
		se        storage.StoredEvent
		e         = &se.Event
		typ, kind string
		at        int64
		data      []byte
	)
	if err := row.Scan(append(lead, &se.Seq, &e.ID, &e.ComplaintID, &e.Branch, &typ, &kind, &e.Actor.ID, &at, &data)...); err != nil {
		return se, err
	}
	e.Type, e.Actor.Kind, e.At = event.Type(typ), event.ActorKind(kind), hlc.Timestamp(at)
	if len(data) > 0 {
		e.Data = data
	}
	return se, nil
}

func scanEvent(row pgx.Row) (storage.StoredEvent, error) { return scanEventWith(row) }

func scanEvents(rows pgx.Rows, capacity int) ([]storage.StoredEvent, error) {
	defer rows.Close()
	out := make([]storage.StoredEvent, 0, capacity)
	for rows.Next() {
		se, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, se)
	}
	return out, rows.Err()
}

// Resume implements hub.Log. It only reads; the hello is written with
// others every few seconds (hellos.go).
func (s *Store) Resume(ctx context.Context, deviceID string, h hub.Hello) (int64, error) {
	d, err := s.Device(ctx, deviceID)
	switch {
	case storage.ErrorCode(err) == storage.NotFound:
		return 0, &storage.Error{Code: storage.NotFound, Message: "device not found", Err: hub.ErrDeviceRevoked}
	case err != nil:
		return 0, err
	case d.Revoked():
		return 0, &storage.Error{Code: storage.Revoked, Message: "device revoked", Err: hub.ErrDeviceRevoked}
	}
	s.hellos.note(deviceID, h)
	return d.AckedSeq, nil
}

// OnCommit implements hub.Log: this replica's commits, and (through the
// watcher) every other replica's.
func (s *Store) OnCommit(f func(scopes []string)) (cancel func()) { return s.feed.OnCommit(f) }

// EventsAfter implements hub.Log.
func (s *Store) EventsAfter(ctx context.Context, scope string, after int64, limit int) ([]storage.StoredEvent, error) {
	kind, id, ok := wire.ParseScope(scope)
	switch {
	case ok && kind == wire.ScopeBranch:
		return s.eventsAfter(ctx, `SELECT `+eventColumns+` FROM events WHERE branch = $1 AND seq > $2 ORDER BY seq LIMIT $3`, after, limit, id)
	case ok && kind == wire.ScopeTeam:
		return s.eventsAfter(ctx, `SELECT l.pos, e.id, e.complaint_id, e.branch, e.type, e.actor_kind, e.actor_id, e.at, e.data
			FROM scope_log l JOIN events e ON e.seq = l.event_seq WHERE l.scope = $1 AND l.pos > $2 ORDER BY l.pos LIMIT $3`, after, limit, scope)
	}
	return nil, storage.Errorf(storage.Invalid, "unknown scope %q", scope)
}

// AllEventsAfter implements storage.Events.
func (s *Store) AllEventsAfter(ctx context.Context, after int64, limit int) ([]storage.StoredEvent, error) {
	return s.eventsAfter(ctx, `SELECT `+eventColumns+` FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
}

func (s *Store) eventsAfter(ctx context.Context, query string, after int64, limit int, leading ...any) ([]storage.StoredEvent, error) {
	if limit < 1 {
		return nil, storage.Errorf(storage.Invalid, "limit %d is below 1", limit)
	}
	limit = min(limit, storage.MaxPage)
	rows, err := s.pool.Query(ctx, query, append(leading, after, limit)...)
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	out, err := scanEvents(rows, min(limit, 256))
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	return out, nil
}

// ComplaintEvents implements storage.Events.
func (s *Store) ComplaintEvents(ctx context.Context, complaintID string) ([]storage.StoredEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE complaint_id = $1 ORDER BY seq`, complaintID)
	if err != nil {
		return nil, fmt.Errorf("read events of complaint %s: %w", complaintID, err)
	}
	out, err := scanEvents(rows, 16)
	if err != nil {
		return nil, fmt.Errorf("read events of complaint %s: %w", complaintID, err)
	}
	return out, nil
}

// ComplaintByCode implements storage.Events.
func (s *Store) ComplaintByCode(ctx context.Context, code string) (storage.Complaint, error) {
	var (
		c     storage.Complaint
		filed *int64
	)
	err := s.pool.QueryRow(ctx, `SELECT id, code, branch, category, filed_at, filed_event_id FROM complaints WHERE code = $1`, code).
		Scan(&c.ID, &c.Code, &c.Branch, &c.Category, &filed, &c.FiledEventID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return c, &storage.Error{Code: storage.NotFound, Message: "complaint not found", Err: complaint.ErrNotFound}
	case err != nil:
		return c, fmt.Errorf("read complaint by code: %w", err)
	}
	c.FiledAt = fromNanos(filed)
	return c, nil
}

// ComplaintHead implements storage.Tracking: the complaint and its events'
// version in one statement, so both come from one snapshot.
func (s *Store) ComplaintHead(ctx context.Context, code string) (storage.Complaint, storage.EventsVersion, error) {
	var (
		c     storage.Complaint
		v     storage.EventsVersion
		filed *int64
	)
	err := s.pool.QueryRow(ctx, `SELECT c.id, c.code, c.branch, c.category, c.filed_at, c.filed_event_id,
		COALESCE(MAX(e.seq), 0), COUNT(e.seq)
		FROM complaints c LEFT JOIN events e ON e.complaint_id = c.id
		WHERE c.code = $1 GROUP BY c.id`, code).
		Scan(&c.ID, &c.Code, &c.Branch, &c.Category, &filed, &c.FiledEventID, &v.LastSeq, &v.Count)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return c, v, &storage.Error{Code: storage.NotFound, Message: "complaint not found", Err: complaint.ErrNotFound}
	case err != nil:
		return c, v, fmt.Errorf("read complaint head by code: %w", err)
	}
	c.FiledAt = fromNanos(filed)
	return c, v, nil
}

// Stats implements storage.Store, in one snapshot.
func (s *Store) Stats(ctx context.Context) (storage.Stats, error) {
	var st storage.Stats
	err := s.pool.QueryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM branches),
		(SELECT COUNT(*) FROM devices),
		(SELECT COUNT(*) FROM events),
		(SELECT COUNT(*) FROM complaints),
		(SELECT COALESCE(MAX(seq), 0) FROM events)`).
		Scan(&st.Branches, &st.Devices, &st.Events, &st.Complaints, &st.LastGlobalSeq)
	if err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	return st, nil
}

// ComplaintsEvents reads the stored events of many complaints in one
// query, each complaint's in global sequence order (as ComplaintEvents):
// the case engine reads a page's complaints with it, one round trip
// instead of one per complaint. A complaint with no events is absent.
func (s *Store) ComplaintsEvents(ctx context.Context, complaintIDs []string) (map[string][]storage.StoredEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE complaint_id = ANY($1) ORDER BY seq`, complaintIDs)
	if err != nil {
		return nil, fmt.Errorf("read events of %d complaints: %w", len(complaintIDs), err)
	}
	all, err := scanEvents(rows, len(complaintIDs))
	if err != nil {
		return nil, fmt.Errorf("read events of %d complaints: %w", len(complaintIDs), err)
	}
	out := make(map[string][]storage.StoredEvent, len(complaintIDs))
	for _, se := range all {
		out[se.Event.ComplaintID] = append(out[se.Event.ComplaintID], se)
	}
	return out, nil
}
