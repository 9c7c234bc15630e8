// S3 keeps the platform's objects in one bucket of any S3-compatible
// server (AWS S3, MinIO, Ceph RGW, SeaweedFS, versitygw, Garage).
//
// Layout under s3://BUCKET/PREFIX:
//
//	PREFIX/<ufop bucket>/.ufop-bucket     marks that the ufop bucket exists (empty)
//	PREFIX/<ufop bucket>/<s3Name(key)>    one object (see s3key.go)
//
// An object is one S3 object: S3 publishes a PUT (and a completed
// multipart upload) atomically, so readers see a whole old or a whole new
// object, and an interrupted upload leaves nothing visible. Uploads larger
// than one part go up as multipart uploads with a bounded number of parts
// in memory; the upload is aborted on any failure, and Open sweeps
// incomplete uploads older than S3Config.SweepAfter that a killed process
// left behind.

package storage

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/sync/errgroup"

	"github.com/ufop/ufop"
)

const (
	// DefaultS3PartSize is the multipart part size; bodies up to it go up in
	// one PUT.
	DefaultS3PartSize = 8 << 20
	// DefaultS3Concurrency is how many parts of one upload are in flight.
	DefaultS3Concurrency = 2
	// DefaultS3SweepAfter is the age after which Open aborts incomplete
	// multipart uploads under the store's prefix.
	DefaultS3SweepAfter = 24 * time.Hour

	minS3PartSize  = 5 << 20 // S3's minimum for all parts but the last
	maxS3Parts     = 10000
	maxS3CopyBytes = 5 << 30 // CopyObject's limit
	// s3SmallBody is read before deciding between one PUT and a multipart
	// upload, so small objects never take a whole part buffer.
	s3SmallBody = 256 << 10
	// s3SkipAhead: a forward seek of at most this many bytes reads and
	// drops them rather than opening a new ranged GET.
	s3SkipAhead = 64 << 10

	s3BucketMarker = ".ufop-bucket"
)

// S3Config configures an S3 store.
type S3Config struct {
	// Bucket is the S3 bucket; it must exist.
	Bucket string
	// Prefix, optional, is where the store lives inside Bucket (no leading
	// or trailing '/').
	Prefix string
	// Endpoint is the server's URL (http://HOST:PORT); empty means AWS.
	// A custom endpoint is addressed path-style (http://HOST/BUCKET/KEY),
	// which every S3-compatible server understands.
	Endpoint string
	// Region defaults to the AWS configuration chain's, else us-east-1.
	Region string
	// AccessKey and SecretKey (and SessionToken), when set, are used
	// instead of the AWS configuration chain (AWS_ACCESS_KEY_ID, ...,
	// shared config files, instance roles).
	AccessKey, SecretKey, SessionToken string
	// Plain makes the store a view of foreign objects: one bucket whatever
	// the bucket argument, whose keys are the S3 keys under Prefix
	// verbatim. Migration reads its S3 sources this way. CreateBucket and
	// DeleteBucket are refused.
	Plain bool
	// MaxObjectBytes bounds one object (DefaultMaxObjectBytes if zero).
	MaxObjectBytes int64
	// PartSize is the multipart part size (DefaultS3PartSize if zero;
	// raised to fit MaxObjectBytes in S3's 10,000 parts).
	PartSize int64
	// Concurrency is the number of parts of one upload in flight
	// (DefaultS3Concurrency if zero). Memory per upload is about
	// (Concurrency+1) × PartSize.
	Concurrency int
	// SweepAfter: Open aborts incomplete multipart uploads under Prefix
	// older than this (DefaultS3SweepAfter if zero; negative disables).
	SweepAfter time.Duration
	// HTTPClient, when set, carries the S3 requests.
	HTTPClient *http.Client
	// DialContext, when set (and HTTPClient is not), dials the S3
	// requests' connections: migration sources dial through the egress
	// policy. Unlike HTTPClient it keeps the SDK's own client, which
	// AWS_CA_BUNDLE needs.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (c S3Config) withDefaults() S3Config {
	if c.MaxObjectBytes == 0 {
		c.MaxObjectBytes = DefaultMaxObjectBytes
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultS3PartSize
	}
	if need := (c.MaxObjectBytes + maxS3Parts - 1) / maxS3Parts; c.PartSize < need {
		c.PartSize = need
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultS3Concurrency
	}
	if c.SweepAfter == 0 {
		c.SweepAfter = DefaultS3SweepAfter
	}
	c.Prefix = strings.Trim(c.Prefix, "/")
	return c
}

