package migrate

import (
	"context"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/egress"
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
	// OpenS3, when set, opens an s3:// source with its credentials; without
	// it s3:// sources are refused (KindUnsupported).
	OpenS3 func(ctx context.Context, spec Spec, accessKey, secretKey string) (Source, error)
}

// Open opens job's source.
func (o Opener) Open(ctx context.Context, job Job) (Source, error) {
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
		if o.OpenS3 == nil {
			return nil, ufop.Errorf(ufop.KindUnsupported, "source %q: s3:// sources need the S3 storage backend, which this build lacks", job.From)
		}
		return o.OpenS3(ctx, spec, job.AccessKey, job.SecretKey)
	}
	return nil, ufop.Errorf(ufop.KindInvalid, "source %q: unknown scheme", job.From)
}
