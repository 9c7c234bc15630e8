package ufop_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop"
)

// allKinds lists every kind with the name components send over HTTP and
// NATS (agent → gateway): the names are a wire contract.
var allKinds = []struct {
	kind ufop.Kind
	name string
}{
	{ufop.KindInternal, "internal"},
	{ufop.KindInvalid, "invalid"},
	{ufop.KindUnauthenticated, "unauthenticated"},
	{ufop.KindPermission, "permission"},
	{ufop.KindNotFound, "not_found"},
	{ufop.KindConflict, "conflict"},
	{ufop.KindTooLarge, "too_large"},
	{ufop.KindUnsupported, "unsupported"},
	{ufop.KindCorrupt, "corrupt"},
	{ufop.KindRateLimited, "rate_limited"},
	{ufop.KindUpstream, "upstream"},
	{ufop.KindUnavailable, "unavailable"},
	{ufop.KindTimeout, "timeout"},
}

func TestKindNamesRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range allKinds {
		if got := tc.kind.String(); got != tc.name {
			t.Errorf("Kind(%d).String() = %q, want %q", tc.kind, got, tc.name)
		}
		if got := ufop.ParseKind(tc.name); got != tc.kind {
			t.Errorf("ParseKind(%q) = %v, want %v", tc.name, got, tc.kind)
		}
		if seen[tc.name] {
			t.Errorf("name %q used twice", tc.name)
		}
		seen[tc.name] = true
	}
}

func TestKindUnknown(t *testing.T) {
	// A kind past the table prints its number rather than panicking, and
	// a name from a newer peer reads as internal (a 500, never a 2xx).
	if got := ufop.Kind(200).String(); got != "kind(200)" {
		t.Errorf("Kind(200).String() = %q", got)
	}
	for _, s := range []string{"", "Invalid", "kind(1)", "not found", "teapot"} {
		if got := ufop.ParseKind(s); got != ufop.KindInternal {
			t.Errorf("ParseKind(%q) = %v, want internal", s, got)
		}
	}
}

func TestErrorf(t *testing.T) {
	cause := fs.ErrNotExist
	tests := []struct {
		name     string
		err      error
		kind     ufop.Kind
		msg      string // Message: what a user sees
		text     string // Error(): for logs
		wrapsErr error  // errors.Is target, nil for none
	}{
		{
			name: "plain", err: ufop.Errorf(ufop.KindInvalid, "bad width %d", -3),
			kind: ufop.KindInvalid, msg: "bad width -3", text: "bad width -3",
		},
		{
			name: "wrapping", err: ufop.Errorf(ufop.KindNotFound, "no key %q: %w", "a.jpg", cause),
			kind: ufop.KindNotFound, msg: `no key "a.jpg": file does not exist`, text: `no key "a.jpg": file does not exist`,
			wrapsErr: cause,
		},
		{
			// A cause the message does not carry shows in logs only.
			name: "hidden cause", err: &ufop.Error{Kind: ufop.KindUpstream, Msg: "the UFOP failed", Err: errors.New("dial 10.0.0.3:9000: refused")},
			kind: ufop.KindUpstream, msg: "the UFOP failed", text: "the UFOP failed: dial 10.0.0.3:9000: refused",
		},
		{
			// The outermost *Error decides, through fmt wrapping.
			name: "wrapped twice",
			err:  fmt.Errorf("gateway: fetch: %w", &ufop.Error{Kind: ufop.KindTooLarge, Msg: "too big", Err: &ufop.Error{Kind: ufop.KindCorrupt, Msg: "inner"}}),
			kind: ufop.KindTooLarge, msg: "too big", text: "gateway: fetch: too big: inner",
		},
		{
			name: "deadline", err: fmt.Errorf("agent: run: %w", context.DeadlineExceeded),
			kind: ufop.KindTimeout, msg: "processing deadline passed", text: "agent: run: context deadline exceeded",
			wrapsErr: context.DeadlineExceeded,
		},
		{
			name: "canceled", err: fmt.Errorf("agent: %w", context.Canceled),
			kind: ufop.KindInternal, msg: "request canceled", text: "agent: context canceled",
		},
		{
			// Errors without a kind may hold internals: users get a
			// generic sentence.
			name: "no kind", err: errors.New("open /var/lib/ufop/secret: permission denied"),
			kind: ufop.KindInternal, msg: "internal error", text: "open /var/lib/ufop/secret: permission denied",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ufop.KindOf(tc.err); got != tc.kind {
				t.Errorf("KindOf = %v, want %v", got, tc.kind)
			}
			if got := ufop.Message(tc.err); got != tc.msg {
				t.Errorf("Message = %q, want %q", got, tc.msg)
			}
			if got := tc.err.Error(); got != tc.text {
				t.Errorf("Error() = %q, want %q", got, tc.text)
			}
			if tc.wrapsErr != nil && !errors.Is(tc.err, tc.wrapsErr) {
				t.Errorf("errors.Is(err, %v) = false", tc.wrapsErr)
			}
		})
	}
}

func TestKindOfNil(t *testing.T) {
	if got := ufop.KindOf(nil); got != ufop.KindInternal {
		t.Errorf("KindOf(nil) = %v", got)
	}
}

func TestRetryAfterOf(t *testing.T) {
	limited := &ufop.Error{Kind: ufop.KindRateLimited, Msg: "slow down", RetryAfter: 3 * time.Second}
	tests := []struct {
		err  error
		want time.Duration
	}{
		{limited, 3 * time.Second},
		{fmt.Errorf("gateway: %w", limited), 3 * time.Second},
		{ufop.Errorf(ufop.KindUnavailable, "busy"), 0},
		{errors.New("plain"), 0},
		{nil, 0},
	}
	for _, tc := range tests {
		if got := ufop.RetryAfterOf(tc.err); got != tc.want {
			t.Errorf("RetryAfterOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestErrorfMessageIsOneSentence(t *testing.T) {
	// Errorf keeps the formatted text as the message, unchanged: the
	// gateway shows it as is.
	err := ufop.Errorf(ufop.KindConflict, "bucket %s exists", "photos")
	var e *ufop.Error
	if !errors.As(err, &e) {
		t.Fatalf("Errorf returned %T, want *ufop.Error", err)
	}
	if e.Err != nil || e.Msg != "bucket photos exists" || strings.Contains(e.Error(), ": ") {
		t.Errorf("Errorf without %%w = %+v", e)
	}
}
