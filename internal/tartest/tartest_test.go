package tartest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

func TestTarAndGzip(t *testing.T) {
	b := Gzip(t, Tar(t,
		Entry{Name: "pax", Type: tar.TypeXGlobalHeader},
		Entry{Name: "d/", Type: tar.TypeDir, Mode: 0o755},
		File("d/f", "hello"),
		Entry{Name: "l", Type: tar.TypeSymlink, Link: "../escape"},
	))
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	type row struct {
		name string
		typ  byte
		mode int64
		body string
		link string
	}
	var got []row
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		got = append(got, row{h.Name, h.Typeflag, h.Mode, string(body), h.Linkname})
	}
	want := []row{
		{"pax", tar.TypeXGlobalHeader, 0, "", ""}, // Go's reader returns global headers too
		{"d/", tar.TypeDir, 0o755, "", ""},
		{"d/f", tar.TypeReg, 0o644, "hello", ""},
		{"l", tar.TypeSymlink, 0o644, "", "../escape"},
	}
	if len(got) != len(want) {
		t.Fatalf("entries %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
