// Package ufop holds the small set of types shared by the platform's
// components: error kinds, object and bucket metadata, agent descriptions.
// It imports nothing from the rest of the module, so every component can
// depend on it.
package ufop

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind classifies an error. The gateway maps each kind to one HTTP status
// (SPEC §2); everything else in the platform only picks the kind.
type Kind uint8

// The kinds of error. Their order is part of nothing: compare by name.
const (
	KindInternal        Kind = iota // a bug or an unexpected failure: 500
	KindInvalid                     // malformed fop, parameter or request: 400
	KindUnauthenticated             // missing or bad signature, expired token: 401
	KindPermission                  // authenticated but not allowed: 403
	KindNotFound                    // no such bucket, key, user or UFOP: 404
	KindConflict                    // exists already, or in use: 409
	KindTooLarge                    // over a size or pixel limit: 413
	KindUnsupported                 // format not supported: 415
	KindCorrupt                     // source could not be decoded: 422
	KindRateLimited                 // per-user or per-command limit: 429
	KindUpstream                    // a UFOP instance or origin failed: 502
	KindUnavailable                 // no capacity: 503
	KindTimeout                     // processing deadline passed: 504
)

var kindNames = [...]string{
	KindInternal:        "internal",
	KindInvalid:         "invalid",
	KindUnauthenticated: "unauthenticated",
	KindPermission:      "permission",
	KindNotFound:        "not_found",
	KindConflict:        "conflict",
	KindTooLarge:        "too_large",
	KindUnsupported:     "unsupported",
	KindCorrupt:         "corrupt",
	KindRateLimited:     "rate_limited",
	KindUpstream:        "upstream",
	KindUnavailable:     "unavailable",
	KindTimeout:         "timeout",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// ParseKind is the inverse of Kind.String; unknown names are KindInternal.
// Components that pass errors over HTTP (agent → gateway) send the name.
func ParseKind(s string) Kind {
	for k, n := range kindNames {
		if n == s {
			return Kind(k)
		}
	}
	return KindInternal
}

// Error is an error with a kind and a message a user can act on.
type Error struct {
	Kind Kind
	// Msg is one sentence for the user of the platform. It must not leak
	// secrets or internal addresses.
	Msg string
	// RetryAfter, when set, tells the client when to try again (429, 503).
	RetryAfter time.Duration
	// Err is the underlying cause, for logs; it is not shown to users.
	Err error
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind with a formatted message,
// like fmt.Errorf: a %w verb makes the wrapped error its Err (and its text
// part of the message, so wrap only errors whose text a user may see).
func Errorf(kind Kind, format string, args ...any) error {
	wrapped := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Msg: wrapped.Error(), Err: errors.Unwrap(wrapped)}
}

// Error returns the message and, for logs, the cause when the message does
// not already carry it.
func (e *Error) Error() string {
	if e.Err != nil && !strings.Contains(e.Msg, e.Err.Error()) {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// KindOf reports the kind of err: the kind of the outermost *Error in its
// chain, KindTimeout for an expired context deadline, KindInternal else.
func KindOf(err error) Kind {
	if err == nil {
		return KindInternal
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return KindTimeout
	}
	return KindInternal
}

// Message returns the user-facing sentence for err: the message of the
// outermost *Error, or a generic sentence for errors without a kind, whose
// text may hold internals.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Msg
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "processing deadline passed"
	case errors.Is(err, context.Canceled):
		return "request canceled"
	}
	return "internal error"
}

// RetryAfterOf returns the retry hint carried by err, or zero.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
