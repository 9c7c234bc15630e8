package gateway

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/internal/testenv"
)

func ptr[T any](v T) *T { return &v }

func steps(t *testing.T, q string) []fop.Step {
	t.Helper()
	p, err := fop.Parse(q, 10)
	if err != nil {
		t.Fatal(err)
	}
	return p.Steps
}

// TestLimiter checks admission decisions one by one, against a real
// catalog: they happen within milliseconds, far less than a token.
func TestLimiter(t *testing.T) {
	cli := testenv.EtcdClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	ccfg := catalog.DefaultConfig()
	ccfg.MasterKey = make([]byte, 32)
	cat, err := catalog.New(ccfg, cli, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); cat.Run(ctx) }()
	<-cat.Ready()
	for _, u := range []string{"alice", "bob", "carol"} {
		if _, _, err := cat.CreateUser(ctx, u, ufop.TierFree, false); err != nil {
			t.Fatal(err)
		}
	}
	cfg := DefaultLimitsConfig()
	cfg.Tiers = map[ufop.Tier]TierLimits{ufop.TierFree: {Concurrency: 2, Commands: map[string]float64{"exif": 1}}}
	peers := 1
	refusals := map[string]int{}
	l := newLimiter(cfg, cat, func() int { return peers }, func(user, reason string) { refusals[user+"/"+reason]++ })

	admit := func(user, q string) (func(), error) {
		var s []fop.Step
		if q != "" {
			s = steps(t, q)
		}
		return l.admit(user, user+"-pics", s)
	}
	wantLimited := func(err error, what string) {
		t.Helper()
		if ufop.KindOf(err) != ufop.KindRateLimited || ufop.RetryAfterOf(err) < time.Second {
			t.Fatalf("%s: %v (retry after %v), want rate limited with a Retry-After", what, err, ufop.RetryAfterOf(err))
		}
	}

	// Concurrency: the tier allows 2 in flight.
	r1, err := admit("alice", "")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := admit("alice", "imageInfo")
	if err != nil {
		t.Fatal(err)
	}
	_, err = admit("alice", "")
	wantLimited(err, "third concurrent request")
	if _, err := admit("bob", ""); err != nil {
		t.Fatalf("bob while alice is at her limit: %v", err)
	}
	r1()
	r1() // releasing twice frees one slot only
	r3, err := admit("alice", "")
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	_, err = admit("alice", "")
	wantLimited(err, "at the limit again")
	r2()
	r3()

	// A refused command consumes none of the user's rate: facecrop at 1
	// rps (burst 1), the user at 10 rps with a burst of 3.
	if _, err := cat.SetLimit(ctx, "carol", "facecrop", catalog.LimitChange{RPS: ptr(1.0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.SetLimit(ctx, "carol", "", catalog.LimitChange{RPS: ptr(10.0), Burst: ptr(3)}); err != nil {
		t.Fatal(err)
	}
	done := func(rel func(), err error) error {
		if rel != nil {
			rel()
		}
		return err
	}
	if err := done(admit("carol", "facecrop/8x8")); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		wantLimited(done(admit("carol", "imageView2/2/w/8|facecrop/8x8")), "facecrop over its rate")
	}
	for i := range 2 {
		if err := done(admit("carol", "imageView2/2/w/8")); err != nil {
			t.Fatalf("imageView2 %d after facecrop refusals: %v", i, err)
		}
	}
	wantLimited(done(admit("carol", "imageView2/2/w/8")), "past the user's burst")
	if refusals["carol/cmd_rps"] != 5 || refusals["carol/rps"] != 1 || refusals["alice/concurrency"] != 2 {
		t.Fatalf("refusals %v", refusals)
	}

	// Every step counts: two exif steps against the tier's exif rate of
	// 1 (burst 1) can never pass; one can.
	wantLimited(done(admit("bob", "exif|exif")), "two exif steps, burst 1")
	if err := done(admit("bob", "exif")); err != nil {
		t.Fatalf("one exif step: %v", err)
	}

	// With two gateways each enforces half: bob at 20 rps, burst 8 →
	// 4 at once here.
	peers = 2
	if _, err := cat.SetLimit(ctx, "bob", "", catalog.LimitChange{RPS: ptr(20.0), Burst: ptr(8)}); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	delete(l.users, "bob") // start from a full bucket
	l.mu.Unlock()
	for i := range 4 {
		if err := done(admit("bob", "")); err != nil {
			t.Fatalf("bob %d of his share: %v", i, err)
		}
	}
	wantLimited(done(admit("bob", "")), "bob past his share of the burst")

	// A change applies from the next request on: a raised rate refills
	// at the new rate from then, without a fresh burst.
	if _, err := cat.SetLimit(ctx, "bob", "", catalog.LimitChange{RPS: ptr(1e6)}); err != nil {
		t.Fatal(err)
	}
	done(admit("bob", "")) // the empty bucket may still refuse this one
	time.Sleep(2 * time.Millisecond)
	if err := done(admit("bob", "")); err != nil {
		t.Fatalf("after raising the rate: %v", err)
	}
}

func TestShare(t *testing.T) {
	for _, tc := range []struct {
		rps   float64
		burst int
		n     int
		want  effective
	}{
		{0, 10, 1, effective{}},
		{10, 0, 1, effective{rps: 10, burst: 10, cluster: 10}},
		{10, 0, 3, effective{rps: 10.0 / 3, burst: 4, cluster: 10}},
		{0.5, 0, 2, effective{rps: 0.25, burst: 1, cluster: 0.5}},
		{20, 10, 2, effective{rps: 10, burst: 5, cluster: 20}},
		{20, 1, 4, effective{rps: 5, burst: 1, cluster: 20}},
	} {
		if got := share(tc.rps, tc.burst, tc.n); got != tc.want {
			t.Errorf("share(%g, %d, %d) = %+v, want %+v", tc.rps, tc.burst, tc.n, got, tc.want)
		}
	}
}

// benchCatalog returns a loaded catalog with the users alice (free, a
// user-wide and a facecrop limit) and bob (paid, tier defaults).
func benchCatalog(b *testing.B) *catalog.Catalog {
	cli := testenv.EtcdClient(b)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() { cancel(); wg.Wait() })
	ccfg := catalog.DefaultConfig()
	ccfg.MasterKey = make([]byte, 32)
	cat, err := catalog.New(ccfg, cli, testenv.Logger(b))
	if err != nil {
		b.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); cat.Run(ctx) }()
	<-cat.Ready()
	cat.CreateUser(ctx, "alice", ufop.TierFree, false)
	cat.CreateUser(ctx, "bob", ufop.TierPaid, false)
	cat.SetLimit(ctx, "alice", "", catalog.LimitChange{RPS: ptr(1e9), Burst: ptr(1 << 30)})
	cat.SetLimit(ctx, "alice", "facecrop", catalog.LimitChange{RPS: ptr(1e9), Burst: ptr(1 << 30)})
	return cat
}

