// Package mirror fills mirror buckets from their origin (SPEC §10): a
// missing key K of a bucket whose Mirror is ORIGIN is fetched from
// ORIGIN+K, through the egress address policy, and streamed into the
// store, which publishes it atomically, so a failed or oversized fetch
// stores nothing. Concurrent fetches of one key in one process share one
// origin request.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/egress"
	"github.com/ufop/ufop/storage"
)

// Config bounds origin fetches.
type Config struct {
	// ConnectTimeout bounds one connection attempt to the origin.
	ConnectTimeout time.Duration
	// HeaderTimeout bounds the wait for the origin's response header.
	HeaderTimeout time.Duration
	// Timeout bounds a whole fetch, redirects and body included.
	Timeout time.Duration
	// MaxBytes bounds one fetched object: the same limit as uploads (the
	// store's maximum object size).
	MaxBytes int64
	// MaxRedirects is how many redirects are followed.
	MaxRedirects int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		ConnectTimeout: 5 * time.Second,
		HeaderTimeout:  15 * time.Second,
		Timeout:        2 * time.Minute,
		MaxBytes:       storage.DefaultMaxObjectBytes,
		MaxRedirects:   egress.DefaultMaxRedirects,
	}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.ConnectTimeout <= 0, c.HeaderTimeout <= 0, c.Timeout <= 0:
		return errors.New("mirror: connect, header and fetch timeouts must be positive")
	case c.MaxBytes <= 0:
		return errors.New("mirror: max object bytes must be positive")
	case c.MaxRedirects < 0:
		return errors.New("mirror: max redirects must not be negative")
	}
	return nil
}

// Fetcher fetches objects of mirror buckets from their origins. It is safe
// for concurrent use and runs no goroutine of its own.
type Fetcher struct {
	cfg    Config
	client *http.Client
	store  storage.Store
	logger *slog.Logger
	flight singleflight.Group
}

