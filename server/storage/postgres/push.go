package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"ombud/server/admit"
	"ombud/server/storage"
	"ombud/shared/audit"
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
const pushTimeout = 2 * time.Minute

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
	// Under the log's lock nobody else draws global sequences, so the
	// group numbers its events itself from where the sequence stood, and
	// each push sets the sequence past what it stored.
	lastSeq, prev := mark.seq, mark.prev
	ok := make([]*pushReq, 0, len(group))
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err, r.done = err, true
			continue
		}
		in := pushTx{ctx: ctx, tx: tx, device: r.device, storedAt: storedAt, policy: s.policy, lastSeq: lastSeq, prev: prev}
		res, scopes, err := in.run(r.batch)
		if err != nil {
			// This push alone is undone; the group goes on.
			rb := &pgx.Batch{}
			rb.Queue(`ROLLBACK TO SAVEPOINT push`)
			rb.Queue(`RELEASE SAVEPOINT push`)
			if rerr := tx.SendBatch(ctx, rb).Close(); rerr != nil {
				finish(fmt.Errorf("push from %s: roll back to savepoint: %w", r.device, rerr), group)
				return
			}
			r.err, r.done = err, true
			continue
		}
		lastSeq, prev = in.lastSeq, in.prev
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

// pushTx is one Push call's part of a group's transaction. It runs in
// three round trips whatever the push's size: the savepoint with the
// device's row, the admission lookups, then every write with the
// savepoint's release.
type pushTx struct {
	ctx      context.Context
	tx       pgx.Tx
	device   string
	storedAt int64
	policy   admit.Policy
	lastSeq  int64      // the global sequence last given; moved past what run stores
	prev     audit.Hash // the audit chain's last link; moved likewise
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

// lookup queues one of the set lookups on b, calling row for each row,
// unless there are no keys.
func lookup(b *pgx.Batch, query string, keys []string, row func(pgx.Rows) error, extra ...any) {
	if len(keys) == 0 {
		return
	}
	b.Queue(query, append([]any{keys}, extra...)...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			if err := row(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
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
	// The lookups are independent: one pipelined round trip for all.
	b := &pgx.Batch{}
	var key string
	lookup(b, idsHeldSQL, k.EventIDs, func(r pgx.Rows) error {
		err := r.Scan(&key)
		v.Stored[key] = true
		return err
	})
	lookup(b, branchesSQL, k.ComplaintIDs, func(r pgx.Rows) error {
		var b *string
		err := r.Scan(&key, &b)
		if b != nil {
			v.Branches[key] = *b
		}
		return err
	})
	lookup(b, filedIDsSQL, k.FiledIDs, func(r pgx.Rows) error {
		err := r.Scan(&key)
		v.Filed[key] = true
		return err
	})
	lookup(b, filedCodesSQL, k.Codes, func(r pgx.Rows) error {
		err := r.Scan(&key)
		v.Codes[key] = true
		return err
	})
	lookup(b, staffSQL, k.StaffIDs, func(r pgx.Rows) error {
		var (
			a           admit.Account
			role, teams string
			revoked     *int64
		)
		err := r.Scan(&key, &a.Branch, &role, &revoked, &teams)
		a.Role, a.RevokedAt, a.Teams = staff.Role(role), fromNanos(revoked), splitTeams(teams)
		v.Staff[key] = a
		return err
	})
	lookup(b, prefixesSQL, k.Prefixes, func(r pgx.Rows) error {
		var owner string
		err := r.Scan(&key, &owner)
		v.PrefixOwners[key] = owner
		return err
	})
	lookup(b, queuesSQL, k.ComplaintIDs, func(r pgx.Rows) error {
		var (
			m  storage.QueueMark
			at int64
		)
		err := r.Scan(&key, &m.Queue, &at, &m.EventID)
		m.At = hlc.Timestamp(at)
		v.Queues[key] = m
		return err
	})
	lookup(b, sessionsSQL, k.StaffIDs, func(r pgx.Rows) error {
		var (
			ss               storage.Session
			started, expires int64
			ended            *int64
		)
		err := r.Scan(&key, &ss.ID, &started, &expires, &ended)
		ss.StartedAt, ss.ExpiresAt, ss.EndedAt = time.Unix(0, started), time.Unix(0, expires), fromNanos(ended)
		v.Sessions[key] = append(v.Sessions[key], admit.Session{ID: ss.ID, Start: ss.StartedAt, End: ss.End(), SignedOut: ss.SignedOut()})
		return err
	}, in.device)
	if b.Len() > 0 {
		if err := in.tx.SendBatch(in.ctx, b).Close(); err != nil {
			return nil, fmt.Errorf("push from %s: look up what the batch names: %w", in.device, err)
		}
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
		revoked, maxHeld            *int64
		found                       bool
	)
	first := &pgx.Batch{}
	first.Queue(`SAVEPOINT push`)
	// The device, and the highest seq it holds anywhere (slots above it
	// are empty, so new events skip the slot lookups).
	first.Queue(`SELECT branch_id, role, teams, prefix, enrolled_at, revoked_at, acked_seq,
		(SELECT MAX(s) FROM (
			SELECT MAX(device_seq) AS s FROM events WHERE device_id = $1
			UNION ALL SELECT MAX(device_seq) FROM event_aliases WHERE device_id = $1
			UNION ALL SELECT MAX(device_seq) FROM event_rejections WHERE device_id = $1) m)
		FROM devices WHERE id = $1`, in.device).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			found = true
			if err := rows.Scan(&branch, &role, &teams, &prefix, &enrolled, &revoked, &res.AckedSeq, &maxHeld); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	err := in.tx.SendBatch(in.ctx, first).Close()
	switch {
	case err != nil:
		return res, nil, fmt.Errorf("push from %s: read device: %w", in.device, err)
	case !found:
		return res, nil, &storage.Error{Code: storage.NotFound, Message: fmt.Sprintf("device %s not found", in.device), Err: hub.ErrDeviceRevoked}
	case revoked != nil:
		return res, nil, &storage.Error{Code: storage.Revoked, Message: fmt.Sprintf("device %s is revoked", in.device), Err: hub.ErrDeviceRevoked}
	}
	acked := res.AckedSeq
	events := b.Events
	if first := events[0].Seq; first > acked+1 {
		return res, nil, &storage.Error{Code: storage.Invalid, Err: hub.ErrGap,
			Message: fmt.Sprintf("push starts at device seq %d, but only %d are handled", first, acked)}
	}
	dev := admit.Device{ID: in.device, Branch: branch, Role: device.Role(role), Teams: splitTeams(teams), Prefix: prefix, EnrolledAt: time.Unix(0, enrolled)}
	v, err := in.view(dev, maxHeld, b.Keys())
	if err != nil {
		return res, nil, err
	}
	decisions := b.Decide(v)

	w := &pgx.Batch{}
	var (
		rej struct {
			seqs  []int64
			ids   []string
			codes []int32
			why   []string
		}
		inserted []stored
		lastSeq  = in.lastSeq
		chain    = audit.From(in.prev)
	)
	ev := newEventArrays(len(events))
	cp := &complaintColumns{}
	for i, d := range decisions {
		de := &events[i]
		switch d.Verdict {
		case admit.Store:
			lastSeq++
			e := &de.Event
			rec := record(lastSeq, in.device, de.Seq, e.ID, e.ComplaintID, e.Branch, string(e.Type), string(e.Actor.Kind), e.Actor.ID, int64(e.At), e.Data)
			ev.add(lastSeq, de.Seq, e, d.Attest, chain.Next(&rec), rec.PayloadHash)
			inserted = append(inserted, stored{seq: lastSeq, e: e})
			if c := b.Filed(i); c != nil {
				cp.add(c.ID, c.Code, c.Branch, c.Category, nanos(c.FiledAt), e.ID)
			}
		case admit.Duplicate:
			res.Duplicates++
		case admit.Reject:
			res.Rejected = append(res.Rejected, wire.PushReject{Seq: de.Seq, EventID: de.Event.ID, Code: d.Code, Reason: d.Reason})
			if d.Record {
				rej.seqs, rej.ids = append(rej.seqs, de.Seq), append(rej.ids, de.Event.ID)
				rej.codes, rej.why = append(rej.codes, int32(d.Code)), append(rej.why, d.Reason)
			}
		}
	}
	if len(rej.seqs) > 0 {
		w.Queue(`INSERT INTO event_rejections (device_id, device_seq, event_id, code, reason, rejected_at)
			SELECT $1, s, e, c, r, $6 FROM unnest($2::bigint[], $3::text[], $4::int[], $5::text[]) AS t(s, e, c, r)`,
			in.device, rej.seqs, rej.ids, rej.codes, rej.why, in.storedAt)
	}
	if len(inserted) > 0 {
		// Multi-row inserts from arrays: one statement per table whatever
		// the push's size. No ON CONFLICT: the keys were checked above
		// under the log's lock, so a conflict is a bug and fails the push.
		w.Queue(`INSERT INTO events (seq, id, device_id, device_seq, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at, attest, hash, payload_hash)
			SELECT q, i, $1, ds, c, b, ty, ak, ai, a, d, $2, att, h, ph
			FROM unnest($3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bytea[], $13::text[], $14::bytea[], $15::bytea[])
				AS t(q, i, ds, c, b, ty, ak, ai, a, d, att, h, ph)`,
			in.device, in.storedAt, ev.seq, ev.id, ev.dseq, ev.complaint, ev.branch, ev.typ, ev.actorKind, ev.actorID, ev.at, ev.data, ev.attest, ev.hash, ev.payloadHash)
		if len(cp.id) > 0 {
			w.Queue(`INSERT INTO complaints (id, code, branch, category, filed_at, filed_event_id)
				SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[])`,
				cp.id, cp.code, cp.branch, cp.category, cp.filedAt, cp.eventID)
		}
	}
	queueText(w, inserted)
	joined := planRoutes(w, v.Queues, inserted)
	if len(inserted) > 0 {
		// Last: a failed statement above skips it, and the sequence
		// (which a rollback does not undo) moves only for stored events.
		w.Queue(`SELECT setval('events_seq', $1)`, lastSeq)
	}
	res.Stored = len(inserted)

	// Every seq of the batch is now handled and the batch starts at or
	// below acked+1, so the ack covers it; then it may pass slots stored
	// earlier beyond it (an older importer allowed gaps).
	res.AckedSeq = max(res.AckedSeq, events[len(events)-1].Seq)
	if maxHeld != nil && *maxHeld > res.AckedSeq {
		if err := in.advanceOverStored(&res.AckedSeq); err != nil {
			return res, nil, err
		}
	}
	if res.AckedSeq != acked {
		w.Queue(`UPDATE devices SET acked_seq = $1 WHERE id = $2`, res.AckedSeq, in.device)
	}
	w.Queue(`RELEASE SAVEPOINT push`)
	err = in.tx.SendBatch(in.ctx, w).Close()
	switch {
	case isUniqueViolation(err):
		return res, nil, storage.Errorf(storage.Conflict, "push from %s: a complaint or tracking code is already filed", in.device)
	case err != nil:
		return res, nil, fmt.Errorf("push from %s: store: %w", in.device, err)
	}
	in.lastSeq, in.prev = lastSeq, chain.Prev()
	var scopes []string
	for _, s := range inserted {
		scopes = appendNew(scopes, wire.BranchScope(s.e.Branch))
	}
	scopes = append(scopes, joined...)
	return res, scopes, nil
}

// eventArrays are the events of a push as one array per column.
type eventArrays struct {
	seq, dseq, at                                          []int64
	id, complaint, branch, typ, actorKind, actorID, attest []string
	data, hash, payloadHash                                [][]byte
}

func newEventArrays(n int) *eventArrays {
	return &eventArrays{seq: make([]int64, 0, n), dseq: make([]int64, 0, n), at: make([]int64, 0, n)}
}

func (c *eventArrays) add(seq, dseq int64, e *event.Event, attest string, hash, payloadHash audit.Hash) {
	c.hash, c.payloadHash = append(c.hash, hash[:]), append(c.payloadHash, payloadHash[:])
	c.seq, c.dseq, c.at = append(c.seq, seq), append(c.dseq, dseq), append(c.at, int64(e.At))
	c.id, c.complaint, c.branch = append(c.id, e.ID), append(c.complaint, e.ComplaintID), append(c.branch, e.Branch)
	c.typ, c.actorKind, c.actorID = append(c.typ, string(e.Type)), append(c.actorKind, string(e.Actor.Kind)), append(c.actorID, e.Actor.ID)
	c.data, c.attest = append(c.data, nilIfEmpty(e.Data)), append(c.attest, attest)
}

// complaintColumns are the complaints a push files.
type complaintColumns struct {
	id, code, branch, category, eventID []string
	filedAt                             []int64
}

func (c *complaintColumns) add(id, code, branch, category string, filedAt int64, eventID string) {
	c.id, c.code, c.branch, c.category = append(c.id, id), append(c.code, code), append(c.branch, branch), append(c.category, category)
	c.filedAt, c.eventID = append(c.filedAt, filedAt), append(c.eventID, eventID)
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
