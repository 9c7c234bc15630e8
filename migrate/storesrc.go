package migrate

import (
	"context"
	"io"
	"strings"
	"sync/atomic"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/storage"
)

// storeSource reads a bucket (under a prefix) of a storage.Store: an S3
// source is an S3 store pointed at the source server. Keys are given with
// the prefix removed.
type storeSource struct {
	store  storage.Store
	bucket string
	prefix string
	close  bool
	// noServerCopy is set once a server-side copy was refused: the rest
	// of the job streams.
	noServerCopy atomic.Bool
}

// serverCopier is a target that can copy from an S3 source on its own
// server (storage.S3).
type serverCopier interface {
	CopyFrom(ctx context.Context, src *storage.S3, key string, size int64, etag, bucket, dstKey string) (ufop.Object, error)
}

// serverCopy copies e into bucket on the server itself when the source
// and the target are S3 stores of one endpoint. ok is false when it could
// not (the caller streams the object).
func serverCopy(ctx context.Context, target storage.Store, src Source, bucket string, e Entry) (ufop.Object, bool, error) {
	ss, isStore := src.(*storeSource)
	if !isStore || ss.noServerCopy.Load() || e.Size < 0 || ss.prefix != "" {
		return ufop.Object{}, false, nil
	}
	s3src, isS3 := ss.store.(*storage.S3)
	sc, canCopy := target.(serverCopier)
	if !isS3 || !canCopy {
		ss.noServerCopy.Store(true)
		return ufop.Object{}, false, nil
	}
	obj, err := sc.CopyFrom(ctx, s3src, e.Key, e.Size, e.ETag, bucket, e.Key)
	switch k := ufop.KindOf(err); {
	case err == nil:
		return obj, true, nil
	case k == ufop.KindPermission || k == ufop.KindUnsupported || k == ufop.KindUnauthenticated:
		// Another endpoint, or the target's keys cannot read the source.
		ss.noServerCopy.Store(true)
		return ufop.Object{}, false, nil
	default:
		return ufop.Object{}, false, err
	}
}

// NewStoreSource reads bucket/prefix of store. It closes store on Close
// when owned is set.
func NewStoreSource(store storage.Store, bucket, prefix string, owned bool) Source {
	return &storeSource{store: store, bucket: bucket, prefix: prefix, close: owned}
}

func (s *storeSource) Sorted() bool { return true }

func (s *storeSource) Close() error {
	if s.close {
		return s.store.Close()
	}
	return nil
}

func (s *storeSource) Page(ctx context.Context, pos string, limit int) ([]Entry, string, bool, error) {
	marker := ""
	if pos != "" {
		marker = s.prefix + pos
	}
	objs, next, err := s.store.List(ctx, s.bucket, s.prefix, marker, limit)
	if err != nil {
		return nil, "", false, err
	}
	out := make([]Entry, 0, len(objs))
	for _, o := range objs {
		k := strings.TrimPrefix(o.Key, s.prefix)
		if k == "" {
			continue // the "directory" object of the prefix itself
		}
		out = append(out, Entry{Key: k, Size: o.Size, ETag: o.ETag})
	}
	np := pos
	if len(objs) > 0 {
		np = strings.TrimPrefix(objs[len(objs)-1].Key, s.prefix)
	}
	return out, np, next == "", nil
}

func (s *storeSource) Open(ctx context.Context, key string) (io.ReadCloser, Entry, error) {
	r, err := s.store.Get(ctx, s.bucket, s.prefix+key)
	if err != nil {
		if ufop.KindOf(err) == ufop.KindNotFound {
			return nil, Entry{}, ufop.Errorf(ufop.KindNotFound, "source: no such key %q", s.prefix+key)
		}
		return nil, Entry{}, err
	}
	return r, Entry{Key: key, Size: r.Size, ETag: r.ETag, Type: r.ContentType}, nil
}
