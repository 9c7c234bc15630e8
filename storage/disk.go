// Disk keeps the platform's objects on local disk: buckets are
// directories, objects are single files that carry their own metadata, and
// every write becomes visible atomically (temp file, fsync, rename).
//
// On-disk layout under Config.Dir:
//
//	<bucket>/<hh>/<hex(sha256(key))>     one object
//	<bucket>/<hh>/.tmp-*                 a write in progress (or left by a crash)
//
// where <hh> is the first two hex digits of the file name. Keys are never
// mapped to paths, so any UTF-8 key is safe and "a" cannot collide with
// "a/b". An object file is the content followed by a trailer:
//
//	content | metadata JSON | uint32 big-endian len(JSON) | "UFOPOBJ1"
//
// The metadata (key, size, ETag, content type, modification time) comes
// after the content because the size and hash are only known once the body
// has been streamed; a trailer lets Put write each byte once, and one rename
// still publishes data and metadata together.
//
// One process should own a Dir at a time; several Stores in that process may
// share it. Temp files older than staleTempAge are removed by New.

package storage

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ufop/ufop"
)

const (
	// DefaultMaxObjectBytes bounds one object unless Config says otherwise.
	DefaultMaxObjectBytes = 200 << 20
	// MaxKeyBytes is the longest key accepted, in bytes.
	MaxKeyBytes = 1024
	// DefaultListLimit is used when List is called with limit <= 0; it is
	// also the largest page List returns.
	DefaultListLimit = 1000

	tempPrefix = ".tmp-"
	// staleTempAge is how old a temp file must be before New removes it: an
	// upload in progress keeps touching its temp file, so one this old was
	// left by a crash (or by a client stalled for that long).
	staleTempAge = 10 * time.Minute

	trailerMagic = "UFOPOBJ1"
	trailerLen   = 4 + 8 // uint32 length + len(trailerMagic)
	// maxMetaBytes bounds the metadata read from disk, so a corrupt file
	// cannot make us allocate much.
	maxMetaBytes = 64 << 10
	// maxContentTypeBytes bounds a client-supplied content type.
	maxContentTypeBytes = 256
)

// Config configures a Store.
type Config struct {
	// Dir is the root directory; it is created if missing.
	Dir string
	// MaxObjectBytes bounds one object; larger uploads fail with
	// ufop.KindTooLarge. Zero means DefaultMaxObjectBytes.
	MaxObjectBytes int64
}

func (c Config) withDefaults() Config {
	if c.MaxObjectBytes == 0 {
		c.MaxObjectBytes = DefaultMaxObjectBytes
	}
	return c
}

// Validate reports whether the configuration (after defaults) is usable.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Dir == "" {
		return errors.New("storage: config: Dir is required")
	}
	if c.MaxObjectBytes < 0 {
		return fmt.Errorf("storage: config: MaxObjectBytes %d is negative", c.MaxObjectBytes)
	}
	return nil
}

// Disk is a local-disk object store. It is safe for concurrent use.
type Disk struct {
	cfg    Config
	log    *slog.Logger
	closed atomic.Bool
	// mu orders bucket deletion against writes: Put holds it shared while
	// it creates its temp file and while it renames it into place, and
	// DeleteBucket holds it exclusively while it checks the bucket is empty
	// and removes it, so a put never lands in a bucket being deleted.
	mu sync.RWMutex
	// memo serves Stat from a stat(2) of unchanged files (diskstat.go).
	memo statMemo
}

// New opens (creating if needed) the store under cfg.Dir and removes stale
// temp files left by a crash. A nil logger discards logs.
func New(cfg Config, logger *slog.Logger) (*Disk, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: create %s: %w", cfg.Dir, err)
	}
	s := &Disk{cfg: cfg, log: logger.With("component", "storage")}
	if err := s.cleanTemp(time.Now().Add(-staleTempAge)); err != nil {
		return nil, err
	}
	return s, nil
}

// Close marks the store closed; later calls fail with ufop.KindUnavailable.
// It holds no resources of its own (each Reader closes its file), so it is
// idempotent and never fails.
func (s *Disk) Close() error {
	s.closed.Store(true)
	return nil
}

func (s *Disk) checkOpen() error {
	if s.closed.Load() {
		return ufop.Errorf(ufop.KindUnavailable, "storage is closed")
	}
	return nil
}

// cleanTemp removes temp files last modified before cutoff.
func (s *Disk) cleanTemp(cutoff time.Time) error {
	matches, err := filepath.Glob(filepath.Join(s.cfg.Dir, "*", "*", tempPrefix+"*"))
	if err != nil {
		return fmt.Errorf("storage: scan temp files: %w", err)
	}
	removed := 0
	for _, p := range matches {
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() || !fi.ModTime().Before(cutoff) {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("cannot remove stale temp file", "path", p, "err", err)
			continue
		}
		removed++
	}
	if removed > 0 {
		s.log.Info("removed stale temp files", "count", removed, "dir", s.cfg.Dir)
	}
	return nil
}

