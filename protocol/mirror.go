package protocol

// PrefetchPrefix is the admin API path of a prefetch (SPEC §10):
// POST PrefetchPrefix<bucket>/<key, each segment path-escaped> fetches the
// key from the bucket's mirror origin now, replacing what is stored, and
// answers the stored object.
const PrefetchPrefix = "/v1/prefetch/"
