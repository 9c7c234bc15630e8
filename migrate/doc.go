// Package migrate copies whole sources into a ufop bucket (SPEC §11): the
// source URL parser and the sources themselves (s3://, http(s):// with a
// key list, file://), the job state in etcd, the JetStream work queue of
// keys, the Runner that agents start (one elected lister pages every
// running job's source into the queue and checkpoints its position; every
// agent's workers copy keys with bounded concurrency, retries and
// skip-if-same), and Verify, which merges the source and target listings in
// key order.
//
// Crash safety comes from three rules: a key is acknowledged on the queue
// only after its outcome is counted in etcd; the lister's checkpoint moves
// only after a page is in the stream; and a copy is a storage Put (atomic)
// skipped when the target already has the same size and content hash, so
// a key delivered twice is written at most once.
package migrate
