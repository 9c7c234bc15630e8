package main

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ufop/ufop/internal/testenv"
	ufopusage "github.com/ufop/ufop/usage"
)

// TestKillGatewayUsage runs etcd, NATS and two gateways as separate
// processes, each flushing usage every 2 s, under a steady load of plain
// downloads (one bucket per gateway). One gateway is kill -9ed mid-load,
// the other stopped with SIGTERM. The stored counts of the stopped one
// equal what its clients saw; the killed one's fall short by at most what
// its clients got in the last flush interval before the kill (acceptance
// 2 of the usage task; the figures are in docs/usage.md).
func TestKillGatewayUsage(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	const interval = 2 * time.Second
	bin := buildUfopd(t)
	dir := t.TempDir()
	etcdAddr := testenv.FreeAddr(t)
	etcdURL := "http://" + etcdAddr
	startProc(t, bin, "etcd", "etcd", "--data", filepath.Join(dir, "etcd"), "--client-addr", etcdAddr, "--peer-addr", testenv.FreeAddr(t))
	natsAddr := testenv.FreeAddr(t)
	_, natsPort, _ := net.SplitHostPort(natsAddr)
	startProc(t, bin, "nats", "nats", "--data", filepath.Join(dir, "nats"), "--port", natsPort)
	natsURL := "nats://" + natsAddr
	etcdPW, natsTok := filepath.Join(dir, "etcd", "root.password"), filepath.Join(dir, "nats", "token")
	testenv.Eventually(t, 30*time.Second, func() bool {
		_, e1 := os.Stat(etcdPW)
		_, e2 := os.Stat(natsTok)
		return e1 == nil && e2 == nil
	}, "credentials files written")
	creds := []string{"--etcd", etcdURL, "--etcd-password-file", etcdPW, "--nats", natsURL, "--nats-token-file", natsTok,
		"--usage-interval", interval.String()}
	conf := filepath.Join(dir, "ufopctl.json")
	addrs := []string{testenv.FreeAddr(t), testenv.FreeAddr(t)}
	gws := []*proc{
		startProc(t, bin, "gw1", append([]string{"gateway", "--id", "gw1", "--data", filepath.Join(dir, "gw1"),
			"--addr", addrs[0], "--admin-config", conf}, creds...)...),
	}
	base := "http://" + addrs[0]
	waitHTTP(t, base+"/healthz", 60*time.Second)
	// The gateways share the object directory (and so the master key).
	gws = append(gws, startProc(t, bin, "gw2", append([]string{"gateway", "--id", "gw2", "--data", filepath.Join(dir, "gw1"),
		"--addr", addrs[1]}, creds...)...))
	waitHTTP(t, "http://"+addrs[1]+"/healthz", 60*time.Second)

	admin := adminCaller(t, base, adminConfig(t, conf))
	admin(http.MethodPut, "/v1/limits/admin", []byte(`{"rps":1000000,"burst":1000000,"concurrency":100000}`))
	var img bytes.Buffer
	jpeg.Encode(&img, image.NewGray(image.Rect(0, 0, 32, 32)), nil)
	buckets := []string{"usage-gw1", "usage-gw2"}
	for _, b := range buckets {
		admin(http.MethodPut, "/v1/buckets/"+b, nil)
		admin(http.MethodPut, "/v1/objects/"+b+"/o.jpg", img.Bytes())
	}
	// Client-side counts per gateway; for the killed one, also when each
	// answer came.
	type tally struct {
		mu           sync.Mutex
		requests     int64
		errors       int64
		bytes        int64
		answeredAt   []time.Time
		transportErr atomic.Int64
	}
	counts := []*tally{{}, {}}
	record := func(c *tally, resp *http.Response) error {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.requests++
		if resp.StatusCode >= 400 {
			c.errors++
		}
		c.bytes += int64(len(b))
		c.answeredAt = append(c.answeredAt, time.Now())
		return nil
	}
	// Every answer for a bucket counts, those of the checks that the
	// buckets are served too.
	for i, b := range buckets {
		testenv.Eventually(t, 10*time.Second, func() bool {
			resp, err := http.Get("http://" + addrs[i] + "/" + b + "/o.jpg")
			if err != nil {
				return false
			}
			if resp.StatusCode != 200 {
				// No such bucket yet, for this gateway: counted for nobody.
				resp.Body.Close()
				return false
			}
			if err := record(counts[i], resp); err != nil {
				t.Fatal(err)
			}
			return true
		}, "gateway %d serves %s", i+1, b)
	}
	ctx, stop := context.WithCancel(context.Background())
	stops := []context.CancelFunc{}
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for i := range 2 {
		gctx, gstop := context.WithCancel(ctx)
		stops = append(stops, gstop)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := counts[i]
				for n := 0; gctx.Err() == nil; n++ {
					key := "o.jpg"
					if (n+w)%10 == 0 {
						key = "missing.jpg" // a 404, counted as an error
					}
					resp, err := client.Get("http://" + addrs[i] + "/" + buckets[i] + "/" + key)
					if err != nil {
						c.transportErr.Add(1)
						if i == 0 {
							return // the gateway was killed
						}
						t.Errorf("gateway 2: %v", err)
						return
					}
					if err := record(c, resp); err != nil {
						c.transportErr.Add(1)
						return
					}
				}
			}()
		}
	}
	time.Sleep(3*interval + 700*time.Millisecond) // several flushes, and the kill mid-interval
	killed := time.Now()
	if err := gws[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	stops[0]()
	stop()
	wg.Wait()
	// The survivor stops cleanly: its last counts are flushed on the way out.
	if err := gws[1].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := gws[1].cmd.Wait(); err != nil {
		t.Fatalf("gateway 2 did not stop cleanly: %v", err)
	}

	tok, err := os.ReadFile(natsTok)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(natsURL, nats.Token(strings.TrimSpace(string(tok))))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	qctx, qcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer qcancel()
	store, err := ufopusage.OpenStore(qctx, js, ufopusage.DefaultStoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	stored := func(bucket string) ufopusage.Counts {
		rows, err := store.Query(qctx, ufopusage.Filter{Owner: "admin", Bucket: bucket, From: killed.Add(-time.Hour), To: time.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		var c ufopusage.Counts
		for _, r := range rows {
			if r.Cmd != "get" {
				t.Errorf("row with cmd %q", r.Cmd)
			}
			c.Add(r.Counts)
		}
		return c
	}
	g2 := stored(buckets[1])
	c2 := counts[1]
	if g2.Requests != c2.requests || g2.Errors != c2.errors || g2.BytesOut != c2.bytes {
		t.Errorf("stopped gateway: stored %+v, clients saw %d requests, %d errors, %d bytes", g2, c2.requests, c2.errors, c2.bytes)
	}
	g1 := stored(buckets[0])
	c1 := counts[0]
	lost := c1.requests - g1.Requests
	lastInterval := 0
	for _, at := range c1.answeredAt {
		// The flush in progress at the kill, if any, is lost too: a
		// second of slack for it on this loaded machine.
		if at.After(killed.Add(-interval - time.Second)) {
			lastInterval++
		}
	}
	rate := float64(c1.requests) / killed.Sub(c1.answeredAt[0]).Seconds()
	t.Logf("killed gateway: clients got %d answers (%.0f/s), %d stored, %d lost (%.2f s of its load; %d answers in the last %v before the kill)",
		c1.requests, rate, g1.Requests, lost, float64(lost)/rate, lastInterval, interval+time.Second)
	t.Logf("stopped gateway: clients got %d answers, %d stored", c2.requests, g2.Requests)
	// At most 4 requests (one per client) may have been counted without
	// their answer reaching the client before the kill.
	if lost < -4 || lost > int64(lastInterval) {
		t.Errorf("killed gateway lost %d counts; want between -4 and the %d answers of its last flush interval and flush", lost, lastInterval)
	}
}
