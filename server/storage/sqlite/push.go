package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"ombud/server/admit"
	"ombud/server/storage"
	"ombud/shared/audit"
	"ombud/shared/device"
	"ombud/shared/hlc"
	"ombud/shared/staff"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

// Push implements hub.Log. See there (and storage.Events) for the
// contract; the rules of what is stored are package admit's, and the notes
// here are about how.
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
	// The stateless rules need no lock: apply them before taking the writer.
	batch := admit.Prepare(events)
	if err := ctx.Err(); err != nil {
		return hub.PushResult{}, err
	}
	// The payloads' hashes too: the chain's links are computed under the
	// writer, but they cover only these and a few short columns.
	payloads := make([]audit.Hash, len(batch.Events))
	for i := range batch.Events {
		payloads[i] = audit.PayloadHash(batch.Events[i].Event.Data)
	}
	r := &pushReq{ctx: ctx, device: deviceID, batch: batch, payloads: payloads, wake: make(chan struct{}, 1)}
	s.pushes.submit(s, r)
	if r.err == nil && len(r.scopes) > 0 {
		s.feed.Publish(r.scopes)
	}
	return r.res, r.err
}

// Group commit. Pushes from many connections share one transaction: each
// runs inside its own savepoint (so it is still atomic, and one that fails
// rolls back alone), then one COMMIT (one fsync) makes the whole group
// durable and only then is any of them answered. With one writer connection
// the pushes would queue for it anyway; sharing its commit turns a thousand
// devices' small pushes into a few dozen fsyncs instead of a thousand.
//
// There is no background goroutine: the first caller to find the writer
// idle leads, takes everything queued, commits it, hands the lead to the
// first push that queued meanwhile, and returns. A push waits for at most
// the group in flight plus its own.

// maxGroupEvents bounds one group's events, so a group's commit (and the
// wait of the pushes behind it) stays short when many devices catch up at
// once. A single push may still exceed it.
const maxGroupEvents = 4000

type pushGroup struct {
	mu    sync.Mutex
	queue []*pushReq
	busy  bool // a leader is running a group
}

// pushReq is one Push call waiting for its group.
type pushReq struct {
	ctx      context.Context
	device   string
	batch    *admit.Batch
	payloads []audit.Hash // of batch.Events' payloads, by index

	// wake is signalled once done is set (the answer is in res and err) or
	// when this request is asked to lead the next group.
	wake   chan struct{}
	done   bool
	res    hub.PushResult
	scopes []string // of the events stored, for the commit feed
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
	// Leading: r is the head of the queue (the queue was empty when it
	// found the writer idle, or the last leader handed over to its head),
	// so it is in this group.
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

// commitGroup runs every push of group in one transaction, each inside a
// savepoint, commits, and sets each push's answer. The transaction does not
// follow any one caller's context: one device hanging up must not roll back
// the others; a push whose context ended before it ran is skipped.
func (s *Store) commitGroup(group []*pushReq) {
	finish := func(err error, reqs []*pushReq) {
		for _, r := range reqs {
			if !r.done {
				r.res, r.err, r.done = hub.PushResult{}, err, true
			}
		}
	}
	ctx := context.WithoutCancel(group[0].ctx)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		finish(fmt.Errorf("push: begin: %w", err), group)
		return
	}
	defer tx.Rollback()
	before, err := ends(ctx, tx)
	if err != nil {
		finish(fmt.Errorf("push: %w", err), group)
		return
	}
	stmts := &groupStmts{tx: tx, byStmt: make(map[*sql.Stmt]*sql.Stmt), bySQL: make(map[string]*sql.Stmt)}
	storedAt := nanos(time.Now())
	ok := make([]*pushReq, 0, len(group))
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err, r.done = err, true
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT push"); err != nil {
			finish(fmt.Errorf("push from %s: savepoint: %w", r.device, err), group)
			return
		}
		in := pushTx{ctx: ctx, tx: tx, st: &s.write, stmts: stmts, device: r.device, storedAt: storedAt, policy: s.policy, payloads: r.payloads}
		res, scopes, err := in.run(r.batch)
		if err != nil {
			// This push alone is undone; the group goes on.
			// Its links are undone with it: read the head again.
			stmts.chain = nil
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO push; RELEASE push"); rerr != nil {
				finish(fmt.Errorf("push from %s: roll back to savepoint: %w", r.device, rerr), group)
				return
			}
			r.err, r.done = err, true
			continue
		}
		if _, err := tx.ExecContext(ctx, "RELEASE push"); err != nil {
			finish(fmt.Errorf("push from %s: release savepoint: %w", r.device, err), group)
			return
		}
		r.res, r.scopes = res, scopes
		ok = append(ok, r)
	}
	if len(ok) == 0 {
		return
	}
	after, err := ends(ctx, tx)
	if err != nil {
		finish(fmt.Errorf("push: %w", err), ok)
		return
	}
	if err := s.local.commit(tx, before, after); err != nil {
		finish(fmt.Errorf("push: commit: %w", err), ok)
		return
	}
	for _, r := range ok {
		r.done = true
	}
}

