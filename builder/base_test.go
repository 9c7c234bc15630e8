package builder

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/ufop/ufop"
)

// noEngine satisfies DockerAPI for tests that never reach the engine.
type noEngine struct{ DockerAPI }

func baseBuilder(t testing.TB, repo string, allow ...string) *Builder {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Repository = repo
	cfg.BaseImages = allow
	b, err := New(cfg, noEngine{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeCatalog maps UFOP names to owners.
type fakeCatalog map[string]string

func (f fakeCatalog) UFOP(name string) (ufop.UFOP, error) {
	owner, ok := f[name]
	if !ok {
		return ufop.UFOP{}, ufop.Errorf(ufop.KindNotFound, "no such UFOP %q", name)
	}
	return ufop.UFOP{Name: name, Owner: owner}, nil
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestCheckBase(t *testing.T) {
	cat := fakeCatalog{"mine-filter": "bob", "mine-other": "bob", "alice-secret": "alice"}
	b := baseBuilder(t, "ufop", "busybox:latest", "registry.example:5000/tools/sh:1", "scratch")
	owns := OwnedBy(cat, "mine-filter")
	tests := []struct {
		base string
		want string    // the familiar name, when allowed
		kind ufop.Kind // when refused
	}{
		{"scratch", "scratch", 0},
		{"busybox", "busybox:latest", 0},
		{"busybox:latest", "busybox:latest", 0},
		{"library/busybox:latest", "busybox:latest", 0},
		{"docker.io/library/busybox:latest", "busybox:latest", 0},
		{"registry.example:5000/tools/sh:1", "registry.example:5000/tools/sh:1", 0},
		{"ufop/mine-filter:v1", "ufop/mine-filter:v1", 0},
		{"ufop/mine-other:v12", "ufop/mine-other:v12", 0},
		{"docker.io/ufop/mine-other:v2", "ufop/mine-other:v2", 0},
		{"index.docker.io/ufop/mine-other:v2", "ufop/mine-other:v2", 0},

		// Another tenant's UFOP, however it is spelt.
		{"ufop/alice-secret:v1", "", ufop.KindPermission},
		{"docker.io/ufop/alice-secret:v1", "", ufop.KindPermission},
		{"localhost/ufop/alice-secret:v1", "", ufop.KindPermission},
		{"localhost/ufop/mine-filter:v1", "", ufop.KindPermission},
		{"ufop/mine-filter:v1@sha256:" + hex64, "", ufop.KindInvalid},
		{"ufop/alice-secret@sha256:" + hex64, "", ufop.KindInvalid},
		{"busybox@sha256:" + hex64, "", ufop.KindInvalid},
		{"sha256:" + hex64, "", ufop.KindPermission}, // a tag of library/sha256
		{hex64, "", ufop.KindInvalid},
		{"UFOP/alice-secret:v1", "", ufop.KindPermission}, // a registry named UFOP
		{"ufop/ALICE-secret:v1", "", ufop.KindInvalid},
		{"ufop/alice-secret:V1", "", ufop.KindPermission},
		{"Docker.io/ufop/mine-filter:v1", "", ufop.KindPermission},
		// Only v<N> tags of the UFOP repository are UFOP images.
		{"ufop/mine-filter", "", ufop.KindPermission},
		{"ufop/mine-filter:latest", "", ufop.KindPermission},
		{"ufop/mine-filter:v0", "", ufop.KindPermission},
		{"ufop/mine-filter:v01", "", ufop.KindPermission},
		{"ufop/mine-filter/x:v1", "", ufop.KindPermission},
		{"ufop/nosuch-ufop:v1", "", ufop.KindPermission},
		// Anything else on the engine.
		{"busybox:1.36", "", ufop.KindPermission},
		{"etcd", "", ufop.KindPermission},
		{"ufoptest/mine-filter:v1", "", ufop.KindPermission},
		{"registry.example/tools/sh:1", "", ufop.KindPermission},
		{"", "", ufop.KindInvalid},
		{"busybox:latest ", "", ufop.KindInvalid},
	}
	for _, tt := range tests {
		got, err := b.CheckBase(tt.base, owns)
		if tt.want != "" {
			if err != nil || got != tt.want {
				t.Errorf("CheckBase(%q) = %q, %v; want %q", tt.base, got, err, tt.want)
			}
			continue
		}
		if err == nil || ufop.KindOf(err) != tt.kind {
			t.Errorf("CheckBase(%q) = %q, %v (kind %v); want a %v error", tt.base, got, err, ufop.KindOf(err), tt.kind)
			continue
		}
		if tt.kind == ufop.KindPermission && !strings.Contains(ufop.Message(err), "base image \""+tt.base+"\" is not allowed") {
			t.Errorf("CheckBase(%q): message %q does not name the base", tt.base, ufop.Message(err))
		}
	}
}

func TestCheckBaseOwnership(t *testing.T) {
	cat := fakeCatalog{"bobs-filter": "bob", "alice-secret": "alice"}
	tests := []struct {
		what  string
		b     *Builder
		owns  Owns
		base  string
		allow bool
	}{
		{"own image", baseBuilder(t, "ufop"), OwnedBy(cat, "bobs-filter"), "ufop/bobs-filter:v1", true},
		{"other owner's image", baseBuilder(t, "ufop"), OwnedBy(cat, "bobs-filter"), "ufop/alice-secret:v1", false},
		{"the other way round", baseBuilder(t, "ufop"), OwnedBy(cat, "alice-secret"), "ufop/alice-secret:v3", true},
		{"unknown building UFOP owns nothing", baseBuilder(t, "ufop"), OwnedBy(cat, "nosuch-ufop"), "ufop/bobs-filter:v1", false},
		{"nil owns", baseBuilder(t, "ufop"), nil, "ufop/bobs-filter:v1", false},
		{"another repository", baseBuilder(t, "ufoptest"), OwnedBy(cat, "bobs-filter"), "ufop/bobs-filter:v1", false},
		{"its own repository", baseBuilder(t, "ufoptest"), OwnedBy(cat, "bobs-filter"), "ufoptest/bobs-filter:v1", true},
		{"not allow-listed", baseBuilder(t, "ufop"), OwnedBy(cat, "bobs-filter"), "busybox:latest", false},
		{"allow-listed", baseBuilder(t, "ufop", "busybox"), OwnedBy(cat, "bobs-filter"), "busybox:latest", true},
	}
	for _, tt := range tests {
		_, err := tt.b.CheckBase(tt.base, tt.owns)
		if (err == nil) != tt.allow {
			t.Errorf("%s: CheckBase(%q) = %v, want allowed %v", tt.what, tt.base, err, tt.allow)
		}
	}
}

func TestConfigBaseImages(t *testing.T) {
	for _, tt := range []struct {
		images []string
		ok     bool
	}{
		{nil, true},
		{[]string{"scratch", "busybox:latest", "ghcr.io/x/y:1"}, true},
		{[]string{"busybox@sha256:" + hex64}, false},
		{[]string{"Busybox"}, false},
		{[]string{""}, false},
	} {
		cfg := DefaultConfig()
		cfg.BaseImages = tt.images
		if err := cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("BaseImages %q: Validate = %v, want ok %v", tt.images, err, tt.ok)
		}
	}
}

// FuzzCheckBase feeds ufop.yaml's image field, which is untrusted, to the
// base check: whatever it accepts is scratch, an allow-listed image or an
// image of a UFOP the user owns, named by tag.
func FuzzCheckBase(f *testing.F) {
	for _, s := range []string{"scratch", "busybox", "ufop/mine-filter:v1", "docker.io/ufop/alice-secret:v1",
		"ufop/mine-filter:v1@sha256:" + hex64, "localhost/ufop/mine-filter:v1", "UFOP/x:v1", hex64} {
		f.Add(s)
	}
	cat := fakeCatalog{"mine-filter": "bob", "alice-secret": "alice"}
	b := baseBuilder(f, "ufop", "busybox:latest")
	owns := OwnedBy(cat, "mine-filter")
	f.Fuzz(func(t *testing.T, base string) {
		got, err := b.CheckBase(base, owns)
		if err != nil {
			if k := ufop.KindOf(err); k != ufop.KindInvalid && k != ufop.KindPermission {
				t.Fatalf("error of kind %v: %v", k, err)
			}
			return
		}
		if strings.Contains(got, "@") {
			t.Fatalf("%q accepted as %q, a digest", base, got)
		}
		switch got {
		case "scratch", "busybox:latest", "ufop/mine-filter:v1":
		default:
			if !strings.HasPrefix(got, "ufop/mine-filter:v") {
				t.Fatalf("%q accepted as %q", base, got)
			}
		}
		// The familiar name passes again, as itself.
		if again, err := b.CheckBase(got, owns); err != nil || again != got {
			t.Fatalf("%q → %q → %q, %v", base, got, again, err)
		}
	})
}
