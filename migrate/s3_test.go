package migrate

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/egress"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/protocol"
)

// TestS3Source copies a prefix of a real S3 bucket (versitygw on
// loopback, allowed by the operator's policy) into a bucket, verifies it,
// and checks the errors of a wrong key pair, an unreachable endpoint and
// an endpoint the policy refuses.
func TestS3Source(t *testing.T) {
	srv := testenv.S3(t)
	cli := srv.Client()
	ctx := context.Background()
	put := func(key string, body []byte) {
		if _, err := cli.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 25 {
		put(fmt.Sprintf("photos/%02d/p%d.jpg", i%4, i), bytes.Repeat([]byte{byte(i)}, 1000+i))
	}
	put("other/x.jpg", []byte("not in the prefix"))

	r := newRig(t)
	allow := egress.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	r.deps.Egress = allow
	r.runner("r1", nil)
	from := "s3://" + srv.Bucket + "/photos?endpoint=" + srv.Endpoint
	job := r.start(Job{Name: "s3", From: from, To: "dst", Owner: "admin", Workers: 4, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	st := r.waitState("s3", protocol.MigrateDone, 60*time.Second)
	if st.Listed != 25 || st.Copied != 25 || st.Failed != 0 {
		t.Fatalf("s3 job: %+v", st)
	}
	obj, err := r.store.Stat(ctx, "dst", "03/p7.jpg")
	if err != nil || obj.Size != 1007 {
		t.Fatalf("03/p7.jpg: %+v %v", obj, err)
	}
	o := Opener{Egress: allow}
	src, err := o.Open(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	v, err := Verify(ctx, src, r.store, "dst", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Different) != 0 || len(v.Missing) != 0 || v.Checked != 25 {
		t.Fatalf("verify: %+v", v)
	}
	// A second run skips everything (size, then the streamed hash against
	// the Disk target's SHA-256 ETag).
	puts := r.store.puts.Load()
	r.start(job)
	st = r.waitState("s3", protocol.MigrateDone, 60*time.Second)
	if st.Skipped != 25 || r.store.puts.Load() != puts {
		t.Fatalf("second run: %+v", st)
	}

	tests := []struct {
		name   string
		job    Job
		policy *egress.Policy
		kind   ufop.Kind
		part   string
	}{
		{"wrong keys", Job{From: from, AccessKey: srv.AccessKey, SecretKey: "wrong"}, allow, ufop.KindPermission, "rejected the source keys"},
		{"no keys", Job{From: from}, allow, ufop.KindInvalid, "--src-ak"},
		{"unreachable", Job{From: "s3://b1b/p?endpoint=http://" + testenv.FreeAddr(t), AccessKey: "a", SecretKey: "b"}, allow, ufop.KindUnavailable, "unreachable"},
		{"refused", Job{From: from, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}, egress.New(nil), ufop.KindPermission, "127.0.0.1 is not public"},
	}
	for _, tt := range tests {
		_, err := Opener{Egress: tt.policy}.Open(ctx, tt.job)
		if ufop.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.part) {
			t.Errorf("%s: %v (kind %v), want %v with %q", tt.name, err, ufop.KindOf(err), tt.kind, tt.part)
		}
	}
}
