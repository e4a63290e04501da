package storage

import (
	"errors"
	"fmt"
)

// Code classifies a storage error so callers can react (and the HTTP and sync
// layers can map it to a status or a close reason in one place) without
// parsing messages or knowing the database.
type Code string

const (
	NotFound Code = "not_found" // no such branch, device, code or complaint
	Conflict Code = "conflict"  // clashes with what is stored (duplicate id, reused code, broken device numbering)
	Expired  Code = "expired"   // an enrolment code past its expiry
	Revoked  Code = "revoked"   // a revoked device
	Invalid  Code = "invalid"   // the request itself is malformed
	Internal Code = "internal"  // anything else: the database failed
)

// Error is a storage failure the caller is expected to handle. Message is
// safe to show to a client (it names ids the client sent, never SQL or
// paths); the detail of an Internal failure stays in the wrapped error and
// belongs in the log.
type Error struct {
	Code    Code
	Message string
	// Err is an optional cause, for errors.Is (e.g. complaint.ErrNotFound).
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("storage: %s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, Internal for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// ErrorMessage returns the safe message of the first *Error in err's chain,
// or a generic one, so internal detail is never shown to a client.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