// Validate reports whether the configuration (after defaults) is usable.
func (c S3Config) Validate() error {
	c = c.withDefaults()
	if err := validateS3BucketName(c.Bucket); err != nil {
		return err
	}
	switch {
	case c.MaxObjectBytes < 0:
		return ufop.Errorf(ufop.KindInvalid, "s3 storage: MaxObjectBytes %d is negative", c.MaxObjectBytes)
	case c.PartSize < minS3PartSize:
		return ufop.Errorf(ufop.KindInvalid, "s3 storage: PartSize %d is below S3's minimum of 5 MiB", c.PartSize)
	case c.Concurrency < 1:
		return ufop.Errorf(ufop.KindInvalid, "s3 storage: Concurrency %d must be at least 1", c.Concurrency)
	case (c.AccessKey == "") != (c.SecretKey == ""):
		return ufop.Errorf(ufop.KindInvalid, "s3 storage: give both the access key and the secret key, or neither")
	}
	if err := validateS3Prefix(c.Prefix); err != nil {
		return err
	}
	if c.Endpoint != "" {
		if err := validateS3Endpoint(c.Endpoint); err != nil {
			return err
		}
	}
	return nil
}

// S3 is an object store in an S3 bucket. It is safe for concurrent use.
type S3 struct {
	cfg    S3Config
	client *s3.Client
	log    *slog.Logger
	root   string // Prefix + "/" or ""
	closed atomic.Bool
	// parts recycles part buffers across uploads, so steady uploading
	// does not grow the heap.
	parts sync.Pool
	small sync.Pool
}

// NewS3 connects to the bucket, checks that it is reachable with the
// credentials (one cheap listing call, so a bad endpoint, wrong keys or a
// missing bucket fail here with a message naming them), and sweeps
// abandoned multipart uploads. A nil logger discards logs.
func NewS3(ctx context.Context, cfg S3Config, logger *slog.Logger) (*S3, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var loadOpts []func(*awsconfig.LoadOptions) error
	if cfg.Region != "" {
		loadOpts = append(loadOpts, awsconfig.WithRegion(cfg.Region))
	}
	if cfg.AccessKey != "" {
		loadOpts = append(loadOpts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)))
	}
	// HTTPClient goes in the client's options below, not here: the
	// configuration loader refuses a plain *http.Client when
	// AWS_CA_BUNDLE is set.
	if cfg.HTTPClient == nil && cfg.DialContext != nil {
		loadOpts = append(loadOpts, awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.DialContext = cfg.DialContext
			tr.Proxy = nil // a proxy would dial on our behalf, unchecked
		})))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, ufop.Errorf(ufop.KindInvalid, "s3 storage: load the AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.HTTPClient != nil {
			o.HTTPClient = cfg.HTTPClient
		}
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			o.UsePathStyle = true
		}
		// Only what S3 requires: S3-compatible servers differ in which
		// flexible checksums they understand, and bodies are hashed
		// (SHA-256) for the signature anyway.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	s := &S3{cfg: cfg, client: client, log: logger.With("component", "storage", "backend", "s3")}
	if cfg.Prefix != "" {
		s.root = cfg.Prefix + "/"
	}
	if err := s.probe(ctx); err != nil {
		return nil, err
	}
	if cfg.SweepAfter > 0 {
		s.sweep(ctx, time.Now().Add(-cfg.SweepAfter))
	}
	return s, nil
}

