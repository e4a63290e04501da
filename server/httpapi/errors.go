package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"ombud/server/enrol"
	"ombud/server/storage"
)

// Error codes of the HTTP layer itself; the domain's come from package
// enrol (and later others).
const (
	codeBadRequest       = "bad_request"
	codeTooLarge         = "request_too_large"
	codeMethodNotAllowed = "method_not_allowed"
	codeRateLimited      = "rate_limited"
	codeUnavailable      = "unavailable"
	codeInternal         = "internal"
)

// statusOf is the one place an error code becomes an HTTP status
// (STYLE.md 3). Unknown codes are 500: a new domain code must be added here
// deliberately.
func statusOf(code string) int {
	switch code {
	case codeBadRequest, string(enrol.CodeInvalid),
		// 400 rather than 413, as the enrolment contract says: to a client
		// both mean "fix the request", and the code tells them apart.
		codeTooLarge:
		return http.StatusBadRequest
	case string(enrol.CodeUnauthenticated), string(enrol.CodeRevoked):
		return http.StatusUnauthorized
	case string(enrol.CodeRefused), string(enrol.CodeExpired):
		return http.StatusForbidden
	case string(enrol.CodeDeviceTaken):
		return http.StatusConflict
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case codeRateLimited:
		return http.StatusTooManyRequests
	case codeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// apiError is an error the HTTP layer makes itself, with a safe message.
type apiError struct {
	code    string
	message string
	// retryAfter, when set, is sent as Retry-After.
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// errorBody is the JSON every error response carries.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers with err's safe message and logs the detail. Errors
// without a known code are internal: the client gets a generic message and
// the log gets the cause.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := codeInternal, "internal error: try again later"
	var (
		ae *apiError
		ee *enrol.Error
	)
	switch {
	case errors.As(err, &ae):
		code, msg = ae.code, ae.message
		if ae.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((ae.retryAfter+time.Second-1)/time.Second)))
		}
	case errors.As(err, &ee):
		code, msg = string(ee.Code), ee.Message
	case storage.ErrorCode(err) == storage.NotFound, storage.ErrorCode(err) == storage.Invalid:
		code, msg = codeBadRequest, storage.ErrorMessage(err)
	}
	status := statusOf(code)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	s.logger.Log(r.Context(), level, "request failed",
		"method", r.Method, "path", r.URL.Path, "status", status, "code", code, "err", err)
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store") // credentials pass through here
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client hung up: nothing to do
}