// New returns a fetcher that dials only what policy allows.
func New(cfg Config, policy *egress.Policy, store storage.Store, logger *slog.Logger) (*Fetcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil || logger == nil {
		return nil, errors.New("mirror: store and logger are required")
	}
	cl := policy.Client(egress.ClientConfig{DialTimeout: cfg.ConnectTimeout, HeaderTimeout: cfg.HeaderTimeout,
		MaxRedirects: cfg.MaxRedirects})
	if cfg.MaxRedirects == 0 {
		// egress reads zero as its default; here it means none: a
		// redirect is then an answer that is not 2xx.
		cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &Fetcher{cfg: cfg, client: cl, store: store, logger: logger.With("component", "mirror")}, nil
}

// Close drops idle origin connections. It is idempotent.
func (f *Fetcher) Close() error {
	f.client.CloseIdleConnections()
	return nil
}

// ParseOrigin checks a mirror origin as given at bucket creation: an
// absolute http(s) URL with a host and no user info, query or fragment
// (KindInvalid), whose host, when it is a literal address, the policy
// allows (KindPermission; names are checked when dialled). It returns the
// origin as stored: an empty path becomes "/".
func ParseOrigin(policy *egress.Policy, origin string) (string, error) {
	u, err := url.Parse(origin)
	if err != nil {
		return "", ufop.Errorf(ufop.KindInvalid, "mirror origin %q is not a URL: use http(s)://HOST[/PREFIX]", origin)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", ufop.Errorf(ufop.KindInvalid, "mirror origin %q: scheme %q is not supported, use http or https", u.Redacted(), u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return "", ufop.Errorf(ufop.KindInvalid, "mirror origin %q has no host: use http(s)://HOST[/PREFIX]", u.Redacted())
	}
	if u.User != nil {
		return "", ufop.Errorf(ufop.KindInvalid, "mirror origin %q: user info is not allowed", u.Redacted())
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", ufop.Errorf(ufop.KindInvalid, "mirror origin %q: a query or fragment is not allowed (keys are appended to the origin)", origin)
	}
	if err := policy.CheckURL(u.String()); err != nil {
		if egress.IsRefused(err) {
			return "", &ufop.Error{Kind: ufop.KindPermission, Err: err,
				Msg: fmt.Sprintf("mirror origin %q: %s", origin, ufop.Message(err))}
		}
		return "", &ufop.Error{Kind: ufop.KindInvalid, Err: err, Msg: fmt.Sprintf("mirror origin %q: %s", origin, ufop.Message(err))}
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String(), nil
}

// OriginURL is where key of a bucket mirroring origin is fetched: the
// origin with the key appended, each '/'-separated segment path-escaped.
// An origin without a path gets one ("http://h" + "a.jpg" is
// "http://h/a.jpg").
func OriginURL(origin, key string) string {
	if u, err := url.Parse(origin); err == nil && u.Path == "" && u.RawPath == "" {
		origin += "/"
	}
	return origin + storage.EscapeKey(key)
}

// Fill returns bucket b's object at key, fetching it from b's origin when
// it is not stored. Misses of one key share one fetch; a request that
// joins it gets its result.
func (f *Fetcher) Fill(ctx context.Context, b ufop.Bucket, key string) (ufop.Object, error) {
	obj, err := f.store.Stat(ctx, b.Name, key)
	if b.Mirror == "" || ufop.KindOf(err) != ufop.KindNotFound {
		return obj, err
	}
	return f.do(ctx, "fill", b, key, func(ctx context.Context) (ufop.Object, error) {
		// A fetch that ended since the caller looked has stored it.
		obj, err := f.store.Stat(ctx, b.Name, key)
		if ufop.KindOf(err) != ufop.KindNotFound {
			return obj, err
		}
		return f.fetch(ctx, b, key)
	})
}

// Fetch fetches key from b's origin now and stores it, replacing what is
// stored (prefetch). Concurrent prefetches of one key share one fetch.
func (f *Fetcher) Fetch(ctx context.Context, b ufop.Bucket, key string) (ufop.Object, error) {
	if b.Mirror == "" {
		return ufop.Object{}, ufop.Errorf(ufop.KindInvalid, "bucket %q has no mirror origin (bucket create --mirror)", b.Name)
	}
	return f.do(ctx, "fetch", b, key, func(ctx context.Context) (ufop.Object, error) { return f.fetch(ctx, b, key) })
}

// do runs fn once per op, bucket and key at a time. The fetch does not
// end with the request that started it: the others that joined still
// want it, and Timeout bounds it.
func (f *Fetcher) do(ctx context.Context, op string, b ufop.Bucket, key string, fn func(context.Context) (ufop.Object, error)) (ufop.Object, error) {
	if err := storage.ValidateKey(key); err != nil {
		return ufop.Object{}, err
	}
	v, err, _ := f.flight.Do(op+"\x00"+b.Name+"\x00"+key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.Timeout)
		defer cancel()
		return fn(fctx)
	})
	if err != nil {
		return ufop.Object{}, err
	}
	return v.(ufop.Object), nil
}

// fetch gets ORIGIN+key and streams it into the store.
func (f *Fetcher) fetch(ctx context.Context, b ufop.Bucket, key string) (ufop.Object, error) {
	start := time.Now()
	src := OriginURL(b.Mirror, key)
	obj, err := f.get(ctx, b, key, src)
	attrs := []any{"bucket", b.Name, "key", key, "url", src, "dur_ms", time.Since(start).Milliseconds()}
	if err != nil {
		f.logger.Info("mirror fetch failed", append(attrs, "err", err)...)
		return obj, err
	}
	f.logger.Info("mirror fetch", append(attrs, "bytes", obj.Size)...)
	return obj, nil
}

