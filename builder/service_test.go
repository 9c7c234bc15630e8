package builder

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"github.com/ufop/ufop/internal/tartest"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/protocol"
)

// TestServiceBaseOwnership runs the builder role on a real etcd and
// engine: bob's build FROM alice's private image is refused before it
// starts, with the kind the gateway turns into 403, and recorded as a
// failed version; FROM his own image it builds.
func TestServiceBaseOwnership(t *testing.T) {
	cli := dockerClient(t)
	etcd := testenv.EtcdClient(t)
	logger := testLogger(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cat, err := catalog.New(catalog.DefaultConfig(), etcd, logger)
	if err != nil {
		t.Fatal(err)
	}
	alices, bobs := uniqueName("alice"), uniqueName("bob")
	t.Cleanup(func() { removeImages(t, cli, bobs); removeImages(t, cli, alices) })
	for name, owner := range map[string]string{alices: "alice", bobs: "bob"} {
		if _, err := cat.RegisterUFOP(ctx, ufop.UFOP{Name: name, Owner: owner, Mode: ufop.ModePrivate}); err != nil {
			t.Fatal(err)
		}
	}

	b := testBuilder(t, cli)
	scfg := DefaultServiceConfig()
	scfg.ID = "test-builder"
	svc, err := NewService(scfg, b, etcd, logger)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(2)
	go func() { defer wg.Done(); svc.Run(ctx) }()
	go func() { defer wg.Done(); cat.Run(ctx) }() // to see the builder's records
	select {
	case <-svc.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("builder not ready")
	}
	resp, err := etcd.Get(ctx, protocol.BuilderKey(protocol.BuildersPrefix, scfg.ID))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("builder not registered: %v", err)
	}
	addr := string(resp.Kvs[0].Value)
	token, err := catalog.ClusterToken(ctx, etcd, catalog.DefaultConfig().Prefix)
	if err != nil {
		t.Fatal(err)
	}
	build := func(name string, n int, yaml string) (*http.Response, protocol.BuildResult) {
		t.Helper()
		if _, err := cat.NewVersion(ctx, name); err != nil {
			t.Fatal(err)
		}
		body := tartest.Tar(t, tartest.File("ufop.yaml", yaml), tartest.Entry{Name: "handler", Body: name, Mode: 0o755})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, addr+protocol.BuildPath(name, n), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var res protocol.BuildResult
		if resp.StatusCode != http.StatusOK {
			var ref protocol.BuildRefusal
			if err := json.NewDecoder(resp.Body).Decode(&ref); err != nil {
				t.Fatalf("refusal not JSON: %v", err)
			}
			return resp, protocol.BuildResult{State: ufop.BuildFailed, Error: ref.Kind + ": " + ref.Error}
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if r, ok := protocol.ParseBuildResult(sc.Text()); ok {
				res = r
			}
		}
		return resp, res
	}

	if _, res := build(alices, 1, minimalYAML); res.State != ufop.BuildOK {
		t.Fatalf("alice's build: %+v", res)
	}
	if _, res := build(bobs, 1, minimalYAML); res.State != ufop.BuildOK {
		t.Fatalf("bob's build: %+v", res)
	}
	// A successful build keeps its log tail too (the console shows it).
	testenv.Eventually(t, 10*time.Second, func() bool {
		v, err := cat.Version(bobs, 1)
		return err == nil && v.State == ufop.BuildOK && strings.Contains(v.Log, "package: ")
	}, "the log tail of bob's successful build recorded")
	resp2, res := build(bobs, 2, "image: "+b.Ref(alices, 1)+"\nrun: ./handler\n")
	if resp2.StatusCode != http.StatusBadRequest || !strings.HasPrefix(res.Error, "permission: ufop.yaml: field image: base image \""+b.Ref(alices, 1)+"\" is not allowed") {
		t.Fatalf("bob FROM alice's image: %s %+v", resp2.Status, res)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		v, err := cat.Version(bobs, 2)
		return err == nil && v.State == ufop.BuildFailed && strings.Contains(v.Log, "is not allowed")
	}, "refused version recorded as failed")
	if _, err := cli.ImageInspect(ctx, b.Ref(bobs, 2)); err == nil {
		t.Fatal("an image was built FROM alice's")
	}
	if _, res := build(bobs, 3, "image: "+b.Ref(bobs, 1)+"\nrun: ./handler\n"); res.State != ufop.BuildOK || res.Image != b.Ref(bobs, 3) {
		t.Fatalf("bob FROM his own image: %+v", res)
	}
}
