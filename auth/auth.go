// Package auth signs and verifies the platform's two kinds of credentials:
// admin API requests (SPEC §7: an "Authorization: UFOP <AK>:<sig>" header
// over method, path, query and body hash, with a ts= timestamp in the
// query against replay) and download tokens for private buckets (SPEC §3:
// Qiniu-style "?e=<expiry>&token=<AK>:<sig>" URLs).
//
// Signatures are URL-safe base64 (RFC 4648 §5) of HMAC-SHA1 with the
// secret key; they are produced with padding and accepted without it.
// Comparisons are constant-time. Every verification failure is a
// ufop.KindUnauthenticated error whose message says what to fix.
package auth

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ufop/ufop"
)

const (
	// Scheme is the Authorization scheme of admin API requests.
	Scheme = "UFOP"
	// TimestampParam is the query parameter carrying the request time.
	TimestampParam = "ts"
	// DefaultMaxSkew is how far a request's ts may be from the server's
	// clock; VerifyRequest uses it when given a zero maxSkew.
	DefaultMaxSkew = 15 * time.Minute
)

// BodyHash returns the hex SHA-256 of a request body (of nil for none).
func BodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// EmptyBodyHash is BodyHash(nil), for requests without a body.
const EmptyBodyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// StringToSign is what an admin request's signature covers.
func StringToSign(method, pathAndQuery, bodyHash string) string {
	return method + " " + pathAndQuery + "\n" + bodyHash
}

func mac(sk, s string) []byte {
	m := hmac.New(sha1.New, []byte(sk))
	m.Write([]byte(s))
	return m.Sum(nil)
}

func encodeSig(sig []byte) string { return base64.URLEncoding.EncodeToString(sig) }

// decodeSig accepts URL-safe base64 with or without padding and requires
// an HMAC-SHA1-sized result.
func decodeSig(s string) ([]byte, bool) {
	sig, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(sig) != sha1.Size {
		return nil, false
	}
	return sig, true
}

// SignRequest stamps r with the current time (replacing any ts= in its
// query) and sets its Authorization header. bodyHash is BodyHash of the
// body r will send. The signed path and query are r.URL.RequestURI(),
// which is what net/http writes on the wire.
//
// It also adds a random nonce= (replacing any), so that two identical
// requests sent in the same second differ and the server's replay guard
// (ReplayCache) refuses neither.
func SignRequest(r *http.Request, ak, sk, bodyHash string, now time.Time) {
	signRequest(r, ak, sk, bodyHash, now, newNonce())
}

// signRequest is SignRequest with a given nonce; "" adds none (the test
// vectors).
func signRequest(r *http.Request, ak, sk, bodyHash string, now time.Time, nonce string) {
	q := dropParams(r.URL.RawQuery, TimestampParam, NonceParam)
	if q != "" {
		q += "&"
	}
	r.URL.RawQuery = q + TimestampParam + "=" + strconv.FormatInt(now.Unix(), 10)
	if nonce != "" {
		r.URL.RawQuery += "&" + NonceParam + "=" + nonce
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	sig := mac(sk, StringToSign(method, r.URL.RequestURI(), bodyHash))
	r.Header.Set("Authorization", Scheme+" "+ak+":"+encodeSig(sig))
}

// Credential is a parsed Authorization header.
type Credential struct {
	AK  string
	Sig []byte
}

// ParseAuthorization parses "UFOP <AK>:<signature>".
func ParseAuthorization(header string) (Credential, error) {
	if header == "" {
		return Credential{}, ufop.Errorf(ufop.KindUnauthenticated, "request is not signed: send an Authorization: UFOP <AK>:<signature> header")
	}
	scheme, rest, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, Scheme) {
		return Credential{}, ufop.Errorf(ufop.KindUnauthenticated, "Authorization header: scheme must be %q", Scheme)
	}
	ak, b64, ok := strings.Cut(strings.TrimSpace(rest), ":")
	if !ok || ak == "" || strings.ContainsAny(ak, " \t") {
		return Credential{}, ufop.Errorf(ufop.KindUnauthenticated, "Authorization header: want \"UFOP <AK>:<signature>\"")
	}
	sig, ok := decodeSig(b64)
	if !ok {
		return Credential{}, ufop.Errorf(ufop.KindUnauthenticated, "Authorization header: signature is not URL-safe base64 of an HMAC-SHA1")
	}
	return Credential{AK: ak, Sig: sig}, nil
}

