package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/protocol"
)

const tStyles = protocol.TableStyles

// MaxStyles bounds the styles of one bucket.
const MaxStyles = 1000

// Style is a bucket's named pipeline.
type Style = protocol.Style

func (c *Catalog) stylesPrefix(bucket string) string { return c.key(tStyles, bucket+"/") }

func (c *Catalog) styleKey(bucket, name string) string { return c.stylesPrefix(bucket) + name }

// SetStyle creates or replaces style name of bucket with the pipeline
// fops, which the caller has checked (fop.ParseStyle). The name must not
// hold one of the bucket's separators; the write is refused if the
// separators change meanwhile.
func (c *Catalog) SetStyle(ctx context.Context, bucket, name, fops string) (Style, error) {
	if err := fop.ValidateStyleName(name); err != nil {
		return Style{}, err
	}
	bk, sk := c.key(tBuckets, bucket), c.styleKey(bucket, name)
	for {
		resp, err := c.cli.Txn(ctx).Then(clientv3.OpGet(bk), clientv3.OpGet(sk, clientv3.WithCountOnly()),
			clientv3.OpGet(c.stylesPrefix(bucket), clientv3.WithPrefix(), clientv3.WithCountOnly())).Commit()
		if err != nil {
			return Style{}, fmt.Errorf("catalog: set style %s/%s: %w", bucket, name, err)
		}
		b, rev, err := decodeBucket(bucket, (*clientv3.GetResponse)(resp.Responses[0].GetResponseRange()))
		if err != nil {
			return Style{}, err
		}
		if sep := fop.StyleNameClash(name, b.StyleSep); sep != "" {
			return Style{}, ufop.Errorf(ufop.KindInvalid, "style name %q holds %q, a style separator of bucket %q: choose another name or change the separators (bucket set --style-sep)", name, sep, bucket)
		}
		exists := resp.Responses[1].GetResponseRange().Count > 0
		if n := resp.Responses[2].GetResponseRange().Count; !exists && n >= MaxStyles {
			return Style{}, ufop.Errorf(ufop.KindConflict, "bucket %q has %d styles, the most a bucket may have: remove one first", bucket, n)
		}
		st := Style{Bucket: bucket, Name: name, Fops: fops, Updated: time.Now().UTC().Truncate(time.Second)}
		v, err := jsonBytes(st)
		if err != nil {
			return Style{}, err
		}
		tx, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(bk), "=", rev)).Then(clientv3.OpPut(sk, string(v))).Commit()
		if err != nil {
			return Style{}, fmt.Errorf("catalog: set style %s/%s: %w", bucket, name, err)
		}
		if tx.Succeeded {
			c.apply(sk, v, tx.Header.Revision)
			return st, nil
		}
	}
}

func decodeBucket(name string, r *clientv3.GetResponse) (ufop.Bucket, int64, error) {
	var b ufop.Bucket
	if r == nil || len(r.Kvs) == 0 {
		return b, 0, ufop.Errorf(ufop.KindNotFound, "no such bucket %q", name)
	}
	if err := json.Unmarshal(r.Kvs[0].Value, &b); err != nil {
		return b, 0, fmt.Errorf("catalog: decode bucket %s: %w", name, err)
	}
	return b, r.Kvs[0].ModRevision, nil
}

// Style returns style name of bucket from the in-memory copy.
func (c *Catalog) Style(bucket, name string) (Style, error) {
	var st Style
	ok, err := c.get(tStyles, bucket+"/"+name, &st)
	if err != nil {
		return st, err
	}
	if !ok {
		return st, ufop.Errorf(ufop.KindNotFound, "bucket %q has no style %q", bucket, name)
	}
	return st, nil
}

// HasStyle reports whether bucket has style name, without decoding it:
// the request path asks this of every key that may be styled.
func (c *Catalog) HasStyle(bucket, name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.rows[c.styleKey(bucket, name)]
	return ok
}

// Styles lists the styles of bucket by name.
func (c *Catalog) Styles(bucket string) []Style {
	ss := scan[Style](c, tStyles+bucket+"/")
	slices.SortFunc(ss, func(a, b Style) int { return strings.Compare(a.Name, b.Name) })
	return ss
}

// DeleteStyle removes style name of bucket.
func (c *Catalog) DeleteStyle(ctx context.Context, bucket, name string) error {
	if err := fop.ValidateStyleName(name); err != nil {
		return err
	}
	k := c.styleKey(bucket, name)
	resp, err := c.cli.Delete(ctx, k)
	if err != nil {
		return fmt.Errorf("catalog: delete style %s/%s: %w", bucket, name, err)
	}
	c.apply(k, nil, 0)
	if resp.Deleted == 0 {
		return ufop.Errorf(ufop.KindNotFound, "bucket %q has no style %q", bucket, name)
	}
	return nil
}

// ChangeBucket applies ch to bucket name atomically and returns the
// stored bucket. New style separators must not clash with the names of
// the bucket's styles: a style created meanwhile makes it check again.
func (c *Catalog) ChangeBucket(ctx context.Context, name string, ch protocol.BucketChange) (ufop.Bucket, error) {
	if ch.StyleSep != nil {
		if err := fop.ValidateStyleSep(*ch.StyleSep); err != nil {
			return ufop.Bucket{}, err
		}
	}
	bk, prefix := c.key(tBuckets, name), c.stylesPrefix(name)
	for {
		resp, err := c.cli.Txn(ctx).Then(clientv3.OpGet(bk), clientv3.OpGet(prefix, clientv3.WithPrefix())).Commit()
		if err != nil {
			return ufop.Bucket{}, fmt.Errorf("catalog: change bucket %s: %w", name, err)
		}
		b, rev, err := decodeBucket(name, (*clientv3.GetResponse)(resp.Responses[0].GetResponseRange()))
		if err != nil {
			return b, err
		}
		if ch.StyleSep != nil {
			b.StyleSep = *ch.StyleSep
			for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
				style := strings.TrimPrefix(string(kv.Key), prefix)
				if sep := fop.StyleNameClash(style, b.StyleSep); sep != "" {
					return ufop.Bucket{}, ufop.Errorf(ufop.KindConflict, "style %q of bucket %q holds %q: rename or remove it before making %q a separator", style, name, sep, sep)
				}
			}
		}
		if ch.ProtectOriginal != nil {
			b.ProtectOriginal = *ch.ProtectOriginal
		}
		v, err := jsonBytes(b)
		if err != nil {
			return b, err
		}
		tx, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(bk), "=", rev),
			clientv3.Compare(clientv3.ModRevision(prefix), "<", resp.Header.Revision+1).WithPrefix()).
			Then(clientv3.OpPut(bk, string(v))).Commit()
		if err != nil {
			return b, fmt.Errorf("catalog: change bucket %s: %w", name, err)
		}
		if tx.Succeeded {
			c.apply(bk, v, tx.Header.Revision)
			return b, nil
		}
	}
}
