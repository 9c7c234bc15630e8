package storage_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/storage"
)

// endlessBody never ends: the upload is always mid-body when killed.
type endlessBody struct{}

func (endlessBody) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'k'
	}
	time.Sleep(time.Millisecond)
	return len(p), nil
}

// TestS3UploaderProcess is the child of TestS3KillNine: it uploads an
// endless body until killed.
func TestS3UploaderProcess(t *testing.T) {
	if os.Getenv("UFOP_KILL_CHILD") == "" {
		t.Skip("run by TestS3KillNine")
	}
	s, err := storage.NewS3(context.Background(), storage.S3Config{
		Bucket: os.Getenv("UFOP_KILL_BUCKET"), Prefix: "p", Endpoint: os.Getenv("UFOP_KILL_ENDPOINT"),
		AccessKey: os.Getenv("UFOP_KILL_AK"), SecretKey: os.Getenv("UFOP_KILL_SK"), PartSize: 5 << 20,
		MaxObjectBytes: 1 << 40,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Put(context.Background(), "killed", "k", endlessBody{}, storage.PutOptions{})
	t.Fatalf("the endless upload ended: %v", err)
}

// TestS3KillNine kills -9 a process in the middle of a multipart upload:
// no object becomes visible, and the next store's sweep aborts the upload.
func TestS3KillNine(t *testing.T) {
	srv := testenv.S3(t)
	ctx := context.Background()
	s, err := storage.NewS3(ctx, storage.S3Config{Bucket: srv.Bucket, Prefix: "p", Endpoint: srv.Endpoint,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(ctx, "killed"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestS3UploaderProcess$")
	cmd.Env = append(os.Environ(), "UFOP_KILL_CHILD=1", "UFOP_KILL_BUCKET="+srv.Bucket, "UFOP_KILL_ENDPOINT="+srv.Endpoint,
		"UFOP_KILL_AK="+srv.AccessKey, "UFOP_KILL_SK="+srv.SecretKey)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	cli := srv.Client()
	// Kill once the child has sent a part or two.
	testenv.Eventually(t, 60*time.Second, func() bool {
		ups, err := cli.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket)})
		if err != nil || len(ups.Uploads) == 0 {
			return false
		}
		parts, err := cli.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(srv.Bucket), Key: ups.Uploads[0].Key, UploadId: ups.Uploads[0].UploadId})
		return err == nil && len(parts.Parts) >= 2
	}, "the child's multipart upload has 2 parts")
	cmd.Process.Kill()
	<-exited

	if _, err := s.Stat(ctx, "killed", "k"); ufop.KindOf(err) != ufop.KindNotFound {
		t.Fatalf("Stat after the kill: %v, want not found", err)
	}
	if objs, _, err := s.List(ctx, "killed", "", "", 0); err != nil || len(objs) != 0 {
		t.Fatalf("List after the kill = %v, %v", objs, err)
	}
	s2, err := storage.NewS3(ctx, storage.S3Config{Bucket: srv.Bucket, Prefix: "p", Endpoint: srv.Endpoint,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, SweepAfter: time.Nanosecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	ups, err := cli.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket)})
	if err != nil || len(ups.Uploads) != 0 {
		t.Fatalf("after the sweep: %d incomplete uploads, %v", len(ups.Uploads), err)
	}
}
