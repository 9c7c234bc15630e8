package catalog

import (
	"context"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
)

// CreateBucket records a new bucket; the name must be free.
func (c *Catalog) CreateBucket(ctx context.Context, b ufop.Bucket) (ufop.Bucket, error) {
	if b.Created.IsZero() {
		b.Created = time.Now().UTC().Truncate(time.Second)
	}
	v, err := jsonBytes(b)
	if err != nil {
		return b, err
	}
	k := c.key(tBuckets, b.Name)
	rev, err := c.create(ctx, []clientv3.Op{clientv3.OpPut(k, string(v))}, k)
	if err == errExists {
		return b, ufop.Errorf(ufop.KindConflict, "bucket %q exists already", b.Name)
	}
	if err != nil {
		return b, err
	}
	c.apply(k, v, rev)
	return b, nil
}

// Bucket returns a bucket's metadata.
func (c *Catalog) Bucket(name string) (ufop.Bucket, error) {
	var b ufop.Bucket
	ok, err := c.get(tBuckets, name, &b)
	if err != nil {
		return b, err
	}
	if !ok {
		return b, ufop.Errorf(ufop.KindNotFound, "no such bucket %q", name)
	}
	return b, nil
}

// Buckets lists buckets by name; owner "" lists every bucket.
func (c *Catalog) Buckets(owner string) []ufop.Bucket {
	bs := scan[ufop.Bucket](c, tBuckets)
	bs = slices.DeleteFunc(bs, func(b ufop.Bucket) bool { return owner != "" && b.Owner != owner })
	slices.SortFunc(bs, func(a, b ufop.Bucket) int { return strings.Compare(a.Name, b.Name) })
	return bs
}

// DeleteBucket removes a bucket's metadata.
func (c *Catalog) DeleteBucket(ctx context.Context, name string) error {
	k := c.key(tBuckets, name)
	// Its styles go with it: a later bucket of the same name starts bare.
	gone := c.Styles(name)
	if _, err := c.cli.Txn(ctx).Then(clientv3.OpDelete(k), clientv3.OpDelete(c.stylesPrefix(name), clientv3.WithPrefix())).Commit(); err != nil {
		return err
	}
	c.apply(k, nil, 0)
	for _, s := range gone {
		c.apply(c.styleKey(name, s.Name), nil, 0)
	}
	return nil
}
