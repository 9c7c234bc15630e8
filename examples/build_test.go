package examples

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ufop/ufop/manifest"
)

func TestBuildAndTarball(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the examples")
	}
	out := t.TempDir()
	for _, name := range Names {
		t.Run(name, func(t *testing.T) {
			dir, err := Build(context.Background(), name, out)
			if err != nil {
				t.Fatal(err)
			}
			pkg, err := manifest.ReadDir(dir, manifest.DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			if m := pkg.Manifest(); m.Image != manifest.ScratchImage || len(m.Run) != 1 || m.Run[0] != "./handler" {
				t.Fatalf("manifest %+v", m)
			}
			st, err := os.Stat(filepath.Join(dir, "handler"))
			if err != nil || st.Mode()&0o111 == 0 {
				t.Fatalf("handler not an executable: %v %v", st, err)
			}
			// Static: no program interpreter (dynamic loader) in the ELF.
			if out, err := exec.Command("file", filepath.Join(dir, "handler")).Output(); err == nil && !strings.Contains(string(out), "statically linked") {
				t.Fatalf("handler is not static: %s", out)
			}
			tgz, err := Tarball(context.Background(), name, out)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(tgz)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := manifest.ReadPackage(f, manifest.DefaultLimits()); err != nil {
				t.Fatalf("tarball refused: %v", err)
			}
		})
	}
	if _, err := Build(context.Background(), "nope", out); err == nil {
		t.Fatal("built an unknown example")
	}
}
