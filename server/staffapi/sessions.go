package staffapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"ombud/server/httpapi"
	"ombud/server/storage"
	"ombud/shared/staff"
	"ombud/shared/uid"
)

// PathSessions is where a staff terminal signs a person in while online
// (POST) and out (DELETE PathSessions/{id}). A sign-in the server confirms
// is a session: the staff actions the terminal pushes while it lasts are
// attributable to that person on that terminal (docs/API.md,
// docs/SECURITY.md). When the server cannot be reached the terminal signs
// people in against its copy of the directory instead, and their actions
// are kept as offline.
const PathSessions = "/api/v1/staff/sessions"

// maxSignInBody bounds a sign-in request: an id and a PIN.
const maxSignInBody = 1 << 10

// signInRequest is what the terminal sends.
type signInRequest struct {
	StaffID string `json:"staff_id"`
	PIN     string `json:"pin"`
}

// sessionAnswer is what a confirmed sign-in returns.
type sessionAnswer struct {
	Session   string    `json:"session"`
	StaffID   string    `json:"staff_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (h *Handler) sessions(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	id, hasID := strings.CutPrefix(r.URL.Path, PathSessions+"/")
	switch {
	case r.URL.Path == PathSessions && r.Method == http.MethodPost:
		h.signIn(w, r)
	case hasID && id != "" && !strings.Contains(id, "/") && r.Method == http.MethodDelete:
		h.signOut(w, r, id)
	case r.URL.Path == PathSessions:
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, r, httpapi.CodeMethodNotAllowed, "Method "+r.Method+" is not allowed here; use POST to sign in.", nil)
	case hasID && id != "" && !strings.Contains(id, "/"):
		w.Header().Set("Allow", http.MethodDelete)
		h.fail(w, r, httpapi.CodeMethodNotAllowed, "Method "+r.Method+" is not allowed here; use DELETE to sign out.", nil)
	default:
		h.fail(w, r, httpapi.CodeNotFound, "No such staff session.", nil)
	}
}

// signIn checks a PIN against the server's own hash, with the server's own
// lock-out, and starts a session. Unknown ids, accounts of another branch,
// revoked accounts and wrong PINs get the same answer, after the same work,
// so the answer does not tell which ids exist.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	dev, ok := h.terminal(w, r)
	if !ok {
		return
	}
	if ok, wait := h.limit.Allow(dev.ID); !ok {
		h.refuse(w, r, &httpapi.Error{Code: httpapi.CodeRateLimited, RetryAfter: wait,
			Message: "Too many sign-in attempts from this terminal: wait a minute."})
		return
	}
	var req signInRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSignInBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.Decode(new(json.RawMessage)) != io.EOF {
		h.fail(w, r, httpapi.CodeBadRequest, "Send {\"staff_id\": ..., \"pin\": ...} as JSON.", err)
		return
	}
	ctx := r.Context()
	id := staff.NormalizeID(req.StaffID)
	logger := h.log.With(logDevice, dev.ID, logBranch, dev.Branch)
	now := h.opts.Now()

	acc, err := h.store.StaffAccount(ctx, id)
	known := err == nil && mayServe(dev, acc)
	switch {
	case err == nil, storage.ErrorCode(err) == storage.NotFound:
	default:
		h.unavailable(w, r, "staff sign-in: read account", err)
		return
	}
	if known {
		failures, last, err := h.store.SignInFailures(ctx, id)
		if err != nil {
			h.unavailable(w, r, "staff sign-in: read failures", err)
			return
		}
		if locked, until := h.opts.Lockout.Locked(failures, last, now); locked {
			h.locked(w, r, until.Sub(now))
			return
		}
	}
	hash := acc.PINHash
	if !known {
		hash = staff.DecoyHash(acc.PINHash)
	}
	right, err := h.check(ctx, hash, req.PIN)
	if err != nil {
		h.fail(w, r, httpapi.CodeUnavailable, "The server is busy: try again.", err)
		return
	}
	switch {
	case !known:
		logger.Info("staff sign-in refused: unknown account or of another branch")
		h.fail(w, r, httpapi.CodeSignInRefused, "Wrong id or PIN.", nil)
		return
	case !right:
		n, err := h.store.RecordSignInFailure(ctx, id, now)
		if err != nil {
			h.unavailable(w, r, "staff sign-in: count failure", err)
			return
		}
		logger.Info("staff sign-in refused: wrong PIN", "staff", id, "failures", n)
		if locked, until := h.opts.Lockout.Locked(n, now, now); locked {
			h.locked(w, r, until.Sub(now))
			return
		}
		h.fail(w, r, httpapi.CodeSignInRefused, "Wrong id or PIN.", nil)
		return
	case acc.Revoked():
		logger.Info("staff sign-in refused: account revoked", "staff", id)
		h.fail(w, r, httpapi.CodeSignInRefused, "This account is revoked: ask a supervisor.", nil)
		return
	}
	if err := h.store.ClearSignInFailures(ctx, id); err != nil {
		h.unavailable(w, r, "staff sign-in: clear failures", err)
		return
	}
	if staff.NeedsRehash(acc.PINHash, h.opts.PINCost) {
		// The one moment the server holds the PIN itself: a hash made
		// before the current cost is replaced, and terminals fetch it with
		// the directory.
		if newHash, err := staff.HashPINWith(req.PIN, h.opts.PINCost); err == nil {
			if err := h.store.SetStaffPIN(ctx, id, newHash, now); err != nil {
				logger.Warn("staff sign-in: PIN hash not upgraded", "staff", id, logErr, err)
			} else {
				logger.Info("staff PIN hash upgraded", "staff", id)
			}
		}
	}
	s := storage.Session{ID: uid.NewAt(now), DeviceID: dev.ID, StaffID: id, StartedAt: now, ExpiresAt: now.Add(h.opts.SessionTTL)}
	if err := h.store.StartSession(ctx, s); err != nil {
		h.unavailable(w, r, "staff sign-in: start session", err)
		return
	}
	logger.Info("staff signed in", "staff", id, "session", s.ID)
	httpapi.WriteJSON(w, http.StatusCreated, sessionAnswer{Session: s.ID, StaffID: id, ExpiresAt: s.ExpiresAt.UTC()})
}

// check verifies pin against hash, one of at most cap(checks) at a time.
func (h *Handler) check(ctx context.Context, hash, pin string) (bool, error) {
	select {
	case h.checks <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-h.checks }()
	return staff.VerifyPIN(hash, pin), nil
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request, id string) {
	dev, ok := h.terminal(w, r)
	if !ok {
		return
	}
	err := h.store.EndSession(r.Context(), dev.ID, id, h.opts.Now())
	switch {
	case storage.ErrorCode(err) == storage.NotFound:
		h.fail(w, r, httpapi.CodeNotFound, "No such staff session on this terminal.", nil)
	case err != nil:
		h.unavailable(w, r, "staff sign-out", err)
	default:
		h.log.Info("staff signed out", logDevice, dev.ID, "session", id)
		w.WriteHeader(http.StatusNoContent)
	}
}

func (h *Handler) locked(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	h.refuse(w, r, &httpapi.Error{Code: httpapi.CodeLocked, RetryAfter: wait,
		Message: "Too many wrong PINs: this account is locked for a few minutes."})
}

func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, e *httpapi.Error) {
	httpapi.WriteError(w, r, nil, e)
}
