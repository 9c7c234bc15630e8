package platform_test

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/examples"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/ufopctl"
)

// TestUFOPGrant is the UFOP half of issue 6's acceptance 5 with a real
// instance: the admin's private UFOP is 403 on alice's bucket, a
// protected one too until `ufopctl grant`, then it runs for her.
func TestUFOPGrant(t *testing.T) {
	needImages(t)
	testenv.RequireDocker(t)
	docker := dockerClient(t)
	prot, priv := uniqueName("acl-sepia"), uniqueName("acl-private")
	t.Cleanup(func() {
		for _, c := range containersOf(t, docker, prot) {
			docker.ContainerRemove(context.Background(), c.ID, dcontainer.RemoveOptions{Force: true})
		}
	})
	p, _ := startPlatform(t, t.TempDir())
	a := newAPI(t, p)
	ctx := context.Background()

	pkg, err := examples.Tarball(ctx, "sepia", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a.do(http.MethodPut, "/v1/ufops/"+prot, map[string]any{"mode": ufop.ModeProtected}, nil)
	a.do(http.MethodPut, "/v1/ufops/"+priv, map[string]any{"mode": ufop.ModePrivate}, nil)
	if res, log := a.build(prot, pkg); res.State != ufop.BuildOK {
		t.Fatalf("build: %+v\n%s", res, log)
	}
	a.do(http.MethodPut, "/v1/ufops/"+prot+"/version", map[string]int{"version": 1}, nil)
	a.do(http.MethodPut, "/v1/ufops/"+prot+"/instances", map[string]int{"instances": 1}, nil)
	testenv.Eventually(t, 60*time.Second, func() bool { return a.healthy(prot, 1) == 1 }, "a healthy instance of %s", prot)

	nu, err := a.cl.AddUser(ctx, "alice", ufop.TierFree, false)
	if err != nil {
		t.Fatal(err)
	}
	alice := ufopctl.NewClient(ufopctl.Config{Endpoint: a.base, AK: nu.AK, SK: nu.SK}, nil)
	if _, err := alice.CreateBucket(ctx, "alice-pics", ufopctl.BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.PutObject(ctx, "alice-pics", "p.jpg", mustOpen(t, filepath.Join(images, "portrait.jpg")), "", nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{prot, priv} {
		if resp, body := a.get("/alice-pics/p.jpg?" + name); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s before any grant: %s %.200s", name, resp.Status, body)
		}
	}
	// The admin's own bucket may use both.
	a.do(http.MethodPut, "/v1/buckets/admin-pics", nil, nil)
	if _, err := a.cl.PutObject(ctx, "admin-pics", "p.jpg", mustOpen(t, filepath.Join(images, "portrait.jpg")), "", nil); err != nil {
		t.Fatal(err)
	}
	if resp, body := a.get("/admin-pics/p.jpg?" + prot); resp.StatusCode != 200 {
		t.Fatalf("owner's own use: %s %.200s", resp.Status, body)
	}

	var out, errOut bytes.Buffer
	if code := ufopctl.Main(ctx, []string{"--config", p.AdminConfig(), "grant", prot, "alice"},
		ufopctl.Env{Stdout: &out, Stderr: &errOut}); code != 0 {
		t.Fatalf("ufopctl grant: exit %d: %s", code, errOut.String())
	}
	resp, body := a.get("/alice-pics/p.jpg?" + prot)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "image/") {
		t.Fatalf("%s after grant: %s %.200s", prot, resp.Status, body)
	}
	if resp, _ := a.get("/alice-pics/p.jpg?" + priv); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("%s after granting %s: %s", priv, prot, resp.Status)
	}
}
