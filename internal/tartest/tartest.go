// Package tartest builds tar and gzip archives for tests: UFOP packages for
// package manifest's and the builder's tests, hostile ones included.
package tartest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// Entry describes one entry of a test archive.
type Entry struct {
	Name string
	Type byte // defaults to a regular file
	Mode int64
	Body string
	Link string
}

// File is a regular file entry.
func File(name, body string) Entry { return Entry{Name: name, Body: body} }

// Tar returns an uncompressed archive of entries, written as given (names
// are not cleaned: tests use this to make hostile archives). A
// tar.TypeXGlobalHeader entry becomes a PAX global header, as git archive
// writes.
func Tar(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.Name, Typeflag: e.Type, Mode: e.Mode, Linkname: e.Link}
		if e.Type == tar.TypeXGlobalHeader {
			hdr = &tar.Header{Typeflag: e.Type, Name: e.Name, PAXRecords: map[string]string{"comment": "git"}}
			if err := tw.WriteHeader(hdr); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Gzip compresses b.
func Gzip(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
