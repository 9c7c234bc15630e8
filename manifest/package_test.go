package manifest

import (
	"archive/tar"
	"bytes"
	"github.com/ufop/ufop/internal/tartest"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ufop/ufop"
)

const minimalYAML = "run: [\"./handler\"]\n"

// listTar returns "name type mode [-> link | body]" lines of a tar.
func listTar(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		line := hdr.Name + " " + string(hdr.Typeflag) + " " + modeString(hdr.Mode)
		if hdr.Linkname != "" {
			line += " -> " + hdr.Linkname
		}
		if len(body) > 0 {
			line += " " + string(body)
		}
		out = append(out, line)
	}
}

func modeString(m int64) string { return os.FileMode(m).Perm().String() }

func TestReadPackageAccepts(t *testing.T) {
	raw := tartest.Tar(t,
		tartest.Entry{Name: "./", Type: tar.TypeDir, Mode: 0o755},
		tartest.Entry{Name: "pax_global_header", Type: tar.TypeXGlobalHeader},
		tartest.File("./ufop.yaml", minimalYAML),
		tartest.Entry{Name: "./handler", Mode: 0o700, Body: "ELF"},
		tartest.Entry{Name: "lib/data/x.txt", Mode: 0o600, Body: "x"}, // parents implied
		tartest.Entry{Name: "lib/", Type: tar.TypeDir, Mode: 0o700},   // explicit after the fact
		tartest.Entry{Name: "lib/current", Type: tar.TypeSymlink, Link: "data/x.txt"},
		tartest.Entry{Name: "lib/data/up", Type: tar.TypeSymlink, Link: "../../handler"},
		tartest.Entry{Name: "copy", Type: tar.TypeLink, Link: "./handler"},
	)
	want := []string{
		"copy 0 -rwxr-xr-x ELF",
		"handler 0 -rwxr-xr-x ELF",
		"lib/ 5 -rwxr-xr-x",
		"lib/current 2 -rwxrwxrwx -> data/x.txt",
		"lib/data/ 5 -rwxr-xr-x",
		"lib/data/up 2 -rwxrwxrwx -> ../../handler",
		"lib/data/x.txt 0 -rw-r--r-- x",
		"ufop.yaml 0 -rw-r--r-- " + minimalYAML,
	}
	for _, gz := range []bool{false, true} {
		in := raw
		if gz {
			in = tartest.Gzip(t, raw)
		}
		p, err := ReadPackage(bytes.NewReader(in), DefaultLimits())
		if err != nil {
			t.Fatalf("gzip %v: %v", gz, err)
		}
		if got := p.Manifest(); got.Resources != DefaultLimits().DefaultResources || got.Run[0] != "./handler" {
			t.Errorf("manifest %+v: want run ./handler and the default resources", got)
		}
		var out bytes.Buffer
		if err := p.WriteTar(&out); err != nil {
			t.Fatal(err)
		}
		got := listTar(t, out.Bytes())
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("gzip %v: canonical tar\n%s\nwant\n%s", gz, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		// The canonical tar reads back to the same bytes.
		again, err := ReadPackage(bytes.NewReader(out.Bytes()), DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		var out2 bytes.Buffer
		if err := again.WriteTar(&out2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), out2.Bytes()) {
			t.Error("WriteTar is not stable across a round trip")
		}
	}
}

func TestReadPackageRefusals(t *testing.T) {
	yaml := tartest.File("ufop.yaml", minimalYAML)
	small := DefaultLimits()
	small.MaxPackageBytes = 4096
	medium := DefaultLimits()
	medium.MaxPackageBytes = 8192
	few := DefaultLimits()
	few.MaxFiles = 3
	tests := []struct {
		name  string
		input []byte
		cfg   *Limits
		kind  ufop.Kind
		want  string
	}{
		{"dotdot", tartest.Tar(t, yaml, tartest.File("../x", "x")), nil, ufop.KindInvalid, `entry "../x": path has a .. component`},
		{"inner dotdot", tartest.Tar(t, yaml, tartest.File("a/../../x", "x")), nil, ufop.KindInvalid, `entry "a/../../x": path has a .. component`},
		{"absolute", tartest.Tar(t, yaml, tartest.File("/etc/cron.d/x", "x")), nil, ufop.KindInvalid, `entry "/etc/cron.d/x": absolute paths are not allowed`},
		{"symlink to /etc/passwd", tartest.Tar(t, yaml, tartest.Entry{Name: "pw", Type: tar.TypeSymlink, Link: "/etc/passwd"}), nil, ufop.KindInvalid, `entry "pw": symlink to "/etc/passwd" points outside the package`},
		{"symlink up", tartest.Tar(t, yaml, tartest.Entry{Name: "a/up", Type: tar.TypeSymlink, Link: "../../x"}), nil, ufop.KindInvalid, `entry "a/up": symlink to "../../x" points outside the package`},
		{"symlink escaping through a symlink", tartest.Tar(t, yaml,
			tartest.Entry{Name: "sub/up", Type: tar.TypeSymlink, Link: ".."},
			tartest.Entry{Name: "x", Type: tar.TypeSymlink, Link: "sub/up/.."}), nil, ufop.KindInvalid, `entry "x": symlink to "sub/up/.." points outside the package`},
		{"symlink loop", tartest.Tar(t, yaml,
			tartest.Entry{Name: "a", Type: tar.TypeSymlink, Link: "b"},
			tartest.Entry{Name: "b", Type: tar.TypeSymlink, Link: "a"}), nil, ufop.KindInvalid, `symlink to "b" loops`},
		{"file through symlink", tartest.Tar(t, yaml,
			tartest.Entry{Name: "d", Type: tar.TypeSymlink, Link: "."},
			tartest.File("d/x", "x")), nil, ufop.KindInvalid, `entry "d/x": path goes through the symlink "d"`},
		{"hard link to /etc/passwd", tartest.Tar(t, yaml, tartest.Entry{Name: "pw", Type: tar.TypeLink, Link: "/etc/passwd"}), nil, ufop.KindInvalid, `entry "pw": hard link to "/etc/passwd" points outside the package`},
		{"hard link up", tartest.Tar(t, yaml, tartest.Entry{Name: "pw", Type: tar.TypeLink, Link: "../x"}), nil, ufop.KindInvalid, `entry "pw": hard link to "../x" points outside the package`},
		{"hard link to nothing", tartest.Tar(t, yaml, tartest.Entry{Name: "h", Type: tar.TypeLink, Link: "nope"}), nil, ufop.KindInvalid, `entry "h": hard link to "nope", which is not a regular file`},
		{"char device", tartest.Tar(t, yaml, tartest.Entry{Name: "null", Type: tar.TypeChar}), nil, ufop.KindInvalid, `entry "null": device and fifo files are not allowed`},
		{"block device", tartest.Tar(t, yaml, tartest.Entry{Name: "sda", Type: tar.TypeBlock}), nil, ufop.KindInvalid, `entry "sda": device and fifo files are not allowed`},
		{"fifo", tartest.Tar(t, yaml, tartest.Entry{Name: "p", Type: tar.TypeFifo}), nil, ufop.KindInvalid, `entry "p": device and fifo files are not allowed`},
		{"missing ufop.yaml", tartest.Tar(t, tartest.File("handler", "x")), nil, ufop.KindInvalid, "ufop.yaml missing at the package root"},
		{"ufop.yaml in a subdirectory only", tartest.Tar(t, tartest.File("sub/ufop.yaml", minimalYAML)), nil, ufop.KindInvalid, "ufop.yaml missing at the package root"},
		{"ufop.yaml is a symlink", tartest.Tar(t, tartest.File("real.yaml", minimalYAML), tartest.Entry{Name: "ufop.yaml", Type: tar.TypeSymlink, Link: "real.yaml"}), nil, ufop.KindInvalid, `entry "ufop.yaml": must be a regular file`},
		{"bad yaml", tartest.Tar(t, tartest.File("ufop.yaml", "run: [./h\nimage: x\n")), nil, ufop.KindInvalid, "ufop.yaml: line"},
		{"invalid manifest", tartest.Tar(t, tartest.File("ufop.yaml", "run: ./h\nconcurrency: 0\n")), nil, ufop.KindInvalid, "ufop.yaml: line 2: field concurrency"},
		{"duplicate", tartest.Tar(t, yaml, tartest.File("a", "1"), tartest.File("./a", "2")), nil, ufop.KindInvalid, `entry "./a": duplicate entry`},
		{"file then dir", tartest.Tar(t, yaml, tartest.File("a", "1"), tartest.File("a/b", "2")), nil, ufop.KindInvalid, `entry "a/b": parent "a" is not a directory`},
		{"dir then file", tartest.Tar(t, yaml, tartest.File("a/b", "2"), tartest.File("a", "1")), nil, ufop.KindInvalid, `entry "a": is a directory of other entries`},
		{"root as file", tartest.Tar(t, yaml, tartest.File(".", "x")), nil, ufop.KindInvalid, "names the package root"},
		{"file over the limit", tartest.Tar(t, yaml, tartest.File("big", strings.Repeat("x", 5000))), &small, ufop.KindTooLarge, "over the 4 KiB limit"},
		{"hard links over the limit", tartest.Tar(t, yaml, tartest.File("big", strings.Repeat("x", 5000)), tartest.Entry{Name: "big2", Type: tar.TypeLink, Link: "big"}), &medium, ufop.KindTooLarge, `over the 8 KiB limit (at entry "big2")`},
		{"gzip bomb", tartest.Gzip(t, tartest.Tar(t, yaml, tartest.File("zeros", string(make([]byte, 1<<20))))), &small, ufop.KindTooLarge, "over the 4 KiB limit"},
		{"too many files", tartest.Tar(t, yaml, tartest.File("a", ""), tartest.File("b", ""), tartest.File("c", "")), &few, ufop.KindTooLarge, `more than 3 entries (at entry "c")`},
		{"bad gzip", append([]byte{0x1f, 0x8b}, bytes.Repeat([]byte("junk"), 10)...), nil, ufop.KindInvalid, "package: not a valid gzip stream"},
		{"corrupt gzip body", corruptGzip(t, tartest.Tar(t, yaml, tartest.File("a", strings.Repeat("abc", 1000)))), nil, ufop.KindInvalid, "package:"},
		{"truncated tar", tartest.Tar(t, yaml, tartest.File("a", strings.Repeat("abc", 1000)))[:1500], nil, ufop.KindInvalid, "package: truncated archive"},
		{"not a tar", []byte(strings.Repeat("hello world\n", 100)), nil, ufop.KindInvalid, "package: not a valid tar archive"},
		{"empty", nil, nil, ufop.KindInvalid, "ufop.yaml missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultLimits()
			if tt.cfg != nil {
				cfg = *tt.cfg
			}
			p, err := ReadPackage(bytes.NewReader(tt.input), cfg)
			if err == nil {
				t.Fatalf("accepted, manifest %+v", p.Manifest())
			}
			if ufop.KindOf(err) != tt.kind {
				t.Errorf("kind %v, want %v (%v)", ufop.KindOf(err), tt.kind, err)
			}
			if msg := ufop.Message(err); !strings.Contains(msg, tt.want) {
				t.Errorf("message %q, want it to contain %q", msg, tt.want)
			}
		})
	}
}

