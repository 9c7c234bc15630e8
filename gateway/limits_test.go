package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/agent"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/storage"
	"github.com/ufop/ufop/ufopctl"
)

// fleet is N gateways sharing one etcd and one object directory, with one
// agent, and the users alice and bob, each owning a public bucket holding
// a small JPEG.
type fleet struct {
	t      *testing.T
	urls   []string
	gws    []*gateway.Gateway
	admin  ufopctl.Config // against gateway 0
	keys   map[string][2]string
	client *http.Client
	token  string // the cluster token, for /metrics
}

func newFleet(t *testing.T, n int, mutate func(*gateway.Config)) *fleet {
	t.Helper()
	img := testImage(t, "grayscale.jpg")
	etcdURL := testenv.Etcd(t)
	dir := t.TempDir()
	log := testenv.Logger(t)
	// Clients first: cleanups run last-in first-out, and the gateways
	// and the agent must stop before their clients close.
	clis := make([]*clientv3.Client, n+1)
	for i := range clis {
		clis[i] = testenv.EtcdClientOf(t, etcdURL)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	f := &fleet{t: t, keys: map[string][2]string{},
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}, Timeout: 30 * time.Second}}
	for i := range n {
		store, err := storage.New(storage.Config{Dir: dir}, log)
		if err != nil {
			t.Fatal(err)
		}
		cfg := gateway.DefaultConfig()
		cfg.Addr = "127.0.0.1:0"
		cfg.ID = fmt.Sprintf("gw%d", i)
		cfg.Catalog.MasterKey = bytes.Repeat([]byte{7}, 32)
		// The tests measure rates: on a loaded machine answers can slow
		// down enough for the free tier's concurrency limit to refuse too.
		free := cfg.Limits.Tiers[ufop.TierFree]
		free.Concurrency = 0
		cfg.Limits.Tiers[ufop.TierFree] = free
		if mutate != nil {
			mutate(&cfg)
		}
		gw, err := gateway.New(cfg, gateway.Deps{Etcd: clis[i], Store: store, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); gw.Run(ctx) }()
		<-gw.Ready()
		f.gws = append(f.gws, gw)
		f.urls = append(f.urls, "http://"+gw.Addr())
	}
	acfg := agent.DefaultConfig()
	acfg.ID = "agent-0"
	acfg.CacheDir = t.TempDir()
	a, err := agent.New(acfg, agent.Deps{Etcd: clis[n], Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); a.Run(ctx) }()
	<-a.Ready()
	for _, gw := range f.gws {
		testenv.Eventually(t, 5*time.Second, func() bool { return len(gw.Registry().Agents()) == 1 && gw.Peers() == n },
			"gateway sees the agent and %d gateways", n)
	}

	if f.token, err = catalog.ClusterToken(ctx, clis[0], gateway.DefaultConfig().Catalog.Prefix); err != nil {
		t.Fatal(err)
	}
	_, k, err := f.gws[0].Catalog().CreateUser(ctx, "admin", ufop.TierPaid, true)
	if err != nil {
		t.Fatal(err)
	}
	f.keys["admin"] = [2]string{k.AK, k.SK}
	f.admin = ufopctl.Config{Endpoint: f.urls[0], AK: k.AK, SK: k.SK}
	for _, gw := range f.gws {
		testenv.Eventually(t, time.Second, func() bool { _, _, err := gw.Catalog().LookupKey(k.AK); return err == nil }, "admin key everywhere")
	}
	for _, user := range []string{"alice", "bob"} {
		var nu gateway.NewUser
		f.mustJSON(0, "admin", http.MethodPost, "/v1/users", `{"name":"`+user+`"}`, &nu)
		f.keys[user] = [2]string{nu.AK, nu.SK}
		f.mustJSON(0, user, http.MethodPut, "/v1/buckets/"+user+"-pics", "", nil)
		f.mustJSON(0, user, http.MethodPut, "/v1/objects/"+user+"-pics/g.jpg", string(img), nil)
	}
	for _, gw := range f.gws {
		testenv.Eventually(t, time.Second, func() bool { _, err := gw.Catalog().Bucket("bob-pics"); return err == nil }, "buckets everywhere")
	}
	return f
}

