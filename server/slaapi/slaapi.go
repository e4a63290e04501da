// Package slaapi owns the SLA rules endpoint (docs/API.md): every enrolled
// device fetches the server's SLA configuration (shared/sla: calendars,
// policies, the customer's time to answer a decision) and keeps a copy, so
// the dates a kiosk prints on a receipt and a staff terminal sorts its
// queue by are the ones the server's case engine and the tracking page
// compute, online or not.
//
// The body is the configuration file as the server parsed it; the ETag is
// its digest, so an unchanged configuration costs an empty 304.
package slaapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"ombud/server/enrol"
	"ombud/server/httpapi"
	"ombud/server/storage"
	"ombud/shared/sla"
)

// Path is where the rules are served.
const Path = "/api/v1/sla"

// Handler serves Path (or another fleet document: NewDocument).
type Handler struct {
	devices storage.Devices
	path    string
	what    string // for the log
	digest  string
	body    []byte
	log     *slog.Logger
}

// New returns the handler for cfg; devices authenticate the callers.
func New(devices storage.Devices, cfg *sla.Config, logger *slog.Logger) *Handler {
	return NewDocument(devices, Path, "sla rules", cfg.Digest(), cfg.JSON(), logger)
}

// NewDocument serves body (JSON, whose digest is digest) at path to the
// enrolled devices, as the SLA rules are: the retention policy the kiosks
// state to customers is served this way (PathRetention).
func NewDocument(devices storage.Devices, path, what, digest string, body []byte, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{devices: devices, path: path, what: what, digest: digest, body: body, log: logger.With("component", "sla-api")}
}

// PathRetention is where the retention policy (shared/retention) is
// served: the kiosks' privacy notice states its periods.
const PathRetention = "/api/v1/retention"

// Register mounts the handler on the server's router.
func (h *Handler) Register(mux interface{ Handle(string, http.Handler) }) {
	mux.Handle(h.path, h)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.fail(w, r, httpapi.CodeMethodNotAllowed, "Method "+r.Method+" is not allowed here; use GET.", nil)
		return
	}
	// Not secret, but only for the fleet: the rules say when each branch
	// is open, which is nobody else's business.
	dev, err := enrol.Authenticate(r.Context(), h.devices, r.Header.Get("Authorization"))
	switch {
	case err == nil:
	case errors.Is(err, enrol.ErrRevoked):
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		h.fail(w, r, httpapi.CodeRevoked, "This device's enrolment was revoked: enrol it again with a new code from the server's operator.", err)
		return
	case refusal(err):
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		h.fail(w, r, httpapi.CodeUnauthenticated, "Device credential not accepted: enrol this device.", err)
		return
	default:
		h.log.Error(h.what+": authenticate failed", "err", err)
		httpapi.WriteError(w, r, nil, &httpapi.Error{Code: httpapi.CodeUnavailable, RetryAfter: 5 * time.Second, Err: err,
			Message: "The server could not check this device; try again later."})
		return
	}
	etag := `"` + h.digest + `"`
	w.Header().Set("ETag", etag)
	if matches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := h.body
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	h.log.Debug(h.what+" sent", "device", dev.ID)
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, code httpapi.Code, msg string, err error) {
	httpapi.WriteError(w, r, nil, &httpapi.Error{Code: code, Message: msg, Err: err})
}

// refusal reports whether an Authenticate error refuses the credential
// (401) rather than a failure to check it (503).
func refusal(err error) bool {
	if _, ok := errors.AsType[*enrol.Error](err); ok {
		return true
	}
	switch storage.ErrorCode(err) {
	case storage.NotFound, storage.Revoked, storage.Invalid:
		return true
	}
	return errors.Is(err, enrol.ErrUnauthenticated)
}

// matches reports whether an If-None-Match value names etag (RFC 9110
// 13.1.2, weak comparison).
func matches(ifNoneMatch, etag string) bool {
	for tag := range strings.SplitSeq(ifNoneMatch, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}