func corruptGzip(t *testing.T, b []byte) []byte {
	z := tartest.Gzip(t, b)
	for i := len(z) / 2; i < len(z)/2+8; i++ {
		z[i] ^= 0xff
	}
	return z
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// endless yields the same byte forever.
type endless byte

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(e)
	}
	return len(p), nil
}

func TestReadPackageStopsAtTheLimit(t *testing.T) {
	cfg := DefaultLimits()
	cfg.MaxPackageBytes = 64 << 10
	// A header for a file just under the limit, then an endless body: the
	// stream as a whole passes the limit inside the file's data.
	head := tartest.Tar(t, tartest.File("ufop.yaml", minimalYAML))
	head = head[:len(head)-1024] // drop the end-of-archive blocks
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	if err := tw.WriteHeader(&tar.Header{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644, Size: cfg.MaxPackageBytes - 10}); err != nil {
		t.Fatal(err)
	}
	tw.Flush()
	src := &countingReader{r: io.MultiReader(bytes.NewReader(head), bytes.NewReader(hdr.Bytes()), endless('x'))}
	_, err := ReadPackage(src, cfg)
	if ufop.KindOf(err) != ufop.KindTooLarge {
		t.Fatalf("err %v, want too large", err)
	}
	if src.n > cfg.MaxPackageBytes+1 {
		t.Fatalf("read %d bytes from the source, limit %d", src.n, cfg.MaxPackageBytes)
	}
}