// probe lists one key: unlike HeadBucket, a listing's error has a code
// that tells wrong keys from a missing bucket.
func (s *S3) probe(ctx context.Context) error {
	_, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(s.root), MaxKeys: aws.Int32(1),
	})
	if err == nil {
		return nil
	}
	where := s.where()
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchBucket", "NotFound":
			return ufop.Errorf(ufop.KindNotFound, "s3 storage: bucket %q does not exist at %s: create it first", s.cfg.Bucket, where)
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidClientTokenId", "XAdminUserNotFound":
			return ufop.Errorf(ufop.KindUnauthenticated, "s3 storage: %s rejected the credentials (%s): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", where, ae.ErrorCode())
		case "AccessDenied", "AllAccessDisabled":
			return ufop.Errorf(ufop.KindPermission, "s3 storage: the credentials may not list bucket %q at %s (%s)", s.cfg.Bucket, where, ae.ErrorCode())
		case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException":
			return ufop.Errorf(ufop.KindInvalid, "s3 storage: bucket %q at %s is in another region (%s): set region=", s.cfg.Bucket, where, ae.ErrorCode())
		}
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden {
			return ufop.Errorf(ufop.KindUnauthenticated, "s3 storage: %s rejected the credentials (%s: %s): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", where, ae.ErrorCode(), ae.ErrorMessage())
		}
		return ufop.Errorf(ufop.KindUnavailable, "s3 storage: bucket %q at %s: %s: %s", s.cfg.Bucket, where, ae.ErrorCode(), ae.ErrorMessage())
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ufop.Errorf(ufop.KindUnavailable, "s3 storage: endpoint %s is unreachable: %v", where, rootCause(err))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("s3 storage: reach %s: %w", where, ctx.Err())
	}
	return ufop.Errorf(ufop.KindUnavailable, "s3 storage: bucket %q at %s: %v", s.cfg.Bucket, where, rootCause(err))
}

func (s *S3) where() string {
	if s.cfg.Endpoint != "" {
		return s.cfg.Endpoint
	}
	return "AWS S3"
}

// rootCause drops the SDK's layers of "operation error S3: ..." wrapping.
func rootCause(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe
	}
	return err
}

// sweep aborts multipart uploads under the prefix started before cutoff:
// a process killed mid-upload cannot abort its own. Failures are logged
// only (some servers do not allow listing uploads); an S3 lifecycle rule
// (AbortIncompleteMultipartUpload) does the same job server-side.
func (s *S3) sweep(ctx context.Context, cutoff time.Time) {
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(s.root)}
	aborted := 0
	for page := 0; page < 10; page++ {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			s.log.Warn("cannot list incomplete multipart uploads", "err", err)
			return
		}
		for _, u := range out.Uploads {
			if u.Initiated == nil || !u.Initiated.Before(cutoff) {
				continue
			}
			if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(s.cfg.Bucket), Key: u.Key, UploadId: u.UploadId,
			}); err != nil {
				s.log.Warn("cannot abort an abandoned multipart upload", "key", aws.ToString(u.Key), "err", err)
				continue
			}
			aborted++
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
	if aborted > 0 {
		s.log.Info("aborted abandoned multipart uploads", "count", aborted, "bucket", s.cfg.Bucket, "prefix", s.cfg.Prefix)
	}
}

// Close marks the store closed; later calls fail with ufop.KindUnavailable.
// It is idempotent.
func (s *S3) Close() error {
	s.closed.Store(true)
	return nil
}

func (s *S3) checkOpen() error {
	if s.closed.Load() {
		return ufop.Errorf(ufop.KindUnavailable, "storage is closed")
	}
	return nil
}

func (s *S3) check(bucket, key string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := ValidateBucketName(bucket); err != nil {
		return err
	}
	return ValidateKey(key)
}

// objectKey is the S3 key of bucket/key.
func (s *S3) objectKey(bucket, key string) string {
	if s.cfg.Plain {
		return s.root + key
	}
	return s.root + bucket + "/" + s3Name(key)
}

// bucketRoot is the S3 prefix of a ufop bucket's objects.
func (s *S3) bucketRoot(bucket string) string {
	if s.cfg.Plain {
		return s.root
	}
	return s.root + bucket + "/"
}

func (s *S3) markerKey(bucket string) string { return s.root + bucket + "/" + s3BucketMarker }

// bucketExists tells a missing bucket from a missing key.
func (s *S3) bucketExists(ctx context.Context, bucket string) (bool, error) {
	if s.cfg.Plain {
		return true, nil
	}
	_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.markerKey(bucket))})
	if err == nil {
		return true, nil
	}
	if isS3NotFound(err) {
		return false, nil
	}
	return false, s.fail(err, "check bucket %q", bucket)
}

// missing is the error for a key S3 does not have: no such bucket or no
// such key.
func (s *S3) missing(ctx context.Context, bucket, key string) error {
	ok, err := s.bucketExists(ctx, bucket)
	if err != nil {
		return err
	}
	if !ok {
		return noSuchBucket(bucket)
	}
	return noSuchKey(bucket, key)
}

