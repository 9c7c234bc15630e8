package migrate

import (
	"context"
	"io"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/storage"
)

// MaxVerifyKeys caps each list of a verify answer.
const MaxVerifyKeys = 1000

// Verify compares src with bucket: keys of the source absent from the
// bucket (missing) or with other content (different). Sizes first; then
// ETags when both sides give one digest of the same kind; else a streamed
// SHA-256. A sorted source is merged with the bucket's listing page by
// page, both in key order; a key list is checked key by key. Either way
// it holds a page, never the key set.
func Verify(ctx context.Context, src Source, store storage.Store, bucket string, pageSize int) (protocol.MigrateVerify, error) {
	v := protocol.MigrateVerify{Missing: []string{}, Different: []string{}}
	note := func(list *[]string, key string) {
		if len(*list) < MaxVerifyKeys {
			*list = append(*list, key)
		} else {
			v.Truncated = true
		}
	}
	check := func(e Entry, tgt ufop.Object) error {
		same, err := sameContent(ctx, src, store, bucket, e, tgt)
		if err != nil {
			return err
		}
		if !same {
			note(&v.Different, e.Key)
		}
		return nil
	}
	srcPos, srcDone := "", false
	var srcPage []Entry
	nextSrc := func() (Entry, bool, error) {
		for len(srcPage) == 0 {
			if srcDone {
				return Entry{}, false, nil
			}
			var err error
			srcPage, srcPos, srcDone, err = src.Page(ctx, srcPos, pageSize)
			if err != nil {
				return Entry{}, false, err
			}
		}
		e := srcPage[0]
		srcPage = srcPage[1:]
		return e, true, nil
	}
	if !src.Sorted() {
		for {
			e, ok, err := nextSrc()
			if err != nil || !ok {
				return v, err
			}
			v.Checked++
			tgt, err := store.Stat(ctx, bucket, e.Key)
			if ufop.KindOf(err) == ufop.KindNotFound || (err != nil && ufop.KindOf(err) == ufop.KindInvalid) {
				// A listed key is the source's only if the origin has it.
				rc, _, oerr := src.Open(ctx, e.Key)
				if oerr == nil {
					rc.Close()
				}
				if ufop.KindOf(oerr) != ufop.KindNotFound {
					note(&v.Missing, e.Key)
				}
				continue
			}
			if err != nil {
				return v, err
			}
			if err := check(e, tgt); err != nil {
				return v, err
			}
		}
	}
	// The merge: advance whichever side has the smaller key.
	marker, dstDone := "", false
	var dstPage []ufop.Object
	nextDst := func() (ufop.Object, bool, error) {
		for len(dstPage) == 0 {
			if dstDone {
				return ufop.Object{}, false, nil
			}
			objs, next, err := store.List(ctx, bucket, "", marker, pageSize)
			if err != nil {
				return ufop.Object{}, false, err
			}
			dstPage, marker, dstDone = objs, next, next == ""
		}
		o := dstPage[0]
		dstPage = dstPage[1:]
		return o, true, nil
	}
	e, sok, err := nextSrc()
	if err != nil {
		return v, err
	}
	o, dok, err := nextDst()
	if err != nil {
		return v, err
	}
	for sok {
		switch {
		case !dok || e.Key < o.Key:
			v.Checked++
			note(&v.Missing, e.Key)
			if e, sok, err = nextSrc(); err != nil {
				return v, err
			}
		case e.Key > o.Key: // only in the bucket: not the source's business
			if o, dok, err = nextDst(); err != nil {
				return v, err
			}
		default:
			v.Checked++
			if err := check(e, o); err != nil {
				return v, err
			}
			if e, sok, err = nextSrc(); err != nil {
				return v, err
			}
			if o, dok, err = nextDst(); err != nil {
				return v, err
			}
		}
	}
	return v, nil
}

// sameContent compares a source entry with the target object.
func sameContent(ctx context.Context, src Source, store storage.Store, bucket string, e Entry, tgt ufop.Object) (bool, error) {
	if e.Size >= 0 && e.Size != tgt.Size {
		return false, nil
	}
	if cmp, eq := sameETag(e.ETag, tgt.ETag); cmp {
		return eq, nil
	}
	rc, se, err := src.Open(ctx, e.Key)
	if ufop.KindOf(err) == ufop.KindNotFound {
		return true, nil // gone from the source since it was listed
	}
	if err != nil {
		return false, err
	}
	if se.Size >= 0 && se.Size != tgt.Size {
		rc.Close()
		return false, nil
	}
	if cmp, eq := sameETag(se.ETag, tgt.ETag); cmp {
		rc.Close()
		return eq, nil
	}
	sha, md, n, err := hashStream(rc)
	rc.Close()
	if err != nil {
		return false, err
	}
	if n != tgt.Size {
		return false, nil
	}
	if cmp, _ := sameETag(sha, tgt.ETag); cmp || len(tgt.ETag) == 32 {
		return matchesETag(tgt.ETag, sha, md), nil
	}
	// The target's ETag is no plain digest (a multipart upload): hash it.
	r, err := store.Get(ctx, bucket, tgt.Key)
	if err != nil {
		return false, err
	}
	defer r.Close()
	tsha, _, _, err := hashStream(io.Reader(r))
	if err != nil {
		return false, err
	}
	return tsha == sha, nil
}