func (s *Disk) bucketDir(bucket string) string { return filepath.Join(s.cfg.Dir, bucket) }

// objectPath returns the fan-out directory and file path of a key.
func (s *Disk) objectPath(bucket, key string) (dir, path string) {
	sum := sha256.Sum256([]byte(key))
	name := hex.EncodeToString(sum[:])
	dir = filepath.Join(s.cfg.Dir, bucket, name[:2])
	return dir, filepath.Join(dir, name)
}

// bucketExists distinguishes a missing bucket from a missing key.
func (s *Disk) bucketExists(bucket string) (bool, error) {
	fi, err := os.Stat(s.bucketDir(bucket))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("storage: stat bucket %s: %w", bucket, err)
	}
	return fi.IsDir(), nil
}

func (s *Disk) checkBucketKey(bucket, key string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := ValidateBucketName(bucket); err != nil {
		return err
	}
	return ValidateKey(key)
}

// CreateBucket creates the bucket's directory; it succeeds if it exists.
func (s *Disk) CreateBucket(ctx context.Context, bucket string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := ValidateBucketName(bucket); err != nil {
		return err
	}
	err := os.Mkdir(s.bucketDir(bucket), 0o755)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: create bucket %s: %w", bucket, err)
	}
	return syncDir(s.cfg.Dir)
}

// DeleteBucket removes an empty bucket. A bucket that still holds objects
// is refused with ufop.KindConflict; temp files of puts in progress do not
// count (those puts then fail with ufop.KindNotFound).
func (s *Disk) DeleteBucket(ctx context.Context, bucket string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := ValidateBucketName(bucket); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := s.bucketDir(bucket)
	fans, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return noSuchBucket(bucket)
	}
	if err != nil {
		return fmt.Errorf("storage: delete bucket %s: %w", bucket, err)
	}
	for _, fan := range fans {
		if !fan.IsDir() {
			continue
		}
		names, err := os.ReadDir(filepath.Join(dir, fan.Name()))
		if err != nil {
			return fmt.Errorf("storage: delete bucket %s: %w", bucket, err)
		}
		for _, n := range names {
			if !strings.HasPrefix(n.Name(), ".") {
				return ufop.Errorf(ufop.KindConflict, "bucket %q is not empty: delete its objects first", bucket)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("storage: delete bucket %s: %w", bucket, err)
	}
	return syncDir(s.cfg.Dir)
}

// meta is the JSON trailer of an object file.
type meta struct {
	Key         string    `json:"key"`
	Size        int64     `json:"size"`
	ETag        string    `json:"etag"`
	ContentType string    `json:"contentType"`
	Modified    time.Time `json:"modified"`
}

// Put stores body under bucket/key, replacing any previous object
// atomically: concurrent readers see either the old or the new object,
// never a mix. The bucket must exist.
func (s *Disk) Put(ctx context.Context, bucket, key string, body io.Reader, opts PutOptions) (ufop.Object, error) {
	if err := s.checkBucketKey(bucket, key); err != nil {
		return ufop.Object{}, err
	}
	if len(opts.ContentType) > maxContentTypeBytes {
		return ufop.Object{}, ufop.Errorf(ufop.KindInvalid, "put %s/%s: content type is longer than %d bytes", bucket, key, maxContentTypeBytes)
	}
	dir, path := s.objectPath(bucket, key)
	f, err := s.createTemp(bucket, dir)
	if err != nil {
		return ufop.Object{}, err
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(f.Name())
		}
	}()

	br := bufio.NewReaderSize(ctxReader{ctx: ctx, r: body}, 64<<10)
	ctype := opts.ContentType
	if ctype == "" {
		head, err := br.Peek(512)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return ufop.Object{}, fmt.Errorf("storage: put %s/%s: read body: %w", bucket, key, err)
		}
		ctype = http.DetectContentType(head)
	}
	h := sha256.New()
	max := s.cfg.MaxObjectBytes
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(br, max+1))
	if err != nil {
		if ctx.Err() != nil {
			return ufop.Object{}, fmt.Errorf("storage: put %s/%s: %w", bucket, key, ctx.Err())
		}
		return ufop.Object{}, fmt.Errorf("storage: put %s/%s: write: %w", bucket, key, err)
	}
	if n > max {
		return ufop.Object{}, ufop.Errorf(ufop.KindTooLarge, "upload of %q to bucket %q is larger than the %s limit", key, bucket, ufop.FormatBytes(max))
	}
	m := meta{
		Key:         key,
		Size:        n,
		ETag:        hex.EncodeToString(h.Sum(nil)),
		ContentType: ctype,
		Modified:    time.Now().UTC().Round(0),
	}
	if err := writeTrailer(f, m); err != nil {
		return ufop.Object{}, fmt.Errorf("storage: put %s/%s: %w", bucket, key, err)
	}
	if opts.Verify != nil {
		if err := opts.Verify(m.ETag); err != nil {
			return ufop.Object{}, fmt.Errorf("storage: put %s/%s: verify: %w", bucket, key, err)
		}
	}
	if err := f.Sync(); err != nil {
		return ufop.Object{}, fmt.Errorf("storage: put %s/%s: sync: %w", bucket, key, err)
	}
	if err := f.Close(); err != nil {
		return ufop.Object{}, fmt.Errorf("storage: put %s/%s: close: %w", bucket, key, err)
	}
	if err := ctx.Err(); err != nil {
		return ufop.Object{}, fmt.Errorf("storage: put %s/%s: %w", bucket, key, err)
	}
	if err := s.publish(bucket, f.Name(), path); err != nil {
		return ufop.Object{}, fmt.Errorf("storage: put %s/%s: %w", bucket, key, err)
	}
	committed = true
	return m.object(bucket), nil
}