func isS3NotFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchUpload":
			return true
		}
	}
	var nk *types.NoSuchKey
	var nf *types.NotFound
	return errors.As(err, &nk) || errors.As(err, &nf)
}

func isS3PreconditionFailed(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed"
}

// fail wraps an S3 error with what was being done and a ufop kind.
func (s *S3) fail(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if errors.Is(err, context.DeadlineExceeded) {
			return ufop.Errorf(ufop.KindTimeout, "storage: %s: %w", what, context.DeadlineExceeded)
		}
		return fmt.Errorf("storage: %s: %w", what, context.Canceled)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchBucket":
			return ufop.Errorf(ufop.KindUnavailable, "storage: %s: the S3 bucket %q is gone", what, s.cfg.Bucket)
		case "KeyTooLongError":
			return ufop.Errorf(ufop.KindInvalid, "storage: %s: the key is too long for this S3 server", what)
		case "EntityTooLarge":
			return ufop.Errorf(ufop.KindTooLarge, "storage: %s: too large for this S3 server", what)
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch":
			return ufop.Errorf(ufop.KindUnavailable, "storage: %s: the S3 server refused the request (%s)", what, ae.ErrorCode())
		case "SlowDown", "ServiceUnavailable", "RequestTimeout", "InternalError":
			return &ufop.Error{Kind: ufop.KindUnavailable, Msg: fmt.Sprintf("storage: %s: the S3 server is busy (%s)", what, ae.ErrorCode()), RetryAfter: time.Second, Err: err}
		}
		return &ufop.Error{Kind: ufop.KindInternal, Msg: fmt.Sprintf("storage: %s: S3 error %s", what, ae.ErrorCode()), Err: err}
	}
	return &ufop.Error{Kind: ufop.KindUnavailable, Msg: fmt.Sprintf("storage: %s: the S3 server is unreachable", what), Err: err}
}

// CreateBucket writes the bucket's marker object; it succeeds if the
// bucket exists.
func (s *S3) CreateBucket(ctx context.Context, bucket string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := ValidateBucketName(bucket); err != nil {
		return err
	}
	if s.cfg.Plain {
		return ufop.Errorf(ufop.KindPermission, "storage: %s is a read-only view of an S3 bucket: it has no buckets to create", s.describe())
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.markerKey(bucket)),
		Body: bytes.NewReader(nil), ContentLength: aws.Int64(0),
	})
	if err != nil {
		return s.fail(err, "create bucket %q", bucket)
	}
	return nil
}

// DeleteBucket removes the marker of an empty bucket. A put racing with
// it may leave an object in a bucket without a marker; such objects are
// invisible until the bucket is created again.
func (s *S3) DeleteBucket(ctx context.Context, bucket string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := ValidateBucketName(bucket); err != nil {
		return err
	}
	if s.cfg.Plain {
		return ufop.Errorf(ufop.KindPermission, "storage: %s is a read-only view of an S3 bucket: it has no buckets to delete", s.describe())
	}
	objs, _, err := s.List(ctx, bucket, "", "", 1)
	if err != nil {
		return err
	}
	if len(objs) > 0 {
		return ufop.Errorf(ufop.KindConflict, "bucket %q is not empty: delete its objects first", bucket)
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.markerKey(bucket))}); err != nil {
		return s.fail(err, "delete bucket %q", bucket)
	}
	return nil
}

func (s *S3) describe() string {
	u := "s3://" + s.cfg.Bucket
	if s.cfg.Prefix != "" {
		u += "/" + s.cfg.Prefix
	}
	return u
}

