package gateway_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/agent"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/queue"
	"github.com/ufop/ufop/storage"
	"github.com/ufop/ufop/ufopctl"
)

// countingStore counts the Puts that reached the store, per bucket/key.
// hold, when set, makes a Put that it selects complete and then block until
// its context ends: a worker dying right after its write, before it could
// record it.
type countingStore struct {
	storage.Store
	mu   sync.Mutex
	puts map[string]int
	hold func(bucket, key string) bool
	held chan string
}

func (s *countingStore) Put(ctx context.Context, bucket, key string, body io.Reader, opts storage.PutOptions) (ufop.Object, error) {
	obj, err := s.Store.Put(ctx, bucket, key, body, opts)
	if err != nil {
		return obj, err
	}
	s.mu.Lock()
	s.puts[bucket+"/"+key]++
	hold := s.hold != nil && s.hold(bucket, key)
	s.mu.Unlock()
	if hold {
		s.held <- bucket + "/" + key
		<-ctx.Done()
		return ufop.Object{}, ctx.Err()
	}
	return obj, nil
}

func (s *countingStore) count(bucket, key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts[bucket+"/"+key]
}

// pfopEnv is a real etcd and NATS, one object store, one agent and
// gateways that can be started and stopped, with the users admin (paid),
// alice and bob.
type pfopEnv struct {
	t        *testing.T
	etcd     string
	nats     string
	store    storage.Store
	ctx      context.Context
	wg       sync.WaitGroup
	keys     map[string][2]string
	admin    *pfopGateway // the first gateway, for admin calls
	defaults func(*gateway.Config, *gateway.Deps)
}

type pfopGateway struct {
	gw   *gateway.Gateway
	url  string
	stop func()
}

