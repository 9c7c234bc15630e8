package catalog_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/internal/testenv"
)

func newCatalog(t *testing.T, ctx context.Context, wg *sync.WaitGroup, url string, key []byte) *catalog.Catalog {
	t.Helper()
	cli := testenv.EtcdClientOf(t, url)
	cfg := catalog.DefaultConfig()
	cfg.MasterKey = key
	c, err := catalog.New(cfg, cli, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx) }()
	<-c.Ready()
	return c
}

// pair starts two catalogs on one etcd, as two gateways see it; they stop
// with the test.
func pair(t *testing.T) (context.Context, *catalog.Catalog, *catalog.Catalog) {
	t.Helper()
	url := testenv.Etcd(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	key := make([]byte, 32)
	return ctx, newCatalog(t, ctx, &wg, url, key), newCatalog(t, ctx, &wg, url, key)
}

func TestUsersBucketsAcrossGateways(t *testing.T) {
	url := testenv.Etcd(t)
	key := make([]byte, 32)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	a := newCatalog(t, ctx, &wg, url, key)
	b := newCatalog(t, ctx, &wg, url, key)

	u, k, err := a.CreateUser(ctx, "alice", "", false)
	if err != nil {
		t.Fatal(err)
	}
	if u.Tier != ufop.TierFree || len(k.SK) != 40 {
		t.Fatalf("user %+v key %+v", u, k)
	}
	if _, _, err := a.CreateUser(ctx, "alice", ufop.TierPaid, false); ufop.KindOf(err) != ufop.KindConflict {
		t.Fatalf("second create: %v", err)
	}
	for _, bad := range []string{"", "A", "x", "has space", "1abc"} {
		if _, _, err := a.CreateUser(ctx, bad, "", false); ufop.KindOf(err) != ufop.KindInvalid {
			t.Errorf("user %q: %v", bad, err)
		}
	}
	// Reads its own writes at once; the other catalog within a second.
	if got, sk, err := a.LookupKey(k.AK); err != nil || sk != k.SK || got.Name != "alice" {
		t.Fatalf("lookup on a: %v %q %v", got, sk, err)
	}
	testenv.Eventually(t, time.Second, func() bool { _, sk, err := b.LookupKey(k.AK); return err == nil && sk == k.SK },
		"key visible on b")

	// Wrong master key: the sealed secret does not open.
	c := newCatalog(t, ctx, &wg, url, append(make([]byte, 31), 1))
	if _, _, err := c.LookupKey(k.AK); err == nil {
		t.Fatal("secret opened with another master key")
	}

	if _, err := a.CreateBucket(ctx, ufop.Bucket{Name: "pics", Owner: "alice", Private: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateBucket(ctx, ufop.Bucket{Name: "pics", Owner: "bob"}); ufop.KindOf(err) != ufop.KindConflict {
		t.Fatalf("bucket conflict: %v", err)
	}
	testenv.Eventually(t, time.Second, func() bool { bk, err := b.Bucket("pics"); return err == nil && bk.Private },
		"bucket visible on b")
	if got := a.Buckets("bob"); len(got) != 0 {
		t.Fatalf("bob's buckets: %v", got)
	}
	if err := b.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Second, func() bool { _, _, err := a.LookupKey(k.AK); return err != nil },
		"key gone on a")
	if _, err := a.User("alice"); ufop.KindOf(err) != ufop.KindNotFound {
		t.Fatalf("deleted user: %v", err)
	}
}