// Put streams body into bucket/key. A body of at most one part goes up
// in one PUT; a larger one as a multipart upload with at most
// Concurrency parts in flight, completed only after Verify accepted the
// SHA-256 and aborted on any failure.
func (s *S3) Put(ctx context.Context, bucket, key string, body io.Reader, opts PutOptions) (ufop.Object, error) {
	if err := s.check(bucket, key); err != nil {
		return ufop.Object{}, err
	}
	if len(opts.ContentType) > maxContentTypeBytes {
		return ufop.Object{}, ufop.Errorf(ufop.KindInvalid, "put %s/%s: content type is longer than %d bytes", bucket, key, maxContentTypeBytes)
	}
	if ok, err := s.bucketExists(ctx, bucket); err != nil {
		return ufop.Object{}, err
	} else if !ok {
		return ufop.Object{}, noSuchBucket(bucket)
	}
	max := s.cfg.MaxObjectBytes
	br := bufio.NewReaderSize(ctxReader{ctx: ctx, r: body}, 64<<10)
	ctype := opts.ContentType
	if ctype == "" {
		head, err := br.Peek(512)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return ufop.Object{}, s.readErr(ctx, bucket, key, err)
		}
		ctype = http.DetectContentType(head)
	}
	src := io.LimitReader(br, max+1)

	small := s.getSmall()
	defer s.small.Put(small)
	n, err := io.ReadFull(src, *small)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return ufop.Object{}, s.readErr(ctx, bucket, key, err)
	}
	if n < len(*small) {
		return s.putSingle(ctx, bucket, key, (*small)[:n], ctype, opts)
	}
	// More than a small body: fill a whole part before choosing.
	first := s.getPart()
	copy(*first, *small)
	m, err := io.ReadFull(src, (*first)[n:])
	n += m
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		s.parts.Put(first)
		return ufop.Object{}, s.readErr(ctx, bucket, key, err)
	}
	if n < len(*first) {
		defer s.parts.Put(first)
		return s.putSingle(ctx, bucket, key, (*first)[:n], ctype, opts)
	}
	h := sha256.New()
	h.Write(*first)
	return s.putMultipart(ctx, bucket, key, first, io.TeeReader(src, h), h, ctype, opts)
}

func (s *S3) getSmall() *[]byte {
	if b, ok := s.small.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, s3SmallBody)
	return &b
}

func (s *S3) getPart() *[]byte {
	if b, ok := s.parts.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, s.cfg.PartSize)
	return &b
}

func (s *S3) readErr(ctx context.Context, bucket, key string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("storage: put %s/%s: %w", bucket, key, ctx.Err())
	}
	return fmt.Errorf("storage: put %s/%s: read body: %w", bucket, key, err)
}

func (s *S3) tooLarge(bucket, key string) error {
	return ufop.Errorf(ufop.KindTooLarge, "upload of %q to bucket %q is larger than the %s limit", key, bucket, ufop.FormatBytes(s.cfg.MaxObjectBytes))
}

func (s *S3) putSingle(ctx context.Context, bucket, key string, data []byte, ctype string, opts PutOptions) (ufop.Object, error) {
	if int64(len(data)) > s.cfg.MaxObjectBytes {
		return ufop.Object{}, s.tooLarge(bucket, key)
	}
	sum := sha256.Sum256(data)
	if opts.Verify != nil {
		if err := opts.Verify(hex.EncodeToString(sum[:])); err != nil {
			return ufop.Object{}, fmt.Errorf("storage: put %s/%s: verify: %w", bucket, key, err)
		}
	}
	out, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.objectKey(bucket, key)),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
		ContentType: aws.String(ctype),
	})
	if err != nil {
		return ufop.Object{}, s.fail(err, "put %s/%s", bucket, key)
	}
	return ufop.Object{
		Bucket: bucket, Key: key, Size: int64(len(data)), ETag: unquoteETag(out.ETag),
		ContentType: ctype, Modified: time.Now().UTC().Truncate(time.Second),
	}, nil
}