func newPfopEnv(t *testing.T, mod func(*gateway.Config, *gateway.Deps)) *pfopEnv {
	t.Helper()
	log := testenv.Logger(t)
	st, err := storage.New(storage.Config{Dir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	e := &pfopEnv{t: t, etcd: testenv.Etcd(t), nats: testenv.NATS(t), store: st, keys: map[string][2]string{}, defaults: mod}
	ctx, cancel := context.WithCancel(context.Background())
	e.ctx = ctx
	t.Cleanup(func() { cancel(); e.wg.Wait() })
	e.admin = e.startGateway(nil)
	acfg := agent.DefaultConfig()
	acfg.ID = "agent-0"
	acfg.CacheDir = t.TempDir()
	a, err := agent.New(acfg, agent.Deps{Etcd: testenv.EtcdClientOf(t, e.etcd), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.wg.Add(1)
	go func() { defer e.wg.Done(); a.Run(ctx) }()
	<-a.Ready()
	testenv.Eventually(t, 5*time.Second, func() bool { return len(e.admin.gw.Registry().Agents()) == 1 }, "agent registered")
	_, k, err := e.admin.gw.Catalog().CreateUser(ctx, "admin", ufop.TierPaid, true)
	if err != nil {
		t.Fatal(err)
	}
	e.keys["admin"] = [2]string{k.AK, k.SK}
	for _, u := range []string{"alice", "bob"} {
		var nu gateway.NewUser
		e.mustJSON(e.admin, "admin", http.MethodPost, "/v1/users", `{"name":"`+u+`"}`, &nu)
		e.keys[u] = [2]string{nu.AK, nu.SK}
		e.mustJSON(e.admin, u, http.MethodPut, "/v1/buckets/"+u+"-pics", "", nil)
	}
	return e
}

// startGateway starts a gateway with the env's defaults, then mod.
func (e *pfopEnv) startGateway(mod func(*gateway.Config, *gateway.Deps)) *pfopGateway {
	t := e.t
	t.Helper()
	log := testenv.Logger(t)
	ctx, cancel := context.WithCancel(e.ctx)
	q, err := queue.Connect(ctx, e.nats, queue.DefaultConfig(), log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateway.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Catalog.MasterKey = bytes.Repeat([]byte{7}, 32)
	cfg.Pfop.Workers = 4
	cfg.Pfop.Queue.AckWait = 3 * time.Second
	cfg.Pfop.NotifyFirstDelay = 20 * time.Millisecond
	cfg.Pfop.NotifyMaxDelay = 100 * time.Millisecond
	cfg.Pfop.NotifyFor = 3 * time.Second
	cfg.Pfop.NotifyTimeout = 2 * time.Second
	deps := gateway.Deps{Etcd: testenv.EtcdClientOf(t, e.etcd), Store: e.store, Queue: q, Logger: log}
	for _, m := range []func(*gateway.Config, *gateway.Deps){e.defaults, mod} {
		if m != nil {
			m(&cfg, &deps)
		}
	}
	gw, err := gateway.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	e.wg.Add(1)
	go func() { defer e.wg.Done(); defer close(done); defer q.Close(); gw.Run(ctx) }()
	select {
	case <-gw.Ready():
	case <-done:
		t.Fatal("gateway stopped before it was ready")
	}
	var once sync.Once
	return &pfopGateway{gw: gw, url: "http://" + gw.Addr(), stop: func() { once.Do(func() { cancel(); <-done }) }}
}

func (e *pfopEnv) signed(g *pfopGateway, user, method, path, body string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, g.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	k := e.keys[user]
	auth.SignRequest(req, k[0], k[1], auth.BodyHash([]byte(body)), time.Now())
	return do(e.t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func (e *pfopEnv) mustJSON(g *pfopGateway, user, method, path, body string, out any) {
	e.t.Helper()
	resp, b := e.signed(g, user, method, path, body)
	if resp.StatusCode/100 != 2 {
		e.t.Fatalf("%s %s as %s: %s %s", method, path, user, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// submit posts a pfop job as user and returns its persistent id.
func (e *pfopEnv) submit(g *pfopGateway, user string, req map[string]string) string {
	e.t.Helper()
	body, _ := json.Marshal(req)
	var out struct {
		PersistentID string `json:"persistentId"`
	}
	e.mustJSON(g, user, http.MethodPost, "/v1/pfop", string(body), &out)
	if out.PersistentID == "" {
		e.t.Fatal("no persistentId")
	}
	return out.PersistentID
}

type pfopStatus struct {
	ID          string `json:"id"`
	Code        int    `json:"code"`
	Desc        string `json:"desc"`
	InputBucket string `json:"inputBucket"`
	InputKey    string `json:"inputKey"`
	Items       []struct {
		Cmd   string `json:"cmd"`
		Code  int    `json:"code"`
		Desc  string `json:"desc"`
		Error string `json:"error"`
		Key   string `json:"key"`
		Hash  string `json:"hash"`
	} `json:"items"`
}

func (e *pfopEnv) status(g *pfopGateway, id string) pfopStatus {
	e.t.Helper()
	resp, b := do(e.t, mustRequest(e.t, http.MethodGet, g.url+"/v1/pfop/"+id, ""))
	if resp.StatusCode != 200 {
		e.t.Fatalf("GET /v1/pfop/%s: %s %s", id, resp.Status, b)
	}
	var s pfopStatus
	if err := json.Unmarshal(b, &s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// waitDone polls the job's status until its code is final (0, 3 or 4).
func (e *pfopEnv) waitDone(g *pfopGateway, id string, within time.Duration) pfopStatus {
	e.t.Helper()
	var s pfopStatus
	testenv.Eventually(e.t, within, func() bool {
		s = e.status(g, id)
		return s.Code == 0 || s.Code == 3 || s.Code == 4
	}, "pfop job %s finished", id)
	return s
}

func mustRequest(t *testing.T, method, u, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func testPNG(t *testing.T, w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{R: uint8(x * 4), G: uint8(y * 4), B: 128, A: 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func b64(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }

func mustImageWidth(t *testing.T, b []byte) int {
	t.Helper()
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("result is not an image: %v", err)
	}
	return cfg.Width
}

// TestPfopEndToEnd: a job of two pipelines, one with saveas and one
// without, runs to code 0; both results are ordinary objects, the second
// under the generated key its item names.
func TestPfopEndToEnd(t *testing.T) {
	e := newPfopEnv(t, nil)
	e.mustJSON(e.admin, "alice", http.MethodPut, "/v1/objects/alice-pics/src.png", string(testPNG(t, 64, 48)), nil)
	id := e.submit(e.admin, "alice", map[string]string{"bucket": "alice-pics", "key": "src.png",
		"fops": "imageView2/2/w/20|saveas/" + b64("alice-pics:thumbs/small.png") + ";imageInfo"})
	s := e.waitDone(e.admin, id, 20*time.Second)
	if s.Code != 0 || s.ID != id || s.InputBucket != "alice-pics" || s.InputKey != "src.png" || len(s.Items) != 2 || s.Desc == "" {
		t.Fatalf("status %+v", s)
	}
	if it := s.Items[0]; it.Code != 0 || it.Key != "thumbs/small.png" || !strings.HasPrefix(it.Cmd, "imageView2/2/w/20|saveas/") || it.Hash == "" {
		t.Errorf("item 0: %+v", it)
	}
	if want := "pfop/" + id + "/1"; s.Items[1].Key != want || s.Items[1].Code != 0 {
		t.Errorf("item 1: %+v, want key %s", s.Items[1], want)
	}
	resp, thumb := do(t, mustRequest(t, http.MethodGet, e.admin.url+"/alice-pics/thumbs/small.png", ""))
	if resp.StatusCode != 200 || mustImageWidth(t, thumb) != 20 {
		t.Fatalf("saved result: %s", resp.Status)
	}
	resp, info := do(t, mustRequest(t, http.MethodGet, e.admin.url+"/alice-pics/"+s.Items[1].Key, ""))
	var ii struct{ Width, Height int }
	if resp.StatusCode != 200 || json.Unmarshal(info, &ii) != nil || ii.Width != 64 || ii.Height != 48 {
		t.Fatalf("generated result: %s %s", resp.Status, info)
	}
	// The status needs no signature and names no internals.
	resp, raw := do(t, mustRequest(t, http.MethodGet, e.admin.url+"/v1/pfop/"+id, ""))
	if resp.StatusCode != 200 || strings.Contains(string(raw), "owner") || strings.Contains(string(raw), "writing") {
		t.Errorf("status body: %s %s", resp.Status, raw)
	}
	// An item that fails says why; the job is code 3.
	id = e.submit(e.admin, "alice", map[string]string{"bucket": "alice-pics", "key": "src.png", "fops": "imageInfo;exif"})
	s = e.waitDone(e.admin, id, 20*time.Second)
	if s.Code != 3 || s.Items[0].Code != 0 || s.Items[1].Code != 3 || s.Items[1].Error == "" {
		t.Errorf("failing item: %+v", s)
	}
}

// qiniuSign is Qiniu's documented management signature, written for the
// test: QBox over "<path>?<query>\n<form body>", Qiniu (v2) over
// "<METHOD> <path>?<query>\nHost: <host>\nContent-Type: <ct>\n\n<body>".
func qiniuSign(scheme, ak, sk, method, pathQuery, host, ct, body string) string {
	data := pathQuery + "\n" + body
	if scheme == "Qiniu" {
		data = method + " " + pathQuery + "\nHost: " + host + "\nContent-Type: " + ct + "\n\n" + body
	}
	m := hmac.New(sha1.New, []byte(sk))
	m.Write([]byte(data))
	return scheme + " " + ak + ":" + base64.URLEncoding.EncodeToString(m.Sum(nil))
}

// TestPfopQiniuAPI: Qiniu's POST /pfop/ with a form body signed as its
// SDKs sign management requests (QBox and Qiniu), and
// GET /status/get/prefop.
func TestPfopQiniuAPI(t *testing.T) {
	// The test signer agrees with the SDK's published vectors first.
	if got := qiniuSign("QBox", "ak", "sk", "GET", "", "", "application/x-www-form-urlencoded", "name=test&language=go"); got != "QBox ak:h8gBb1Adb2Jgoys1N8sRVAnNvpw=" {
		t.Fatalf("QBox test signer: %s", got)
	}
	if got := qiniuSign("Qiniu", "ak", "sk", "POST", "", "", "application/json", `{"name": "test"}`); got != "Qiniu ak:0ujEjW_vLRZxebsveBgqa3JyQ-w=" {
		t.Fatalf("Qiniu test signer: %s", got)
	}
	e := newPfopEnv(t, nil)
	e.mustJSON(e.admin, "alice", http.MethodPut, "/v1/objects/alice-pics/q.png", string(testPNG(t, 40, 30)), nil)
	k := e.keys["alice"]
	host := strings.TrimPrefix(e.admin.url, "http://")
	form := url.Values{"bucket": {"alice-pics"}, "key": {"q.png"}, "fops": {"imageView2/2/w/10|saveas/" + b64("alice-pics:q-small.png")},
		"notifyURL": {""}, "force": {"1"}, "pipeline": {"default"}}.Encode()
	post := func(authz, body string) (*http.Response, []byte) {
		req := mustRequest(t, http.MethodPost, e.admin.url+"/pfop/", body)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		return do(t, req)
	}
	for _, scheme := range []string{"QBox", "Qiniu"} {
		t.Run(scheme, func(t *testing.T) {
			resp, b := post(qiniuSign(scheme, k[0], k[1], "POST", "/pfop/", host, "application/x-www-form-urlencoded", form), form)
			var out struct {
				PersistentID string `json:"persistentId"`
			}
			if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil || out.PersistentID == "" {
				t.Fatalf("POST /pfop/: %s %s", resp.Status, b)
			}
			var s pfopStatus
			testenv.Eventually(t, 20*time.Second, func() bool {
				resp, b := do(t, mustRequest(t, http.MethodGet, e.admin.url+"/status/get/prefop?id="+out.PersistentID, ""))
				return resp.StatusCode == 200 && json.Unmarshal(b, &s) == nil && s.Code == 0
			}, "prefop code 0")
			if s.ID != out.PersistentID || len(s.Items) != 1 || s.Items[0].Key != "q-small.png" {
				t.Errorf("prefop: %+v", s)
			}
		})
	}
	for _, tc := range []struct {
		name, authz string
		status      int
	}{
		{"unsigned", "", 401},
		{"wrong secret", qiniuSign("QBox", k[0], "nope", "POST", "/pfop/", host, "", form), 401},
		{"body not signed", qiniuSign("QBox", k[0], k[1], "POST", "/pfop/", host, "", ""), 401},
		{"wrong host", qiniuSign("Qiniu", k[0], k[1], "POST", "/pfop/", "other:1", "application/x-www-form-urlencoded", form), 401},
		{"bob's key", qiniuSign("QBox", e.keys["bob"][0], e.keys["bob"][1], "POST", "/pfop/", host, "", form), 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := post(tc.authz, form)
			if resp.StatusCode != tc.status {
				t.Errorf("%s: %s %s, want %d", tc.name, resp.Status, b, tc.status)
			}
		})
	}
	if resp, _ := do(t, mustRequest(t, http.MethodGet, e.admin.url+"/status/get/prefop?id=z0.nosuch", "")); resp.StatusCode != 404 {
		t.Errorf("unknown prefop id: %s", resp.Status)
	}
}

// TestPfopBadInput: every refusal at submit has the right status and a
// message naming what is at fault, and queues nothing.
func TestPfopBadInput(t *testing.T) {
	e := newPfopEnv(t, nil)
	e.mustJSON(e.admin, "alice", http.MethodPut, "/v1/objects/alice-pics/s.png", string(testPNG(t, 8, 8)), nil)
	e.mustJSON(e.admin, "bob", http.MethodPut, "/v1/objects/bob-pics/s.png", string(testPNG(t, 8, 8)), nil)
	job := func(mod map[string]string) string {
		m := map[string]string{"bucket": "alice-pics", "key": "s.png", "fops": "imageInfo"}
		for k, v := range mod {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name   string
		user   string
		body   string
		status int
		word   string
	}{
		{"malformed fop", "alice", job(map[string]string{"fops": "imageView2/9/w/10"}), 400, "imageView2"},
		{"unknown fop", "alice", job(map[string]string{"fops": "imageInfo;imageVeiw2/1"}), 400, "imageVeiw2"},
		{"empty pipeline", "alice", job(map[string]string{"fops": "imageInfo;;imageInfo"}), 400, "pipeline 2"},
		{"bad saveas encoding", "alice", job(map[string]string{"fops": "imageInfo|saveas/!!!"}), 400, "saveas"},
		{"saveas not bucket:key", "alice", job(map[string]string{"fops": "imageInfo|saveas/" + b64("nocolon")}), 400, "saveas"},
		{"saveas to another's bucket", "alice", job(map[string]string{"fops": "imageInfo|saveas/" + b64("bob-pics:x")}), 403, "bob-pics"},
		{"saveas to no bucket", "alice", job(map[string]string{"fops": "imageInfo|saveas/" + b64("nosuch:x")}), 404, "nosuch"},
		{"unknown bucket", "alice", job(map[string]string{"bucket": "nosuch"}), 404, "nosuch"},
		{"unknown key", "alice", job(map[string]string{"key": "missing.png"}), 404, "missing.png"},
		{"another's bucket", "bob", job(nil), 403, "alice-pics"},
		{"notify not http", "alice", job(map[string]string{"notifyURL": "ftp://example.com/x"}), 400, "notifyURL"},
		{"notify no host", "alice", job(map[string]string{"notifyURL": "http:///x"}), 400, "notifyURL"},
		{"notify loopback literal", "alice", job(map[string]string{"notifyURL": "http://127.0.0.1:1/hook"}), 403, "127.0.0.1"},
		{"notify private literal", "alice", job(map[string]string{"notifyURL": "http://10.1.2.3/hook"}), 403, "10.1.2.3"},
		{"no fops", "alice", job(map[string]string{"fops": " "}), 400, "fops"},
		{"not json", "alice", "bucket=alice-pics", 400, "pfop body"},
		{"unknown field", "alice", `{"bucket":"alice-pics","key":"s.png","fops":"imageInfo","x":1}`, 400, "pfop body"},
		{"bad key", "alice", job(map[string]string{"key": "a/../b"}), 400, "key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := e.signed(e.admin, tc.user, http.MethodPost, "/v1/pfop", tc.body)
			checkSpecError(t, resp.StatusCode, resp.Header, b, tc.word)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d (%s)", resp.StatusCode, tc.status, b)
			}
		})
	}
	// Nothing was written for any of them: the bucket holds the source only.
	var list struct {
		Objects []ufop.Object `json:"objects"`
	}
	e.mustJSON(e.admin, "alice", http.MethodGet, "/v1/buckets/alice-pics/objects", "", &list)
	if len(list.Objects) != 1 {
		t.Errorf("alice-pics holds %d objects, want the source only", len(list.Objects))
	}
	if resp, _ := e.signed(e.admin, "alice", http.MethodPost, "/v1/pfop", job(nil)); resp.StatusCode != 200 {
		t.Errorf("the good job: %s", resp.Status)
	}
	if resp, b := do(t, mustRequest(t, http.MethodGet, e.admin.url+"/v1/pfop/z0.00000000000000000000000000000000", "")); resp.StatusCode != 404 {
		t.Errorf("unknown id: %s %s", resp.Status, b)
	}
	// Unsigned submissions are refused.
	resp, b := do(t, mustRequest(t, http.MethodPost, e.admin.url+"/v1/pfop", job(nil)))
	checkSpecError(t, resp.StatusCode, resp.Header, b, "sign")
}

// TestPfopExactlyOnce: a worker dies right after writing a result, before
// it could record it; another gateway takes the job over, finds the
// result written, and finishes the rest. Each result object is written
// exactly once and the job completes.
func TestPfopExactlyOnce(t *testing.T) {
	var cs *countingStore
	e := newPfopEnv(t, func(_ *gateway.Config, d *gateway.Deps) {
		if cs == nil {
			cs = &countingStore{Store: d.Store, puts: map[string]int{}, held: make(chan string, 1)}
		}
		d.Store = cs
	})
	e.mustJSON(e.admin, "alice", http.MethodPut, "/v1/objects/alice-pics/o.png", string(testPNG(t, 64, 64)), nil)
	// The admin gateway runs no jobs here: only the dying one, then its
	// successor.
	e.admin.stop()
	e.admin = e.startGateway(func(c *gateway.Config, _ *gateway.Deps) { c.Pfop.Workers = 0 })
	cs.mu.Lock()
	cs.hold = func(bucket, key string) bool { return key == "once/1.png" }
	cs.mu.Unlock()
	dying := e.startGateway(nil)
	var fops []string
	for i := range 3 {
		fops = append(fops, fmt.Sprintf("imageView2/2/w/%d|saveas/%s", 10+i, b64(fmt.Sprintf("alice-pics:once/%d.png", i))))
	}
	id := e.submit(e.admin, "alice", map[string]string{"bucket": "alice-pics", "key": "o.png", "fops": strings.Join(fops, ";")})
	select {
	case <-cs.held:
	case <-time.After(20 * time.Second):
		t.Fatal("the worker never wrote item 1")
	}
	cs.mu.Lock()
	cs.hold = nil
	cs.mu.Unlock()
	dying.stop() // the worker dies between its write and its record
	if s := e.status(e.admin, id); s.Code == 0 {
		t.Fatal("job done before its worker died")
	}
	e.startGateway(nil)
	s := e.waitDone(e.admin, id, 30*time.Second)
	if s.Code != 0 {
		t.Fatalf("job after takeover: %+v", s)
	}
	for i := range 3 {
		key := fmt.Sprintf("once/%d.png", i)
		if n := cs.count("alice-pics", key); n != 1 {
			t.Errorf("%s written %d times, want once", key, n)
		}
		resp, b := do(t, mustRequest(t, http.MethodGet, e.admin.url+"/alice-pics/"+key, ""))
		if resp.StatusCode != 200 || mustImageWidth(t, b) != 10+i {
			t.Errorf("%s: %s", key, resp.Status)
		}
	}
}

// TestPfopSurvivesRestart: jobs accepted while no worker runs wait in
// JetStream and are done by a gateway started later.
func TestPfopSurvivesRestart(t *testing.T) {
	e := newPfopEnv(t, func(c *gateway.Config, _ *gateway.Deps) { c.Pfop.Workers = 0 })
	e.mustJSON(e.admin, "alice", http.MethodPut, "/v1/objects/alice-pics/r.png", string(testPNG(t, 16, 16)), nil)
	var ids []string
	for range 5 {
		ids = append(ids, e.submit(e.admin, "alice", map[string]string{"bucket": "alice-pics", "key": "r.png", "fops": "imageInfo"}))
	}
	if s := e.status(e.admin, ids[0]); s.Code != 1 || s.Items[0].Code != 1 {
		t.Fatalf("queued job: %+v, want waiting", s)
	}
	e.admin.stop()
	e.admin = e.startGateway(func(c *gateway.Config, _ *gateway.Deps) { c.Pfop.Workers = 2 })
	for _, id := range ids {
		if s := e.waitDone(e.admin, id, 20*time.Second); s.Code != 0 {
			t.Errorf("job %s: %+v", id, s)
		}
	}
}

// TestPfopNotify: the status is POSTed to notifyURL, signed with the
// bucket owner's key, retried with backoff until a 2xx; a URL that never
// answers 2xx makes the job code 4; a name that resolves to an address
// the policy refuses fails at once, without a connection.
func TestPfopNotify(t *testing.T) {
	var fails atomic.Int32
	fails.Store(2)
	var mu sync.Mutex
	var got []string // Authorization header, body
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Header.Get("Authorization"), string(b))
		mu.Unlock()
		if r.URL.Path == "/down" || fails.Add(-1) >= 0 {
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	// This test's policy allows loopback explicitly, as --fetch-allow does.
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	e := newPfopEnv(t, func(c *gateway.Config, _ *gateway.Deps) { c.FetchAllow = allow })
	e.mustJSON(e.admin, "alice", http.MethodPut, "/v1/objects/alice-pics/n.png", string(testPNG(t, 8, 8)), nil)

	id := e.submit(e.admin, "alice", map[string]string{"bucket": "alice-pics", "key": "n.png", "fops": "imageInfo", "notifyURL": srv.URL + "/hook"})
	testenv.Eventually(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 6 }, "three notify attempts")
	s := e.waitDone(e.admin, id, 5*time.Second)
	if s.Code != 0 {
		t.Fatalf("notified job: %+v", s)
	}
	mu.Lock()
	authz, body := got[4], got[5]
	mu.Unlock()
	var sent pfopStatus
	if err := json.Unmarshal([]byte(body), &sent); err != nil || sent.ID != id || sent.Code != 0 || len(sent.Items) != 1 {
		t.Fatalf("notify body %s: %v", body, err)
	}
	k := e.keys["alice"]
	m := hmac.New(sha1.New, []byte(k[1]))
	m.Write([]byte(body))
	if want := "UFOP " + k[0] + ":" + base64.URLEncoding.EncodeToString(m.Sum(nil)); authz != want {
		t.Errorf("Authorization %q, want %q", authz, want)
	}

	// Never 2xx: retried until NotifyFor (3 s here), then code 4.
	start := time.Now()
	id = e.submit(e.admin, "alice", map[string]string{"bucket": "alice-pics", "key": "n.png", "fops": "imageInfo", "notifyURL": srv.URL + "/down"})
	s = e.waitDone(e.admin, id, 5*time.Second)
	if s.Code != 0 {
		// code 0 while the notification is retried, then 4.
		t.Logf("code %d while notifying", s.Code)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return e.status(e.admin, id).Code == 4 }, "code 4 after the retries")
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("gave up after %v, before NotifyFor", took)
	}

	// Refused by the address policy at notify time: a name, checked when
	// dialled, on a gateway without the loopback allowance.
	strict := e.startGateway(func(c *gateway.Config, _ *gateway.Deps) { c.FetchAllow = nil })
	e.admin.stop()
	mu.Lock()
	before := len(got)
	mu.Unlock()
	u, _ := url.Parse(srv.URL)
	id = e.submit(strict, "alice", map[string]string{"bucket": "alice-pics", "key": "n.png", "fops": "imageInfo", "notifyURL": "http://localhost:" + u.Port() + "/hook"})
	testenv.Eventually(t, 10*time.Second, func() bool { return e.status(strict, id).Code == 4 }, "refused notify recorded")
	mu.Lock()
	after := len(got)
	mu.Unlock()
	if after != before {
		t.Errorf("the refused notify URL was reached")
	}
}

func TestPfopDefaults(t *testing.T) {
	cfg := gateway.DefaultPfopConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// SPEC §13: notifications are retried for at least a minute.
	if cfg.NotifyFor < time.Minute {
		t.Errorf("NotifyFor %v, want at least a minute", cfg.NotifyFor)
	}
	bad := cfg
	bad.NotifyMaxDelay = cfg.NotifyFirstDelay / 2
	if bad.Validate() == nil {
		t.Error("max delay under the first delay accepted")
	}
}

// TestPfopCtl: ufopctl pfop submits (-o json prints {"persistentId"}),
// --wait prints the final status, pfop status shows it; a failed job makes
// --wait exit non-zero.
func TestPfopCtl(t *testing.T) {
	e := newPfopEnv(t, nil)
	e.mustJSON(e.admin, "alice", http.MethodPut, "/v1/objects/alice-pics/c.png", string(testPNG(t, 30, 20)), nil)
	k := e.keys["alice"]
	cfgPath := filepath.Join(t.TempDir(), "ufopctl.json")
	if err := ufopctl.SaveConfig(cfgPath, ufopctl.Config{Endpoint: e.admin.url, AK: k[0], SK: k[1]}); err != nil {
		t.Fatal(err)
	}
	ctl := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := ufopctl.Main(context.Background(), append([]string{"--config", cfgPath}, args...), ufopctl.Env{Stdout: &out, Stderr: &errOut})
		return code, out.String(), errOut.String()
	}
	code, out, errOut := ctl("pfop", "alice-pics", "c.png", "imageView2/2/w/15|saveas/"+b64("alice-pics:c-small.png"), "-o", "json")
	var sub struct {
		PersistentID string `json:"persistentId"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &sub) != nil || sub.PersistentID == "" {
		t.Fatalf("pfop -o json: exit %d, %q %q", code, out, errOut)
	}
	e.waitDone(e.admin, sub.PersistentID, 20*time.Second)
	code, out, _ = ctl("pfop", "status", sub.PersistentID, "-o", "json")
	var s pfopStatus
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil || s.Code != 0 || s.Items[0].Key != "c-small.png" {
		t.Fatalf("pfop status -o json: exit %d, %s", code, out)
	}
	code, out, _ = ctl("pfop", "alice-pics", "c.png", "imageInfo", "--wait", "-o", "json")
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil || s.Code != 0 || len(s.Items) != 1 {
		t.Fatalf("pfop --wait -o json: exit %d, %s", code, out)
	}
	code, out, _ = ctl("pfop", "status", s.ID)
	if code != 0 || !strings.Contains(out, s.ID) || !strings.Contains(out, "pfop/"+s.ID+"/0") {
		t.Errorf("pfop status text: exit %d\n%s", code, out)
	}
	code, _, errOut = ctl("pfop", "alice-pics", "c.png", "exif", "--wait")
	if code == 0 || !strings.Contains(errOut, "failed") {
		t.Errorf("failing job --wait: exit %d, %q", code, errOut)
	}
	code, _, errOut = ctl("pfop", "alice-pics", "c.png", "imageView2/9")
	if code == 0 || !strings.Contains(errOut, "imageView2") {
		t.Errorf("bad fop: exit %d, %q", code, errOut)
	}
	code, _, errOut = ctl("pfop", "status", "z0.nosuch")
	if code == 0 || !strings.Contains(errOut, "no such") {
		t.Errorf("unknown id: exit %d, %q", code, errOut)
	}
}

// TestPfopFairShare, end to end: alice queues 300 jobs, then bob one; bob's
// job ends within the first few completions after it was queued (the order
// of the jobs' notifications), not behind alice's backlog.
func TestPfopFairShare(t *testing.T) {
	var mu sync.Mutex
	var order []string // "alice"/"bob" per notification, in arrival order
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		order = append(order, strings.TrimPrefix(r.URL.Path, "/"))
		mu.Unlock()
	}))
	defer srv.Close()
	const workers = 2
	e := newPfopEnv(t, func(c *gateway.Config, d *gateway.Deps) {
		c.FetchAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.Pfop.Workers = 0 // the backlog builds up first
		// Submissions as fast as the test sends them.
		free := c.Limits.Tiers[ufop.TierFree]
		free.RPS, free.Burst, free.Concurrency = 0, 0, 0
		c.Limits.Tiers[ufop.TierFree] = free
	})
	e.mustJSON(e.admin, "alice", http.MethodPut, "/v1/objects/alice-pics/f.png", string(testPNG(t, 8, 8)), nil)
	e.mustJSON(e.admin, "bob", http.MethodPut, "/v1/objects/bob-pics/f.png", string(testPNG(t, 8, 8)), nil)
	const many = 300
	for range many {
		e.submit(e.admin, "alice", map[string]string{"bucket": "alice-pics", "key": "f.png", "fops": "imageInfo", "notifyURL": srv.URL + "/alice"})
	}
	e.startGateway(func(c *gateway.Config, _ *gateway.Deps) { c.Pfop.Workers = workers })
	testenv.Eventually(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(order) >= 5 }, "alice's backlog under way")
	mu.Lock()
	before := len(order)
	mu.Unlock()
	e.submit(e.admin, "bob", map[string]string{"bucket": "bob-pics", "key": "f.png", "fops": "imageInfo", "notifyURL": srv.URL + "/bob"})
	pos := -1
	testenv.Eventually(t, 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		pos = slices.Index(order, "bob")
		return pos >= 0
	}, "bob's job notified")
	waited := pos - before
	t.Logf("bob's job ended after %d more of alice's (%d done before it was queued, %d queued)", waited, before, many)
	if waited > 4*workers {
		t.Errorf("bob's job waited behind %d of alice's jobs, want at most %d", waited, 4*workers)
	}
}
