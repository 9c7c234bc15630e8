package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Server is an S3 server and a fresh bucket on it for one test.
type S3Server struct {
	Endpoint             string // http://127.0.0.1:PORT
	AccessKey, SecretKey string
	Bucket               string
}

// URL is the --storage URL of the bucket (credentials not included: pass
// them as storage.OpenOptions or AWS_* variables).
func (s S3Server) URL() string {
	return "s3://" + s.Bucket + "?endpoint=" + url.QueryEscape(s.Endpoint)
}

// Client returns a plain S3 client of the server, for checks that go
// around ufop.
func (s S3Server) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true, Region: "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// The variables that name a shared S3 server (scripts/test.sh sets them
// for a run).
const (
	envS3Endpoint  = "UFOP_TEST_S3_ENDPOINT"
	envS3AccessKey = "UFOP_TEST_S3_ACCESS_KEY"
	envS3SecretKey = "UFOP_TEST_S3_SECRET_KEY"
)

// S3 returns a real S3 server with a fresh, empty bucket that is emptied
// and removed when the test ends. The server is the one named by
// UFOP_TEST_S3_ENDPOINT (with UFOP_TEST_S3_ACCESS_KEY and
// UFOP_TEST_S3_SECRET_KEY) when set, else a versitygw (posix backend) that
// S3 starts on a free loopback port for this test. Without versitygw the
// test skips, except in CI (CI set), where it fails.
func S3(t testing.TB) S3Server {
	t.Helper()
	srv := S3Server{
		Endpoint: os.Getenv(envS3Endpoint), AccessKey: os.Getenv(envS3AccessKey), SecretKey: os.Getenv(envS3SecretKey),
	}
	if srv.Endpoint == "" {
		srv = startVersitygw(t)
	}
	var b [6]byte
	rand.Read(b[:])
	srv.Bucket = "ufop-test-" + hex.EncodeToString(b[:])
	cli := srv.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(srv.Bucket)}); err != nil {
		t.Fatalf("testenv: create S3 bucket %s at %s: %v", srv.Bucket, srv.Endpoint, err)
	}
	t.Cleanup(func() { removeS3Bucket(t, cli, srv.Bucket) })
	return srv
}

// removeS3Bucket deletes every object and incomplete upload of bucket,
// then the bucket.
func removeS3Bucket(t testing.TB, cli *s3.Client, bucket string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := s3.NewListObjectsV2Paginator(cli, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Logf("testenv: list S3 bucket %s for cleanup: %v", bucket, err)
			return
		}
		for _, o := range page.Contents {
			if _, err := cli.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key}); err != nil {
				t.Logf("testenv: delete %s/%s: %v", bucket, aws.ToString(o.Key), err)
			}
		}
	}
	if ups, err := cli.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)}); err == nil {
		for _, u := range ups.Uploads {
			cli.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId})
		}
	}
	if _, err := cli.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Logf("testenv: delete S3 bucket %s: %v", bucket, err)
	}
}

// VersitygwPath finds the versitygw binary: on PATH, else in
// $(go env GOPATH)/bin. It returns "" when there is none.
func VersitygwPath() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "versitygw")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

// startVersitygw runs a versitygw with a posix backend in a temp dir on a
// free loopback port until the test ends.
func startVersitygw(t testing.TB) S3Server {
	t.Helper()
	bin := VersitygwPath()
	if bin == "" {
		const msg = "no versitygw: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0 (or set " + envS3Endpoint + ")"
		if os.Getenv("CI") != "" {
			t.Fatal("CI needs an S3 server: " + msg)
		}
		t.Skip(msg)
	}
	srv := S3Server{AccessKey: "ufoptest", SecretKey: "ufoptestsecret"}
	addr := FreeAddr(t)
	srv.Endpoint = "http://" + addr
	cmd := exec.Command(bin, "--access", srv.AccessKey, "--secret", srv.SecretKey, "--port", addr, "--keep-alive", "--quiet",
		"posix", t.TempDir())
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if !testing.Verbose() {
		cmd.Stdout, cmd.Stderr = nil, nil
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start versitygw: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return srv
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("testenv: versitygw exited at start: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: versitygw did not listen on %s within 15s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