// putMultipart uploads first and then the rest of src in parts.
func (s *S3) putMultipart(ctx context.Context, bucket, key string, first *[]byte, src io.Reader, h interface{ Sum([]byte) []byte }, ctype string, opts PutOptions) (obj ufop.Object, err error) {
	okey := s.objectKey(bucket, key)
	cr, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(okey), ContentType: aws.String(ctype),
	})
	if err != nil {
		return ufop.Object{}, s.fail(err, "put %s/%s: start multipart upload", bucket, key)
	}
	uploadID := cr.UploadId
	completed := false
	defer func() {
		if completed {
			return
		}
		// The request's context may be what failed: abort on our own.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, aerr := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.cfg.Bucket), Key: aws.String(okey), UploadId: uploadID,
		}); aerr != nil && !isS3NotFound(aerr) {
			s.log.Warn("cannot abort a multipart upload; the sweep will", "bucket", bucket, "key", key, "err", aerr)
		}
	}()

	g, gctx := errgroup.WithContext(ctx)
	// Memory is bounded: one part being filled plus Concurrency being
	// sent, all from (and back to) the store's pool.
	free := make(chan *[]byte, s.cfg.Concurrency+1)
	for range s.cfg.Concurrency {
		free <- s.getPart()
	}
	type part struct {
		num int32
		buf *[]byte
		n   int
	}
	work := make(chan part)
	var mu sync.Mutex
	var done []types.CompletedPart
	for range s.cfg.Concurrency {
		g.Go(func() error {
			for p := range work {
				out, err := s.client.UploadPart(gctx, &s3.UploadPartInput{
					Bucket: aws.String(s.cfg.Bucket), Key: aws.String(okey), UploadId: uploadID,
					PartNumber: aws.Int32(p.num), Body: bytes.NewReader((*p.buf)[:p.n]), ContentLength: aws.Int64(int64(p.n)),
				})
				free <- p.buf
				if err != nil {
					return s.fail(err, "put %s/%s: upload part %d", bucket, key, p.num)
				}
				mu.Lock()
				done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(p.num)})
				mu.Unlock()
			}
			return nil
		})
	}
	total := int64(len(*first))
	var readErr error
	func() {
		defer close(work)
		next := part{num: 1, buf: first, n: len(*first)}
		for {
			select {
			case work <- next:
			case <-gctx.Done():
				free <- next.buf
				return
			}
			var buf *[]byte
			select {
			case buf = <-free:
			case <-gctx.Done():
				return
			}
			n, err := io.ReadFull(src, *buf)
			total += int64(n)
			if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				readErr = s.readErr(ctx, bucket, key, err)
				free <- buf
				return
			}
			if total > s.cfg.MaxObjectBytes {
				readErr = s.tooLarge(bucket, key)
				free <- buf
				return
			}
			if n == 0 {
				free <- buf
				return
			}
			next = part{num: next.num + 1, buf: buf, n: n}
			if err != nil { // a short last part
				select {
				case work <- next:
				case <-gctx.Done():
					free <- buf
				}
				return
			}
		}
	}()
	gerr := g.Wait()
	for range s.cfg.Concurrency + 1 {
		s.parts.Put(<-free)
	}
	if readErr != nil {
		return ufop.Object{}, readErr
	}
	if gerr != nil {
		return ufop.Object{}, gerr
	}
	if err := ctx.Err(); err != nil {
		return ufop.Object{}, fmt.Errorf("storage: put %s/%s: %w", bucket, key, err)
	}
	if opts.Verify != nil {
		if err := opts.Verify(hex.EncodeToString(h.Sum(nil))); err != nil {
			return ufop.Object{}, fmt.Errorf("storage: put %s/%s: verify: %w", bucket, key, err)
		}
	}
	sortParts(done)
	out, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(okey), UploadId: uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	})
	if err != nil {
		return ufop.Object{}, s.fail(err, "put %s/%s: complete multipart upload", bucket, key)
	}
	completed = true
	return ufop.Object{
		Bucket: bucket, Key: key, Size: total, ETag: unquoteETag(out.ETag),
		ContentType: ctype, Modified: time.Now().UTC().Truncate(time.Second),
	}, nil
}

func sortParts(p []types.CompletedPart) {
	// Insertion sort: parts arrive almost in order.
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && aws.ToInt32(p[j].PartNumber) < aws.ToInt32(p[j-1].PartNumber); j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

func unquoteETag(e *string) string {
	return strings.Trim(aws.ToString(e), `"`)
}

// Stat returns an object's metadata.
func (s *S3) Stat(ctx context.Context, bucket, key string) (ufop.Object, error) {
	if err := s.check(bucket, key); err != nil {
		return ufop.Object{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.objectKey(bucket, key))})
	if err != nil {
		if isS3NotFound(err) {
			return ufop.Object{}, s.missing(ctx, bucket, key)
		}
		return ufop.Object{}, s.fail(err, "stat %s/%s", bucket, key)
	}
	return ufop.Object{
		Bucket: bucket, Key: key, Size: aws.ToInt64(out.ContentLength), ETag: unquoteETag(out.ETag),
		ContentType: aws.ToString(out.ContentType), Modified: aws.ToTime(out.LastModified).UTC(),
	}, nil
}

