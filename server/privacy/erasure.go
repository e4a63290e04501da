package privacy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"ombud/server/storage"
	"ombud/shared/event"
	"ombud/shared/staff"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
)

// Subject kinds: how a person is found.
const (
	ByCode  = "code"  // a tracking code: that complaint
	ByEmail = "email" // every complaint with this contact e-mail
	ByPhone = "phone" // every complaint with this contact phone
)

// ErrForbidden is returned when the person acting may not: not a
// supervisor, revoked, or the supervisor who recorded the request
// approving it.
var ErrForbidden = errors.New("not allowed")

// Normalize puts a contact as comparisons see it: an e-mail trimmed and in
// lower case; a phone number as its digits (and a leading +).
func Normalize(kind, value string) string {
	value = strings.TrimSpace(value)
	switch kind {
	case ByEmail:
		return strings.ToLower(value)
	case ByPhone:
		var b strings.Builder
		for i, r := range value {
			if unicode.IsDigit(r) || (r == '+' && i == 0) {
				b.WriteRune(r)
			}
		}
		return b.String()
	}
	return value
}

// SubjectKey names a subject in the privacy tables and log without the
// contact itself: "code:<code>", or "email:"/"phone:" and the SHA-256 of
// the normalized contact.
func SubjectKey(kind, value string) string {
	if kind == ByCode {
		return ByCode + ":" + value
	}
	sum := sha256.Sum256([]byte(Normalize(kind, value)))
	return kind + ":" + hex.EncodeToString(sum[:])
}

// Find returns the complaints a subject designates: the tracking code's
// complaint, or every complaint whose contact (still held: not redacted)
// matches, in filing order. A malformed code is an Invalid error.
func (s *Service) Find(ctx context.Context, kind, value string) ([]string, error) {
	switch kind {
	case ByCode:
		code, err := trackcode.Parse(value)
		if err != nil {
			return nil, storage.Errorf(storage.Invalid, "tracking code %q: %v", value, err)
		}
		c, err := s.cfg.Store.ComplaintByCode(ctx, string(code))
		if err != nil {
			return nil, err
		}
		return []string{c.ID}, nil
	case ByEmail, ByPhone:
		want := Normalize(kind, value)
		if want == "" {
			return nil, storage.Errorf(storage.Invalid, "an empty %s finds nobody", kind)
		}
		var out []string
		err := s.cfg.Store.ScanFiled(ctx, func(se storage.StoredEvent) error {
			c, err := se.Event.Complaint()
			if err != nil || c.Contact == nil {
				return nil
			}
			got := c.Contact.Email
			if kind == ByPhone {
				got = c.Contact.Phone
			}
			if got != "" && Normalize(kind, got) == want {
				out = append(out, c.ID)
			}
			return nil
		})
		return out, err
	}
	return nil, storage.Errorf(storage.Invalid, "find a person by code, email or phone, not %q", kind)
}

// supervisor checks that id is a supervisor who may act now.
func (s *Service) supervisor(ctx context.Context, id string) (staff.Account, error) {
	a, err := s.cfg.Store.StaffAccount(ctx, id)
	switch {
	case storage.ErrorCode(err) == storage.NotFound:
		return a, fmt.Errorf("%w: no staff account %q", ErrForbidden, id)
	case err != nil:
		return a, err
	case !a.RevokedAt.IsZero():
		return a, fmt.Errorf("%w: the account %s is revoked", ErrForbidden, id)
	case a.Role != staff.Supervisor:
		return a, fmt.Errorf("%w: %s is not a supervisor", ErrForbidden, id)
	}
	return a, nil
}

// RequestErasure records a customer's request to erase their data, by
// supervisor by: the complaints it covers are resolved now and listed in
// the request (the contact itself is not kept, only its hash). Another
// supervisor must approve it (ApproveErasure).
func (s *Service) RequestErasure(ctx context.Context, by, kind, value, reason string) (storage.ErasureRequest, error) {
	var r storage.ErasureRequest
	if strings.TrimSpace(reason) == "" {
		return r, storage.Errorf(storage.Invalid, "say why: how the request came and how the person was identified")
	}
	if _, err := s.supervisor(ctx, by); err != nil {
		return r, err
	}
	ids, err := s.Find(ctx, kind, value)
	if err != nil {
		return r, err
	}
	if len(ids) == 0 {
		return r, storage.Errorf(storage.NotFound, "no complaint holds this %s", kind)
	}
	now := s.cfg.Now().UTC()
	subject := SubjectKey(kind, value)
	if kind == ByCode {
		subject = SubjectKey(kind, string(mustCode(value)))
	}
	r = storage.ErasureRequest{ID: "er-" + uid.NewAt(now), Subject: subject, Complaints: ids, Reason: reason,
		RequestedBy: by, RequestedAt: now, State: storage.ErasurePending}
	if err := s.cfg.Store.CreateErasure(ctx, r); err != nil {
		return r, err
	}
	s.audit(ctx, by, "erasure.request", r.ID, fmt.Sprintf("%s; %d complaint(s); %s", r.Subject, len(ids), reason))
	return r, nil
}

