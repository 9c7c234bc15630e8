package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/storage"
)

// startPprofGateway runs a gateway with its admin API on a listener of
// its own (split) or on the public one.
func startPprofGateway(t *testing.T, split bool) (*gateway.Gateway, string) {
	t.Helper()
	cli := testenv.EtcdClient(t)
	log := testenv.Logger(t)
	store, err := storage.New(storage.Config{Dir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateway.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	if split {
		cfg.AdminAddr = "127.0.0.1:0"
	}
	cfg.Catalog.MasterKey = bytes.Repeat([]byte{3}, 32)
	gw, err := gateway.New(cfg, gateway.Deps{Etcd: cli, Store: store, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Add(1)
	go func() { defer wg.Done(); gw.Run(ctx) }()
	<-gw.Ready()
	tok, err := catalog.ClusterToken(ctx, cli, cfg.Catalog.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	return gw, tok
}

// TestPprof: the runtime profiles are served on the admin listener, on a
// shared listener only with the cluster token, and never on a public
// listener of its own.
func TestPprof(t *testing.T) {
	split, splitTok := startPprofGateway(t, true)
	shared, sharedTok := startPprofGateway(t, false)
	get := func(addr, path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, addr, path, token string
		status                  int
		body                    string
	}{
		{"admin listener index", split.AdminAddr(), "/debug/pprof/", "", 200, "goroutine"},
		{"admin listener heap", split.AdminAddr(), "/debug/pprof/heap?debug=1", "", 200, "heap profile"},
		{"admin listener goroutine", split.AdminAddr(), "/debug/pprof/goroutine?debug=1", "", 200, "goroutine profile"},
		{"admin listener cmdline", split.AdminAddr(), "/debug/pprof/cmdline", "", 200, ""},
		{"admin listener unknown profile", split.AdminAddr(), "/debug/pprof/nosuch", "", 404, ""},
		{"public listener of its own", split.Addr(), "/debug/pprof/", splitTok, 404, ""},
		{"public listener heap", split.Addr(), "/debug/pprof/heap", splitTok, 404, ""},
		{"shared listener without token", shared.Addr(), "/debug/pprof/", "", 401, "cluster token"},
		{"shared listener heap without token", shared.Addr(), "/debug/pprof/heap", "", 401, "cluster token"},
		{"shared listener wrong token", shared.Addr(), "/debug/pprof/heap", "not-the-token", 401, "cluster token"},
		{"shared listener with token", shared.Addr(), "/debug/pprof/heap?debug=1", sharedTok, 200, "heap profile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(tc.addr, tc.path, tc.token)
			if status != tc.status || !strings.Contains(body, tc.body) {
				t.Errorf("GET %s: %d %.200q, want %d with %q", tc.path, status, body, tc.status, tc.body)
			}
		})
	}
}
