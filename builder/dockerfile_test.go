package builder

import (
	"archive/tar"
	"bytes"
	"errors"
	"github.com/ufop/ufop/internal/tartest"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/ufop/ufop/manifest"
)

func TestDockerfile(t *testing.T) {
	tests := []struct {
		name string
		m    manifest.Manifest
		want string
	}{
		{
			name: "minimal",
			m:    manifest.Manifest{Image: "scratch", Run: []string{"./handler"}},
			want: "FROM scratch\nWORKDIR /app\nENV PORT_HTTP=9100\nEXPOSE 9100\nENTRYPOINT [\"./handler\"]\n" +
				"COPY pkg/ /app/\nUSER 65534:65534\n",
		},
		{
			name: "env sorted and quoted, steps in exec form",
			m: manifest.Manifest{
				Image:       "ufop/base-one:v2",
				Run:         []string{"./h", "--flag", "a b"},
				Env:         map[string]string{"Z": `say "$HOME"\n`, "A": "1"},
				BuildScript: []string{"chmod +x h", "echo 'two\nlines' > f"},
			},
			want: "FROM ufop/base-one:v2\nWORKDIR /app\n" +
				`ENV A="1" Z="say \"\$HOME\"\\n" PORT_HTTP=9100` + "\n" +
				"EXPOSE 9100\nENTRYPOINT [\"./h\",\"--flag\",\"a b\"]\nCOPY pkg/ /app/\n" +
				`RUN ["/bin/sh","-c","chmod +x h"]` + "\n" +
				`RUN ["/bin/sh","-c","echo 'two\nlines' > f"]` + "\n" +
				"USER 65534:65534\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := strings.ReplaceAll(tc.want, "9100", strconv.Itoa(manifest.PortHTTP))
			if got := Dockerfile(tc.m); got != want {
				t.Errorf("Dockerfile:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestWriteContext checks the build context: the Dockerfile first, the
// package under pkg/, and the same bytes for the same package (the engine's
// build cache depends on it).
func TestWriteContext(t *testing.T) {
	pkgTar := tartest.Gzip(t, tartest.Tar(t, tartest.File("ufop.yaml", minimalYAML), tartest.Entry{Name: "handler", Mode: 0o755, Body: "#!bin"}))
	pkg, err := manifest.ReadPackage(bytes.NewReader(pkgTar), manifest.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	build := func() []byte {
		var buf bytes.Buffer
		if err := writeContext(&buf, Dockerfile(pkg.Manifest()), pkg); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	first := build()
	if !bytes.Equal(first, build()) {
		t.Error("two contexts of the same package differ")
	}
	tr := tar.NewReader(bytes.NewReader(first))
	var names []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !hdr.ModTime.Equal(canonicalTime) {
			t.Errorf("%s: mtime %v, want %v", hdr.Name, hdr.ModTime, canonicalTime)
		}
		if hdr.Name == "Dockerfile" {
			b, _ := io.ReadAll(tr)
			if string(b) != Dockerfile(pkg.Manifest()) {
				t.Errorf("Dockerfile in the context:\n%s", b)
			}
		}
		names = append(names, hdr.Name)
	}
	if len(names) < 3 || names[0] != "Dockerfile" || names[1] != "pkg/" {
		t.Fatalf("entries %v, want Dockerfile, pkg/, then the package", names)
	}
	for _, want := range []string{"pkg/ufop.yaml", "pkg/handler"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("entries %v lack %s", names, want)
		}
	}
}
