package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop/internal/testenv"
)

// TestUpStorageFailsFast checks that `ufopd up --storage` with a bad URL,
// an unreachable endpoint, wrong keys or a missing bucket stops at once
// with an error naming the culprit, before etcd or NATS start.
func TestUpStorageFailsFast(t *testing.T) {
	srv := testenv.S3(t)
	closed := testenv.FreeAddr(t)
	tests := []struct {
		name, storage, secret, mention string
	}{
		{"unknown scheme", "ftp://objects", srv.SecretKey, `unknown scheme "ftp"`},
		{"unreachable", "s3://ufop?endpoint=http://" + closed, srv.SecretKey, closed},
		{"wrong keys", srv.URL(), "not-the-secret", "rejected the credentials"},
		{"missing bucket", "s3://no-such-bucket?endpoint=" + srv.Endpoint, srv.SecretKey, `"no-such-bucket" does not exist`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
			t.Setenv("AWS_SECRET_ACCESS_KEY", tt.secret)
			t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
			start := time.Now()
			err := up([]string{"--data", t.TempDir(), "--addr", "127.0.0.1:0", "--etcd-addr", testenv.FreeAddr(t),
				"--etcd-peer-addr", testenv.FreeAddr(t), "--nats-port", "-1", "--agent-addr", "127.0.0.1:0",
				"--storage", tt.storage}, testenv.Logger(t))
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("up --storage %s = %v, want an error naming %q", tt.storage, err, tt.mention)
			}
			t.Logf("failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
		})
	}
}
