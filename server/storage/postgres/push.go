package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"ombud/server/admit"
	"ombud/server/storage"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/staff"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

// Push implements hub.Log. See there (and storage.Events) for the
// contract; the rules of what is stored are package admit's.
func (s *Store) Push(ctx context.Context, deviceID string, events []wire.DeviceEvent) (hub.PushResult, error) {
	switch {
	case len(events) == 0:
		return hub.PushResult{}, storage.Errorf(storage.Invalid, "empty push")
	case len(events) > storage.MaxBatch:
		return hub.PushResult{}, storage.Errorf(storage.Invalid, "push of %d events is over the limit of %d", len(events), storage.MaxBatch)
	case events[0].Seq < 1:
		return hub.PushResult{}, storage.Errorf(storage.Invalid, "device seq %d is below 1", events[0].Seq)
	}
	for i := range events {
		if events[i].Seq != events[0].Seq+int64(i) {
			return hub.PushResult{}, storage.Errorf(storage.Invalid, "push seqs are not contiguous at index %d", i)
		}
	}
	batch := admit.Prepare(events)
	if err := ctx.Err(); err != nil {
		return hub.PushResult{}, err
	}
	r := &pushReq{ctx: ctx, device: deviceID, batch: batch, wake: make(chan struct{}, 1)}
	s.pushes.submit(s, r)
	if r.err == nil && len(r.scopes) > 0 {
		s.feed.Publish(r.scopes)
	}
	return r.res, r.err
}

// Group commit, as in the SQLite store: pushes from this replica's devices
// share one transaction, each in its own savepoint, so the log's lock and
// the commit's WAL flush are paid once per group. The first caller to find
// no group running leads; there is no background goroutine.

const maxGroupEvents = 4000

type pushGroup struct {
	mu    sync.Mutex
	queue []*pushReq
	busy  bool
}

type pushReq struct {
	ctx    context.Context
	device string
	batch  *admit.Batch

	wake   chan struct{}
	done   bool
	res    hub.PushResult
	scopes []string
	err    error
}

func (g *pushGroup) submit(s *Store, r *pushReq) {
	g.mu.Lock()
	g.queue = append(g.queue, r)
	lead := !g.busy
	g.busy = true
	g.mu.Unlock()
	if !lead {
		<-r.wake
		if r.done {
			return
		}
	}
	g.mu.Lock()
	n, events := 0, 0
	for n < len(g.queue) && (n == 0 || events+len(g.queue[n].batch.Events) <= maxGroupEvents) {
		events += len(g.queue[n].batch.Events)
		n++
	}
	group := g.queue[:n:n]
	g.queue = append([]*pushReq(nil), g.queue[n:]...)
	g.mu.Unlock()

	s.commitGroup(group)

	g.mu.Lock()
	var next *pushReq
	if len(g.queue) > 0 {
		next = g.queue[0]
	} else {
		g.busy = false
	}
	g.mu.Unlock()
	for _, q := range group[1:] {
		q.wake <- struct{}{}
	}
	if next != nil {
		next.wake <- struct{}{}
	}
}

// pushTimeout bounds one group's transaction, so a database that stops
// answering fails the pushes (the devices back off and resend) instead of
// holding them.
const pushTimeout = 30 * time.Second

func (s *Store) commitGroup(group []*pushReq) {
	finish := func(err error, reqs []*pushReq) {
		for _, r := range reqs {
			if !r.done {
				r.res, r.err, r.done = hub.PushResult{}, err, true
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(group[0].ctx), pushTimeout)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		finish(fmt.Errorf("push: begin: %w", err), group)
		return
	}
	defer tx.Rollback(ctx)
	mark, err := lockLog(ctx, tx)
	if err != nil {
		finish(fmt.Errorf("push: %w", err), group)
		return
	}
	storedAt := nanos(time.Now())
	ok := make([]*pushReq, 0, len(group))
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err, r.done = err, true
			continue
		}
		sp, err := tx.Begin(ctx)
		if err != nil {
			finish(fmt.Errorf("push from %s: savepoint: %w", r.device, err), group)
			return
		}
		in := pushTx{ctx: ctx, tx: sp, device: r.device, storedAt: storedAt, policy: s.policy}
		res, scopes, err := in.run(r.batch)
		if err != nil {
			if rerr := sp.Rollback(ctx); rerr != nil {
				finish(fmt.Errorf("push from %s: roll back to savepoint: %w", r.device, rerr), group)
				return
			}
			r.err, r.done = err, true
			continue
		}
		if err := sp.Commit(ctx); err != nil {
			finish(fmt.Errorf("push from %s: release savepoint: %w", r.device, err), group)
			return
		}
		r.res, r.scopes = res, scopes
		ok = append(ok, r)
	}
	if len(ok) == 0 {
		return
	}
	var scopes []string
	for _, r := range ok {
		for _, sc := range r.scopes {
			scopes = appendNew(scopes, sc)
		}
	}
	if err := s.commitLog(ctx, tx, mark, scopes); err != nil {
		finish(fmt.Errorf("push: %w", err), ok)
		return
	}
	for _, r := range ok {
		r.done = true
	}
}

