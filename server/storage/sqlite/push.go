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

	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/staff"
	"ombud/shared/trackcode"
)

// Push implements storage.Events. See there for the contract and the order
// of the rules; the notes here are about how.
//
// Why a second path beside Ingest: Ingest refuses a whole batch on one bad
// event, which suits a trusted importer, but a device would resend that
// batch forever and everything behind the bad event would be stuck. Push
// answers per event and records the answer.
func (s *Store) Push(ctx context.Context, deviceID string, batch []storage.DeviceEvent) (storage.PushResult, error) {
	switch {
	case len(batch) == 0:
		return storage.PushResult{}, storage.Errorf(storage.Invalid, "empty push")
	case len(batch) > storage.MaxBatch:
		return storage.PushResult{}, storage.Errorf(storage.Invalid, "push of %d events is over the limit of %d", len(batch), storage.MaxBatch)
	case batch[0].Seq < 1:
		return storage.PushResult{}, storage.Errorf(storage.Invalid, "device seq %d is below 1", batch[0].Seq)
	}
	for i := range batch {
		if batch[i].Seq != batch[0].Seq+int64(i) {
			return storage.PushResult{}, storage.Errorf(storage.Invalid, "push seqs are not contiguous at index %d", i)
		}
	}
	// The domain checks need no lock: do them before taking the writer.
	checks := make([]pushCheck, len(batch))
	for i := range batch {
		checks[i] = checkPushed(&batch[i].Event)
	}
	if err := ctx.Err(); err != nil {
		return storage.PushResult{}, err
	}
	r := &pushReq{ctx: ctx, device: deviceID, batch: batch, checks: checks, wake: make(chan struct{}, 1)}
	s.pushes.submit(s, r)
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
	ctx    context.Context
	device string
	batch  []storage.DeviceEvent
	checks []pushCheck

	// wake is signalled once done is set (the answer is in res and err) or
	// when this request is asked to lead the next group.
	wake chan struct{}
	done bool
	res  storage.PushResult
	err  error
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
	for n < len(g.queue) && (n == 0 || events+len(g.queue[n].batch) <= maxGroupEvents) {
		events += len(g.queue[n].batch)
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
				r.res, r.err, r.done = storage.PushResult{}, err, true
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
		in := pushTx{
			ingestTx: ingestTx{ctx: ctx, tx: tx, st: &s.ingest, device: r.device, storedAt: storedAt},
			stmts:    stmts,
			branches: make(map[string]string),
		}
		res, err := in.run(r.batch, r.checks)
		if err != nil {
			// This push alone is undone; the group goes on.
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
		r.res = res
		ok = append(ok, r)
	}
	if len(ok) == 0 {
		return
	}
	if err := tx.Commit(); err != nil {
		finish(fmt.Errorf("push: commit: %w", err), ok)
		return
	}
	for _, r := range ok {
		r.done = true
	}
}

// pushCheck is what can be decided about an event without the database.
type pushCheck struct {
	filed  *complaint.Complaint // the complaint a valid Filed event carries
	reason string               // non-empty: reject with RejectInvalid
}

// checkPushed applies the domain's stateless rules. Reasons are fixed texts
// (plus our own field names): they go to the device and its staff screen and
// must not echo the device's data.
func checkPushed(e *event.Event) pushCheck {
	switch {
	case e.ID == "" || e.ComplaintID == "" || e.Type == "" || e.Branch == "" || e.Actor.Kind == "":
		return pushCheck{reason: "event lacks id, complaint id, type, branch or actor"}
	case uint64(e.At) > 1<<63-1:
		return pushCheck{reason: "event clock reading out of range"}
	case e.Type != event.Filed:
		return pushCheck{}
	}
	c, err := e.Complaint()
	switch {
	case err != nil:
		return pushCheck{reason: "filed event data is not a complaint"}
	case c.ID != e.ComplaintID:
		return pushCheck{reason: "filed complaint id differs from the event's complaint id"}
	}
	if code, err := trackcode.Parse(c.Code); err != nil || string(code) != c.Code {
		return pushCheck{reason: "filed complaint tracking code is not canonical"}
	}
	if err := c.Validate(); err != nil {
		var fe *complaint.FieldError
		if errors.As(err, &fe) {
			return pushCheck{reason: fmt.Sprintf("filed complaint is not valid: %.32s %.16s", fe.Field, fe.Problem)}
		}
		return pushCheck{reason: "filed complaint is not valid"}
	}
	return pushCheck{filed: &c}
}

// pushTx is one Push call's part of a group's transaction.
type pushTx struct {
	ingestTx
	stmts    *groupStmts
	branch   string            // the device's branch: its only scope
	branches map[string]string // complaint id -> branch, as looked up or stored in this push

	// What the database held when this push began, looked up for the whole
	// push in a few set queries instead of a few queries per event, plus
	// what this push stored since (so a later event of the same push sees
	// an earlier one, as a per-event query would).
	idsHeld    map[string]bool       // event ids stored
	held       map[string]string     // complaint id -> branch, for complaints known then; absent: unknown
	filedIDs   map[string]bool       // complaint ids filed
	filedCodes map[string]bool       // tracking codes filed
	staff      map[string]staffActor // staff accounts the push's events name as actor
}

// staffActor is what Push needs of a staff account to judge an event it
// recorded.
type staffActor struct {
	branch    string
	role      staff.Role
	revokedAt time.Time
}

// groupStmts are the statements of one group's transaction, bound to it
// once rather than once per use.
type groupStmts struct {
	tx     *sql.Tx
	byStmt map[*sql.Stmt]*sql.Stmt
	bySQL  map[string]*sql.Stmt
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
	// As the per-event lookup in forbidden: the complaint's filed branch,
	// else the branch of any event naming it.
	branchesSQL = `SELECT j.value, (SELECT branch FROM complaints WHERE id = j.value
		UNION ALL SELECT branch FROM events WHERE complaint_id = j.value LIMIT 1) FROM json_each(?) j`
	filedIDsSQL   = `SELECT id FROM complaints WHERE id IN (SELECT value FROM json_each(?))`
	filedCodesSQL = `SELECT code FROM complaints WHERE code IN (SELECT value FROM json_each(?))`
	staffSQL      = `SELECT id, branch_id, role, revoked_at FROM staff WHERE id IN (SELECT value FROM json_each(?))`
)

// query runs one of the set lookups with keys and calls row for each row.
func (in *pushTx) query(query string, keys []string, row func(*sql.Rows) error) error {
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
	rows, err := st.QueryContext(in.ctx, string(arg))
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

// lookUp fills the sets for the events of batch.
func (in *pushTx) lookUp(batch []storage.DeviceEvent, checks []pushCheck) error {
	in.idsHeld = make(map[string]bool)
	in.held = make(map[string]string)
	in.filedIDs = make(map[string]bool)
	in.filedCodes = make(map[string]bool)
	in.staff = make(map[string]staffActor)
	ids := make([]string, 0, len(batch))
	var complaints, filedIDs, codes, actors []string
	seen := make(map[string]bool, len(batch))
	seenActor := make(map[string]bool)
	for i := range batch {
		e := &batch[i].Event
		ids = append(ids, e.ID)
		if !seen[e.ComplaintID] {
			seen[e.ComplaintID] = true
			complaints = append(complaints, e.ComplaintID)
		}
		if e.Actor.Kind == event.ActorStaff && !seenActor[e.Actor.ID] {
			seenActor[e.Actor.ID] = true
			actors = append(actors, e.Actor.ID)
		}
		if c := checks[i].filed; c != nil {
			filedIDs = append(filedIDs, c.ID)
			codes = append(codes, c.Code)
		}
	}
	var key string
	if err := in.query(idsHeldSQL, ids, func(r *sql.Rows) error {
		err := r.Scan(&key)
		in.idsHeld[key] = true
		return err
	}); err != nil {
		return fmt.Errorf("push from %s: look up event ids: %w", in.device, err)
	}
	if err := in.query(branchesSQL, complaints, func(r *sql.Rows) error {
		var b sql.NullString
		err := r.Scan(&key, &b)
		if b.Valid {
			in.held[key] = b.String
		}
		return err
	}); err != nil {
		return fmt.Errorf("push from %s: look up complaints: %w", in.device, err)
	}
	if err := in.query(filedIDsSQL, filedIDs, func(r *sql.Rows) error {
		err := r.Scan(&key)
		in.filedIDs[key] = true
		return err
	}); err != nil {
		return fmt.Errorf("push from %s: look up filed complaints: %w", in.device, err)
	}
	if err := in.query(filedCodesSQL, codes, func(r *sql.Rows) error {
		err := r.Scan(&key)
		in.filedCodes[key] = true
		return err
	}); err != nil {
		return fmt.Errorf("push from %s: look up tracking codes: %w", in.device, err)
	}
	if err := in.query(staffSQL, actors, func(r *sql.Rows) error {
		var (
			a       staffActor
			role    string
			revoked sql.NullInt64
		)
		err := r.Scan(&key, &a.branch, &role, &revoked)
		a.role, a.revokedAt = staff.Role(role), fromNanos(revoked)
		in.staff[key] = a
		return err
	}); err != nil {
		return fmt.Errorf("push from %s: look up staff accounts: %w", in.device, err)
	}
	return nil
}

func (in *pushTx) run(batch []storage.DeviceEvent, checks []pushCheck) (storage.PushResult, error) {
	var (
		res     storage.PushResult
		revoked sql.NullInt64
	)
	err := in.stmt(in.st.pushDevice).QueryRowContext(in.ctx, in.device).Scan(&in.branch, &revoked, &res.AckedSeq)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return res, storage.Errorf(storage.NotFound, "device %s not found", in.device)
	case err != nil:
		return res, fmt.Errorf("push from %s: read device: %w", in.device, err)
	case revoked.Valid:
		return res, storage.Errorf(storage.Revoked, "device %s is revoked", in.device)
	}
	acked := res.AckedSeq
	if first := batch[0].Seq; first > acked+1 {
		return res, &storage.Error{Code: storage.Invalid, Err: storage.ErrGap,
			Message: fmt.Sprintf("push starts at device seq %d, but only %d are handled", first, acked)}
	}
	// Slots above maxHeld are empty, so the common case (new events) skips
	// the three slot lookups.
	var maxHeld sql.NullInt64
	if err := in.stmt(in.st.maxHeld).QueryRowContext(in.ctx, in.device).Scan(&maxHeld); err != nil {
		return res, fmt.Errorf("push from %s: read held seqs: %w", in.device, err)
	}
	if err := in.lookUp(batch, checks); err != nil {
		return res, err
	}
	// Events to store, in batch order, inserted together after the loop:
	// every decision below reads the database only through the lookups
	// above and this push's own maps, so nothing in the loop needs them
	// in the table yet.
	store := make([]int, 0, len(batch))

	for i := range batch {
		de := &batch[i]
		e := &de.Event
		reject := func(code storage.RejectCode, reason string, record bool) error {
			res.Rejected = append(res.Rejected, storage.Rejection{Seq: de.Seq, EventID: e.ID, Code: code, Reason: reason})
			if !record {
				return nil
			}
			if _, err := in.stmt(in.st.insertRejection).ExecContext(in.ctx, in.device, de.Seq, e.ID, int64(code), reason, in.storedAt); err != nil {
				return fmt.Errorf("push from %s: record rejection of seq %d: %w", in.device, de.Seq, err)
			}
			return nil
		}
		if maxHeld.Valid && de.Seq <= maxHeld.Int64 {
			held, err := in.heldSlot(de)
			if err != nil {
				return res, err
			}
			switch {
			case held.kind == slotEmpty:
			case held.eventID != e.ID:
				// Not recorded: the slot is already taken, and a resend
				// meets the same slot again.
				if err := reject(storage.RejectConflict, "device seq already holds another event", false); err != nil {
					return res, err
				}
				continue
			case held.kind == slotRejected:
				res.Rejected = append(res.Rejected, storage.Rejection{Seq: de.Seq, EventID: e.ID, Code: held.code, Reason: held.reason})
				continue
			default:
				res.Duplicates++
				continue
			}
		}
		if in.idsHeld[e.ID] {
			if err := reject(storage.RejectConflict, "event id already stored under another device seq", true); err != nil {
				return res, err
			}
			continue
		}
		reason, err := in.forbidden(e, checks[i].filed)
		if err != nil {
			return res, err
		}
		if reason == "" {
			reason = in.staffForbidden(e)
		}
		if reason != "" {
			if err := reject(storage.RejectForbidden, reason, true); err != nil {
				return res, err
			}
			continue
		}
		if reason, err := in.invalid(checks[i]); err != nil {
			return res, err
		} else if reason != "" {
			if err := reject(storage.RejectInvalid, reason, true); err != nil {
				return res, err
			}
			continue
		}
		store = append(store, i)
		in.idsHeld[e.ID] = true
		if c := checks[i].filed; c != nil {
			in.filedIDs[c.ID], in.filedCodes[c.Code] = true, true
		}
		in.branches[e.ComplaintID] = e.Branch
		res.Stored++
	}
	if err := in.insert(batch, checks, store); err != nil {
		return res, err
	}

	// Every seq of the batch is now handled and the batch starts at or
	// below acked+1, so the ack covers it; then it may pass slots stored
	// earlier beyond it (by Ingest, which allows gaps).
	res.AckedSeq = max(res.AckedSeq, batch[len(batch)-1].Seq)
	if err := in.advanceOverStored(&res.AckedSeq); err != nil {
		return res, err
	}
	if res.AckedSeq != acked {
		if _, err := in.stmt(in.st.setAcked).ExecContext(in.ctx, res.AckedSeq, in.device); err != nil {
			return res, fmt.Errorf("push from %s: record ack: %w", in.device, err)
		}
	}
	return res, nil
}

// Rows per multi-row INSERT: one statement per chunk instead of one per
// event saves most of the per-statement cost (binding, database/sql,
// the VDBE program's start), well under SQLite's 32,766 variables.
const insertChunk = 100

const (
	eventCols     = `INSERT INTO events (id, device_id, device_seq, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at) VALUES `
	eventRow      = `(?,?,?,?,?,?,?,?,?,?,?)`
	complaintCols = `INSERT INTO complaints (id, code, branch, category, filed_at, filed_event_id) VALUES `
	complaintRow  = `(?,?,?,?,?,?)`
)

// insert stores the events of batch at the indexes in store, in that order
// (so their global sequences follow the batch), and the complaints their
// Filed events carry.
func (in *pushTx) insert(batch []storage.DeviceEvent, checks []pushCheck, store []int) error {
	var filed []int
	for chunk := range slices.Chunk(store, insertChunk) {
		args := make([]any, 0, len(chunk)*11)
		for _, i := range chunk {
			e := &batch[i].Event
			args = append(args, e.ID, in.device, batch[i].Seq, e.ComplaintID, e.Branch, string(e.Type),
				string(e.Actor.Kind), e.Actor.ID, int64(e.At), []byte(e.Data), in.storedAt)
			if checks[i].filed != nil {
				filed = append(filed, i)
			}
		}
		// No ON CONFLICT: both keys were checked above inside this
		// transaction, so a conflict is a bug and fails the push.
		r, err := in.exec(eventCols, eventRow, len(chunk), args)
		if err != nil {
			return fmt.Errorf("push from %s: insert events: %w", in.device, err)
		}
		if n, err := r.RowsAffected(); err != nil || n != int64(len(chunk)) {
			return fmt.Errorf("push from %s: insert events: %d rows of %d, %v", in.device, n, len(chunk), err)
		}
	}
	for chunk := range slices.Chunk(filed, insertChunk) {
		args := make([]any, 0, len(chunk)*6)
		for _, i := range chunk {
			c := checks[i].filed
			args = append(args, c.ID, c.Code, c.Branch, c.Category, nanos(c.FiledAt), batch[i].Event.ID)
		}
		_, err := in.exec(complaintCols, complaintRow, len(chunk), args)
		switch {
		case isUniqueViolation(err):
			return storage.Errorf(storage.Conflict, "push from %s: a complaint or tracking code is already filed", in.device)
		case err != nil:
			return fmt.Errorf("push from %s: project complaints: %w", in.device, err)
		}
	}
	return nil
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

type slotKind int

const (
	slotEmpty slotKind = iota
	slotStored
	slotAlias
	slotRejected
)

type heldSlot struct {
	kind    slotKind
	eventID string
	code    storage.RejectCode
	reason  string
}

// heldSlot reports what (device, seq) holds: an event, an alias, a
// rejection, or nothing.
func (in *pushTx) heldSlot(de *storage.DeviceEvent) (heldSlot, error) {
	var h heldSlot
	for _, look := range []struct {
		kind slotKind
		stmt *sql.Stmt
	}{{slotStored, in.st.eventAt}, {slotAlias, in.st.aliasAt}} {
		err := in.stmt(look.stmt).QueryRowContext(in.ctx, in.device, de.Seq).Scan(&h.eventID)
		switch {
		case err == nil:
			h.kind = look.kind
			return h, nil
		case !errors.Is(err, sql.ErrNoRows):
			return h, fmt.Errorf("push from %s: look up seq %d: %w", in.device, de.Seq, err)
		}
	}
	var code int64
	err := in.stmt(in.st.rejectionAt).QueryRowContext(in.ctx, in.device, de.Seq).Scan(&h.eventID, &code, &h.reason)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return heldSlot{}, nil
	case err != nil:
		return h, fmt.Errorf("push from %s: look up rejection %d: %w", in.device, de.Seq, err)
	}
	h.kind, h.code = slotRejected, storage.RejectCode(code)
	return h, nil
}

// forbidden returns a reason when the event reaches outside the device's
// branch, by its own Branch field, by the complaint it carries, or by the
// complaint it names being stored under another branch.
func (in *pushTx) forbidden(e *event.Event, filed *complaint.Complaint) (string, error) {
	if e.Branch != in.branch {
		return "event is for another branch than the device's", nil
	}
	if filed != nil && filed.Branch != in.branch {
		return "filed complaint is for another branch than the device's", nil
	}
	b, ok := in.branches[e.ComplaintID]
	if !ok {
		if b, ok = in.held[e.ComplaintID]; !ok {
			// Unknown complaint: a note may arrive before its Filed event
			// from another device of the branch; the fold copes with that.
			b = in.branch
		}
		in.branches[e.ComplaintID] = b
	}
	if b != in.branch {
		return "complaint belongs to another branch", nil
	}
	return "", nil
}

// staffForbidden returns a reason when the event's actor is staff who may
// not have recorded it: no such account, an account of another branch, one
// revoked before the event (beyond the grace for terminals that had not yet
// heard), or a role that may not do this. Accounts are matched by their id
// exactly: the actor id is the audit trail's name for the person.
//
// A device speaks for itself only when it files a complaint (a kiosk's
// customer); every other event a device sends must name the staff member
// who recorded it, or the checks above could be skipped by not claiming to
// be staff. Customer and system events are the server's own (Append).
func (in *pushTx) staffForbidden(e *event.Event) string {
	if e.Actor.Kind != event.ActorStaff {
		if e.Type == event.Filed && e.Actor.Kind == event.ActorDevice {
			return ""
		}
		return "only a signed-in staff member may record this from a device"
	}
	a, ok := in.staff[e.Actor.ID]
	switch {
	case !ok:
		return "unknown staff account"
	case a.branch != in.branch:
		return "staff account of another branch"
	case !a.revokedAt.IsZero() && e.At.Time().After(a.revokedAt.Add(storage.StaffRevocationGrace)):
		return "staff account revoked"
	case !staff.Can(a.role, e.Type):
		return staff.Why(a.role, e.Type)
	}
	return ""
}

// invalid returns a reason when the domain refuses the event: the stateless
// checks, then a Filed complaint that clashes with one already filed.
func (in *pushTx) invalid(ch pushCheck) (string, error) {
	if ch.reason != "" || ch.filed == nil {
		return ch.reason, nil
	}
	switch {
	case in.filedIDs[ch.filed.ID]:
		return "complaint is already filed", nil
	case in.filedCodes[ch.filed.Code]:
		return "tracking code already used by another complaint", nil
	}
	return "", nil
}
