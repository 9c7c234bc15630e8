package gateway_test

import (
	"bytes"
	"context"
	"math/rand"
	"net/http"
	"sync"
	"testing"

	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/storage"
)

// openS3 opens a store of its own on the S3 bucket, as each gateway
// process would.
func openS3(t *testing.T, srv testenv.S3Server) storage.Store {
	t.Helper()
	s, err := storage.Open(context.Background(), srv.URL(), storage.OpenOptions{
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Logger: testenv.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestGatewaysShareS3 runs two gateways over one S3 bucket (each with its
// own store, like two processes): what one writes the other serves at
// once, whole and by range.
func TestGatewaysShareS3(t *testing.T) {
	srv := testenv.S3(t)
	c1 := newCluster(t, 0, func(_ *gateway.Config, d *gateway.Deps) { d.Store = openS3(t, srv) })

	cfg := gateway.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Catalog.MasterKey = bytes.Repeat([]byte{7}, 32)
	gw2, err := gateway.New(cfg, gateway.Deps{Etcd: testenv.EtcdClientOf(t, c1.etcd), Store: openS3(t, srv), Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); gw2.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	<-gw2.Ready()
	c2 := &cluster{t: t, gw: gw2, url: "http://" + gw2.Addr(), ak: c1.ak, sk: c1.sk}

	c1.mustAdmin(http.MethodPut, "/v1/buckets/shared", nil)
	small := []byte("hello from gateway one")
	big := make([]byte, 9<<20+123) // more than one 8 MiB part
	rand.New(rand.NewSource(9)).Read(big)
	c1.mustAdmin(http.MethodPut, "/v1/objects/shared/small.txt", small)
	c1.mustAdmin(http.MethodPut, "/v1/objects/shared/dir/big.bin", big)

	resp, body := c2.get("/shared/small.txt")
	if resp.StatusCode != 200 || !bytes.Equal(body, small) {
		t.Fatalf("gateway two: GET small: %s %q", resp.Status, body)
	}
	resp, body = c2.get("/shared/dir/big.bin")
	if resp.StatusCode != 200 || !bytes.Equal(body, big) {
		t.Fatalf("gateway two: GET big: %s, %d bytes", resp.Status, len(body))
	}
	etag := resp.Header.Get("ETag")
	resp, body = c2.get("/shared/dir/big.bin", "Range", "bytes=8388600-8388699")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, big[8388600:8388700]) {
		t.Fatalf("gateway two: ranged GET: %s, %d bytes", resp.Status, len(body))
	}
	if r1, _ := c1.get("/shared/dir/big.bin", "Range", "bytes=0-0"); r1.Header.Get("ETag") != etag {
		t.Fatalf("the gateways disagree on the ETag: %q vs %q", r1.Header.Get("ETag"), etag)
	}

	// An overwrite and a delete through gateway two show at once on one.
	c2.mustAdmin(http.MethodPut, "/v1/objects/shared/small.txt", []byte("replaced"))
	if resp, body := c1.get("/shared/small.txt"); resp.StatusCode != 200 || string(body) != "replaced" {
		t.Fatalf("gateway one after overwrite on two: %s %q", resp.Status, body)
	}
	c2.mustAdmin(http.MethodDelete, "/v1/objects/shared/small.txt", nil)
	if resp, _ := c1.get("/shared/small.txt"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("gateway one after delete on two: %s", resp.Status)
	}
}