func mustCode(v string) trackcode.Code {
	c, _ := trackcode.Parse(v)
	return c
}

// ApproveErasure carries out a pending request, approved by supervisor
// by, who must not be the one who recorded it (four eyes): every complaint
// it covers is redacted at once, except those under a legal hold, which
// the outcome names with the hold's reason.
func (s *Service) ApproveErasure(ctx context.Context, id, by string) (storage.ErasureRequest, error) {
	r, err := s.cfg.Store.Erasure(ctx, id)
	if err != nil {
		return r, err
	}
	if r.State != storage.ErasurePending {
		return r, storage.Errorf(storage.Conflict, "erasure request %s is %s already", id, r.State)
	}
	if _, err := s.supervisor(ctx, by); err != nil {
		return r, err
	}
	if by == r.RequestedBy {
		s.audit(ctx, by, "erasure.refused", id, "the supervisor who recorded the request tried to approve it")
		return r, fmt.Errorf("%w: a second supervisor must approve what %s recorded", ErrForbidden, by)
	}
	var (
		done, already int
		skipped       []string
		errs          []error
	)
	for _, c := range r.Complaints {
		ok, err := s.Redact(ctx, c, event.RedactErasure, "erasure request "+id, 0, by)
		switch {
		case errors.Is(err, ErrHeld):
			skipped = append(skipped, fmt.Sprintf("complaint %s skipped: %s", c, strings.TrimPrefix(err.Error(), ErrHeld.Error()+": ")))
		case err != nil:
			errs = append(errs, err)
		case ok:
			done++
		default:
			already++
		}
	}
	if len(errs) > 0 {
		// Nothing is closed: approving again retries (what was redacted
		// stays redacted, once).
		return r, errors.Join(errs...)
	}
	s.Sweep(ctx)
	outcome := fmt.Sprintf("%d redacted, %d already redacted", done, already)
	if len(skipped) > 0 {
		outcome += "; " + strings.Join(skipped, "; ")
	}
	now := s.cfg.Now().UTC()
	if err := s.cfg.Store.CloseErasure(ctx, id, storage.ErasureDone, by, now, outcome); err != nil {
		return r, err
	}
	s.audit(ctx, by, "erasure.approve", id, outcome)
	r.State, r.ApprovedBy, r.ApprovedAt, r.Outcome = storage.ErasureDone, by, now, outcome
	return r, nil
}

// SetHold puts the complaint with the tracking code under a legal hold,
// by a supervisor, with the reason shown wherever a redaction skips it.
func (s *Service) SetHold(ctx context.Context, by, code, reason string) (string, error) {
	if strings.TrimSpace(reason) == "" {
		return "", storage.Errorf(storage.Invalid, "a legal hold needs a reason")
	}
	if _, err := s.supervisor(ctx, by); err != nil {
		return "", err
	}
	ids, err := s.Find(ctx, ByCode, code)
	if err != nil {
		return "", err
	}
	if err := s.cfg.Store.SetHold(ctx, storage.Hold{ComplaintID: ids[0], Reason: reason, SetBy: by, SetAt: s.cfg.Now().UTC()}); err != nil {
		return "", err
	}
	s.audit(ctx, by, "hold.set", ids[0], reason)
	return ids[0], nil
}

// ClearHold lifts the hold on the complaint with the tracking code.
func (s *Service) ClearHold(ctx context.Context, by, code string) (string, error) {
	if _, err := s.supervisor(ctx, by); err != nil {
		return "", err
	}
	ids, err := s.Find(ctx, ByCode, code)
	if err != nil {
		return "", err
	}
	if err := s.cfg.Store.ClearHold(ctx, ids[0]); err != nil {
		return "", err
	}
	s.audit(ctx, by, "hold.clear", ids[0], "")
	return ids[0], nil
}