func (f *Fetcher) get(ctx context.Context, b ufop.Bucket, key, src string) (ufop.Object, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return ufop.Object{}, ufop.Errorf(ufop.KindInvalid, "bucket %q: mirror origin URL %q: %v", b.Name, src, err)
	}
	req.Header.Set("User-Agent", "ufop-mirror/1")
	resp, err := f.client.Do(req)
	if err != nil {
		return ufop.Object{}, f.failed(ctx, src, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return ufop.Object{}, ufop.Errorf(ufop.KindNotFound, "no such key %q in bucket %q, nor at its mirror origin (%s answered %s)",
			key, b.Name, src, resp.Status)
	case resp.StatusCode/100 != 2 || resp.StatusCode == http.StatusPartialContent:
		return ufop.Object{}, ufop.Errorf(ufop.KindUpstream, "mirror origin %s answered %s", src, resp.Status)
	}
	if resp.ContentLength > f.cfg.MaxBytes {
		return ufop.Object{}, f.tooLarge(src, resp.ContentLength)
	}
	body := &limitedBody{r: resp.Body, left: f.cfg.MaxBytes}
	obj, err := f.store.Put(ctx, b.Name, key, body, storage.PutOptions{ContentType: contentType(resp.Header.Get("Content-Type"))})
	switch {
	case body.over:
		return ufop.Object{}, f.tooLarge(src, -1)
	case body.err != nil:
		return ufop.Object{}, f.failed(ctx, src, body.err)
	case err != nil && ctx.Err() != nil:
		return ufop.Object{}, f.failed(ctx, src, ctx.Err())
	case err != nil:
		return ufop.Object{}, fmt.Errorf("mirror: storing %s: %w", src, err)
	}
	return obj, nil
}

func (f *Fetcher) tooLarge(src string, size int64) error {
	if size >= 0 {
		return ufop.Errorf(ufop.KindTooLarge, "mirror origin %s: the object is %s, over the %s limit", src,
			ufop.FormatBytes(size), ufop.FormatBytes(f.cfg.MaxBytes))
	}
	return ufop.Errorf(ufop.KindTooLarge, "mirror origin %s: the object is over the %s limit", src, ufop.FormatBytes(f.cfg.MaxBytes))
}

// failed turns a failure to get an answer or a body into the user's
// error: a refused address is 403 (SPEC §10), anything else 502.
func (f *Fetcher) failed(ctx context.Context, src string, err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) && urlErr.URL != src {
		src += " (redirected to " + urlErr.URL + ")"
	}
	var ue *ufop.Error
	if errors.As(err, &ue) {
		return &ufop.Error{Kind: ue.Kind, Err: err, Msg: fmt.Sprintf("mirror origin %s: %s", src, ue.Msg)}
	}
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &ufop.Error{Kind: ufop.KindUpstream, Err: err,
			Msg: fmt.Sprintf("mirror origin %s did not answer in full within %v", src, f.cfg.Timeout)}
	case errors.As(err, &ne) && ne.Timeout():
		return &ufop.Error{Kind: ufop.KindUpstream, Err: err, Msg: fmt.Sprintf("mirror origin %s timed out", src)}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &ufop.Error{Kind: ufop.KindUpstream, Err: err, Msg: fmt.Sprintf("mirror origin %s ended its answer early", src)}
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return &ufop.Error{Kind: ufop.KindUpstream, Err: err, Msg: fmt.Sprintf("mirror origin %s could not be reached: %v", src, oe.Err)}
	}
	return &ufop.Error{Kind: ufop.KindUpstream, Err: err, Msg: fmt.Sprintf("mirror origin %s failed: %v", src, unwrapURL(err))}
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// contentType keeps the origin's content type when it is a valid one
// worth keeping; otherwise the store sniffs it.
func contentType(ct string) string {
	if ct == "" || len(ct) > 200 {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt == "application/octet-stream" || mt == "binary/octet-stream" {
		return ""
	}
	return ct
}

// limitedBody reads at most left bytes of the origin's body; one byte more
// fails the read (and so the store's Put) and sets over. It records the
// first read error, to tell the origin's failures from the store's.
type limitedBody struct {
	r    io.Reader
	left int64
	over bool
	err  error
}

var errOver = errors.New("mirror: over the size limit")

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, errOver
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		l.over = true
		return n, errOver
	}
	if err != nil && !errors.Is(err, io.EOF) && l.err == nil {
		l.err = err
	}
	return n, err
}