// VerifyRequest checks an admin request's timestamp (CheckTimestamp) and
// signature. pathAndQuery is the request target as received
// (RequestPathAndQuery); sk is the secret key of cred.AK. A zero maxSkew
// means DefaultMaxSkew.
//
// For a streamed upload the body hash is only known at the end: check
// the timestamp and the AK before streaming, then call VerifyRequest from
// storage.PutOptions.Verify, which gets the hash before the object becomes
// visible.
func VerifyRequest(method, pathAndQuery, bodyHash string, cred Credential, sk string, now time.Time, maxSkew time.Duration) error {
	if err := CheckTimestamp(pathAndQuery, now, maxSkew); err != nil {
		return err
	}
	want := mac(sk, StringToSign(method, pathAndQuery, bodyHash))
	if !hmac.Equal(want, cred.Sig) {
		return ufop.Errorf(ufop.KindUnauthenticated, "signature does not match for access key %q: check the secret key", cred.AK)
	}
	return nil
}

// CheckTimestamp checks that pathAndQuery carries exactly one ts= within
// maxSkew (zero: DefaultMaxSkew) of now. It is the cheap part of
// VerifyRequest, usable before a body has been read.
func CheckTimestamp(pathAndQuery string, now time.Time, maxSkew time.Duration) error {
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	_, rawQuery, _ := strings.Cut(pathAndQuery, "?")
	tsText, n := lookupParam(rawQuery, TimestampParam)
	if n != 1 {
		return ufop.Errorf(ufop.KindUnauthenticated, "request must carry exactly one ts=<unix seconds> query parameter inside its signature")
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ufop.Errorf(ufop.KindUnauthenticated, "request parameter ts: %q is not a unix time in seconds", tsText)
	}
	// Compare both ways rather than negate: Sub saturates at the minimum
	// Duration for a ts far in the future, whose negation overflows.
	if skew := now.Sub(time.Unix(ts, 0)); skew > maxSkew || skew < -maxSkew {
		if skew < 0 {
			skew = -max(skew, -time.Duration(1<<62))
		}
		return ufop.Errorf(ufop.KindUnauthenticated, "request timestamp is %s away from the server clock (limit %s): check the client's clock", skew.Round(time.Second), maxSkew)
	}
	return nil
}

// RequestPathAndQuery returns the request target a server should verify:
// the raw target as received (what the client signed), falling back to
// r.URL.RequestURI() for requests built in-process.
func RequestPathAndQuery(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// lookupParam returns the raw value of the last parameter called name in
// a raw query and how many there were.
func lookupParam(rawQuery, name string) (value string, count int) {
	for part := range strings.SplitSeq(rawQuery, "&") {
		k, v, _ := strings.Cut(part, "=")
		if k == name {
			value, count = v, count+1
		}
	}
	return value, count
}

// dropParams removes the parameters called one of names from a raw query,
// keeping every other byte as it was (fops are not key=value pairs, so the
// query must not be re-encoded).
func dropParams(rawQuery string, names ...string) string {
	if rawQuery == "" {
		return ""
	}
	parts := strings.Split(rawQuery, "&")
	kept := parts[:0]
	for _, part := range parts {
		k, _, _ := strings.Cut(part, "=")
		drop := false
		for _, n := range names {
			drop = drop || k == n
		}
		if !drop {
			kept = append(kept, part)
		}
	}
	return strings.Join(kept, "&")
}
