// Package storage keeps the platform's objects. Store is what the rest of
// the platform needs of an object store; Disk keeps objects on local disk
// (the embedded default) and S3 on any S3-compatible server. Open picks one
// from a --storage URL.
//
// Every backend publishes writes atomically: a reader sees a whole old
// object or a whole new one, and an interrupted Put leaves nothing visible.
package storage

import (
	"context"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/ufop/ufop"
)

// Store is an object store: buckets of objects named by keys. Errors carry
// ufop kinds (KindNotFound for a missing bucket or key, KindTooLarge,
// KindInvalid, KindUnavailable once closed). Implementations are safe for
// concurrent use.
type Store interface {
	// CreateBucket creates a bucket; it succeeds if it exists.
	CreateBucket(ctx context.Context, bucket string) error
	// DeleteBucket removes an empty bucket (KindConflict if it is not).
	DeleteBucket(ctx context.Context, bucket string) error
	// Put streams body into bucket/key, replacing any object there
	// atomically. The bucket must exist.
	Put(ctx context.Context, bucket, key string, body io.Reader, opts PutOptions) (ufop.Object, error)
	// Get opens bucket/key for reading; the caller closes the Reader.
	// Reads at an offset (ReadAt, Seek) read only that range.
	Get(ctx context.Context, bucket, key string) (*Reader, error)
	// Stat returns an object's metadata.
	Stat(ctx context.Context, bucket, key string) (ufop.Object, error)
	// Delete removes bucket/key.
	Delete(ctx context.Context, bucket, key string) error
	// List returns up to limit objects whose keys start with prefix and
	// sort after marker, in key order, and the marker of the next page
	// ("" on the last). limit <= 0 or > DefaultListLimit means
	// DefaultListLimit.
	List(ctx context.Context, bucket, prefix, marker string, limit int) ([]ufop.Object, string, error)
	// Copy copies src to dst (which may be in another bucket) atomically.
	Copy(ctx context.Context, src, dst ufop.ObjectRef) (ufop.Object, error)
	// Close releases the store; later calls fail with KindUnavailable.
	// It is idempotent.
	Close() error
}

// PutOptions tunes one Put.
type PutOptions struct {
	// ContentType is stored with the object; when empty it is sniffed from
	// the first 512 bytes with http.DetectContentType.
	ContentType string
	// Verify, when set, is called with the hex SHA-256 of the body after it
	// has been written and hashed, before it becomes visible; an error
	// aborts the put (the temp file is removed) and is returned wrapped.
	// Uploads that carry a client-side hash use it to refuse corrupt bodies.
	Verify func(sha256hex string) error
}

// Reader reads one object's content. It implements io.ReadSeekCloser and
// io.ReaderAt (for http.ServeContent). It keeps reading the version it
// opened even if the object is replaced or deleted meanwhile, where the
// backend can promise that (Disk can; S3 reads by range and fails with
// KindConflict if the object changed). It is not safe for concurrent use,
// except ReadAt.
type Reader struct {
	ufop.Object
	r readSeekReaderAt
}

// readSeekReaderAt is what a backend gives Reader.
type readSeekReaderAt interface {
	io.ReadSeekCloser
	io.ReaderAt
}

// NewReader wraps a backend's reader of obj. Backends outside this package
// (tests, wrappers) use it.
func NewReader(obj ufop.Object, r interface {
	io.ReadSeekCloser
	io.ReaderAt
}) *Reader {
	return &Reader{Object: obj, r: r}
}

func (r *Reader) Read(p []byte) (int, error) { return r.r.Read(p) }

func (r *Reader) Seek(offset int64, whence int) (int64, error) { return r.r.Seek(offset, whence) }

func (r *Reader) ReadAt(p []byte, off int64) (int, error) { return r.r.ReadAt(p, off) }

// Close releases the reader; it is idempotent.
func (r *Reader) Close() error {
	if r.r == nil {
		return nil
	}
	err := r.r.Close()
	r.r = nil
	return err
}

// ValidateKey reports whether key may name an object: non-empty, at most
// MaxKeyBytes, valid UTF-8, no NUL and no ".." path component (keys are
// not paths here, but they become URL paths, where ".." is trouble).
func ValidateKey(key string) error {
	switch {
	case key == "":
		return ufop.Errorf(ufop.KindInvalid, "key: must not be empty")
	case len(key) > MaxKeyBytes:
		return ufop.Errorf(ufop.KindInvalid, "key: %d bytes is longer than the limit of %d", len(key), MaxKeyBytes)
	case !utf8.ValidString(key):
		return ufop.Errorf(ufop.KindInvalid, "key: %q is not valid UTF-8", key)
	case strings.IndexByte(key, 0) >= 0:
		return ufop.Errorf(ufop.KindInvalid, "key: %q contains a NUL byte", key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == ".." {
			return ufop.Errorf(ufop.KindInvalid, "key: %q has a \"..\" path component", key)
		}
	}
	return nil
}

// ValidateBucketName reports whether name may name a bucket: 3 to 63
// characters of a-z, 0-9 and '-', not starting or ending with '-' (like
// S3, so a bucket name also works as a DNS label).
func ValidateBucketName(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return ufop.Errorf(ufop.KindInvalid, "bucket name %q: must be 3 to 63 characters long", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return ufop.Errorf(ufop.KindInvalid, "bucket name %q: use only lower-case letters, digits and '-'", name)
		}
	}
	if name[0] == '-' || name[len(name)-1] == '-' {
		return ufop.Errorf(ufop.KindInvalid, "bucket name %q: must not start or end with '-'", name)
	}
	return nil
}

// listArgs checks a List call's arguments (after the store's own open
// check, openErr) and returns its page size: limit <= 0 or over
// DefaultListLimit means DefaultListLimit.
func listArgs(openErr error, bucket string, limit int) (int, error) {
	if openErr != nil {
		return 0, openErr
	}
	if err := ValidateBucketName(bucket); err != nil {
		return 0, err
	}
	if limit <= 0 || limit > DefaultListLimit {
		limit = DefaultListLimit
	}
	return limit, nil
}

func noSuchBucket(bucket string) error {
	return ufop.Errorf(ufop.KindNotFound, "no such bucket %q", bucket)
}

func noSuchKey(bucket, key string) error {
	return ufop.Errorf(ufop.KindNotFound, "no such key %q in bucket %q", key, bucket)
}

// ctxReader stops a copy when the context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// EscapeKey escapes an object key for a URL path: each '/'-separated
// segment is path-escaped and the separators stay, so keys keep their
// structure in URLs ("a b/ü.jpg" → "a%20b/%C3%BC.jpg").
func EscapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
