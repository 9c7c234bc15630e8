package migrate

import (
	"context"
	"fmt"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/egress"
	"github.com/ufop/ufop/storage"
)

// Opener opens a job's source. The gateway uses it to check a source
// before a job starts and to verify; the Runner to list and copy.
type Opener struct {
	// Egress checks every address an http(s) source dials.
	Egress *egress.Policy
	// MaxObjectBytes bounds one object fetched from an origin.
	MaxObjectBytes int64
	// Lists holds the key lists of http(s) sources.
	Lists *WorkQueue
	// Custom, when set, opens every source instead (benchmarks run
	// synthetic sources through the real machinery with it).
	Custom func(ctx context.Context, job Job) (Source, error)
}

// Open opens job's source.
func (o Opener) Open(ctx context.Context, job Job) (Source, error) {
	if o.Custom != nil {
		return o.Custom(ctx, job)
	}
	spec, err := ParseSource(job.From)
	if err != nil {
		return nil, err
	}
	switch spec.Scheme {
	case SchemeFile:
		return newDirSource(spec.Dir)
	case SchemeHTTP:
		var list ListOpener
		if o.Lists != nil {
			list = o.Lists.OpenList(job.Name)
		}
		return newHTTPSource(spec.Base, o.Egress, o.MaxObjectBytes, list), nil
	case SchemeS3:
		return o.openS3(ctx, spec, job.AccessKey, job.SecretKey)
	}
	return nil, ufop.Errorf(ufop.KindInvalid, "source %q: unknown scheme", job.From)
}

// s3SourceBucket names the one bucket of a plain S3 store (any valid name
// does: a plain store ignores it).
const s3SourceBucket = "source"

// openS3 opens an s3:// source: a plain S3 store (foreign keys verbatim)
// at the source's endpoint, with the job's own keys, whose every
// connection passes the egress policy like any URL fetched for a user.
// Opening lists one key, so a wrong endpoint, bucket or key pair fails
// here with a message naming it.
func (o Opener) openS3(ctx context.Context, spec Spec, accessKey, secretKey string) (Source, error) {
	if accessKey == "" || secretKey == "" {
		return nil, ufop.Errorf(ufop.KindInvalid, "source %q: an s3:// source needs its keys: --src-ak and --src-sk (or UFOP_SRC_ACCESS_KEY and UFOP_SRC_SECRET_KEY)", spec.Raw)
	}
	if err := o.Egress.CheckURL(spec.Endpoint); err != nil {
		return nil, fmt.Errorf("source endpoint %s: %w", spec.Endpoint, err)
	}
	st, err := storage.Open(ctx, spec.Raw, storage.OpenOptions{AccessKey: accessKey, SecretKey: secretKey, Plain: true,
		MaxObjectBytes: o.MaxObjectBytes, DialContext: o.Egress.DialContext})
	if err != nil {
		switch ufop.KindOf(err) {
		case ufop.KindUnauthenticated:
			return nil, &ufop.Error{Kind: ufop.KindPermission, Err: err,
				Msg: fmt.Sprintf("source %s: the server at %s rejected the source keys (access key %s): check --src-ak and --src-sk", redactS3(spec), spec.Endpoint, accessKey)}
		case ufop.KindInternal:
			return nil, fmt.Errorf("source %s: %w", redactS3(spec), err)
		}
		return nil, &ufop.Error{Kind: ufop.KindOf(err), Err: err, Msg: fmt.Sprintf("source %s: %s", redactS3(spec), ufop.Message(err))}
	}
	return NewStoreSource(st, s3SourceBucket, "", true), nil
}

func redactS3(s Spec) string { return "s3://" + s.Bucket + "/" + s.Prefix }
