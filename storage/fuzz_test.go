package storage

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ufop/ufop"
)

// FuzzValidateKey checks that ValidateKey accepts exactly the keys the
// documented rules allow, and never panics.
func FuzzValidateKey(f *testing.F) {
	for _, k := range []string{"a", "a/b", "a/../b", "..", "", "a\x00b", "ü/漢字.jpg", "\xff"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := ValidateKey(key)
		hasDotDot := false
		for _, p := range strings.Split(key, "/") {
			hasDotDot = hasDotDot || p == ".."
		}
		wantOK := key != "" && len(key) <= MaxKeyBytes && utf8.ValidString(key) &&
			!strings.ContainsRune(key, 0) && !hasDotDot
		if wantOK != (err == nil) {
			t.Fatalf("ValidateKey(%q) = %v, want ok=%v", key, err, wantOK)
		}
		if err != nil && ufop.KindOf(err) != ufop.KindInvalid {
			t.Fatalf("ValidateKey(%q) error kind %v, want invalid", key, ufop.KindOf(err))
		}
	})
}

// FuzzPutGet stores arbitrary keys and bodies and reads them back through
// Get, Stat and List.
func FuzzPutGet(f *testing.F) {
	f.Add("a", []byte("hello"))
	f.Add("a/b/c.jpg", []byte{})
	f.Add("ü/漢字", []byte("\x89PNG\r\n\x1a\n"))
	f.Add("../x", []byte("x"))
	s, err := New(Config{Dir: f.TempDir(), MaxObjectBytes: 1 << 20}, nil)
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	if err := s.CreateBucket(ctx, "fuzz"); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key string, body []byte) {
		obj, err := s.Put(ctx, "fuzz", key, bytes.NewReader(body), PutOptions{})
		if ValidateKey(key) != nil {
			if ufop.KindOf(err) != ufop.KindInvalid {
				t.Fatalf("Put(%q) with an invalid key: %v", key, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
		defer s.Delete(ctx, "fuzz", key)
		r, err := s.Get(ctx, "fuzz", key)
		if err != nil {
			t.Fatalf("Get(%q): %v", key, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, body) || r.Key != key || r.ETag != obj.ETag {
			t.Fatalf("Get(%q) = %q (%+v, %v), want %q", key, got, r.Object, err, body)
		}
		objs, _, err := s.List(ctx, "fuzz", key, "", 1)
		if err != nil || len(objs) != 1 || objs[0].Key != key {
			t.Fatalf("List(prefix %q) = %+v, %v", key, objs, err)
		}
	})
}