// BenchmarkAdmit is the limiter's cost on the request path: catalog
// look-ups (user, limit rows), the token buckets and the release.
func BenchmarkAdmit(b *testing.B) {
	cat := benchCatalog(b)
	cfg := DefaultLimitsConfig()
	cfg.Tiers[ufop.TierPaid] = TierLimits{RPS: 1e9, Burst: 1 << 30, Concurrency: 1 << 20}
	l := newLimiter(cfg, cat, func() int { return 2 }, func(string, string) {})
	p, _ := fop.Parse("imageView2/2/w/100|facecrop/50x50", 10)
	for _, tc := range []struct{ name, user string }{{"defaults", "bob"}, {"rows", "alice"}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					release, err := l.admit(tc.user, "pics", p.Steps)
					if err != nil {
						b.Fatal(err)
					}
					release()
				}
			})
		})
	}
}

// BenchmarkReplayGuard is the admin API's extra cost per request: the
// in-memory check alone, and with the etcd record (a loopback etcd).
func BenchmarkReplayGuard(b *testing.B) {
	cli := testenv.EtcdClient(b)
	for _, tc := range []struct{ name, prefix string }{{"memory", ""}, {"etcd", "/ufop/replay/"}} {
		b.Run(tc.name, func(b *testing.B) {
			g := newReplayGuard(cli, tc.prefix, time.Minute, 1<<22)
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			sig := make([]byte, 20)
			rand.Read(sig[8:]) // runs share the etcd: each its own signatures
			i := uint64(0)
			for b.Loop() {
				i++
				binary.BigEndian.PutUint64(sig, i)
				if err := g.check(context.Background(), auth.Credential{AK: "AK", Sig: sig}, "/v1/whoami?ts="+ts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
