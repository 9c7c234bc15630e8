package migrate

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/url"
	"strings"

	"github.com/ufop/ufop"
)

// Source schemes.
const (
	SchemeS3   = "s3"
	SchemeHTTP = "http"
	SchemeFile = "file"
)

// Spec is a parsed SRC URL.
type Spec struct {
	// Scheme is SchemeS3, SchemeHTTP (for http and https) or SchemeFile.
	Scheme string
	// Raw is the URL as given.
	Raw string
	// Bucket and Prefix (s3): keys are listed under Prefix and copied
	// with Prefix removed.
	Bucket, Prefix string
	// Endpoint and Region of the S3 server (s3).
	Endpoint, Region string
	// Base is the URL prefix a key is appended to (http).
	Base string
	// Dir is the directory (file).
	Dir string
}

// ParseSource parses SRC: s3://BUCKET[/PREFIX]?endpoint=URL[&region=R],
// http(s)://HOST[/PREFIX] or file:///DIR. Errors are KindInvalid and
// name the source and what is wrong with it.
func ParseSource(raw string) (Spec, error) {
	bad := func(format string, args ...any) (Spec, error) {
		return Spec{}, ufop.Errorf(ufop.KindInvalid, "source %q: "+format, append([]any{raw}, args...)...)
	}
	if raw == "" {
		return Spec{}, ufop.Errorf(ufop.KindInvalid, "source: --from is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("not a URL")
	}
	s := Spec{Raw: raw}
	switch strings.ToLower(u.Scheme) {
	case "s3":
		s.Scheme = SchemeS3
		s.Bucket = u.Host
		if s.Bucket == "" {
			return bad("no bucket: want s3://BUCKET[/PREFIX]?endpoint=URL")
		}
		if len(s.Bucket) > 63 || strings.ContainsAny(s.Bucket, " /:@") {
			return bad("bucket name %q is not valid", s.Bucket)
		}
		if u.User != nil {
			return bad("put credentials in --src-ak/--src-sk, not in the URL")
		}
		s.Prefix = strings.TrimPrefix(u.Path, "/")
		if s.Prefix != "" && !strings.HasSuffix(s.Prefix, "/") {
			s.Prefix += "/"
		}
		q := u.Query()
		for k := range q {
			if k != "endpoint" && k != "region" {
				return bad("unknown parameter %q (want endpoint, region)", k)
			}
		}
		s.Endpoint, s.Region = q.Get("endpoint"), q.Get("region")
		if s.Endpoint == "" {
			return bad("endpoint is required: s3://BUCKET[/PREFIX]?endpoint=http://HOST:PORT")
		}
		e, err := url.Parse(s.Endpoint)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return bad("endpoint %q is not an http(s) URL", s.Endpoint)
		}
	case "http", "https":
		s.Scheme = SchemeHTTP
		if u.Host == "" {
			return bad("no host")
		}
		if u.User != nil {
			return bad("credentials in the URL are not supported")
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return bad("a query or fragment cannot prefix keys")
		}
		s.Base = u.Scheme + "://" + u.Host + u.EscapedPath()
		if !strings.HasSuffix(s.Base, "/") {
			s.Base += "/"
		}
	case "file":
		s.Scheme = SchemeFile
		if u.Host != "" && u.Host != "localhost" {
			return bad("want file:///DIR (an absolute path, no host)")
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return bad("a file:// source takes no query or fragment")
		}
		if !strings.HasPrefix(u.Path, "/") {
			return bad("want file:///DIR (an absolute path)")
		}
		s.Dir = u.Path
	case "":
		return bad("no scheme: want s3://, http(s):// or file://")
	default:
		return bad("unknown scheme %q: want s3://, http(s):// or file://", u.Scheme)
	}
	return s, nil
}

// Entry is one source object as listed or opened. Size is -1 and ETag ""
// when the source does not say.
type Entry struct {
	Key  string `json:"k"`
	Size int64  `json:"s"`
	ETag string `json:"e,omitempty"`
	// Type is the content type the source gives when opened.
	Type string `json:"-"`
	// Hint is what the lister saw of the target (HintAbsent, HintDiffers)
	// when it merged the two listings; a worker that gets the key for the
	// first time copies it without looking again.
	Hint string `json:"-"`
}

// Hints of a queued key.
const (
	HintAbsent  = "absent"
	HintDiffers = "differs"
)

// Source reads the objects of one source.
type Source interface {
	// Page returns up to limit entries from position pos ("" is the
	// start), the position after them, and whether the source is
	// exhausted. Listable sources give keys in byte order.
	Page(ctx context.Context, pos string, limit int) (entries []Entry, next string, done bool, err error)
	// Sorted reports whether Page gives keys in byte order (a list file
	// gives them in its own order).
	Sorted() bool
	// Open opens key for reading; the entry has what the source says of
	// it (Size -1 when unknown).
	Open(ctx context.Context, key string) (io.ReadCloser, Entry, error)
	Close() error
}

// sameETag reports whether two ETags can be compared (both plain hex
// digests of one kind: MD5 or SHA-256, not a multipart ETag) and, if so,
// whether they are equal.
func sameETag(a, b string) (comparable, equal bool) {
	a, b = strings.Trim(strings.ToLower(a), `"`), strings.Trim(strings.ToLower(b), `"`)
	if a == "" || len(a) != len(b) || (len(a) != 32 && len(a) != 64) || !isHex(a) || !isHex(b) {
		return false, false
	}
	return true, a == b
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// hashStream returns the hex SHA-256 and MD5 of r's content and its size.
func hashStream(r io.Reader) (sha, md string, n int64, err error) {
	hs, hm := sha256.New(), md5.New()
	n, err = io.Copy(io.MultiWriter(hs, hm), r)
	return hex.EncodeToString(hs.Sum(nil)), hex.EncodeToString(hm.Sum(nil)), n, err
}

// matchesETag reports whether content hashed to sha/md is what etag
// names (a SHA-256 for Disk, an MD5 for most S3 servers).
func matchesETag(etag, sha, md string) bool {
	etag = strings.Trim(strings.ToLower(etag), `"`)
	return etag == sha || etag == md
}
