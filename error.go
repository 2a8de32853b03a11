package keyward

import (
	"errors"
	"fmt"
	"time"
)

// Code is the kind of an Error. The set is closed: each surface maps every code to its own status
// in one function.
type Code string

// The error codes.
const (
	ENotFound         Code = "not_found"
	EConflict         Code = "conflict"
	EInvalid          Code = "invalid"
	EUnauthenticated  Code = "unauthenticated"
	EForbidden        Code = "forbidden"
	ERateLimited      Code = "rate_limited"
	EUnavailable      Code = "unavailable"
	ETimeout          Code = "timeout"
	ETooLarge         Code = "too_large"
	EUnsupported      Code = "unsupported_media_type"
	EMethodNotAllowed Code = "method_not_allowed"
	EInternal         Code = "internal"
)

// Error is the error every keyward package returns for a condition a caller may act on. Its
// Message is safe to show to the caller: it never holds a secret or an internal detail.
type Error struct {
	Code    Code
	Message string
	// Fields maps a request field to what is wrong with it, for EInvalid.
	Fields map[string]string
	// RetryAfter, when set, tells the caller when to try again (ERateLimited, EUnavailable).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return fmt.Sprintf("keyward: %s: %s", e.Code, e.Message) }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EInvalid error about one field.
func Invalid(field, problem string) *Error {
	return &Error{Code: EInvalid, Message: field + ": " + problem, Fields: map[string]string{field: problem}}
}

// ErrorCode returns the code of err: its own when it is an *Error, EInternal otherwise, and ""
// for nil.
func ErrorCode(err error) Code {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the caller-safe message of err: its own for an *Error, a generic text
// otherwise, so that no internal detail reaches a response.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