// pushTx is one Push call's part of a group's transaction.
type pushTx struct {
	ctx      context.Context
	tx       *sql.Tx
	st       *writeStmts
	stmts    *groupStmts
	device   string
	storedAt int64
	policy   admit.Policy
	payloads []audit.Hash
}

// groupStmts are the statements of one group's transaction, bound to it
// once rather than once per use.
type groupStmts struct {
	tx     *sql.Tx
	byStmt map[*sql.Stmt]*sql.Stmt
	bySQL  map[string]*sql.Stmt
	// chain is the audit chain's head as this transaction moved it; nil
	// until the first insert reads it (and after a savepoint rollback).
	chain *chainState
}

func (in *pushTx) stmt(s *sql.Stmt) *sql.Stmt {
	t, ok := in.stmts.byStmt[s]
	if !ok {
		t = in.tx.StmtContext(in.ctx, s)
		in.stmts.byStmt[s] = t
	}
	return t
}

// The set lookups take their keys as one JSON array, so each is a single
// statement whatever the push's size.
const (
	idsHeldSQL = `SELECT id FROM events WHERE id IN (SELECT value FROM json_each(?))`
	// The complaint's filed branch, else the branch of any event naming it.
	branchesSQL = `SELECT j.value, (SELECT branch FROM complaints WHERE id = j.value
		UNION ALL SELECT branch FROM events WHERE complaint_id = j.value LIMIT 1) FROM json_each(?) j`
	filedIDsSQL   = `SELECT id FROM complaints WHERE id IN (SELECT value FROM json_each(?))`
	filedCodesSQL = `SELECT code FROM complaints WHERE code IN (SELECT value FROM json_each(?))`
	staffSQL      = `SELECT s.id, s.branch_id, s.role, s.revoked_at, s.teams, coalesce(c.branches, '') FROM staff s
		LEFT JOIN console_accounts c ON c.staff_id = s.id WHERE s.id IN (SELECT value FROM json_each(?))`
	queuesSQL   = `SELECT complaint_id, queue, at, event_id FROM complaint_queues WHERE complaint_id IN (SELECT value FROM json_each(?))`
	prefixesSQL = `SELECT prefix, id FROM devices WHERE prefix IN (SELECT value FROM json_each(?))`
	// ?1 the device, ?2 the staff ids.
	sessionsSQL = `SELECT staff_id, id, started_at, expires_at, ended_at FROM staff_sessions
		WHERE device_id = ?1 AND staff_id IN (SELECT value FROM json_each(?2)) ORDER BY started_at`
)

