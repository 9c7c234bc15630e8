package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/agent"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/internal/testneed"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/queue"
	"github.com/ufop/ufop/storage"
	"github.com/ufop/ufop/ufopctl"
)

// usageFleet is gateways on one etcd, one NATS and one object directory,
// with an agent for built-in fops, and the users alice and bob owning
// alice-pics and bob-pics.
type usageFleet struct {
	t       *testing.T
	urls    []string
	gws     []*gateway.Gateway
	stops   []func()
	keys    map[string][2]string
	metrics []string // the gateways' /metrics token-protected URLs
	token   string
}

func smallJPEG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	img.Set(1, 1, color.White)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func newUsageFleet(t *testing.T, intervals ...time.Duration) *usageFleet {
	t.Helper()
	etcdURL := testenv.Etcd(t)
	natsURL := testenv.NATS(t)
	dir := t.TempDir()
	log := testenv.Logger(t)
	clis := make([]*clientv3.Client, len(intervals)+1)
	for i := range clis {
		clis[i] = testenv.EtcdClientOf(t, etcdURL)
	}
	// Connections first: cleanups run last-in first-out, and the
	// gateways must stop (and flush) before their connections close.
	qs := make([]*queue.Queue, len(intervals))
	for i := range qs {
		q, err := queue.Connect(context.Background(), natsURL, queue.DefaultConfig(), log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(q.Close)
		qs[i] = q
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	f := &usageFleet{t: t, keys: map[string][2]string{}}
	for i, iv := range intervals {
		store, err := storage.New(storage.Config{Dir: dir}, log)
		if err != nil {
			t.Fatal(err)
		}
		q := qs[i]
		cfg := gateway.DefaultConfig()
		cfg.Addr = "127.0.0.1:0"
		cfg.ID = fmt.Sprintf("gw%d", i)
		cfg.Catalog.MasterKey = bytes.Repeat([]byte{7}, 32)
		cfg.Limits.Tiers = map[ufop.Tier]gateway.TierLimits{ufop.TierFree: {}, ufop.TierPaid: {}} // no limits
		cfg.Usage.Recorder.Interval = iv
		if i == 0 {
			cfg.Usage.MetricOwners = 1
		}
		gw, err := gateway.New(cfg, gateway.Deps{Etcd: clis[i], Store: store, Queue: q, Logger: log.With("gw", i)})
		if err != nil {
			t.Fatal(err)
		}
		gctx, gcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		wg.Add(1)
		go func() { defer wg.Done(); defer close(done); gw.Run(gctx) }()
		<-gw.Ready()
		f.gws = append(f.gws, gw)
		f.urls = append(f.urls, "http://"+gw.Addr())
		f.stops = append(f.stops, func() { gcancel(); <-done })
	}
	acfg := agent.DefaultConfig()
	acfg.ID = "agent-0"
	acfg.CacheDir = t.TempDir()
	a, err := agent.New(acfg, agent.Deps{Etcd: clis[len(intervals)], Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); a.Run(ctx) }()
	<-a.Ready()
	for _, gw := range f.gws {
		testenv.Eventually(t, 5*time.Second, func() bool { return len(gw.Registry().Agents()) == 1 }, "gateway sees the agent")
	}
	resp, err := clis[0].Get(ctx, protocol.ClusterTokenKey(gateway.DefaultConfig().Catalog.Prefix))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("cluster token: %v", err)
	}
	f.token = string(resp.Kvs[0].Value)
	_, k, err := f.gws[0].Catalog().CreateUser(ctx, "admin", ufop.TierPaid, true)
	if err != nil {
		t.Fatal(err)
	}
	f.keys["admin"] = [2]string{k.AK, k.SK}
	for _, gw := range f.gws {
		testenv.Eventually(t, 2*time.Second, func() bool { _, _, err := gw.Catalog().LookupKey(k.AK); return err == nil }, "admin key everywhere")
	}
	img := smallJPEG(t)
	for _, user := range []string{"alice", "bob"} {
		var nu gateway.NewUser
		f.mustJSON(0, "admin", http.MethodPost, "/v1/users", `{"name":"`+user+`"}`, &nu)
		f.keys[user] = [2]string{nu.AK, nu.SK}
		f.mustJSON(0, user, http.MethodPut, "/v1/buckets/"+user+"-pics", "", nil)
		f.mustJSON(0, user, http.MethodPut, "/v1/objects/"+user+"-pics/g.jpg", string(img), nil)
	}
	// bob's own UFOP, with no instance: its requests fail (503), and count.
	f.mustJSON(0, "bob", http.MethodPut, "/v1/ufops/bob-sepia", `{"mode":2}`, nil)
	for _, gw := range f.gws {
		testenv.Eventually(t, 2*time.Second, func() bool {
			_, err1 := gw.Catalog().Bucket("bob-pics")
			_, err2 := gw.Catalog().UFOP("bob-sepia")
			return err1 == nil && err2 == nil
		}, "buckets and UFOP everywhere")
	}
	return f
}

func (f *usageFleet) signed(i int, user, method, path, body string) (int, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.urls[i]+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	k := f.keys[user]
	auth.SignRequest(req, k[0], k[1], auth.BodyHash([]byte(body)), time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (f *usageFleet) mustJSON(i int, user, method, path, body string, out any) {
	f.t.Helper()
	code, b := f.signed(i, user, method, path, body)
	if code/100 != 2 {
		f.t.Fatalf("%s %s as %s: %d %s", method, path, user, code, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// usageSeries names a row without its time.
type usageSeries struct{ user, bucket, cmd string }

// usageTally is what clients saw, per series.
type usageTally map[usageSeries]protocol.UsageRow

func (u usageTally) add(s usageSeries, status int, n int) {
	r := u[s]
	r.User, r.Bucket, r.Cmd = s.user, s.bucket, s.cmd
	r.Requests++
	if status >= 400 {
		r.Errors++
	}
	r.BytesOut += int64(n)
	u[s] = r
}

// sum adds rows up per series (any period), process time apart.
func sum(rows []protocol.UsageRow) usageTally {
	out := usageTally{}
	for _, r := range rows {
		s := usageSeries{r.User, r.Bucket, r.Cmd}
		t := out[s]
		t.User, t.Bucket, t.Cmd = s.user, s.bucket, s.cmd
		t.Requests += r.Requests
		t.Errors += r.Errors
		t.BytesOut += r.BytesOut
		out[s] = t
	}
	return out
}

// usageRequests are the requests of the load: a path, the series it
// counts in ("" user: none) and the method.
var usageRequests = []struct {
	method, path string
	series       usageSeries
}{
	{"GET", "/alice-pics/g.jpg", usageSeries{"alice", "alice-pics", "get"}},
	{"GET", "/alice-pics/g.jpg?imageInfo", usageSeries{"alice", "alice-pics", "imageInfo"}},
	{"GET", "/alice-pics/missing.jpg", usageSeries{"alice", "alice-pics", "get"}},                                  // 404
	{"GET", "/alice-pics/g.jpg?imageView2/2/w/0", usageSeries{"alice", "alice-pics", "imageView2"}},                // 400
	{"GET", "/bob-pics/g.jpg?imageView2/2/w/20|imageInfo", usageSeries{"bob", "bob-pics", "imageView2"}},           // first fop
	{"GET", "/bob-pics/g.jpg?nosuchfop/1", usageSeries{"bob", "bob-pics", "invalid"}},                              // 400, unknown
	{"GET", "/bob-pics/g.jpg?bob-sepia", usageSeries{"bob", "bob-pics", "bob-sepia"}},                              // 503, no instance
	{"HEAD", "/bob-pics/g.jpg", usageSeries{"bob", "bob-pics", "get"}},                                             // no body
	{"GET", "/alice-pics/missing.jpg?imageInfo", usageSeries{"alice", "alice-pics", "imageInfo"}},                  // 404 before the fop
	{"GET", "/alice-pics/g.jpg?imageView2/2/w/20&e=1&token=x:y", usageSeries{"alice", "alice-pics", "imageView2"}}, // 401, bad token
	{"GET", "/nosuchbucket/g.jpg", usageSeries{}},                                                                  // nobody's
}

// load sends rounds of usageRequests to gateway i from workers clients
// and returns what they saw.
func (f *usageFleet) load(i, workers, rounds int) usageTally {
	var mu sync.Mutex
	tally := usageTally{}
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range rounds * len(usageRequests) {
				r := usageRequests[(n+w)%len(usageRequests)]
				req, _ := http.NewRequest(r.method, f.urls[i]+r.path, nil)
				resp, err := client.Do(req)
				if err != nil {
					f.t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if r.series.user != "" {
					mu.Lock()
					tally.add(r.series, resp.StatusCode, len(b))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return tally
}

func (u usageTally) merge(o usageTally) {
	for s, r := range o {
		t := u[s]
		t.User, t.Bucket, t.Cmd = r.User, r.Bucket, r.Cmd
		t.Requests += r.Requests
		t.Errors += r.Errors
		t.BytesOut += r.BytesOut
		u[s] = t
	}
}

func (u usageTally) String() string {
	var b strings.Builder
	for s, r := range u {
		fmt.Fprintf(&b, "%s/%s/%s: %d req %d err %d bytes; ", s.user, s.bucket, s.cmd, r.Requests, r.Errors, r.BytesOut)
	}
	return b.String()
}

func equalTally(a, b usageTally) bool {
	if len(a) != len(b) {
		return false
	}
	for s, r := range a {
		o := b[s]
		if r.Requests != o.Requests || r.Errors != o.Errors || r.BytesOut != o.BytesOut {
			return false
		}
	}
	return true
}

func (f *usageFleet) usage(i int, user, query string) []protocol.UsageRow {
	f.t.Helper()
	var rows []protocol.UsageRow
	f.mustJSON(i, user, http.MethodGet, "/v1/usage?"+query, "", &rows)
	return rows
}

func (f *usageFleet) metric(i int, series string) float64 {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.urls[i]+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var x float64
			fmt.Sscan(v, &x)
			return x
		}
	}
	return 0
}

// Acceptance 1, 2, 4, 6, 7: two gateways count the same owners' requests
// at once, each flushing on its own interval (one at the 10 s maximum);
// the stored sums equal what the clients saw, exactly, within 15 s; users
// see their own rows only; a stopping gateway flushes what it holds; the
// per-owner series on /metrics are bounded.
func TestUsageExactAcrossGateways(t *testing.T) {
	testneed.Integration(t, "embedded etcd and NATS, two gateways")
	f := newUsageFleet(t, time.Second, 10*time.Second)
	start := time.Now()
	var per [2]usageTally
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); per[i] = f.load(i, 4, 8) }()
	}
	wg.Wait()
	loaded := time.Now()
	want := usageTally{}
	want.merge(per[0])
	want.merge(per[1])
	if len(want) != 7 {
		t.Fatalf("the load covered %d series, want 7: %v", len(want), want)
	}
	from := url.QueryEscape(start.Add(-time.Minute).UTC().Format(time.RFC3339))
	var got usageTally
	testenv.Eventually(t, 15*time.Second, func() bool {
		got = sum(f.usage(1, "admin", "by=day&from="+from))
		return equalTally(got, want)
	}, "stored usage equals the clients' counts:\n got %v\nwant %v", &got, want)
	t.Logf("usage of %d requests appeared %v after the load ended", func() (n int64) {
		for _, r := range want {
			n += r.Requests
		}
		return
	}(), time.Since(loaded).Round(100*time.Millisecond))

	// Every period gives the same sums, and minute rows are minutes.
	for _, by := range []string{"minute", "hour"} {
		rows := f.usage(0, "admin", "by="+by+"&from="+from)
		if g := sum(rows); !equalTally(g, want) {
			t.Errorf("by %s: %v, want %v", by, g, want)
		}
		for _, r := range rows {
			if by == "minute" && r.Time.Second() != 0 || by == "hour" && r.Time.Minute() != 0 {
				t.Errorf("by %s: row at %v", by, r.Time)
			}
			if r.ProcessMS < 0 {
				t.Errorf("negative process_ms: %+v", r)
			}
		}
	}

	// A user sees their own rows; an admin anyone's, or one user's.
	for _, r := range f.usage(0, "alice", "by=day&from="+from) {
		if r.User != "alice" {
			t.Errorf("alice sees a row of %s", r.User)
		}
	}
	if code, b := f.signed(0, "alice", http.MethodGet, "/v1/usage?user=bob", ""); code != http.StatusForbidden {
		t.Errorf("alice asking for bob's usage: %d %s", code, b)
	}
	bob := sum(f.usage(0, "admin", "by=hour&user=bob&from="+from))
	if len(bob) != 4 || bob[usageSeries{"bob", "bob-pics", "bob-sepia"}].Errors == 0 {
		t.Errorf("bob's rows: %v", bob)
	}
	if code, b := f.signed(0, "admin", http.MethodGet, "/v1/usage?by=week", ""); code != http.StatusBadRequest || !strings.Contains(string(b), "week") {
		t.Errorf("by=week: %d %s", code, b)
	}

	// ufopctl prints the same rows.
	path := t.TempDir() + "/ufopctl.json"
	if err := ufopctl.SaveConfig(path, ufopctl.Config{Endpoint: f.urls[1], AK: f.keys["alice"][0], SK: f.keys["alice"][1]}); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := ufopctl.Main(context.Background(), []string{"--config", path, "usage", "--from", "1h", "--by", "day", "-o", "json"},
		ufopctl.Env{Stdout: &out, Stderr: &errOut}); code != 0 {
		t.Fatalf("ufopctl usage: exit %d: %s", code, errOut.String())
	}
	var ctlRows []protocol.UsageRow
	if err := json.Unmarshal(out.Bytes(), &ctlRows); err != nil {
		t.Fatal(err)
	}
	wantAlice := usageTally{}
	for s, r := range want {
		if s.user == "alice" {
			wantAlice[s] = r
		}
	}
	if g := sum(ctlRows); !equalTally(g, wantAlice) {
		t.Errorf("ufopctl usage as alice: %v, want %v", g, wantAlice)
	}

	// /metrics: gateway 1 has a series per owner; gateway 0 keeps one
	// owner (MetricOwners 1) and puts the other under _other.
	owners := func(i int) map[string]float64 {
		m := map[string]float64{}
		for _, o := range []string{"alice", "bob", "_other"} {
			m[o] = f.metric(i, `ufop_usage_requests_total{owner="`+o+`"}`)
		}
		return m
	}
	reqs := func(tl usageTally, user string) (n float64) {
		for s, r := range tl {
			if s.user == user || user == "" {
				n += float64(r.Requests)
			}
		}
		return n
	}
	m1 := owners(1)
	if m1["alice"] != reqs(per[1], "alice") || m1["bob"] != reqs(per[1], "bob") || m1["_other"] != 0 {
		t.Errorf("gateway 1 /metrics: %v, want alice %v bob %v", m1, reqs(per[1], "alice"), reqs(per[1], "bob"))
	}
	m0 := owners(0)
	if m0["alice"]+m0["bob"]+m0["_other"] != reqs(per[0], "") || m0["_other"] == 0 || (m0["alice"] != 0) == (m0["bob"] != 0) {
		t.Errorf("gateway 0 /metrics (one owner kept): %v, want a total of %v", m0, reqs(per[0], ""))
	}

	// A stopping gateway flushes what it holds: gateway 1 (10 s
	// interval) takes more requests and stops at once; they are stored
	// when Run returns.
	more := f.load(1, 2, 2)
	f.stops[1]()
	want.merge(more)
	if g := sum(f.usage(0, "admin", "by=day&from="+from)); !equalTally(g, want) {
		t.Errorf("after gateway 1 stopped: %v, want %v", g, want)
	}
}

// A styled download, in the path or the query, counts as the first step of
// the style's definition, not as a plain get or an unknown command.
func TestUsageCountsStyles(t *testing.T) {
	testneed.Integration(t, "embedded etcd and NATS, a gateway")
	f := newUsageFleet(t, time.Second)
	start := time.Now()
	f.mustJSON(0, "alice", http.MethodPatch, "/v1/buckets/alice-pics", `{"styleSep":"-"}`, nil)
	f.mustJSON(0, "alice", http.MethodPut, "/v1/buckets/alice-pics/styles/thumb", `{"fops":"imageView2/2/w/30"}`, nil)
	// A definition with nothing to percent-encode: its expansion reads
	// the same escaped or not.
	f.mustJSON(0, "alice", http.MethodPut, "/v1/buckets/alice-pics/styles/info", `{"fops":"imageInfo"}`, nil)
	for _, path := range []string{"/alice-pics/g.jpg-thumb", "/alice-pics/g.jpg?style/thumb", "/alice-pics/g.jpg-info", "/alice-pics/g.jpg?style/info"} {
		resp, err := http.Get(f.urls[0] + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
	}
	from := url.QueryEscape(start.Add(-time.Minute).UTC().Format(time.RFC3339))
	var got usageTally
	testenv.Eventually(t, 15*time.Second, func() bool {
		got = sum(f.usage(0, "alice", "by=day&from="+from))
		return got[usageSeries{"alice", "alice-pics", "imageView2"}].Requests >= 2 &&
			got[usageSeries{"alice", "alice-pics", "imageInfo"}].Requests >= 2
	}, "the styled downloads are counted as their styles' first steps: %v", &got)
	for s := range got {
		if s.cmd != "imageView2" && s.cmd != "imageInfo" {
			t.Errorf("a styled download was counted as %q: %v", s.cmd, got)
		}
	}
}

// Repeated GETs of one cached result are answered by the fast path in
// front of the router; each is counted all the same.
func TestUsageCountsFastPathHits(t *testing.T) {
	testneed.Integration(t, "embedded etcd and NATS, a gateway")
	f := newUsageFleet(t, time.Second)
	start := time.Now()
	const n = 20
	for range n {
		resp, err := http.Get(f.urls[0] + "/alice-pics/g.jpg?imageView2/2/w/40")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET: %s", resp.Status)
		}
	}
	from := url.QueryEscape(start.Add(-time.Minute).UTC().Format(time.RFC3339))
	var got usageTally
	s := usageSeries{"alice", "alice-pics", "imageView2"}
	testenv.Eventually(t, 15*time.Second, func() bool {
		got = sum(f.usage(0, "alice", "by=day&from="+from))
		return got[s].Requests >= n
	}, "%d requests counted: %v", n, &got)
	if got[s].Requests != n {
		t.Errorf("counted %d requests, want %d", got[s].Requests, n)
	}
}