// Get opens bucket/key with a GET of the whole object whose body serves
// sequential reads; a seek elsewhere and ReadAt use ranged GETs pinned to
// the version first read (If-Match on its ETag), which fail with
// KindConflict if the object has been replaced since.
func (s *S3) Get(ctx context.Context, bucket, key string) (*Reader, error) {
	if err := s.check(bucket, key); err != nil {
		return nil, err
	}
	okey := s.objectKey(bucket, key)
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(okey)})
	if err != nil {
		if isS3NotFound(err) {
			return nil, s.missing(ctx, bucket, key)
		}
		return nil, s.fail(err, "get %s/%s", bucket, key)
	}
	obj := ufop.Object{
		Bucket: bucket, Key: key, Size: aws.ToInt64(out.ContentLength), ETag: unquoteETag(out.ETag),
		ContentType: aws.ToString(out.ContentType), Modified: aws.ToTime(out.LastModified).UTC(),
	}
	r := &s3Reader{s: s, ctx: ctx, bucket: bucket, key: key, okey: okey, etag: aws.ToString(out.ETag), size: obj.Size, body: out.Body}
	return &Reader{Object: obj, r: r}, nil
}

// s3Reader reads an S3 object: Read from a streaming body (reopened at
// the new offset after a seek), ReadAt by ranged GETs.
type s3Reader struct {
	s           *S3
	ctx         context.Context
	bucket, key string
	okey, etag  string
	size        int64
	pos         int64
	body        io.ReadCloser
	bodyPos     int64
	closed      bool
}

func (r *s3Reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errors.New("storage: read of a closed reader")
	}
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.body != nil && r.bodyPos != r.pos {
		if gap := r.pos - r.bodyPos; gap > 0 && gap <= s3SkipAhead {
			m, err := io.CopyN(io.Discard, r.body, gap)
			r.bodyPos += m
			if err != nil {
				r.dropBody()
			}
		} else {
			r.dropBody()
		}
	}
	if r.body == nil || r.bodyPos != r.pos {
		r.dropBody()
		body, err := r.rangeGet(r.pos, r.size-1)
		if err != nil {
			return 0, err
		}
		r.body, r.bodyPos = body, r.pos
	}
	if max := r.size - r.pos; int64(len(p)) > max {
		p = p[:max]
	}
	n, err := r.body.Read(p)
	r.pos += int64(n)
	r.bodyPos += int64(n)
	if errors.Is(err, io.EOF) {
		r.dropBody()
		if r.pos < r.size {
			return n, fmt.Errorf("storage: read %s/%s: %w", r.bucket, r.key, io.ErrUnexpectedEOF)
		}
		err = nil
	}
	if err != nil {
		r.dropBody()
		return n, r.s.fail(err, "read %s/%s", r.bucket, r.key)
	}
	return n, nil
}

func (r *s3Reader) dropBody() {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
}

// rangeGet opens bytes first..last of the version being read.
func (r *s3Reader) rangeGet(first, last int64) (io.ReadCloser, error) {
	out, err := r.s.client.GetObject(r.ctx, &s3.GetObjectInput{
		Bucket: aws.String(r.s.cfg.Bucket), Key: aws.String(r.okey),
		Range:   aws.String("bytes=" + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10)),
		IfMatch: aws.String(r.etag),
	})
	if err != nil {
		if isS3PreconditionFailed(err) || isS3NotFound(err) {
			return nil, ufop.Errorf(ufop.KindConflict, "object %q in bucket %q changed while it was being read", r.key, r.bucket)
		}
		return nil, r.s.fail(err, "read %s/%s", r.bucket, r.key)
	}
	return out.Body, nil
}

func (r *s3Reader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, errors.New("storage: seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("storage: seek: negative position")
	}
	r.pos = abs
	return abs, nil
}

