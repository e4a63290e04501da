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

// Code names a failure in the JSON error body every endpoint of the server
// answers with (docs/API.md): {"error":{"code":"...","message":"..."}}.
// Clients branch on the code; the message is for people.
type Code string

// The codes of every JSON endpoint: the HTTP layer's own, the enrolment's
// (package enrol), the staff directory's and the tracking API's.
const (
	CodeBadRequest       Code = "bad_request"
	CodeTooLarge         Code = "request_too_large"
	CodeMethodNotAllowed Code = "method_not_allowed"
	CodeRateLimited      Code = "rate_limited"
	CodeUnavailable      Code = "unavailable" // the server could not answer now: try again later
	CodeInternal         Code = "internal"
	CodeForbidden        Code = "forbidden"       // authenticated, but the device's role may not do this
	CodeNotFound         Code = "not_found"       // tracking: unknown and malformed codes alike
	CodeCheckCode        Code = "check_code"      // tracking: a typed code whose check symbol is wrong
	CodeSignInRefused    Code = "sign_in_refused" // staff sign-in: wrong id or PIN, or an account that may not sign in here
	CodeLocked           Code = "locked"          // staff sign-in: too many wrong PINs, wait (Retry-After)

	CodeUnauthenticated = Code(enrol.CodeUnauthenticated)
	CodeRevoked         = Code(enrol.CodeRevoked)
	CodeRefused         = Code(enrol.CodeRefused)
	CodeExpired         = Code(enrol.CodeExpired)
	CodeDeviceTaken     = Code(enrol.CodeDeviceTaken)
	CodeInvalid         = Code(enrol.CodeInvalid)
)

// statuses is the one place a code becomes an HTTP status (STYLE.md 3).
// A code missing here is 500: a new code must be added deliberately.
var statuses = map[Code]int{
	CodeBadRequest: http.StatusBadRequest,
	CodeInvalid:    http.StatusBadRequest,
	CodeCheckCode:  http.StatusBadRequest,
	// 400 rather than 413, as the enrolment contract says: to a client
	// both mean "fix the request", and the code tells them apart.
	CodeTooLarge:         http.StatusBadRequest,
	CodeUnauthenticated:  http.StatusUnauthorized,
	CodeRevoked:          http.StatusUnauthorized,
	CodeRefused:          http.StatusForbidden,
	CodeExpired:          http.StatusForbidden,
	CodeForbidden:        http.StatusForbidden,
	CodeSignInRefused:    http.StatusForbidden,
	CodeLocked:           http.StatusTooManyRequests,
	CodeNotFound:         http.StatusNotFound,
	CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	CodeDeviceTaken:      http.StatusConflict,
	CodeRateLimited:      http.StatusTooManyRequests,
	CodeInternal:         http.StatusInternalServerError,
	CodeUnavailable:      http.StatusServiceUnavailable,
}

// StatusOf returns the HTTP status of code.
func StatusOf(code Code) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is a failure an endpoint answers with: a code and a message safe to
// show the client. Err, when set, is the cause for the log, never for the
// client.
type Error struct {
	Code    Code
	Message string
	// RetryAfter, when set, is sent as Retry-After.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// errorBody is the JSON every error response carries.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// WriteError answers with err's code and safe message and logs the cause.
// An *Error and an enrolment refusal keep their code; a storage NotFound or
// Invalid is a bad request with storage's safe message; anything else is
// internal: the client gets a generic message and the log the cause.
//
// Only what the server must act on is logged above DEBUG: a 5xx at ERROR.
// The log names the route's pattern, never the path: paths carry tracking
// codes, which are enough to act on a case.
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code, msg := CodeInternal, "internal error: try again later"
	var (
		ae *Error
		ee *enrol.Error
	)
	switch {
	case errors.As(err, &ae):
		code, msg = ae.Code, ae.Message
		if ae.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((ae.RetryAfter+time.Second-1)/time.Second)))
		}
	case errors.As(err, &ee):
		code, msg = Code(ee.Code), ee.Message
	case storage.ErrorCode(err) == storage.NotFound, storage.ErrorCode(err) == storage.Invalid:
		code, msg = CodeBadRequest, storage.ErrorMessage(err)
	}
	status := StatusOf(code)
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelError
	}
	if logger != nil {
		logger.Log(r.Context(), level, "request failed",
			"method", r.Method, "route", r.Pattern, "status", status, "code", code, "err", err)
	}
	WriteJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg}})
}

// WriteJSON answers with v as JSON. Nothing a JSON endpoint answers may be
// cached: credentials and case status pass through here.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client hung up: nothing to do
}