func writeTree(t *testing.T, dir string, entries ...tartest.Entry) {
	t.Helper()
	for _, e := range entries {
		p := filepath.Join(dir, filepath.FromSlash(e.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch e.Type {
		case tar.TypeDir:
			err = os.MkdirAll(p, os.FileMode(e.Mode))
		case tar.TypeSymlink:
			err = os.Symlink(e.Link, p)
		case tar.TypeFifo:
			err = syscall.Mkfifo(p, 0o644)
		default:
			mode := os.FileMode(e.Mode)
			if mode == 0 {
				mode = 0o644
			}
			err = os.WriteFile(p, []byte(e.Body), mode)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadDirMatchesReadPackage(t *testing.T) {
	entries := []tartest.Entry{
		tartest.File("ufop.yaml", minimalYAML),
		{Name: "handler", Mode: 0o755, Body: "ELF"},
		{Name: "etc/conf", Body: "k=v"},
		{Name: "etc/link", Type: tar.TypeSymlink, Link: "conf"},
		{Name: "empty", Type: tar.TypeDir, Mode: 0o700},
	}
	dir := t.TempDir()
	writeTree(t, dir, entries...)
	fromDir, err := ReadDir(dir, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	fromTar, err := ReadPackage(bytes.NewReader(tartest.Tar(t, entries...)), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := fromDir.WriteTar(&a); err != nil {
		t.Fatal(err)
	}
	if err := fromTar.WriteTar(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("ReadDir and ReadPackage disagree:\n%q\n%q", listTar(t, a.Bytes()), listTar(t, b.Bytes()))
	}
	// A symlink naming the package directory is followed.
	link := filepath.Join(t.TempDir(), "pkg")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	viaLink, err := ReadDir(link, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if viaLink.Files() != fromDir.Files() || viaLink.Size() != fromDir.Size() {
		t.Fatalf("through a symlink: %d files %d bytes, want %d, %d", viaLink.Files(), viaLink.Size(), fromDir.Files(), fromDir.Size())
	}
}

func TestReadDirRefusals(t *testing.T) {
	yaml := tartest.File("ufop.yaml", minimalYAML)
	tests := []struct {
		name    string
		entries []tartest.Entry
		want    string
	}{
		{"symlink to /etc/passwd", []tartest.Entry{yaml, {Name: "pw", Type: tar.TypeSymlink, Link: "/etc/passwd"}}, `entry "pw": symlink to "/etc/passwd" points outside`},
		{"symlink up", []tartest.Entry{yaml, {Name: "up", Type: tar.TypeSymlink, Link: "../secret"}}, `entry "up": symlink to "../secret" points outside`},
		{"fifo", []tartest.Entry{yaml, {Name: "p", Type: tar.TypeFifo}}, `entry "p": device, fifo and socket files are not allowed`},
		{"missing ufop.yaml", []tartest.Entry{tartest.File("handler", "x")}, "ufop.yaml missing"},
		{"ufop.yaml symlink", []tartest.Entry{tartest.File("m.yaml", minimalYAML), {Name: "ufop.yaml", Type: tar.TypeSymlink, Link: "m.yaml"}}, `entry "ufop.yaml": must be a regular file`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tt.entries...)
			_, err := ReadDir(dir, DefaultLimits())
			if err == nil {
				t.Fatal("accepted")
			}
			if msg := ufop.Message(err); !strings.Contains(msg, tt.want) {
				t.Errorf("message %q, want it to contain %q", msg, tt.want)
			}
		})
	}
	if _, err := ReadDir(filepath.Join(t.TempDir(), "nope"), DefaultLimits()); ufop.KindOf(err) != ufop.KindInvalid {
		t.Errorf("missing directory: %v", err)
	}
}

func FuzzReadPackage(f *testing.F) {
	yaml := tartest.File("ufop.yaml", minimalYAML)
	seeds := [][]byte{
		tartest.Tar(f, yaml, tartest.Entry{Name: "handler", Mode: 0o755, Body: "ELF"}),
		tartest.Tar(f, yaml, tartest.Entry{Name: "a/l", Type: tar.TypeSymlink, Link: "../handler"}, tartest.File("handler", "x")),
		tartest.Tar(f, yaml, tartest.Entry{Name: "pw", Type: tar.TypeSymlink, Link: "/etc/passwd"}),
		tartest.Tar(f, yaml, tartest.File("../x", "x")),
		tartest.Tar(f, yaml, tartest.File("h", "x"), tartest.Entry{Name: "h2", Type: tar.TypeLink, Link: "h"}),
		tartest.Gzip(f, tartest.Tar(f, yaml, tartest.File("sub/f", "data"))),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	cfg := DefaultLimits()
	cfg.MaxPackageBytes = 1 << 20
	cfg.MaxFiles = 100
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ReadPackage(bytes.NewReader(data), cfg)
		if err != nil {
			if k := ufop.KindOf(err); k != ufop.KindInvalid && k != ufop.KindTooLarge {
				t.Fatalf("error of kind %v: %v", k, err)
			}
			return
		}
		if p.Size() > cfg.MaxPackageBytes || p.Files() > cfg.MaxFiles {
			t.Fatalf("package of %d bytes, %d files passed the limits", p.Size(), p.Files())
		}
		// Whatever is accepted has a canonical form that is accepted again
		// and is stable.
		var a, b bytes.Buffer
		if err := p.WriteTar(&a); err != nil {
			t.Fatal(err)
		}
		again, err := ReadPackage(bytes.NewReader(a.Bytes()), cfg)
		if err != nil {
			t.Fatalf("canonical tar refused: %v", err)
		}
		if err := again.WriteTar(&b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatal("canonical tar not stable")
		}
	})
}

// BenchmarkReadPackage reads a gzipped package the size of the sepia
// example (a 7 MB binary) and writes its canonical tar.
func BenchmarkReadPackage(b *testing.B) {
	bin := make([]byte, 7<<20)
	for i := range bin {
		bin[i] = byte(i * 7 / 5) // compresses, but not to nothing
	}
	tgz := tartest.Gzip(b, tartest.Tar(b, tartest.File("ufop.yaml", minimalYAML), tartest.Entry{Name: "handler", Mode: 0o755, Body: string(bin)}))
	b.SetBytes(int64(len(bin)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := ReadPackage(bytes.NewReader(tgz), DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		if err := p.WriteTar(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func TestReadPackageEntrypoint(t *testing.T) {
	exe := tartest.Entry{Name: "bin/real", Mode: 0o755, Body: "ELF"}
	link := tartest.Entry{Name: "h", Type: tar.TypeSymlink, Link: "bin/real"}
	data := tartest.File("data.txt", "d")
	tests := []struct {
		yaml string
		want string // "" accepts
	}{
		{"run: ./bin/real", ""},
		{"run: bin/real", ""},
		{"run: /app/bin/real", ""},
		{"run: ./h --flag", ""},
		{"image: ufop/base:v1\nrun: sh", ""}, // the base image may provide it
		{"run: real", "field run: real would be looked up in $PATH"},
		{"run: /bin/sh", "field run: /bin/sh is outside the package"},
		{"run: ./missing", "field run: ./missing is not a file of the package"},
		{"run: ./data.txt", "field run: ./data.txt is not an executable file"},
		{"run: ./bin", "field run: ./bin is not an executable file"},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			in := tartest.Tar(t, tartest.File("ufop.yaml", tt.yaml+"\n"), exe, link, data)
			_, err := ReadPackage(bytes.NewReader(in), DefaultLimits())
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(ufop.Message(err), tt.want)):
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}