// ReadAt reads len(p) bytes at off with one ranged GET. It is safe for
// concurrent use.
func (r *s3Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("storage: read at a negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	want := p
	if rest := r.size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	body, err := r.rangeGet(off, off+int64(len(want))-1)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	n, err := io.ReadFull(body, want)
	if err != nil {
		return n, r.s.fail(err, "read %s/%s", r.bucket, r.key)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (r *s3Reader) Close() error {
	r.closed = true
	r.dropBody()
	return nil
}

// Copy copies src to dst on the server (CopyObject); objects over S3's
// 5 GiB copy limit are streamed through instead.
func (s *S3) Copy(ctx context.Context, src, dst ufop.ObjectRef) (ufop.Object, error) {
	if err := s.check(src.Bucket, src.Key); err != nil {
		return ufop.Object{}, err
	}
	if err := s.check(dst.Bucket, dst.Key); err != nil {
		return ufop.Object{}, err
	}
	sobj, err := s.Stat(ctx, src.Bucket, src.Key)
	if err != nil {
		return ufop.Object{}, err
	}
	if ok, err := s.bucketExists(ctx, dst.Bucket); err != nil {
		return ufop.Object{}, err
	} else if !ok {
		return ufop.Object{}, noSuchBucket(dst.Bucket)
	}
	if sobj.Size > maxS3CopyBytes {
		rd, err := s.Get(ctx, src.Bucket, src.Key)
		if err != nil {
			return ufop.Object{}, err
		}
		defer rd.Close()
		return s.Put(ctx, dst.Bucket, dst.Key, rd, PutOptions{ContentType: rd.ContentType})
	}
	skey := s.objectKey(src.Bucket, src.Key)
	out, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.objectKey(dst.Bucket, dst.Key)),
		CopySource:        aws.String(s.cfg.Bucket + "/" + escapeCopySource(skey)),
		CopySourceIfMatch: aws.String(`"` + sobj.ETag + `"`),
		MetadataDirective: types.MetadataDirectiveCopy,
	})
	if err != nil {
		if isS3NotFound(err) || isS3PreconditionFailed(err) {
			return ufop.Object{}, ufop.Errorf(ufop.KindConflict, "object %q in bucket %q changed or vanished during the copy: try again", src.Key, src.Bucket)
		}
		return ufop.Object{}, s.fail(err, "copy %s/%s to %s/%s", src.Bucket, src.Key, dst.Bucket, dst.Key)
	}
	obj := sobj
	obj.Bucket, obj.Key = dst.Bucket, dst.Key
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

// escapeCopySource URL-escapes an S3 key for x-amz-copy-source.
func escapeCopySource(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// Delete removes bucket/key (KindNotFound if it is not there).
func (s *S3) Delete(ctx context.Context, bucket, key string) error {
	if _, err := s.Stat(ctx, bucket, key); err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.objectKey(bucket, key))}); err != nil {
		return s.fail(err, "delete %s/%s", bucket, key)
	}
	return nil
}

// List pages through the bucket with S3's ordered listing: the escaped
// names sort like the keys, so prefix and marker map to S3's Prefix and
// StartAfter and a page costs one or two requests.
func (s *S3) List(ctx context.Context, bucket, prefix, marker string, limit int) ([]ufop.Object, string, error) {
	limit, err := listArgs(s.checkOpen(), bucket, limit)
	if err != nil {
		return nil, "", err
	}
	root := s.bucketRoot(bucket)
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.cfg.Bucket), MaxKeys: aws.Int32(int32(limit + 1))}
	if s.cfg.Plain {
		in.Prefix = aws.String(root + prefix)
		if marker != "" {
			in.StartAfter = aws.String(root + marker)
		}
	} else {
		in.Prefix = aws.String(root + s3NamePrefix(prefix))
		if marker != "" {
			in.StartAfter = aws.String(root + s3Name(marker))
		}
	}
	var objs []ufop.Object
	for len(objs) <= limit {
		out, err := s.client.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, "", s.fail(err, "list %s", bucket)
		}
		for _, o := range out.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), root)
			key, ok := name, name != "" && !strings.HasSuffix(name, "/")
			if !s.cfg.Plain {
				key, ok = parseS3Name(name)
			}
			if !ok {
				continue // the bucket marker, or not ours
			}
			objs = append(objs, ufop.Object{
				Bucket: bucket, Key: key, Size: aws.ToInt64(o.Size), ETag: unquoteETag(o.ETag),
				Modified: aws.ToTime(o.LastModified).UTC(),
			})
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	if len(objs) == 0 {
		if ok, err := s.bucketExists(ctx, bucket); err != nil {
			return nil, "", err
		} else if !ok {
			return nil, "", noSuchBucket(bucket)
		}
	}
	next := ""
	if len(objs) > limit {
		objs = objs[:limit]
		next = objs[limit-1].Key
	}
	return objs, next, nil
}
