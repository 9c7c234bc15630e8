package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/ufop/ufop/internal/tartest"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/examples"
	"github.com/ufop/ufop/internal/testneed"
	"github.com/ufop/ufop/manifest"
)

// testRepository keeps test images apart from real ones.
const testRepository = "ufoptest"

// dockerClient connects to the engine. The tests skip only when there is no
// engine socket at all; an engine that is there but broken fails them.
func dockerClient(t testing.TB) *client.Client {
	t.Helper()
	testneed.Integration(t, "Docker")
	if os.Getenv("DOCKER_HOST") == "" {
		if _, err := os.Stat("/var/run/docker.sock"); err != nil {
			t.Skipf("no Docker engine: %v", err)
		}
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		t.Fatalf("Docker engine not answering: %v", err)
	}
	return cli
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

func testBuilder(t testing.TB, cli *client.Client) *Builder {
	cfg := DefaultConfig()
	cfg.Repository = testRepository
	cfg.BuildTimeout = 5 * time.Minute
	b, err := New(cfg, cli, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// uniqueName is a UFOP name no other test run uses.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e9)
}

// removeImages deletes every test image built for name.
func removeImages(t testing.TB, cli *client.Client, name string) {
	t.Helper()
	ctx := context.Background()
	// An image built on another (v2 FROM v1) must go first: each pass
	// removes what it can, until a pass removes nothing.
	var errs []error
	for pass := 0; pass < 10; pass++ {
		imgs, err := cli.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", manifest.LabelName+"="+name))})
		if err != nil {
			t.Errorf("list images of %s: %v", name, err)
			return
		}
		errs = errs[:0]
		removed := 0
		for _, img := range imgs {
			_, err := cli.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true})
			switch {
			case err == nil || strings.Contains(err.Error(), "No such image"):
				removed++
			default:
				errs = append(errs, fmt.Errorf("remove %s: %w", img.ID, err))
			}
		}
		if len(errs) == 0 || removed == 0 {
			break
		}
	}
	for _, err := range errs {
		t.Error(err)
	}
}