// signed sends a signed admin request as user to gateway i.
func (f *fleet) signed(i int, user, method, path, body string) (*http.Response, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.urls[i]+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	k := f.keys[user]
	auth.SignRequest(req, k[0], k[1], auth.BodyHash([]byte(body)), time.Now())
	return f.do(req)
}

func (f *fleet) do(req *http.Request) (*http.Response, []byte) {
	f.t.Helper()
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, b
}

func (f *fleet) mustJSON(i int, user, method, path, body string, out any) {
	f.t.Helper()
	resp, b := f.signed(i, user, method, path, body)
	if resp.StatusCode/100 != 2 {
		f.t.Fatalf("%s %s as %s: %s %s", method, path, user, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// ctl runs ufopctl with cfg and returns its exit code and output.
func (f *fleet) ctl(cfg ufopctl.Config, args ...string) (int, string, string) {
	f.t.Helper()
	path := filepath.Join(f.t.TempDir(), "ufopctl.json")
	if err := ufopctl.SaveConfig(path, cfg); err != nil {
		f.t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := ufopctl.Main(context.Background(), append([]string{"--config", path}, args...),
		ufopctl.Env{Stdout: &out, Stderr: &errOut})
	return code, out.String(), errOut.String()
}

func (f *fleet) mustCtl(cfg ufopctl.Config, args ...string) string {
	f.t.Helper()
	code, out, errOut := f.ctl(cfg, args...)
	if code != 0 {
		f.t.Fatalf("ufopctl %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// tally counts the answers of a load run.
type tally struct {
	ok, limited int
	other       []string
}

// load sends rate requests a second for d, each on its own goroutine so a
// slow answer does not slow the sender, to the URL target(i) names, and
// counts the answers. Every 429 must carry a Retry-After of at least a
// second and the JSON error body.
func (f *fleet) load(d time.Duration, rate float64, target func(i int) string) tally {
	var (
		mu sync.Mutex
		t  tally
		wg sync.WaitGroup
	)
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		wg.Add(1)
		go func(u string) {
			defer wg.Done()
			resp, err := f.client.Get(u)
			if err != nil {
				mu.Lock()
				t.other = append(t.other, err.Error())
				mu.Unlock()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e struct{ Code int }
			ra, raErr := strconv.Atoi(resp.Header.Get("Retry-After"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case resp.StatusCode == http.StatusOK:
				t.ok++
			case resp.StatusCode == http.StatusTooManyRequests && raErr == nil && ra >= 1 &&
				json.Unmarshal(b, &e) == nil && e.Code == 429:
				t.limited++
			default:
				t.other = append(t.other, fmt.Sprintf("%s %s (Retry-After %q): %s", u, resp.Status, resp.Header.Get("Retry-After"), b))
			}
		}(target(i))
	}
	wg.Wait()
	return t
}

// within checks a statistical count: about rps*secs admitted plus the
// burst, give or take tol of the steady part.
func within(t *testing.T, what string, got int, rps, secs float64, burst int, tol float64) {
	t.Helper()
	lo := float64(burst) + rps*secs*(1-tol)
	hi := float64(burst) + rps*secs*(1+tol)
	if float64(got) < lo || float64(got) > hi {
		t.Errorf("%s: %d admitted, want %.0f..%.0f (%g rps over %gs plus a burst of %d)", what, got, lo, hi, rps, secs, burst)
	} else {
		t.Logf("%s: %d admitted (bounds %.0f..%.0f)", what, got, lo, hi)
	}
}

// limitedCount scrapes ufop_gateway_limited_total of gateway 0 for user
// and reason.
func (f *fleet) limitedCount(user, reason string) int {
	return f.metricValue(fmt.Sprintf(`ufop_gateway_limited_total{reason="%s",user="%s"}`, reason, user))
}

// Acceptance 1: alice limited to 10 rps sends 50 rps: about 10 a second
// succeed, the rest are 429 with Retry-After; bob, at the same time, is
// not affected.
func TestUserRateLimit(t *testing.T) {
	f := newFleet(t, 1, nil)
	out := f.mustCtl(f.admin, "limit", "set", "alice", "--rps", "10")
	if !strings.Contains(out, "rps 10") {
		t.Fatalf("limit set printed %q", out)
	}
	// Warm the agent's result cache, so that the run measures admission.
	for _, u := range []string{"alice", "bob"} {
		if resp, b := f.do(mustGet(t, f.urls[0]+"/"+u+"-pics/g.jpg?imageView2/2/w/8")); resp.StatusCode != 200 {
			t.Fatalf("warm-up for %s: %s %s", u, resp.Status, b)
		}
	}
	time.Sleep(time.Second) // the warm-up spent a token; let the bucket refill

	const secs = 3
	var a, b tally
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		a = f.load(secs*time.Second, 50, func(i int) string {
			if i%2 == 0 {
				return f.urls[0] + "/alice-pics/g.jpg?imageView2/2/w/8"
			}
			return f.urls[0] + "/alice-pics/g.jpg" // downloads count too
		})
	}()
	go func() {
		defer wg.Done()
		b = f.load(secs*time.Second, 20, func(int) string { return f.urls[0] + "/bob-pics/g.jpg?imageView2/2/w/8" })
	}()
	wg.Wait()
	if len(a.other)+len(b.other) > 0 {
		t.Fatalf("unexpected answers: %v %v", a.other, b.other)
	}
	within(t, "alice at 50 rps, limit 10", a.ok, 10, secs, 10, 0.2)
	// The load generator shares the machine's cores: count on what it sent,
	// not on the schedule it aimed at.
	if sent := a.ok + a.limited; sent < 2*46 || a.limited == 0 {
		t.Errorf("alice: %d requests limited out of %d: the run did not push her past the limit", a.limited, sent)
	}
	if b.limited != 0 || b.ok < 30 {
		t.Errorf("bob: %d ok, %d limited: bob must not be affected", b.ok, b.limited)
	}
	if n := f.limitedCount("alice", "rps"); n != a.limited {
		t.Errorf("metrics count %d rps refusals for alice, the client saw %d", n, a.limited)
	}

	// limit ls shows the row and the tier defaults, in text and JSON.
	out = f.mustCtl(f.admin, "limit", "ls")
	if !strings.Contains(out, "alice") || !strings.Contains(out, "(tier free)") {
		t.Errorf("limit ls:\n%s", out)
	}
	var ls ufopctl.Limits
	if err := json.Unmarshal([]byte(f.mustCtl(f.admin, "-o", "json", "limit", "ls")), &ls); err != nil {
		t.Fatal(err)
	}
	if len(ls.Limits) != 1 || ls.Limits[0].User != "alice" || ls.Limits[0].RPS != 10 || ls.Defaults[ufop.TierFree].RPS == 0 {
		t.Errorf("limit ls -o json: %+v", ls)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"limit", "set", "alice"}, 2, "give at least one"},
		{[]string{"limit", "set", "alice", "--rps", "x"}, 2, "rps"},
		{[]string{"limit", "set", "alice", "--cmd", "facecrop", "--concurrency", "2"}, 1, "400"},
		{[]string{"limit", "set", "alice", "--cmd", "no/such", "--rps", "2"}, 1, "400"},
		{[]string{"limit", "set", "nobody", "--rps", "2"}, 1, "404"},
		{[]string{"limit", "rm", "bob"}, 1, "404"},
	} {
		if code, _, errOut := f.ctl(f.admin, tc.args...); code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("ufopctl %s: exit %d %q, want exit %d naming %q", strings.Join(tc.args, " "), code, errOut, tc.code, tc.want)
		}
	}
	// Removing the limit returns alice to her tier's default.
	f.mustCtl(f.admin, "limit", "rm", "alice")
	time.Sleep(time.Second)
	a = f.load(2*time.Second, 20, func(int) string { return f.urls[0] + "/alice-pics/g.jpg" })
	if a.limited != 0 || len(a.other) != 0 {
		t.Errorf("after limit rm: %d limited, %v", a.limited, a.other)
	}
}

func mustGet(t *testing.T, u string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// Acceptance 2: with two gateways, a limit of 20 rps holds for the
// cluster, and a change made through one gateway applies on the other
// within a second.
func TestClusterRateLimit(t *testing.T) {
	f := newFleet(t, 2, nil)
	// A burst of 10 is 5 per gateway: with a burst of one a token bucket
	// fed faster than its rate loses the fraction of a token that builds
	// up between arrivals, and admits less than its rate.
	f.mustCtl(f.admin, "limit", "set", "alice", "--rps", "20", "--burst", "10")
	for _, gw := range f.gws {
		testenv.Eventually(t, time.Second, func() bool { return len(gw.Catalog().Limits("alice")) == 1 }, "limit everywhere")
	}
	time.Sleep(time.Second)
	const secs = 5
	a := f.load(secs*time.Second, 60, func(i int) string { return f.urls[i%2] + "/alice-pics/g.jpg" })
	if len(a.other) > 0 {
		t.Fatalf("unexpected answers: %v", a.other)
	}
	within(t, "alice at 60 rps over two gateways, limit 20", a.ok, 20, secs, 10, 0.1)

	// Raise the limit so that a 10 rps probe of gateway 1 passes, then
	// cut it through gateway 0 and time the first refusal on gateway 1.
	f.mustCtl(f.admin, "limit", "set", "alice", "--rps", "40", "--burst", "40")
	time.Sleep(1500 * time.Millisecond) // propagate and refill
	const probe = 100 * time.Millisecond
	changedc := make(chan time.Time, 1)
	go func() {
		time.Sleep(time.Second)
		code, _, errOut := f.ctl(f.admin, "limit", "set", "alice", "--rps", "0.5", "--burst", "1")
		if code != 0 {
			t.Errorf("limit set: %s", errOut)
		}
		changedc <- time.Now()
	}()
	var refused time.Time
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(probe) {
		resp, b := f.do(mustGet(t, f.urls[1]+"/alice-pics/g.jpg"))
		if resp.StatusCode == http.StatusTooManyRequests {
			refused = time.Now()
			break
		}
		if resp.StatusCode != 200 {
			t.Fatalf("probe: %s %s", resp.Status, b)
		}
	}
	changed := <-changedc
	switch {
	case refused.IsZero():
		t.Fatal("the cut limit never applied on gateway 1")
	case refused.Before(changed):
		t.Fatalf("gateway 1 refused before the limit was cut")
	case refused.Sub(changed) > time.Second+2*probe:
		t.Errorf("gateway 1 applied the change %v after it was made (want within 1s, plus two probe periods)", refused.Sub(changed))
	default:
		t.Logf("gateway 1 refused %v after the change", refused.Sub(changed).Round(time.Millisecond))
	}

	// A gateway that stops leaves the registry (its lease is revoked): the
	// other takes the whole limit.
	f.gws[1].Close()
	testenv.Eventually(t, 5*time.Second, func() bool { return f.gws[0].Peers() == 1 }, "gateway 0 alone")
}

// Acceptance 3: a per-command limit (facecrop at 2 rps) holds while the
// user's other fops run at full rate; every step of a pipeline counts.
func TestCommandRateLimit(t *testing.T) {
	f := newFleet(t, 1, nil)
	out := f.mustCtl(f.admin, "limit", "set", "alice", "--cmd", "facecrop", "--rps", "2")
	if !strings.Contains(out, "for facecrop") {
		t.Fatalf("limit set printed %q", out)
	}
	for _, q := range []string{"facecrop/16x16", "imageView2/2/w/8"} {
		if resp, b := f.do(mustGet(t, f.urls[0]+"/alice-pics/g.jpg?"+q)); resp.StatusCode != 200 {
			t.Fatalf("warm-up %s: %s %s", q, resp.Status, b)
		}
	}
	time.Sleep(time.Second)
	const secs = 4
	var fc, iv tally
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		fc = f.load(secs*time.Second, 10, func(int) string { return f.urls[0] + "/alice-pics/g.jpg?facecrop/16x16" })
	}()
	go func() {
		defer wg.Done()
		iv = f.load(secs*time.Second, 20, func(int) string { return f.urls[0] + "/alice-pics/g.jpg?imageView2/2/w/8" })
	}()
	wg.Wait()
	if len(fc.other)+len(iv.other) > 0 {
		t.Fatalf("unexpected answers: %v %v", fc.other, iv.other)
	}
	within(t, "facecrop at 10 rps, limit 2", fc.ok, 2, secs, 2, 0.25)
	if iv.limited != 0 {
		t.Errorf("imageView2: %d of %d limited; only facecrop is", iv.limited, iv.ok+iv.limited)
	}
	if n := f.limitedCount("alice", "cmd_rps"); n != fc.limited {
		t.Errorf("metrics count %d cmd_rps refusals, the client saw %d", n, fc.limited)
	}
	// facecrop's bucket is empty now: a pipeline with a facecrop step is
	// refused too, and the refusal names the command.
	resp, b := f.do(mustGet(t, f.urls[0]+"/alice-pics/g.jpg?imageView2/2/w/8|facecrop/8x8"))
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(b), "facecrop") {
		t.Errorf("pipeline with facecrop: %s %s", resp.Status, b)
	}
	// Bob's facecrop is not limited.
	if resp, b := f.do(mustGet(t, f.urls[0]+"/bob-pics/g.jpg?facecrop/16x16")); resp.StatusCode != 200 {
		t.Errorf("bob's facecrop: %s %s", resp.Status, b)
	}
}

// Acceptance 4: 1,000 slow clients holding connections that trickle
// their headers cannot stop a normal client from being served. The cap
// (200 here) is below the slow clients and the header timeout above the
// test, so only the cap's eviction of waiting connections can make room.
func TestSlowClientsCannotLockOut(t *testing.T) {
	const slow, capacity = 1000, 200
	f := newFleet(t, 1, func(c *gateway.Config) {
		c.Conns.MaxConns = capacity
		c.Conns.ReadHeaderTimeout = time.Minute
	})
	addr := strings.TrimPrefix(f.urls[0], "http://")
	conns := make([]net.Conn, 0, slow)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range slow {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial slow client %d: %v", len(conns), err)
		}
		io.WriteString(c, "GET /alice-pics/g.jpg HTTP/1.1\r\nHost: x\r\n")
		conns = append(conns, c)
	}
	// The slow clients keep trickling a header line each every 100 ms
	// while the normal client works.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var alive atomic.Int64
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			n := 0
			for _, c := range conns {
				c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
				if _, err := io.WriteString(c, "X-Slow: 1\r\n"); err == nil {
					n++
				}
			}
			alive.Store(int64(n))
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(1500 * time.Millisecond) // past EvictAfter: the slow ones hold every slot

	normal := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 20 {
		resp, err := normal.Get(f.urls[0] + "/bob-pics/g.jpg?imageView2/2/w/8")
		if err != nil {
			t.Fatalf("normal request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("normal request %d: %s", i, resp.Status)
		}
	}
	// The first normal request took the place of a slow client (the
	// slot stays free after it: these slow clients do not dial again);
	// the slow clients past the cap were refused at once.
	evicted := f.metricValue(`ufop_gateway_conns_total{outcome="evicted"}`)
	refused := f.metricValue(`ufop_gateway_conns_total{outcome="refused"}`) +
		f.metricValue(`ufop_gateway_conns_total{outcome="dropped"}`)
	t.Logf("%d slow clients still writing, %d evicted, %d refused", alive.Load(), evicted, refused)
	if evicted < 1 || refused < slow-capacity {
		t.Errorf("%d evicted (want at least 1), %d refused (want at least %d)", evicted, refused, slow-capacity)
	}
}

// metricValue scrapes one series of gateway 0's /metrics.
func (f *fleet) metricValue(series string) int {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.urls[0]+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return 0
}

// Acceptance 5: the signed admin API refuses a wrong key, a tampered
// body, a stale timestamp and a replay (on the same gateway or another);
// users cannot act as admins; a private UFOP is 403 for others and a
// protected one passes the ACL once granted.
func TestAdminAPIAuth(t *testing.T) {
	f := newFleet(t, 2, nil)
	alice, bob := f.keys["alice"], f.keys["bob"]
	send := func(i int, method, path, body, ak, sk string, at time.Time, tamper func(*http.Request)) int {
		req, _ := http.NewRequest(method, f.urls[i]+path, strings.NewReader(body))
		auth.SignRequest(req, ak, sk, auth.BodyHash([]byte(body)), at)
		if tamper != nil {
			tamper(req)
		}
		resp, b := f.do(req)
		if resp.StatusCode >= 400 && !strings.Contains(string(b), `"reqid"`) {
			t.Errorf("%s %s: %s is not a JSON error: %s", method, path, resp.Status, b)
		}
		return resp.StatusCode
	}
	now := time.Now()
	for _, tc := range []struct {
		name       string
		method     string
		path, body string
		ak, sk     string
		at         time.Time
		tamper     func(*http.Request)
		want       int
	}{
		{"good", "GET", "/v1/whoami", "", alice[0], alice[1], now, nil, 200},
		{"unknown key", "GET", "/v1/whoami", "", "AKNOBODY", alice[1], now, nil, 401},
		{"wrong secret", "GET", "/v1/whoami", "", alice[0], bob[1], now, nil, 401},
		{"unsigned", "GET", "/v1/whoami", "", alice[0], alice[1], now, func(r *http.Request) { r.Header.Del("Authorization") }, 401},
		{"tampered body", "PUT", "/v1/buckets/alice-2", `{"private":true}`, alice[0], alice[1], now, func(r *http.Request) {
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(`{"private":false}`)), 17
		}, 401},
		{"tampered query", "GET", "/v1/buckets/alice-pics/objects?limit=1", "", alice[0], alice[1], now, func(r *http.Request) {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "limit=1", "limit=2", 1)
		}, 401},
		{"stale", "GET", "/v1/whoami", "", alice[0], alice[1], now.Add(-16 * time.Minute), nil, 401},
		{"future", "GET", "/v1/whoami", "", alice[0], alice[1], now.Add(16 * time.Minute), nil, 401},
		{"user sets a limit", "PUT", "/v1/limits/alice", `{"rps":1000}`, alice[0], alice[1], now, nil, 403},
		{"user lists limits", "GET", "/v1/limits", "", alice[0], alice[1], now, nil, 403},
		{"user reads own limits", "GET", "/v1/limits/alice", "", alice[0], alice[1], now, nil, 200},
		{"user reads bob's limits", "GET", "/v1/limits/bob", "", alice[0], alice[1], now, nil, 403},
		{"user adds bob a key", "POST", "/v1/users/bob/keys", "", alice[0], alice[1], now, nil, 403},
	} {
		if got := send(0, tc.method, tc.path, tc.body, tc.ak, tc.sk, tc.at, tc.tamper); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}

	// Replay: the same signed request, captured, is refused on the
	// gateway that saw it and on the other one.
	req, _ := http.NewRequest("PUT", f.urls[0]+"/v1/buckets/alice-3", nil)
	auth.SignRequest(req, alice[0], alice[1], auth.EmptyBodyHash, time.Now())
	replay := func(i int) int {
		r, _ := http.NewRequest("PUT", f.urls[i]+req.URL.RequestURI(), nil)
		r.Header = req.Header.Clone()
		resp, _ := f.do(r)
		return resp.StatusCode
	}
	if got := replay(0); got != 200 {
		t.Fatalf("first send: %d", got)
	}
	if got := replay(0); got != 401 {
		t.Errorf("replay on the same gateway: %d, want 401", got)
	}
	if got := replay(1); got != 401 {
		t.Errorf("replay on the other gateway: %d, want 401", got)
	}
	// Identical requests signed afresh in the same second are not replays.
	for range 3 {
		if got := send(1, "GET", "/v1/whoami", "", alice[0], alice[1], now, nil); got != 200 {
			t.Fatalf("identical fresh request: %d", got)
		}
	}

	// UFOP ACL: bob's private and protected UFOPs, used on alice's bucket.
	f.mustJSON(0, "bob", "PUT", "/v1/ufops/bob-private", `{"mode":2}`, nil)
	f.mustJSON(0, "bob", "PUT", "/v1/ufops/bob-protected", `{"mode":1}`, nil)
	for _, gw := range f.gws {
		testenv.Eventually(t, time.Second, func() bool { _, err := gw.Catalog().UFOP("bob-protected"); return err == nil }, "UFOPs everywhere")
	}
	use := func(name string) (int, string) {
		resp, b := f.do(mustGet(t, f.urls[1]+"/alice-pics/g.jpg?"+name+"/x"))
		return resp.StatusCode, string(b)
	}
	for _, name := range []string{"bob-private", "bob-protected"} {
		if code, b := use(name); code != 403 || !strings.Contains(b, name) {
			t.Errorf("%s on alice's bucket: %d %s, want 403 naming it", name, code, b)
		}
	}
	if resp, _ := f.signed(0, "alice", "PUT", "/v1/ufops/bob-protected/grants/alice", ""); resp.StatusCode != 403 {
		t.Errorf("alice granting herself bob's UFOP: %s", resp.Status)
	}
	f.mustJSON(0, "bob", "PUT", "/v1/ufops/bob-protected/grants/alice", "", nil)
	// Past the ACL now; with no instance running (no container engine in
	// this test) the request ends at routing with a 503.
	testenv.Eventually(t, time.Second, func() bool { code, _ := use("bob-protected"); return code == 503 }, "granted UFOP passes the ACL on gateway 1")
	if code, _ := use("bob-private"); code != 403 {
		t.Errorf("private UFOP after granting the protected one: %d", code)
	}
}

// Key rotation through ufopctl: a second key works at once on every
// gateway, a third is refused, the old one stops working when removed,
// and the last key cannot be removed.
func TestKeyRotation(t *testing.T) {
	f := newFleet(t, 2, nil)
	old := ufopctl.Config{Endpoint: f.urls[0], AK: f.keys["alice"][0], SK: f.keys["alice"][1]}
	// A user may rotate its own keys.
	var nk ufopctl.NewKey
	if err := json.Unmarshal([]byte(f.mustCtl(old, "-o", "json", "user", "key", "add", "alice")), &nk); err != nil {
		t.Fatal(err)
	}
	if nk.User != "alice" || nk.AK == old.AK || nk.SK == "" {
		t.Fatalf("new key %+v", nk)
	}
	fresh := ufopctl.Config{Endpoint: f.urls[1], AK: nk.AK, SK: nk.SK}
	testenv.Eventually(t, time.Second, func() bool { code, _, _ := f.ctl(fresh, "whoami"); return code == 0 }, "new key works on gateway 1")
	if code, _, errOut := f.ctl(f.admin, "user", "key", "add", "alice"); code != 1 || !strings.Contains(errOut, "409") {
		t.Errorf("third key: exit %d, %s", code, errOut)
	}
	out := f.mustCtl(fresh, "user", "key", "rm", "alice", old.AK)
	if !strings.Contains(out, old.AK) {
		t.Errorf("key rm printed %q", out)
	}
	testenv.Eventually(t, time.Second, func() bool {
		code, _, errOut := f.ctl(ufopctl.Config{Endpoint: f.urls[1], AK: old.AK, SK: old.SK}, "whoami")
		return code == 1 && strings.Contains(errOut, "401")
	}, "old key refused on gateway 1")
	if code, _, errOut := f.ctl(fresh, "user", "key", "rm", "alice", nk.AK); code != 1 || !strings.Contains(errOut, "409") {
		t.Errorf("removing the last key: exit %d, %s", code, errOut)
	}
	if code, _, errOut := f.ctl(fresh, "user", "key", "add", "bob"); code != 1 || !strings.Contains(errOut, "403") {
		t.Errorf("alice adding bob a key: exit %d, %s", code, errOut)
	}
	// The user listing shows the keys, newest first.
	var users struct{ Users []ufop.User }
	json.Unmarshal([]byte(f.mustCtl(f.admin, "-o", "json", "user", "ls")), &users)
	for _, u := range users.Users {
		if u.Name == "alice" && (len(u.Keys) != 1 || u.Keys[0] != nk.AK) {
			t.Errorf("alice's keys %v", u.Keys)
		}
	}
}