type pushTx struct {
	ctx      context.Context
	tx       pgx.Tx
	device   string
	storedAt int64
	policy   admit.Policy
}

const (
	idsHeldSQL    = `SELECT id FROM events WHERE id = ANY($1)`
	branchesSQL   = `SELECT k, COALESCE((SELECT branch FROM complaints WHERE id = k), (SELECT branch FROM events WHERE complaint_id = k LIMIT 1)) FROM unnest($1::text[]) k`
	filedIDsSQL   = `SELECT id FROM complaints WHERE id = ANY($1)`
	filedCodesSQL = `SELECT code FROM complaints WHERE code = ANY($1)`
	staffSQL      = `SELECT id, branch_id, role, revoked_at, teams FROM staff WHERE id = ANY($1)`
	queuesSQL     = `SELECT complaint_id, queue, at, event_id FROM complaint_queues WHERE complaint_id = ANY($1)`
	prefixesSQL   = `SELECT prefix, id FROM devices WHERE prefix = ANY($1)`
	sessionsSQL   = `SELECT staff_id, id, started_at, expires_at, ended_at FROM staff_sessions
		WHERE staff_id = ANY($1) AND device_id = $2 ORDER BY started_at`
)

// query runs one of the set lookups and calls row for each row.
func (in *pushTx) query(query string, keys []string, row func(pgx.Rows) error, extra ...any) error {
	if len(keys) == 0 {
		return nil
	}
	rows, err := in.tx.Query(in.ctx, query, append([]any{keys}, extra...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (in *pushTx) view(dev admit.Device, maxHeld *int64, k admit.Keys) (*admit.View, error) {
	v := &admit.View{
		Device:       dev,
		ReceivedAt:   time.Unix(0, in.storedAt),
		Slots:        make(map[int64]admit.Slot),
		Stored:       make(map[string]bool),
		Branches:     make(map[string]string),
		Filed:        make(map[string]bool),
		Codes:        make(map[string]bool),
		Staff:        make(map[string]admit.Account),
		PrefixOwners: make(map[string]string),
		Sessions:     make(map[string][]admit.Session),
		Queues:       make(map[string]storage.QueueMark),
		MaxOffline:   in.policy.MaxOffline,
		AcceptWithin: in.policy.AcceptWithin,
	}
	if maxHeld != nil && k.FirstSeq <= *maxHeld {
		if err := in.slots(v, k); err != nil {
			return nil, err
		}
	}
	var key string
	if err := in.query(idsHeldSQL, k.EventIDs, func(r pgx.Rows) error {
		err := r.Scan(&key)
		v.Stored[key] = true
		return err
	}); err != nil {
		return nil, fmt.Errorf("push from %s: look up event ids: %w", in.device, err)
	}
	if err := in.query(branchesSQL, k.ComplaintIDs, func(r pgx.Rows) error {
		var b *string
		err := r.Scan(&key, &b)
		if b != nil {
			v.Branches[key] = *b
		}
		return err
	}); err != nil {
		return nil, fmt.Errorf("push from %s: look up complaints: %w", in.device, err)
	}
	if err := in.query(filedIDsSQL, k.FiledIDs, func(r pgx.Rows) error {
		err := r.Scan(&key)
		v.Filed[key] = true
		return err
	}); err != nil {
		return nil, fmt.Errorf("push from %s: look up filed complaints: %w", in.device, err)
	}
	if err := in.query(filedCodesSQL, k.Codes, func(r pgx.Rows) error {
		err := r.Scan(&key)
		v.Codes[key] = true
		return err
	}); err != nil {
		return nil, fmt.Errorf("push from %s: look up tracking codes: %w", in.device, err)
	}
	if err := in.query(staffSQL, k.StaffIDs, func(r pgx.Rows) error {
		var (
			a           admit.Account
			role, teams string
			revoked     *int64
		)
		err := r.Scan(&key, &a.Branch, &role, &revoked, &teams)
		a.Role, a.RevokedAt, a.Teams = staff.Role(role), fromNanos(revoked), splitTeams(teams)
		v.Staff[key] = a
		return err
	}); err != nil {
		return nil, fmt.Errorf("push from %s: look up staff accounts: %w", in.device, err)
	}
	if err := in.query(prefixesSQL, k.Prefixes, func(r pgx.Rows) error {
		var owner string
		err := r.Scan(&key, &owner)
		v.PrefixOwners[key] = owner
		return err
	}); err != nil {
		return nil, fmt.Errorf("push from %s: look up prefixes: %w", in.device, err)
	}
	if err := in.query(queuesSQL, k.ComplaintIDs, func(r pgx.Rows) error {
		var (
			m  storage.QueueMark
			at int64
		)
		err := r.Scan(&key, &m.Queue, &at, &m.EventID)
		m.At = hlc.Timestamp(at)
		v.Queues[key] = m
		return err
	}); err != nil {
		return nil, fmt.Errorf("push from %s: look up queues: %w", in.device, err)
	}
	if err := in.query(sessionsSQL, k.StaffIDs, func(r pgx.Rows) error {
		var (
			ss               storage.Session
			started, expires int64
			ended            *int64
		)
		err := r.Scan(&key, &ss.ID, &started, &expires, &ended)
		ss.StartedAt, ss.ExpiresAt, ss.EndedAt = time.Unix(0, started), time.Unix(0, expires), fromNanos(ended)
		v.Sessions[key] = append(v.Sessions[key], admit.Session{ID: ss.ID, Start: ss.StartedAt, End: ss.End(), SignedOut: ss.SignedOut()})
		return err
	}, in.device); err != nil {
		return nil, fmt.Errorf("push from %s: look up sessions: %w", in.device, err)
	}
	return v, nil
}

func (in *pushTx) slots(v *admit.View, k admit.Keys) error {
	rows, err := in.tx.Query(in.ctx, `SELECT device_seq, `+eventColumns+` FROM events WHERE device_id = $1 AND device_seq BETWEEN $2 AND $3`,
		in.device, k.FirstSeq, k.LastSeq)
	if err != nil {
		return fmt.Errorf("push from %s: look up held seqs: %w", in.device, err)
	}
	for rows.Next() {
		var dseq int64
		se, err := scanEventWith(rows, &dseq)
		if err != nil {
			rows.Close()
			return fmt.Errorf("push from %s: look up held seqs: %w", in.device, err)
		}
		e := se.Event
		v.Slots[dseq] = admit.Slot{Kind: admit.SlotStored, EventID: e.ID, Held: &e}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("push from %s: look up held seqs: %w", in.device, err)
	}
	rows, err = in.tx.Query(in.ctx, `SELECT device_seq, event_id FROM event_aliases WHERE device_id = $1 AND device_seq BETWEEN $2 AND $3`,
		in.device, k.FirstSeq, k.LastSeq)
	if err != nil {
		return fmt.Errorf("push from %s: look up held seqs: %w", in.device, err)
	}
	for rows.Next() {
		var (
			seq  int64
			slot = admit.Slot{Kind: admit.SlotAlias}
		)
		if err := rows.Scan(&seq, &slot.EventID); err != nil {
			rows.Close()
			return fmt.Errorf("push from %s: look up held seqs: %w", in.device, err)
		}
		v.Slots[seq] = slot
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("push from %s: look up held seqs: %w", in.device, err)
	}
	rows, err = in.tx.Query(in.ctx, `SELECT device_seq, event_id, code, reason FROM event_rejections WHERE device_id = $1 AND device_seq BETWEEN $2 AND $3`,
		in.device, k.FirstSeq, k.LastSeq)
	if err != nil {
		return fmt.Errorf("push from %s: look up held seqs: %w", in.device, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			seq  int64
			code int32
			slot = admit.Slot{Kind: admit.SlotRejected}
		)
		if err := rows.Scan(&seq, &slot.EventID, &code, &slot.Reason); err != nil {
			return fmt.Errorf("push from %s: look up held seqs: %w", in.device, err)
		}
		slot.Code = wire.CloseCode(code)
		v.Slots[seq] = slot
	}
	return rows.Err()
}

func (in *pushTx) run(b *admit.Batch) (hub.PushResult, []string, error) {
	var (
		res                         hub.PushResult
		branch, role, prefix, teams string
		enrolled                    int64
		revoked                     *int64
	)
	err := in.tx.QueryRow(in.ctx, `SELECT branch_id, role, teams, prefix, enrolled_at, revoked_at, acked_seq FROM devices WHERE id = $1`,
		in.device).Scan(&branch, &role, &teams, &prefix, &enrolled, &revoked, &res.AckedSeq)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return res, nil, &storage.Error{Code: storage.NotFound, Message: fmt.Sprintf("device %s not found", in.device), Err: hub.ErrDeviceRevoked}
	case err != nil:
		return res, nil, fmt.Errorf("push from %s: read device: %w", in.device, err)
	case revoked != nil:
		return res, nil, &storage.Error{Code: storage.Revoked, Message: fmt.Sprintf("device %s is revoked", in.device), Err: hub.ErrDeviceRevoked}
	}
	acked := res.AckedSeq
	events := b.Events
	if first := events[0].Seq; first > acked+1 {
		return res, nil, &storage.Error{Code: storage.Invalid, Err: hub.ErrGap,
			Message: fmt.Sprintf("push starts at device seq %d, but only %d are handled", first, acked)}
	}
	var maxHeld *int64
	if err := in.tx.QueryRow(in.ctx, `SELECT MAX(s) FROM (
			SELECT MAX(device_seq) AS s FROM events WHERE device_id = $1
			UNION ALL SELECT MAX(device_seq) FROM event_aliases WHERE device_id = $1
			UNION ALL SELECT MAX(device_seq) FROM event_rejections WHERE device_id = $1) m`, in.device).Scan(&maxHeld); err != nil {
		return res, nil, fmt.Errorf("push from %s: read held seqs: %w", in.device, err)
	}
	dev := admit.Device{ID: in.device, Branch: branch, Role: device.Role(role), Teams: splitTeams(teams), Prefix: prefix, EnrolledAt: time.Unix(0, enrolled)}
	v, err := in.view(dev, maxHeld, b.Keys())
	if err != nil {
		return res, nil, err
	}
	decisions := b.Decide(v)

	store := make([]int, 0, len(events))
	attest := make([]string, len(events))
	var rejections [][]any
	for i, d := range decisions {
		de := &events[i]
		switch d.Verdict {
		case admit.Store:
			store = append(store, i)
			attest[i] = d.Attest
		case admit.Duplicate:
			res.Duplicates++
		case admit.Reject:
			res.Rejected = append(res.Rejected, wire.PushReject{Seq: de.Seq, EventID: de.Event.ID, Code: d.Code, Reason: d.Reason})
			if d.Record {
				rejections = append(rejections, []any{in.device, de.Seq, de.Event.ID, int32(d.Code), d.Reason, in.storedAt})
			}
		}
	}
	if len(rejections) > 0 {
		if _, err := in.tx.CopyFrom(in.ctx, pgx.Identifier{"event_rejections"},
			[]string{"device_id", "device_seq", "event_id", "code", "reason", "rejected_at"}, pgx.CopyFromRows(rejections)); err != nil {
			return res, nil, fmt.Errorf("push from %s: record rejections: %w", in.device, err)
		}
	}
	inserted, err := in.insert(b, store, attest)
	if err != nil {
		return res, nil, err
	}
	joined, err := routeTeams(in.ctx, in.tx, inserted)
	if err != nil {
		return res, nil, fmt.Errorf("push from %s: %w", in.device, err)
	}
	res.Stored = len(store)
	res.AckedSeq = max(res.AckedSeq, events[len(events)-1].Seq)
	if err := in.advanceOverStored(&res.AckedSeq); err != nil {
		return res, nil, err
	}
	if res.AckedSeq != acked {
		if _, err := in.tx.Exec(in.ctx, `UPDATE devices SET acked_seq = $1 WHERE id = $2`, res.AckedSeq, in.device); err != nil {
			return res, nil, fmt.Errorf("push from %s: record ack: %w", in.device, err)
		}
	}
	var scopes []string
	for _, s := range inserted {
		scopes = appendNew(scopes, wire.BranchScope(s.e.Branch))
	}
	scopes = append(scopes, joined...)
	return res, scopes, nil
}

func (in *pushTx) advanceOverStored(acked *int64) error {
	rows, err := in.tx.Query(in.ctx, `SELECT device_seq FROM events WHERE device_id = $1 AND device_seq > $2
		UNION ALL SELECT device_seq FROM event_aliases WHERE device_id = $1 AND device_seq > $2
		UNION ALL SELECT device_seq FROM event_rejections WHERE device_id = $1 AND device_seq > $2
		ORDER BY 1`, in.device, *acked)
	if err != nil {
		return fmt.Errorf("push from %s: read stored seqs: %w", in.device, err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return fmt.Errorf("push from %s: read stored seqs: %w", in.device, err)
		}
		if seq != *acked+1 {
			break
		}
		*acked = seq
	}
	return rows.Err()
}

var (
	eventCopyCols     = []string{"seq", "id", "device_id", "device_seq", "complaint_id", "branch", "type", "actor_kind", "actor_id", "at", "data", "stored_at", "attest"}
	complaintCopyCols = []string{"id", "code", "branch", "category", "filed_at", "filed_event_id"}
)

// takeSeqs draws n consecutive global sequences. The caller holds the log's
// lock, so nobody else draws meanwhile and they come out consecutive.
func takeSeqs(ctx context.Context, tx pgx.Tx, n int) (first int64, err error) {
	var last int64
	if err := tx.QueryRow(ctx, `SELECT setval('events_seq', nextval('events_seq') + $1 - 1)`, int64(n)).Scan(&last); err != nil {
		return 0, fmt.Errorf("draw %d sequences: %w", n, err)
	}
	return last - int64(n) + 1, nil
}

// insert stores the events of b at the indexes in store, in that order
// (their global sequences follow the batch), with COPY, and the complaints
// their Filed events carry.
func (in *pushTx) insert(b *admit.Batch, store []int, attest []string) ([]stored, error) {
	if len(store) == 0 {
		return nil, nil
	}
	first, err := takeSeqs(in.ctx, in.tx, len(store))
	if err != nil {
		return nil, fmt.Errorf("push from %s: %w", in.device, err)
	}
	rows := make([][]any, 0, len(store))
	out := make([]stored, 0, len(store))
	var filed [][]any
	for k, i := range store {
		e := &b.Events[i].Event
		seq := first + int64(k)
		rows = append(rows, []any{seq, e.ID, in.device, b.Events[i].Seq, e.ComplaintID, e.Branch, string(e.Type),
			string(e.Actor.Kind), e.Actor.ID, int64(e.At), nilIfEmpty(e.Data), in.storedAt, attest[i]})
		out = append(out, stored{seq: seq, e: e})
		if c := b.Filed(i); c != nil {
			filed = append(filed, []any{c.ID, c.Code, c.Branch, c.Category, nanos(c.FiledAt), e.ID})
		}
	}
	if _, err := in.tx.CopyFrom(in.ctx, pgx.Identifier{"events"}, eventCopyCols, pgx.CopyFromRows(rows)); err != nil {
		return nil, fmt.Errorf("push from %s: insert events: %w", in.device, err)
	}
	if len(filed) > 0 {
		_, err := in.tx.CopyFrom(in.ctx, pgx.Identifier{"complaints"}, complaintCopyCols, pgx.CopyFromRows(filed))
		switch {
		case isUniqueViolation(err):
			return nil, storage.Errorf(storage.Conflict, "push from %s: a complaint or tracking code is already filed", in.device)
		case err != nil:
			return nil, fmt.Errorf("push from %s: project complaints: %w", in.device, err)
		}
	}
	return out, nil
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// stored is an event just inserted, with its global sequence.
type stored struct {
	seq int64
	e   *event.Event
}