// createTemp makes the fan-out directory if needed and a temp file in it.
// It uses Mkdir, not MkdirAll, so a deleted bucket is never recreated.
func (s *Disk) createTemp(bucket, dir string) (*os.File, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	err := os.Mkdir(dir, 0o755)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, noSuchBucket(bucket)
	case err == nil:
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return nil, err
		}
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("storage: put %s: %w", bucket, err)
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, noSuchBucket(bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: put %s: %w", bucket, err)
	}
	return f, nil
}

// publish renames a finished temp file into place and makes the rename
// durable.
func (s *Disk) publish(bucket, tmp, path string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := os.Rename(tmp, path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// The bucket was deleted while the body streamed in.
			return noSuchBucket(bucket)
		}
		return err
	}
	return syncDir(filepath.Dir(path))
}

func writeTrailer(f *os.File, m meta) error {
	js, err := json.Marshal(m)
	if err != nil {
		return err
	}
	buf := make([]byte, 0, len(js)+trailerLen)
	buf = append(buf, js...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(js)))
	buf = append(buf, trailerMagic...)
	_, err = f.Write(buf)
	return err
}

func (m meta) object(bucket string) ufop.Object {
	return ufop.Object{
		Bucket:      bucket,
		Key:         m.Key,
		Size:        m.Size,
		ETag:        m.ETag,
		ContentType: m.ContentType,
		Modified:    m.Modified,
	}
}

// readMeta reads and checks the trailer of an object file. It reads the
// file's tail in one call, which holds the whole trailer unless the key
// is unusually long (List reads one trailer per object).
func readMeta(f *os.File) (meta, error) {
	fi, err := f.Stat()
	if err != nil {
		return meta{}, err
	}
	size := fi.Size()
	if size < trailerLen {
		return meta{}, errors.New("corrupt object file: too short")
	}
	tail := make([]byte, min(size, 2048))
	if _, err := f.ReadAt(tail, size-int64(len(tail))); err != nil {
		return meta{}, err
	}
	tr := tail[len(tail)-trailerLen:]
	if string(tr[4:]) != trailerMagic {
		return meta{}, errors.New("corrupt object file: bad trailer magic")
	}
	mlen := int64(binary.BigEndian.Uint32(tr[:4]))
	if mlen > maxMetaBytes || mlen+trailerLen > size {
		return meta{}, errors.New("corrupt object file: bad metadata length")
	}
	var js []byte
	if mlen+trailerLen <= int64(len(tail)) {
		js = tail[int64(len(tail))-trailerLen-mlen : len(tail)-trailerLen]
	} else {
		js = make([]byte, mlen)
		if _, err := f.ReadAt(js, size-trailerLen-mlen); err != nil {
			return meta{}, err
		}
	}
	var m meta
	if err := json.Unmarshal(js, &m); err != nil {
		return meta{}, fmt.Errorf("corrupt object file: %w", err)
	}
	if m.Size != size-trailerLen-mlen {
		return meta{}, errors.New("corrupt object file: size does not match")
	}
	return m, nil
}

