package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/event"
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

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return storage.PushResult{}, fmt.Errorf("push from %s: begin: %w", deviceID, err)
	}
	defer tx.Rollback()
	in := pushTx{
		ingestTx: ingestTx{ctx: ctx, tx: tx, st: &s.ingest, device: deviceID, storedAt: nanos(time.Now())},
		branches: make(map[string]string),
	}
	res, err := in.run(batch, checks)
	if err != nil {
		return storage.PushResult{}, err
	}
	if err := tx.Commit(); err != nil {
		return storage.PushResult{}, fmt.Errorf("push from %s: commit: %w", deviceID, err)
	}
	return res, nil
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

// pushTx is one Push call's transaction.
type pushTx struct {
	ingestTx
	branch   string            // the device's branch: its only scope
	branches map[string]string // complaint id -> branch, as looked up or stored in this push
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
	insertEvent, insertComplaint := in.stmt(in.st.insertEvent), in.stmt(in.st.insertComplaint)

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
		var idHeld bool
		if err := in.stmt(in.st.idHeld).QueryRowContext(in.ctx, e.ID).Scan(&idHeld); err != nil {
			return res, fmt.Errorf("push from %s: look up event %s: %w", in.device, e.ID, err)
		}
		if idHeld {
			if err := reject(storage.RejectConflict, "event id already stored under another device seq", true); err != nil {
				return res, err
			}
			continue
		}
		if reason, err := in.forbidden(e, checks[i].filed); err != nil {
			return res, err
		} else if reason != "" {
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
		r, err := insertEvent.ExecContext(in.ctx, e.ID, in.device, de.Seq, e.ComplaintID, e.Branch, string(e.Type),
			string(e.Actor.Kind), e.Actor.ID, int64(e.At), []byte(e.Data), in.storedAt)
		if err != nil {
			return res, fmt.Errorf("push from %s: insert event %s: %w", in.device, e.ID, err)
		}
		if n, err := r.RowsAffected(); err != nil || n != 1 {
			// Both keys were checked above inside this transaction.
			return res, fmt.Errorf("push from %s: insert event %s: %d rows, %v", in.device, e.ID, n, err)
		}
		if c := checks[i].filed; c != nil {
			if err := in.project(insertComplaint, e, c); err != nil {
				return res, err
			}
		}
		in.branches[e.ComplaintID] = e.Branch
		res.Stored++
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
		err := in.stmt(in.st.complaintBranch).QueryRowContext(in.ctx, e.ComplaintID).Scan(&b)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// Unknown complaint: a note may arrive before its Filed event
			// from another device of the branch; the fold copes with that.
			b = in.branch
		case err != nil:
			return "", fmt.Errorf("push from %s: look up complaint %s: %w", in.device, e.ComplaintID, err)
		}
		in.branches[e.ComplaintID] = b
	}
	if b != in.branch {
		return "complaint belongs to another branch", nil
	}
	return "", nil
}

// invalid returns a reason when the domain refuses the event: the stateless
// checks, then a Filed complaint that clashes with one already filed.
func (in *pushTx) invalid(ch pushCheck) (string, error) {
	if ch.reason != "" || ch.filed == nil {
		return ch.reason, nil
	}
	var idTaken, codeTaken bool
	if err := in.stmt(in.st.complaintTaken).QueryRowContext(in.ctx, ch.filed.ID, ch.filed.Code).Scan(&idTaken, &codeTaken); err != nil {
		return "", fmt.Errorf("push from %s: look up complaint %s: %w", in.device, ch.filed.ID, err)
	}
	switch {
	case idTaken:
		return "complaint is already filed", nil
	case codeTaken:
		return "tracking code already used by another complaint", nil
	}
	return "", nil
}
