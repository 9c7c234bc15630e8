package gateway_test

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/storage"
)

// TestAdminListener: with --admin-addr the admin API and uploads live on
// their own listener only.
func TestAdminListener(t *testing.T) {
	cli := testenv.EtcdClient(t)
	log := testenv.Logger(t)
	store, err := storage.New(storage.Config{Dir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateway.DefaultConfig()
	cfg.Addr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Catalog.MasterKey = bytes.Repeat([]byte{1}, 32)
	gw, err := gateway.New(cfg, gateway.Deps{Etcd: cli, Store: store, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() { defer wg.Done(); gw.Run(ctx) }()
	<-gw.Ready()
	if gw.Addr() == gw.AdminAddr() {
		t.Fatal("admin API shares the public listener")
	}
	_, k, err := gw.Catalog().CreateUser(ctx, "admin", ufop.TierPaid, true)
	if err != nil {
		t.Fatal(err)
	}
	signed := func(base string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+base+"/v1/buckets", nil)
		auth.SignRequest(req, k.AK, k.SK, auth.BodyHash(nil), time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := signed(gw.AdminAddr()); s != 200 {
		t.Errorf("admin API on the admin listener: %d", s)
	}
	if s := signed(gw.Addr()); s != 404 {
		t.Errorf("admin API on the public listener: %d, want 404", s)
	}
	for _, addr := range []string{gw.Addr(), gw.AdminAddr()} {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("healthz on %s: %v %v", addr, resp, err)
		}
	}
}