// open opens an object file and reads its metadata. The caller closes f.
func (s *Disk) open(bucket, key string) (*os.File, meta, error) {
	if err := s.checkBucketKey(bucket, key); err != nil {
		return nil, meta{}, err
	}
	_, path := s.objectPath(bucket, key)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		ok, berr := s.bucketExists(bucket)
		if berr != nil {
			return nil, meta{}, berr
		}
		if !ok {
			return nil, meta{}, noSuchBucket(bucket)
		}
		return nil, meta{}, noSuchKey(bucket, key)
	}
	if err != nil {
		return nil, meta{}, fmt.Errorf("storage: open %s/%s: %w", bucket, key, err)
	}
	m, err := readMeta(f)
	if err == nil && m.Key != key {
		err = errors.New("corrupt object file: key does not match")
	}
	if err != nil {
		f.Close()
		return nil, meta{}, fmt.Errorf("storage: open %s/%s: %w", bucket, key, err)
	}
	return f, m, nil
}

// Get opens bucket/key for reading. The caller must Close the Reader.
func (s *Disk) Get(ctx context.Context, bucket, key string) (*Reader, error) {
	f, m, err := s.open(bucket, key)
	if err != nil {
		return nil, err
	}
	return &Reader{Object: m.object(bucket), r: fileSection{f: f, SectionReader: io.NewSectionReader(f, 0, m.Size)}}, nil
}

// fileSection reads an object's content out of its file (which ends with
// the trailer).
type fileSection struct {
	f *os.File
	*io.SectionReader
}

func (s fileSection) Close() error { return s.f.Close() }

// Copy copies src to dst through a stream; the new object gets its own
// modification time.
func (s *Disk) Copy(ctx context.Context, src, dst ufop.ObjectRef) (ufop.Object, error) {
	rd, err := s.Get(ctx, src.Bucket, src.Key)
	if err != nil {
		return ufop.Object{}, err
	}
	defer rd.Close()
	return s.Put(ctx, dst.Bucket, dst.Key, rd, PutOptions{ContentType: rd.ContentType})
}

// Delete removes bucket/key. Readers that have it open keep reading.
func (s *Disk) Delete(ctx context.Context, bucket, key string) error {
	if err := s.checkBucketKey(bucket, key); err != nil {
		return err
	}
	dir, path := s.objectPath(bucket, key)
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		ok, berr := s.bucketExists(bucket)
		if berr != nil {
			return berr
		}
		if !ok {
			return noSuchBucket(bucket)
		}
		return noSuchKey(bucket, key)
	}
	if err != nil {
		return fmt.Errorf("storage: delete %s/%s: %w", bucket, key, err)
	}
	return syncDir(dir)
}

// List returns up to limit objects of bucket whose keys start with prefix
// and sort after marker, in key order, and the marker for the next page
// ("" when this is the last one). limit <= 0 or > DefaultListLimit means
// DefaultListLimit.
//
// Cost: every call opens every object file of the bucket and sorts the
// matching keys, O(n log n) in the bucket's size. That is fine for the
// buckets of a single node; an index is the fix when it no longer is.
func (s *Disk) List(ctx context.Context, bucket, prefix, marker string, limit int) ([]ufop.Object, string, error) {
	limit, err := listArgs(s.checkOpen(), bucket, limit)
	if err != nil {
		return nil, "", err
	}
	dir := s.bucketDir(bucket)
	fans, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", noSuchBucket(bucket)
	}
	if err != nil {
		return nil, "", fmt.Errorf("storage: list %s: %w", bucket, err)
	}
	var objs []ufop.Object
	for _, fan := range fans {
		if !fan.IsDir() || strings.HasPrefix(fan.Name(), ".") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, "", fmt.Errorf("storage: list %s: %w", bucket, err)
		}
		fanDir := filepath.Join(dir, fan.Name())
		names, err := os.ReadDir(fanDir)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the bucket is being deleted
		}
		if err != nil {
			return nil, "", fmt.Errorf("storage: list %s: %w", bucket, err)
		}
		for _, n := range names {
			if strings.HasPrefix(n.Name(), ".") {
				continue // temp files
			}
			m, err := readMetaFile(filepath.Join(fanDir, n.Name()))
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since ReadDir
			}
			if err != nil {
				s.log.Warn("skipping unreadable object file", "bucket", bucket, "file", n.Name(), "err", err)
				continue
			}
			if strings.HasPrefix(m.Key, prefix) && m.Key > marker {
				objs = append(objs, m.object(bucket))
			}
		}
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	next := ""
	if len(objs) > limit {
		objs = objs[:limit]
		next = objs[limit-1].Key
	}
	return objs, next, nil
}

func readMetaFile(path string) (meta, error) {
	f, err := os.Open(path)
	if err != nil {
		return meta{}, err
	}
	defer f.Close()
	return readMeta(f)
}

// syncDir fsyncs a directory so that a rename or unlink in it survives a
// crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("storage: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("storage: sync %s: %w", dir, err)
	}
	return nil
}
