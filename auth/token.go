package auth

import (
	"crypto/hmac"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ufop/ufop"
)

// Download-token query parameters.
const (
	ExpiresParam = "e"
	TokenParam   = "token"
)

// SignURL returns rawURL with a download token that expires at expires:
// "<url>?e=<unix>&token=<AK>:<sig>" (or "&e=" when rawURL has a query, such
// as a fop). The signature covers scheme, host, escaped path and query up
// to and including e=. The path is re-escaped the way an HTTP client sends
// it, so the signed bytes are the bytes the gateway receives.
func SignURL(rawURL, ak, sk string, expires time.Time) (string, error) {
	if ak == "" || sk == "" {
		return "", ufop.Errorf(ufop.KindInvalid, "sign: an access key and a secret key are required")
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", ufop.Errorf(ufop.KindInvalid, "sign: URL %q must be absolute, like http://host/bucket/key", rawURL)
	}
	if _, n := lookupParam(u.RawQuery, ExpiresParam); n > 0 {
		return "", ufop.Errorf(ufop.KindInvalid, "sign: URL %q already has an e= parameter", rawURL)
	}
	if _, n := lookupParam(u.RawQuery, TokenParam); n > 0 {
		return "", ufop.Errorf(ufop.KindInvalid, "sign: URL %q already has a token= parameter", rawURL)
	}
	signed := u.Scheme + "://" + u.Host + u.EscapedPath() + "?"
	if u.RawQuery != "" {
		signed += u.RawQuery + "&"
	}
	signed += ExpiresParam + "=" + strconv.FormatInt(expires.Unix(), 10)
	return signed + "&" + TokenParam + "=" + ak + ":" + encodeSig(mac(sk, signed)), nil
}

// VerifyURL checks the download token of a full request URL
// (scheme://host/path?query exactly as received, see FullURL) and returns
// the token's access key. secretOf returns an AK's secret key; its
// ufop.KindNotFound errors become "unknown access key", others are
// returned as they are (a catalog outage is not the client's fault).
func VerifyURL(fullURL string, secretOf func(ak string) (string, error), now time.Time) (ak string, err error) {
	return VerifyURLWithin(fullURL, secretOf, now, 0)
}

// VerifyURLWithin is VerifyURL that also refuses, with
// ufop.KindPermission, a token whose expiry is more than maxLifetime after
// now: a signed URL must not outlive the platform's limit (0: no limit).
func VerifyURLWithin(fullURL string, secretOf func(ak string) (string, error), now time.Time, maxLifetime time.Duration) (ak string, err error) {
	q := strings.IndexByte(fullURL, '?')
	if q < 0 {
		return "", missingToken()
	}
	query := fullURL[q+1:]
	amp := strings.LastIndexByte(query, '&')
	tokenParam := query[amp+1:]
	tokenValue, ok := strings.CutPrefix(tokenParam, TokenParam+"=")
	if !ok {
		if _, n := lookupParam(query, TokenParam); n > 0 {
			return "", ufop.Errorf(ufop.KindUnauthenticated, "download token: token= must be the last parameter of the URL")
		}
		return "", missingToken()
	}
	if amp < 0 {
		return "", ufop.Errorf(ufop.KindUnauthenticated, "download token: the URL needs an e=<unix expiry> parameter right before token=")
	}
	signed := fullURL[:q+1+amp]
	signedQuery := query[:amp]
	expText, ok := strings.CutPrefix(signedQuery[strings.LastIndexByte(signedQuery, '&')+1:], ExpiresParam+"=")
	if !ok {
		return "", ufop.Errorf(ufop.KindUnauthenticated, "download token: the URL needs an e=<unix expiry> parameter right before token=")
	}
	expires, err := strconv.ParseInt(expText, 10, 64)
	if err != nil {
		return "", ufop.Errorf(ufop.KindUnauthenticated, "download token: e=%q is not a unix time in seconds", expText)
	}
	if unescaped, err := url.QueryUnescape(tokenValue); err == nil {
		tokenValue = unescaped // tolerate clients that escape ':' or '='
	}
	ak, b64, ok := strings.Cut(tokenValue, ":")
	if !ok || ak == "" {
		return "", ufop.Errorf(ufop.KindUnauthenticated, "download token: want token=<AK>:<signature>")
	}
	sig, ok := decodeSig(b64)
	if !ok {
		return "", ufop.Errorf(ufop.KindUnauthenticated, "download token: signature is not URL-safe base64 of an HMAC-SHA1")
	}
	sk, err := secretOf(ak)
	if err != nil {
		if k := ufop.KindOf(err); k == ufop.KindNotFound || k == ufop.KindUnauthenticated {
			return "", &ufop.Error{Kind: ufop.KindUnauthenticated, Msg: fmt.Sprintf("download token: unknown access key %q", ak), Err: err}
		}
		return "", fmt.Errorf("auth: look up access key %s: %w", ak, err)
	}
	if !hmac.Equal(mac(sk, signed), sig) {
		return "", ufop.Errorf(ufop.KindUnauthenticated, "download token: signature does not match the URL")
	}
	if now.Unix() > expires {
		return "", ufop.Errorf(ufop.KindUnauthenticated, "token expired")
	}
	// Compared in seconds on both sides: e= may be any int64.
	if maxLifetime > 0 && expires > now.Unix()+int64(maxLifetime/time.Second) {
		return "", ufop.Errorf(ufop.KindPermission, "download token: e= is further than %s from now, over this platform's limit for signed URLs: sign it with a shorter expiry", lifetimeText(maxLifetime))
	}
	return ak, nil
}

func lifetimeText(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	}
	return d.String()
}

func missingToken() error {
	return ufop.Errorf(ufop.KindUnauthenticated, "this bucket is private: the URL needs a download token (?e=<expiry>&token=<AK>:<signature>, see ufopctl sign)")
}

// StripToken returns u's raw query without its e= and token= parameters:
// what is left is the fop part.
func StripToken(u *url.URL) string {
	return dropParams(u.RawQuery, ExpiresParam, TokenParam)
}

// FullURL rebuilds the URL a client requested, for VerifyURL: scheme from
// the connection (https when r.TLS is set), host from the Host header, and
// the request target as received. Behind a TLS-terminating proxy the
// caller must substitute the scheme the client used.
func FullURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + RequestPathAndQuery(r)
}
