package auth

import (
	"crypto/hmac"
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"github.com/ufop/ufop"
)

// Qiniu's management-request signatures, which its SDKs send to the
// Qiniu-compatible paths (SPEC §13: POST /pfop/, GET /status/get/prefop):
//
//	QBox:  Authorization: QBox <AK>:<sig>,  sig over
//	       <path>[?<query>] "\n" [<body> when Content-Type is a form]
//	Qiniu: Authorization: Qiniu <AK>:<sig>, sig over
//	       <METHOD> <path>[?<query>] "\nHost: " <host> "\nContent-Type: " <ct> "\n"
//	       [<X-Qiniu-*: value> lines, sorted] "\n" [<body> when ct is a form or JSON]
//
// sig is URL-safe base64 of HMAC-SHA1 with the secret key, as everywhere
// else. Neither covers a timestamp: these requests cannot be guarded
// against replay, so they are accepted only where a replay is harmless.

// Qiniu authorization schemes.
const (
	SchemeQBox  = "QBox"
	SchemeQiniu = "Qiniu"
)

const (
	formType = "application/x-www-form-urlencoded"
	jsonType = "application/json"
)

// QiniuCredential is a parsed Qiniu Authorization header.
type QiniuCredential struct {
	Scheme string // SchemeQBox or SchemeQiniu
	Credential
}

// ParseQiniuAuthorization parses "QBox <AK>:<sig>" or "Qiniu <AK>:<sig>".
func ParseQiniuAuthorization(header string) (QiniuCredential, error) {
	scheme, rest, ok := strings.Cut(header, " ")
	if header == "" || !ok || (scheme != SchemeQBox && scheme != SchemeQiniu) {
		return QiniuCredential{}, ufop.Errorf(ufop.KindUnauthenticated, "request is not signed: send Authorization: QBox <AK>:<signature> or Qiniu <AK>:<signature>")
	}
	ak, b64, ok := strings.Cut(strings.TrimSpace(rest), ":")
	if !ok || ak == "" || strings.ContainsAny(ak, " \t") {
		return QiniuCredential{}, ufop.Errorf(ufop.KindUnauthenticated, "Authorization header: want \"%s <AK>:<signature>\"", scheme)
	}
	sig, ok := decodeSig(b64)
	if !ok {
		return QiniuCredential{}, ufop.Errorf(ufop.KindUnauthenticated, "Authorization header: signature is not URL-safe base64 of an HMAC-SHA1")
	}
	return QiniuCredential{Scheme: scheme, Credential: Credential{AK: ak, Sig: sig}}, nil
}

// QiniuStringToSign returns what a Qiniu SDK signs for a request with the
// given scheme; pathAndQuery is the path with "?query" when there is one,
// host the Host header, body the request body.
func QiniuStringToSign(scheme, method, pathAndQuery, host string, header http.Header, body []byte) string {
	ct := header.Get("Content-Type")
	if scheme == SchemeQBox {
		s := pathAndQuery + "\n"
		if ct == formType {
			s += string(body)
		}
		return s
	}
	if ct == "" {
		ct = formType // what the SDKs send, and sign, when none is set
	}
	var b strings.Builder
	b.WriteString(method + " " + pathAndQuery + "\nHost: " + host + "\nContent-Type: " + ct + "\n")
	var xs []string
	for name := range header {
		c := textproto.CanonicalMIMEHeaderKey(name)
		if len(c) > len("X-Qiniu-") && strings.HasPrefix(c, "X-Qiniu-") {
			xs = append(xs, c+": "+header.Get(c))
		}
	}
	slices.Sort(xs)
	for _, x := range xs {
		b.WriteString(x + "\n")
	}
	b.WriteString("\n")
	if ct == formType || ct == jsonType {
		b.Write(body)
	}
	return b.String()
}

// SignQiniu returns the Authorization header value a Qiniu SDK would send.
func SignQiniu(scheme, ak, sk, method, pathAndQuery, host string, header http.Header, body []byte) string {
	return scheme + " " + ak + ":" + encodeSig(mac(sk, QiniuStringToSign(scheme, method, pathAndQuery, host, header, body)))
}

// VerifyQiniu checks a Qiniu-signed request whose body has been read.
func VerifyQiniu(r *http.Request, body []byte, cred QiniuCredential, sk string) error {
	pq := r.URL.Path
	if r.URL.RawQuery != "" {
		pq += "?" + r.URL.RawQuery
	}
	want := mac(sk, QiniuStringToSign(cred.Scheme, r.Method, pq, r.Host, r.Header, body))
	if !hmac.Equal(want, cred.Sig) {
		return ufop.Errorf(ufop.KindUnauthenticated, "%s signature does not match for access key %q: check the secret key", cred.Scheme, cred.AK)
	}
	return nil
}