// imagesOf lists images labelled with name or tagged with its repository.
func imagesOf(t testing.TB, cli *client.Client, name string) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for _, f := range []filters.Args{
		filters.NewArgs(filters.Arg("label", manifest.LabelName+"="+name)),
		filters.NewArgs(filters.Arg("reference", testRepository+"/"+name)),
	} {
		imgs, err := cli.ImageList(ctx, image.ListOptions{All: true, Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		for _, img := range imgs {
			ids = append(ids, img.ID)
		}
	}
	return ids
}

func TestBuildExampleImage(t *testing.T) {
	cli := dockerClient(t)
	b := testBuilder(t, cli)
	ctx := context.Background()
	dir, err := examples.Build(ctx, "sepia", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := manifest.ReadDir(dir, b.Config().Limits)
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueName("sepia")
	t.Cleanup(func() { removeImages(t, cli, name) })

	var log bytes.Buffer
	img, err := b.Build(ctx, name, 1, pkg, nil, &log)
	if err != nil {
		t.Fatalf("%v\nbuild log:\n%s", err, log.String())
	}
	if img.Ref != testRepository+"/"+name+":v1" || !strings.HasPrefix(img.ID, "sha256:") || img.Size < 1<<20 {
		t.Fatalf("image %+v", img)
	}
	if !strings.Contains(log.String(), "Step 1/") || strings.Count(log.String(), "\n") < 5 {
		t.Errorf("build log has no steps:\n%s", log.String())
	}

	insp, err := cli.ImageInspect(ctx, img.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if insp.ID != img.ID || !slices.Contains(insp.RepoTags, img.Ref) {
		t.Errorf("inspect %s tags %v, want %s tagged %s", insp.ID, insp.RepoTags, img.ID, img.Ref)
	}
	cfg := insp.Config
	if cfg.Labels[manifest.LabelName] != name || cfg.Labels[manifest.LabelVersion] != "1" {
		t.Errorf("labels %v", cfg.Labels)
	}
	labelled, err := manifest.ImageManifest(cfg.Labels)
	if err != nil {
		t.Fatal(err)
	}
	want := pkg.Manifest()
	if !reflect.DeepEqual(labelled, want) || labelled.Concurrency != 4 || labelled.Resources.Memory != 128<<20 {
		t.Errorf("label manifest %+v\nwant %+v", labelled, want)
	}
	if cfg.User != "65534:65534" || cfg.WorkingDir != "/app" || !reflect.DeepEqual([]string(cfg.Entrypoint), []string{"./handler"}) {
		t.Errorf("user %q workdir %q entrypoint %q", cfg.User, cfg.WorkingDir, cfg.Entrypoint)
	}
	if !slices.Contains(cfg.Env, "PORT_HTTP=9100") {
		t.Errorf("env %v lacks PORT_HTTP", cfg.Env)
	}
	if _, ok := cfg.ExposedPorts["9100/tcp"]; !ok {
		t.Errorf("exposed ports %v", cfg.ExposedPorts)
	}
	modes := imageFiles(t, cli, img.ID)
	if modes["app/handler"] != 0o755 || modes["app/ufop.yaml"] != 0o644 {
		t.Errorf("file modes in the image: handler %o, ufop.yaml %o", modes["app/handler"], modes["app/ufop.yaml"])
	}

	// A second version built on the first (FROM ufop/<name>:v<N>), with env.
	pkg2 := packageOf(t, map[string]string{
		"ufop.yaml": fmt.Sprintf("image: %s\nrun: ./handler --quiet\nenv: {GREETING: 'say \"hi\" for $5'}\n", img.Ref),
		"extra.txt": "more",
	})
	img2, err := b.Build(ctx, name, 2, pkg2, OwnedBy(fakeCatalog{name: "alice"}, name), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	insp2, err := cli.ImageInspect(ctx, img2.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(insp2.Config.Env, `GREETING=say "hi" for $5`) || insp2.Config.Labels[manifest.LabelVersion] != "2" {
		t.Errorf("v2 env %v labels %v", insp2.Config.Env, insp2.Config.Labels)
	}
	files2 := imageFiles(t, cli, img2.ID)
	if _, ok := files2["app/extra.txt"]; !ok {
		t.Errorf("v2 lacks its own file: %v", files2)
	}
	if _, ok := files2["app/handler"]; !ok {
		t.Errorf("v2 lacks the base image's handler: %v", files2)
	}
}

// packageOf makes a package from name → content (mode 0755 for names
// without a dot).
func packageOf(t testing.TB, files map[string]string) *manifest.Package {
	t.Helper()
	var entries []tartest.Entry
	for name, body := range files {
		mode := int64(0o644)
		if !strings.Contains(name, ".") {
			mode = 0o755
		}
		entries = append(entries, tartest.Entry{Name: name, Body: body, Mode: mode})
	}
	slices.SortFunc(entries, func(a, b tartest.Entry) int { return strings.Compare(a.Name, b.Name) })
	pkg, err := manifest.ReadPackage(bytes.NewReader(tartest.Tar(t, entries...)), manifest.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}

// imageFiles returns the permission bits of the regular files in an
// image's layers, read from `docker save` without running anything.
func imageFiles(t testing.TB, cli *client.Client, id string) map[string]int64 {
	t.Helper()
	rc, err := cli.ImageSave(context.Background(), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	layers := map[string][]byte{}
	var manifest []struct{ Layers []string }
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == "manifest.json" {
			if err := json.Unmarshal(data, &manifest); err != nil {
				t.Fatal(err)
			}
		} else {
			layers[hdr.Name] = data
		}
	}
	if len(manifest) != 1 {
		t.Fatalf("docker save manifest: %+v", manifest)
	}
	modes := map[string]int64{}
	for _, l := range manifest[0].Layers {
		lr := tar.NewReader(bytes.NewReader(layers[l]))
		for {
			hdr, err := lr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("layer %s: %v", l, err)
			}
			if hdr.Typeflag == tar.TypeReg {
				modes[hdr.Name] = hdr.Mode & 0o7777
			}
		}
	}
	return modes
}

func TestBuildRefusals(t *testing.T) {
	cli := dockerClient(t)
	b := testBuilder(t, cli)
	ctx := context.Background()
	yaml := tartest.File("ufop.yaml", minimalYAML)
	small := b.Config()
	small.MaxPackageBytes = 1 << 20
	tests := []struct {
		name  string
		input []byte
		cfg   Config
		kind  ufop.Kind
		want  string
	}{
		{"dotdot", tartest.Tar(t, yaml, tartest.File("../x", "x")), b.Config(), ufop.KindInvalid, `entry "../x": path has a .. component`},
		{"absolute", tartest.Tar(t, yaml, tartest.File("/etc/passwd", "root::0:0::/:/bin/sh")), b.Config(), ufop.KindInvalid, `entry "/etc/passwd": absolute paths are not allowed`},
		{"symlink to /etc/passwd", tartest.Tar(t, yaml, tartest.Entry{Name: "passwd", Type: tar.TypeSymlink, Link: "/etc/passwd"}), b.Config(), ufop.KindInvalid, `entry "passwd": symlink to "/etc/passwd" points outside the package`},
		{"missing ufop.yaml", tartest.Tar(t, tartest.File("handler", "x")), b.Config(), ufop.KindInvalid, "ufop.yaml missing at the package root"},
		{"bad yaml", tartest.Tar(t, tartest.File("ufop.yaml", "run: [./handler\n")), b.Config(), ufop.KindInvalid, "ufop.yaml: line"},
		{"oversized", tartest.Gzip(t, tartest.Tar(t, yaml, tartest.File("blob", strings.Repeat("z", 2<<20)))), small, ufop.KindTooLarge, "over the 1 MiB limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := uniqueName("refuse")
			pkg, err := manifest.ReadPackage(bytes.NewReader(tt.input), tt.cfg.Limits)
			if err == nil {
				// Were it accepted, it would be built: make the failure loud.
				_, berr := b.Build(ctx, name, 1, pkg, nil, io.Discard)
				removeImages(t, cli, name)
				t.Fatalf("package accepted (build: %v)", berr)
			}
			if ufop.KindOf(err) != tt.kind || !strings.Contains(ufop.Message(err), tt.want) {
				t.Fatalf("%v (kind %v), want %v containing %q", err, ufop.KindOf(err), tt.kind, tt.want)
			}
			if ids := imagesOf(t, cli, name); len(ids) > 0 {
				t.Fatalf("images appeared: %v", ids)
			}
		})
	}

	// Refusals at build time: nothing is built either.
	good := packageOf(t, map[string]string{"ufop.yaml": minimalYAML, "handler": "x"})
	absent := packageOf(t, map[string]string{"ufop.yaml": "image: absent-base:v1\nrun: ./handler\n", "handler": "x"})
	allowAbsent := b.Config()
	allowAbsent.BaseImages = []string{"absent-base:v1"}
	ba, err := New(allowAbsent, cli, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what    string
		name    string
		version int
		pkg     *manifest.Package
		want    string
	}{
		{"absent base image", uniqueName("absent"), 1, absent, `field image: "absent-base:v1" is not on the build engine`},
		{"name too short", "abc", 1, good, `build: name "abc" must be 5-20 characters`},
		{"name with capitals", "MyFilter", 1, good, `build: name "MyFilter" must be`},
		{"name ending in a dash", "filter-", 1, good, `build: name "filter-" must be`},
		{"version zero", uniqueName("zero"), 0, good, "build: version must be 1 or more"},
	} {
		_, err := ba.Build(ctx, c.name, c.version, c.pkg, nil, io.Discard)
		if ufop.KindOf(err) != ufop.KindInvalid || !strings.Contains(ufop.Message(err), c.want) {
			t.Errorf("%s: %v, want invalid containing %q", c.what, err, c.want)
		}
		if ids := imagesOf(t, cli, c.name); len(ids) > 0 {
			t.Errorf("%s: images appeared: %v", c.what, ids)
			removeImages(t, cli, c.name)
		}
	}
}

// TestBuildScript runs build_script steps on a base image with a shell: a
// busybox copied from the host into an image built FROM scratch.
func TestBuildScript(t *testing.T) {
	cli := dockerClient(t)
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("needs a static /bin/busybox for a base image with a shell (apt-get install busybox-static): %v", err)
	}
	ctx := context.Background()
	name := uniqueName("script")
	t.Cleanup(func() { removeImages(t, cli, name) })

	// The base image, built directly (tests only), and allowed as the
	// operator's --base-images would.
	base := testRepository + "/" + name + ":base"
	cfg := testBuilder(t, cli).Config()
	cfg.BaseImages = []string{base}
	b, err := New(cfg, cli, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := "FROM scratch\nCOPY busybox /bin/busybox\nCOPY busybox /bin/sh\nCOPY busybox /bin/chmod\nCOPY busybox /bin/false\nLABEL " + manifest.LabelName + "=" + name + "\n"
	ctxTar := tartest.Tar(t, tartest.File("Dockerfile", dockerfile), tartest.Entry{Name: "busybox", Mode: 0o755, Body: string(busybox)})
	resp, err := cli.ImageBuild(ctx, bytes.NewReader(ctxTar), build.ImageBuildOptions{Tags: []string{base}, Remove: true, ForceRemove: true, Version: build.BuilderV1})
	if err != nil {
		t.Fatal(err)
	}
	err = copyBuildLog(resp.Body, io.Discard)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("base image: %v", err)
	}

	ok := packageOf(t, map[string]string{
		"ufop.yaml": "image: " + base + "\nbuild_script:\n  - echo built > stamp.txt\n  - chmod 0600 data.txt\nrun: ./handler\n",
		"handler":   "x",
		"data.txt":  "d",
	})
	var log bytes.Buffer
	img, err := b.Build(ctx, name, 1, ok, nil, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	files := imageFiles(t, cli, img.ID)
	if _, ok := files["app/stamp.txt"]; !ok {
		t.Errorf("build_script output missing: %v", files)
	}
	if files["app/data.txt"] != 0o600 {
		t.Errorf("build_script chmod not applied: %o", files["app/data.txt"])
	}

	failing := packageOf(t, map[string]string{
		"ufop.yaml": "image: " + base + "\nbuild_script: [\"false\"]\nrun: ./handler\n",
		"handler":   "x",
	})
	_, err = b.Build(ctx, name, 2, failing, nil, io.Discard)
	if ufop.KindOf(err) != ufop.KindInvalid || !strings.Contains(ufop.Message(err), "returned a non-zero code") {
		t.Fatalf("failing build_script: %v", err)
	}
	if _, err := cli.ImageInspect(ctx, b.Ref(name, 2)); err == nil {
		t.Fatal("a failed build left a tagged image")
	}
}

// TestBuildBaseOwnership: user B may build on their own UFOP's image but
// not on user A's, however A's image is named, nor on an image that is
// merely present on the engine.
func TestBuildBaseOwnership(t *testing.T) {
	cli := dockerClient(t)
	b := testBuilder(t, cli)
	ctx := context.Background()
	alices, bobs := uniqueName("alice"), uniqueName("bob")
	t.Cleanup(func() { removeImages(t, cli, bobs); removeImages(t, cli, alices) }) // children first
	cat := fakeCatalog{alices: "alice", bobs: "bob"}

	secret := packageOf(t, map[string]string{"ufop.yaml": minimalYAML, "handler": "alice's private code"})
	aliceImg, err := b.Build(ctx, alices, 1, secret, OwnedBy(cat, alices), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	own := packageOf(t, map[string]string{"ufop.yaml": minimalYAML, "handler": "bob's code"})
	bobImg, err := b.Build(ctx, bobs, 1, own, OwnedBy(cat, bobs), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	aliceInsp, err := cli.ImageInspect(ctx, aliceImg.ID)
	if err != nil {
		t.Fatal(err)
	}
	digest := strings.TrimPrefix(aliceImg.ID, "sha256:")
	for _, base := range []string{
		aliceImg.Ref,
		"docker.io/" + aliceImg.Ref,
		"localhost/" + aliceImg.Ref,
		bobImg.Ref + "@" + aliceImg.ID,
		testRepository + "/" + alices + "@" + aliceImg.ID,
		digest,
		digest[:12],
		aliceInsp.ID,
		strings.ToUpper(aliceImg.Ref),
	} {
		pkg, err := manifest.ReadPackage(bytes.NewReader(tartest.Tar(t, tartest.File("ufop.yaml", "image: \""+base+"\"\nrun: ./handler\n"), tartest.Entry{Name: "handler", Body: "x", Mode: 0o755})), manifest.DefaultLimits())
		if err != nil {
			continue // refused as a reference already
		}
		_, err = b.Build(ctx, bobs, 2, pkg, OwnedBy(cat, bobs), io.Discard)
		if k := ufop.KindOf(err); k != ufop.KindPermission && k != ufop.KindInvalid {
			t.Errorf("base %q: %v (kind %v), want a refusal", base, err, k)
		}
		if _, err := cli.ImageInspect(ctx, b.Ref(bobs, 2)); err == nil {
			t.Fatalf("base %q: an image was built", base)
		}
	}
	_, err = b.Build(ctx, bobs, 2, packageOf(t, map[string]string{"ufop.yaml": "image: " + aliceImg.Ref + "\nrun: ./handler\n", "handler": "x"}), OwnedBy(cat, bobs), io.Discard)
	if ufop.KindOf(err) != ufop.KindPermission || !strings.Contains(ufop.Message(err), `base image "`+aliceImg.Ref+`" is not allowed`) {
		t.Fatalf("base on alice's image: %v, want a permission error naming it", err)
	}

	// Bob's own image is a base; the new image holds the base's file.
	img, err := b.Build(ctx, bobs, 2, packageOf(t, map[string]string{"ufop.yaml": "image: " + bobImg.Ref + "\nrun: ./handler2\n", "handler2": "v2"}), OwnedBy(cat, bobs), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	files := imageFiles(t, cli, img.ID)
	if _, ok := files["app/handler2"]; !ok {
		t.Errorf("built image lacks the package: %v", files)
	}
	if img.Manifest.Image != bobImg.Ref {
		t.Errorf("manifest base %q, want %q", img.Manifest.Image, bobImg.Ref)
	}
	insp, err := cli.ImageInspect(ctx, img.ID)
	if err != nil {
		t.Fatal(err)
	}
	bobInsp, err := cli.ImageInspect(ctx, bobImg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(insp.RootFS.Layers) <= len(bobInsp.RootFS.Layers) || insp.RootFS.Layers[0] != bobInsp.RootFS.Layers[0] {
		t.Errorf("v2 layers %v do not extend bob's v1 %v", insp.RootFS.Layers, bobInsp.RootFS.Layers)
	}
}

// BenchmarkBuild measures building the sepia example into an image: "warm"
// rebuilds identical content (the engine's layer cache hits), "cold" adds a
// unique file each time so that COPY runs again.
func BenchmarkBuild(b *testing.B) {
	cli := dockerClient(b)
	bld := testBuilder(b, cli)
	ctx := context.Background()
	dir, err := examples.Build(ctx, "sepia", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	name := uniqueName("bench")
	b.Cleanup(func() { removeImages(b, cli, name) })
	for _, mode := range []string{"cold", "warm"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if mode == "cold" {
					stamp := fmt.Sprintf("%d-%d", time.Now().UnixNano(), i)
					if err := os.WriteFile(dir+"/stamp.txt", []byte(stamp), 0o644); err != nil {
						b.Fatal(err)
					}
				}
				pkg, err := manifest.ReadDir(dir, bld.Config().Limits)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := bld.Build(ctx, name, i+1, pkg, nil, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