// query runs one of the set lookups with keys (after any leading
// arguments) and calls row for each row.
func (in *pushTx) query(query string, keys []string, row func(*sql.Rows) error, leading ...any) error {
	if len(keys) == 0 {
		return nil
	}
	st, ok := in.stmts.bySQL[query]
	if !ok {
		var err error
		if st, err = in.tx.PrepareContext(in.ctx, query); err != nil {
			return err
		}
		in.stmts.bySQL[query] = st
	}
	arg, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	rows, err := st.QueryContext(in.ctx, append(leading, string(arg))...)
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

// view looks up what admit needs to judge the batch, in the push's
// transaction: a few set queries whatever the push's size.
func (in *pushTx) view(dev admit.Device, maxHeld sql.NullInt64, k admit.Keys) (*admit.View, error) {
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
	if maxHeld.Valid && k.FirstSeq <= maxHeld.Int64 {
		if err := in.slots(v, k); err != nil {
			return nil, err
		}
	}
	var key string
	if err := in.query(idsHeldSQL, k.EventIDs, func(r *sql.Rows) error {
		err := r.Scan(&key)
		v.Stored[key] = true
		return err
	}); err != nil {
		return nil, fmt.Errorf("push from %s: look up event ids: %w", in.device, err)
	}
	if err := in.query(branchesSQL, k.ComplaintIDs, func(r *sql.Rows) error {
		var b sql.NullString
		err := r.Scan(&key, &b)
		if b.Valid {
			v.Branches[key] = b.String
		}
		return err
	}); err != nil {
		return nil, fmt.Errorf("push from %s: look up complaints: %w", in.device, err)
	}
	if err := in.query(filedIDsSQL, k.FiledIDs, func(r *sql.Rows) error {
		err := r.Scan(&key)
		v.Filed[key] = true
		return err
	}); err != nil {
		return nil, fmt.Errorf("push from %s: look up filed complaints: %w", in.device, err)
	}
	if err := in.query(filedCodesSQL, k.Codes, func(r *sql.Rows) error {
		err := r.Scan(&key)
		v.Codes[key] = true
		return err
	}); err != nil {
		return nil, fmt.Errorf("push from %s: look up tracking codes: %w", in.device, err)
	}
	if err := in.query(staffSQL, k.StaffIDs, func(r *sql.Rows) error {
		var (
			a           admit.Account
			role, teams string
			revoked     sql.NullInt64
		)
		var branches string
		err := r.Scan(&key, &a.Branch, &role, &revoked, &teams, &branches)
		a.Role, a.RevokedAt, a.Teams, a.Branches = staff.Role(role), fromNanos(revoked), splitTeams(teams), splitTeams(branches)
		v.Staff[key] = a
		return err
	}); err != nil {
		return nil, fmt.Errorf("push from %s: look up staff accounts: %w", in.device, err)
	}
	if err := in.query(prefixesSQL, k.Prefixes, func(r *sql.Rows) error {
		var owner string
		err := r.Scan(&key, &owner)
		v.PrefixOwners[key] = owner
		return err
	}); err != nil {
		return nil, fmt.Errorf("push from %s: look up prefixes: %w", in.device, err)
	}
	if err := in.query(queuesSQL, k.ComplaintIDs, func(r *sql.Rows) error {
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
	if err := in.query(sessionsSQL, k.StaffIDs, func(r *sql.Rows) error {
		var (
			ss               storage.Session
			started, expires int64
			ended            sql.NullInt64
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

// slots reads what the device's sequences FirstSeq..LastSeq hold: events,
// aliases and recorded rejections.
func (in *pushTx) slots(v *admit.View, k admit.Keys) error {
	for _, look := range []struct {
		kind admit.SlotKind
		stmt *sql.Stmt
	}{{admit.SlotStored, in.st.slotsStored}, {admit.SlotAlias, in.st.slotsAliased}, {admit.SlotRejected, in.st.slotsRejected}} {
		rows, err := in.stmt(look.stmt).QueryContext(in.ctx, in.device, k.FirstSeq, k.LastSeq)
		if err != nil {
			return fmt.Errorf("push from %s: look up held seqs: %w", in.device, err)
		}
		for rows.Next() {
			var (
				seq  int64
				slot = admit.Slot{Kind: look.kind}
				code int64
			)
			if look.kind == admit.SlotStored {
				// The event itself (its device seq read as Seq), so a
				// resend that differs from it is told apart from a
				// duplicate.
				se, err := scanEvent(rows)
				if err != nil {
					rows.Close()
					return fmt.Errorf("push from %s: look up held seqs: %w", in.device, err)
				}
				slot.EventID, slot.Held = se.Event.ID, &se.Event
				v.Slots[se.Seq] = slot
				continue
			}
			dst := []any{&seq, &slot.EventID}
			if look.kind == admit.SlotRejected {
				dst = append(dst, &code, &slot.Reason)
			}
			if err := rows.Scan(dst...); err != nil {
				rows.Close()
				return fmt.Errorf("push from %s: look up held seqs: %w", in.device, err)
			}
			slot.Code = wire.CloseCode(code)
			v.Slots[seq] = slot
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("push from %s: look up held seqs: %w", in.device, err)
		}
	}
	return nil
}

// run judges the batch and writes the decisions. It returns the scopes of
// what it stored, for the commit feed.
func (in *pushTx) run(b *admit.Batch) (hub.PushResult, []string, error) {
	var (
		res                         hub.PushResult
		branch, role, prefix, teams string
		enrolled                    int64
		revoked                     sql.NullInt64
	)
	err := in.stmt(in.st.pushDevice).QueryRowContext(in.ctx, in.device).Scan(&branch, &role, &teams, &prefix, &enrolled, &revoked, &res.AckedSeq)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return res, nil, &storage.Error{Code: storage.NotFound, Message: fmt.Sprintf("device %s not found", in.device), Err: hub.ErrDeviceRevoked}
	case err != nil:
		return res, nil, fmt.Errorf("push from %s: read device: %w", in.device, err)
	case revoked.Valid:
		return res, nil, &storage.Error{Code: storage.Revoked, Message: fmt.Sprintf("device %s is revoked", in.device), Err: hub.ErrDeviceRevoked}
	}
	acked := res.AckedSeq
	events := b.Events
	if first := events[0].Seq; first > acked+1 {
		return res, nil, &storage.Error{Code: storage.Invalid, Err: hub.ErrGap,
			Message: fmt.Sprintf("push starts at device seq %d, but only %d are handled", first, acked)}
	}
	var maxHeld sql.NullInt64
	if err := in.stmt(in.st.maxHeld).QueryRowContext(in.ctx, in.device).Scan(&maxHeld); err != nil {
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
			if !d.Record {
				continue
			}
			if _, err := in.stmt(in.st.insertRejection).ExecContext(in.ctx, in.device, de.Seq, de.Event.ID, int64(d.Code), d.Reason, in.storedAt); err != nil {
				return res, nil, fmt.Errorf("push from %s: record rejection of seq %d: %w", in.device, de.Seq, err)
			}
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

	// Every seq of the batch is now handled and the batch starts at or
	// below acked+1, so the ack covers it; then it may pass slots stored
	// earlier beyond it (an older importer allowed gaps).
	res.AckedSeq = max(res.AckedSeq, events[len(events)-1].Seq)
	if err := in.advanceOverStored(&res.AckedSeq); err != nil {
		return res, nil, err
	}
	if res.AckedSeq != acked {
		if _, err := in.stmt(in.st.setAcked).ExecContext(in.ctx, res.AckedSeq, in.device); err != nil {
			return res, nil, fmt.Errorf("push from %s: record ack: %w", in.device, err)
		}
	}
	// The branches of what was stored (a staff terminal's, or a team
	// terminal's cases from any branch) and the team streams it joined.
	var scopes []string
	for _, s := range inserted {
		scopes = appendNew(scopes, wire.BranchScope(s.e.Branch))
	}
	scopes = append(scopes, joined...)
	return res, scopes, nil
}

// advanceOverStored moves *acked over slots already handled past it.
func (in *pushTx) advanceOverStored(acked *int64) error {
	rows, err := in.stmt(in.st.seqsAfter).QueryContext(in.ctx, in.device, *acked)
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
	if err := rows.Err(); err != nil {
		return fmt.Errorf("push from %s: read stored seqs: %w", in.device, err)
	}
	return rows.Close()
}

// Rows per multi-row INSERT: one statement per chunk instead of one per
// event saves most of the per-statement cost (binding, database/sql,
// the VDBE program's start), well under SQLite's 32,766 variables.
const insertChunk = 100

const (
	eventCols     = `INSERT INTO events (seq, id, device_id, device_seq, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at, attest, hash, payload_hash) VALUES `
	eventRow      = `(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`
	complaintCols = `INSERT INTO complaints (id, code, branch, category, filed_at, filed_event_id) VALUES `
	complaintRow  = `(?,?,?,?,?,?)`
)

// insert stores the events of b at the indexes in store, in that order
// (so their global sequences follow the batch), and the complaints their
// Filed events carry.
func (in *pushTx) insert(b *admit.Batch, store []int, attest []string) ([]stored, error) {
	var filed []int
	out := make([]stored, 0, len(store))
	if len(store) > 0 && in.stmts.chain == nil {
		c, err := readChain(in.ctx, in.tx)
		if err != nil {
			return nil, fmt.Errorf("push from %s: %w", in.device, err)
		}
		in.stmts.chain = c
	}
	for chunk := range slices.Chunk(store, insertChunk) {
		args := make([]any, 0, len(chunk)*15)
		for _, i := range chunk {
			e := &b.Events[i].Event
			rec := audit.Record{ID: e.ID, DeviceID: in.device, DeviceSeq: b.Events[i].Seq, ComplaintID: e.ComplaintID,
				Branch: e.Branch, Type: string(e.Type), ActorKind: string(e.Actor.Kind), ActorID: e.Actor.ID,
				At: int64(e.At), PayloadHash: in.payloads[i]}
			seq, hash := in.stmts.chain.link(&rec)
			args = append(args, seq, e.ID, in.device, b.Events[i].Seq, e.ComplaintID, e.Branch, string(e.Type),
				string(e.Actor.Kind), e.Actor.ID, int64(e.At), []byte(e.Data), in.storedAt, attest[i], hash[:], rec.PayloadHash[:])
			out = append(out, stored{seq: seq, e: e})
			if b.Filed(i) != nil {
				filed = append(filed, i)
			}
		}
		// No ON CONFLICT: both keys were checked above inside this
		// transaction, so a conflict is a bug and fails the push.
		r, err := in.exec(eventCols, eventRow, len(chunk), args)
		if err != nil {
			return nil, fmt.Errorf("push from %s: insert events: %w", in.device, err)
		}
		if n, err := r.RowsAffected(); err != nil || n != int64(len(chunk)) {
			return nil, fmt.Errorf("push from %s: insert events: %d rows of %d, %v", in.device, n, len(chunk), err)
		}
	}
	for chunk := range slices.Chunk(filed, insertChunk) {
		args := make([]any, 0, len(chunk)*6)
		for _, i := range chunk {
			c := b.Filed(i)
			args = append(args, c.ID, c.Code, c.Branch, c.Category, nanos(c.FiledAt), b.Events[i].Event.ID)
		}
		_, err := in.exec(complaintCols, complaintRow, len(chunk), args)
		switch {
		case isUniqueViolation(err):
			return nil, storage.Errorf(storage.Conflict, "push from %s: a complaint or tracking code is already filed", in.device)
		case err != nil:
			return nil, fmt.Errorf("push from %s: project complaints: %w", in.device, err)
		}
	}
	return out, nil
}

// exec runs a multi-row INSERT of rows rows, prepared once per group and
// row count.
func (in *pushTx) exec(cols, row string, rows int, args []any) (sql.Result, error) {
	q := cols + strings.Repeat(row+",", rows-1) + row
	st, ok := in.stmts.bySQL[q]
	if !ok {
		var err error
		if st, err = in.tx.PrepareContext(in.ctx, q); err != nil {
			return nil, err
		}
		in.stmts.bySQL[q] = st
	}
	return st.ExecContext(in.ctx, args...)
}
