package storage

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/ufop/ufop"
)

// Location is a parsed --storage URL: file://DIR or
// s3://BUCKET[/PREFIX]?endpoint=http://HOST:PORT[&region=R].
type Location struct {
	Scheme string // "file" or "s3"
	// Dir is the directory of a file:// store.
	Dir string
	// Bucket, Prefix, Endpoint and Region describe an s3:// store.
	Bucket, Prefix, Endpoint, Region string
}

// String gives the URL back in canonical form.
func (l Location) String() string {
	if l.Scheme == "file" {
		return "file://" + l.Dir
	}
	u := url.URL{Scheme: "s3", Host: l.Bucket}
	if l.Prefix != "" {
		u.Path = "/" + l.Prefix
	}
	q := url.Values{}
	if l.Endpoint != "" {
		q.Set("endpoint", l.Endpoint)
	}
	if l.Region != "" {
		q.Set("region", l.Region)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// maxStorageURL bounds a --storage URL.
const maxStorageURL = 4096

// ParseLocation parses a --storage URL. Errors are KindInvalid and name
// the part at fault.
func ParseLocation(raw string) (Location, error) {
	if len(raw) > maxStorageURL {
		return Location{}, ufop.Errorf(ufop.KindInvalid, "storage URL: longer than %d bytes", maxStorageURL)
	}
	if !utf8.ValidString(raw) || strings.ContainsAny(raw, "\x00\r\n") {
		return Location{}, ufop.Errorf(ufop.KindInvalid, "storage URL %q: contains invalid characters", raw)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Location{}, ufop.Errorf(ufop.KindInvalid, "storage URL %q: want file://DIR or s3://BUCKET[/PREFIX]?endpoint=URL", raw)
	}
	switch strings.ToLower(scheme) {
	case "file":
		// The rest is a path verbatim: file:///abs/dir, or file://rel/dir
		// relative to the working directory.
		if rest == "" {
			return Location{}, ufop.Errorf(ufop.KindInvalid, "storage URL %q: the directory is missing (file://DIR)", raw)
		}
		return Location{Scheme: "file", Dir: rest}, nil
	case "s3":
		return parseS3Location(raw)
	default:
		return Location{}, ufop.Errorf(ufop.KindInvalid, "storage URL %q: unknown scheme %q (use file:// or s3://)", raw, scheme)
	}
}

func parseS3Location(raw string) (Location, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Location{}, ufop.Errorf(ufop.KindInvalid, "storage URL %q: %v", raw, unwrapURLError(err))
	}
	if u.User != nil {
		return Location{}, ufop.Errorf(ufop.KindInvalid, "storage URL %q: put no credentials in the URL; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", redact(u))
	}
	if u.Fragment != "" || u.Opaque != "" {
		return Location{}, ufop.Errorf(ufop.KindInvalid, "storage URL %q: want s3://BUCKET[/PREFIX]?endpoint=URL", raw)
	}
	l := Location{Scheme: "s3", Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}
	if err := validateS3BucketName(l.Bucket); err != nil {
		return Location{}, err
	}
	if err := validateS3Prefix(l.Prefix); err != nil {
		return Location{}, err
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Location{}, ufop.Errorf(ufop.KindInvalid, "storage URL %q: bad query: %v", raw, err)
	}
	for name, vals := range q {
		if len(vals) != 1 {
			return Location{}, ufop.Errorf(ufop.KindInvalid, "storage URL %q: parameter %q is given %d times", raw, name, len(vals))
		}
		switch name {
		case "endpoint":
			l.Endpoint = vals[0]
			if err := validateS3Endpoint(l.Endpoint); err != nil {
				return Location{}, err
			}
		case "region":
			l.Region = vals[0]
			if !validRegion(l.Region) {
				return Location{}, ufop.Errorf(ufop.KindInvalid, "storage URL: region %q: use letters, digits and '-'", l.Region)
			}
		default:
			return Location{}, ufop.Errorf(ufop.KindInvalid, "storage URL %q: unknown parameter %q (known: endpoint, region)", raw, name)
		}
	}
	return l, nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

func validRegion(r string) bool {
	if r == "" || len(r) > 64 {
		return false
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validateS3BucketName checks S3's bucket naming rules (3-63 characters
// of a-z, 0-9, '.', '-', starting and ending with a letter or digit).
func validateS3BucketName(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return ufop.Errorf(ufop.KindInvalid, "storage URL: S3 bucket name %q must be 3 to 63 characters long", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return ufop.Errorf(ufop.KindInvalid, "storage URL: S3 bucket name %q: use only lower-case letters, digits, '.' and '-'", name)
		}
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return ufop.Errorf(ufop.KindInvalid, "storage URL: S3 bucket name %q must start and end with a letter or digit", name)
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// validateS3Prefix checks the PREFIX of s3://BUCKET/PREFIX: at most 512
// bytes of UTF-8 with no empty, "." or ".." segments, so ufop's keys keep
// room under S3's 1024-byte key limit.
func validateS3Prefix(p string) error {
	if p == "" {
		return nil
	}
	if len(p) > 512 {
		return ufop.Errorf(ufop.KindInvalid, "storage URL: S3 prefix is longer than 512 bytes")
	}
	if !utf8.ValidString(p) {
		return ufop.Errorf(ufop.KindInvalid, "storage URL: S3 prefix %q is not valid UTF-8", p)
	}
	for _, seg := range strings.Split(p, "/") {
		switch {
		case seg == "" || seg == "." || seg == "..":
			return ufop.Errorf(ufop.KindInvalid, "storage URL: S3 prefix %q has an empty, \".\" or \"..\" segment", p)
		case strings.ContainsFunc(seg, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return ufop.Errorf(ufop.KindInvalid, "storage URL: S3 prefix %q has control characters", p)
		}
	}
	return nil
}

// validateS3Endpoint checks an endpoint=URL: http or https, a host, no
// path, query or credentials.
func validateS3Endpoint(e string) error {
	u, err := url.Parse(e)
	if err != nil {
		return ufop.Errorf(ufop.KindInvalid, "storage URL: endpoint %q: %v", e, unwrapURLError(err))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return ufop.Errorf(ufop.KindInvalid, "storage URL: endpoint %q must be an http:// or https:// URL", e)
	case u.Host == "" || u.Hostname() == "":
		return ufop.Errorf(ufop.KindInvalid, "storage URL: endpoint %q has no host", e)
	case u.User != nil:
		return ufop.Errorf(ufop.KindInvalid, "storage URL: endpoint %q: put no credentials in the URL; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", redact(u))
	case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return ufop.Errorf(ufop.KindInvalid, "storage URL: endpoint %q must be just scheme://host[:port]", e)
	}
	return nil
}

// OpenOptions tunes Open.
type OpenOptions struct {
	// Logger receives the store's logs (nil discards them).
	Logger *slog.Logger
	// MaxObjectBytes bounds one object (DefaultMaxObjectBytes if zero).
	MaxObjectBytes int64
	// AccessKey, SecretKey and SessionToken, when set, are the S3
	// credentials instead of the AWS configuration chain.
	AccessKey, SecretKey, SessionToken string
	// Plain opens an s3:// URL as a view of foreign objects (see
	// S3Config.Plain).
	Plain bool
	// HTTPClient, when set, carries S3 requests.
	HTTPClient *http.Client
	// DialContext, when set, dials S3 connections (S3Config.DialContext).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Open opens the store a --storage URL names: file://DIR (a Disk) or
// s3://BUCKET[/PREFIX]?endpoint=URL[&region=R] (an S3, checked reachable
// with its credentials before Open returns). Give at most one
// OpenOptions.
func Open(ctx context.Context, rawURL string, opts ...OpenOptions) (Store, error) {
	var o OpenOptions
	switch len(opts) {
	case 0:
	case 1:
		o = opts[0]
	default:
		return nil, ufop.Errorf(ufop.KindInvalid, "storage: Open takes at most one OpenOptions")
	}
	loc, err := ParseLocation(rawURL)
	if err != nil {
		return nil, err
	}
	switch loc.Scheme {
	case "file":
		return New(Config{Dir: loc.Dir, MaxObjectBytes: o.MaxObjectBytes}, o.Logger)
	default:
		return NewS3(ctx, S3Config{
			Bucket: loc.Bucket, Prefix: loc.Prefix, Endpoint: loc.Endpoint, Region: loc.Region,
			AccessKey: o.AccessKey, SecretKey: o.SecretKey, SessionToken: o.SessionToken,
			Plain: o.Plain, MaxObjectBytes: o.MaxObjectBytes, HTTPClient: o.HTTPClient, DialContext: o.DialContext,
		}, o.Logger)
	}
}
