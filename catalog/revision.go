package catalog

// BucketRevision returns the etcd revision of bucket name's row in the
// in-memory copy (0 when there is none), without decoding it: a caller
// that memoized a bucket can tell whether it still holds, since every
// change to the row, through any gateway, comes with a new revision.
func (c *Catalog) BucketRevision(name string) int64 {
	k := c.key(tBuckets, name)
	c.mu.RLock()
	r := c.rows[k]
	c.mu.RUnlock()
	return r.rev
}
