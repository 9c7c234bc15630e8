package storage

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ufop/ufop"
)

// Endpoint is the S3 server's URL as configured ("" for AWS).
func (s *S3) Endpoint() string { return s.cfg.Endpoint }

// CopyFrom copies key of another (plain) S3 store on the same server into
// bucket/key with one server-side CopyObject (no data through ufop;
// migration uses it between two stores of one endpoint). etag, when set,
// pins the source version (KindConflict if it changed). The copy runs
// with this store's credentials, which must be able to read the source:
// else KindPermission, and the caller copies the data itself. Objects
// over the single-request copy limit are KindUnsupported.
func (s *S3) CopyFrom(ctx context.Context, src *S3, key string, size int64, etag, bucket, dstKey string) (ufop.Object, error) {
	if err := s.check(bucket, dstKey); err != nil {
		return ufop.Object{}, err
	}
	if err := src.checkOpen(); err != nil {
		return ufop.Object{}, err
	}
	if !src.cfg.Plain || size < 0 || size > maxS3CopyBytes || src.cfg.Endpoint != s.cfg.Endpoint {
		return ufop.Object{}, ufop.Errorf(ufop.KindUnsupported, "s3 storage: no server-side copy of %q here", key)
	}
	in := &s3.CopyObjectInput{
		Bucket:            aws.String(s.cfg.Bucket),
		Key:               aws.String(s.objectKey(bucket, dstKey)),
		CopySource:        aws.String(src.cfg.Bucket + "/" + escapeCopySource(src.objectKey(s3CopyAnyBucket, key))),
		MetadataDirective: types.MetadataDirectiveCopy,
	}
	if etag != "" {
		in.CopySourceIfMatch = aws.String(`"` + etag + `"`)
	}
	out, err := s.client.CopyObject(ctx, in)
	if err != nil {
		if isS3NotFound(err) || isS3PreconditionFailed(err) {
			return ufop.Object{}, ufop.Errorf(ufop.KindConflict, "source object %q changed or vanished during the copy", key)
		}
		return ufop.Object{}, s.fail(err, "server-side copy of %s to %s/%s", key, bucket, dstKey)
	}
	obj := ufop.Object{Bucket: bucket, Key: dstKey, Size: size, ETag: etag}
	if out.CopyObjectResult != nil {
		if e := unquoteETag(out.CopyObjectResult.ETag); e != "" {
			obj.ETag = e
		}
		if t := out.CopyObjectResult.LastModified; t != nil {
			obj.Modified = t.UTC()
		}
	}
	return obj, nil
}

// s3CopyAnyBucket is a bucket name for objectKey of a plain store, which
// ignores it.
const s3CopyAnyBucket = "any"
