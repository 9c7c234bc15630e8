package storage_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/storage"
)

func TestOpenFile(t *testing.T) {
	dir := t.TempDir()
	s, err := storage.Open(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*storage.Disk); !ok {
		t.Fatalf("Open(file://) gave a %T", s)
	}
}

func TestOpenS3(t *testing.T) {
	srv := testenv.S3(t)
	ctx := context.Background()
	good := storage.OpenOptions{AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
	s, err := storage.Open(ctx, srv.URL()+"&region=us-east-1", good)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*storage.S3); !ok {
		t.Fatalf("Open(s3://) gave a %T", s)
	}
	s.Close()

	// Credentials from the environment, as ufopd takes them.
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	s, err = storage.Open(ctx, srv.URL())
	if err != nil {
		t.Fatalf("Open with env credentials: %v", err)
	}
	s.Close()

	closed := testenv.FreeAddr(t)
	tests := []struct {
		name, url string
		opts      storage.OpenOptions
		kind      ufop.Kind
		mention   string
	}{
		{"unknown scheme", "ftp://x/y", good, ufop.KindInvalid, `unknown scheme "ftp"`},
		{"no scheme", "/var/objects", good, ufop.KindInvalid, "file://DIR"},
		{"bad bucket", "s3://Bad_Bucket?endpoint=" + srv.Endpoint, good, ufop.KindInvalid, "Bad_Bucket"},
		{"bad endpoint", "s3://" + srv.Bucket + "?endpoint=ftp://h", good, ufop.KindInvalid, "endpoint"},
		{"unknown parameter", srv.URL() + "&regoin=x", good, ufop.KindInvalid, `"regoin"`},
		{"unreachable endpoint", "s3://" + srv.Bucket + "?endpoint=http://" + closed, good, ufop.KindUnavailable, closed},
		{"wrong keys", srv.URL(), storage.OpenOptions{AccessKey: srv.AccessKey, SecretKey: "wrong-secret"}, ufop.KindUnauthenticated, "credentials"},
		{"unknown access key", srv.URL(), storage.OpenOptions{AccessKey: "nobody", SecretKey: "wrong-secret"}, ufop.KindUnauthenticated, "credentials"},
		{"missing bucket", "s3://no-such-bucket-here?endpoint=" + srv.Endpoint, good, ufop.KindNotFound, "no-such-bucket-here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			s, err := storage.Open(ctx, tt.url, tt.opts)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded", tt.url)
			}
			if ufop.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("Open(%s) = %v (kind %v), want kind %v naming %q", tt.url, err, ufop.KindOf(err), tt.kind, tt.mention)
			}
		})
	}
}

// countingClient counts the bytes read from the S3 server's connections.
func countingClient(n *atomic.Int64) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{Conn: c, n: n}, nil
		},
	}}
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	k, err := c.Conn.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// TestS3RangesReadOnlyTheRange checks that a seek or ReadAt turns into a
// ranged GET instead of reading through the object.
func TestS3RangesReadOnlyTheRange(t *testing.T) {
	srv := testenv.S3(t)
	var read atomic.Int64
	s, err := storage.NewS3(context.Background(), storage.S3Config{
		Bucket: srv.Bucket, Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		HTTPClient: countingClient(&read),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.CreateBucket(ctx, "ranges"); err != nil {
		t.Fatal(err)
	}
	const size = 40 << 20
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	if _, err := s.Put(ctx, "ranges", "big", bytes.NewReader(data), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	rd, err := s.Get(ctx, "ranges", "big")
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	before := read.Load()
	if _, err := rd.Seek(30<<20, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(rd, buf); err != nil || !bytes.Equal(buf, data[30<<20:30<<20+1000]) {
		t.Fatalf("read after seek: %v", err)
	}
	if _, err := rd.ReadAt(buf, 20<<20); err != nil || !bytes.Equal(buf, data[20<<20:20<<20+1000]) {
		t.Fatalf("ReadAt: %v", err)
	}
	// The first GET's body was dropped after at most what the kernel had
	// buffered; nothing near the object's 40 MiB was read.
	if got := read.Load() - before; got > 8<<20 {
		t.Fatalf("a seek and a ReadAt of 1000 bytes each read %d bytes from S3", got)
	}
}

// TestS3KilledUpload stands in for a process killed mid-upload: a
// multipart upload that was never completed is invisible, and NewS3 sweeps
// it once it is older than SweepAfter.
func TestS3KilledUpload(t *testing.T) {
	s, srv := newS3(t, 0)
	ctx := context.Background()
	if err := s.CreateBucket(ctx, "killed"); err != nil {
		t.Fatal(err)
	}
	cli := srv.Client()
	key := "ufop/objects/killed/k!"
	up, err := cli.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: aws.String(srv.Bucket), Key: aws.String(key), UploadId: up.UploadId, PartNumber: aws.Int32(1),
		Body: bytes.NewReader(make([]byte, 5<<20)),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "killed", "k"); ufop.KindOf(err) != ufop.KindNotFound {
		t.Fatalf("Stat of an uncompleted upload: %v", err)
	}
	// A new store with a sweep age shorter than the upload's age aborts it.
	s2, err := storage.NewS3(ctx, storage.S3Config{
		Bucket: srv.Bucket, Prefix: "ufop/objects", Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		SweepAfter: time.Nanosecond,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ups, err := cli.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Fatalf("%d incomplete uploads left after the sweep", len(ups.Uploads))
	}
}

// TestS3Plain reads foreign objects of a bucket as they are (a migration
// source).
func TestS3Plain(t *testing.T) {
	srv := testenv.S3(t)
	ctx := context.Background()
	cli := srv.Client()
	for _, k := range []string{"photos/2020/a.jpg", "photos/2020/b.jpg", "photos/2021/c.jpg", "other/x"} {
		if _, err := cli.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := storage.Open(ctx, "s3://"+srv.Bucket+"/photos?endpoint="+srv.Endpoint, storage.OpenOptions{
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Plain: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	objs, next, err := st.List(ctx, "any", "2020/", "", 1)
	if err != nil || len(objs) != 1 || objs[0].Key != "2020/a.jpg" || next != "2020/a.jpg" {
		t.Fatalf("List = %v, %q, %v", objs, next, err)
	}
	objs, next, err = st.List(ctx, "any", "", next, 0)
	if err != nil || len(objs) != 2 || objs[1].Key != "2021/c.jpg" || next != "" {
		t.Fatalf("second page = %v, %q, %v", objs, next, err)
	}
	rd, err := st.Get(ctx, "any", "2021/c.jpg")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rd)
	rd.Close()
	if string(b) != "photos/2021/c.jpg" {
		t.Fatalf("Get = %q", b)
	}
	if err := st.CreateBucket(ctx, "any"); ufop.KindOf(err) != ufop.KindPermission {
		t.Fatalf("CreateBucket on a plain view: %v", err)
	}
}
