package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/ufop/ufop/fop"
)

func name(i int) string {
	sum := sha256.Sum256([]byte(fmt.Sprint(i)))
	return hex.EncodeToString(sum[:])
}

func TestDiskCache(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := openDiskCache(dir, 1<<20, log)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 100<<10) // 100 KiB
	for i := range 8 {
		if err := c.Put(name(i), body, cacheMeta{ContentType: "image/jpeg", Header: map[string]string{"X-A": fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	// Touch 0 so that it is the most recently used.
	if _, meta, ok := c.Get(name(0)); !ok || meta.ContentType != "image/jpeg" || meta.Header["X-A"] != "0" {
		t.Fatalf("get 0: ok %v meta %+v", ok, meta)
	}
	// Past the budget (1 MiB): the least recently used go, 0 stays.
	for i := 8; i < 12; i++ {
		c.Put(name(i), body, cacheMeta{})
	}
	if c.Size() > 1<<20 {
		t.Fatalf("cache holds %d bytes over its 1 MiB budget", c.Size())
	}
	if _, _, ok := c.Get(name(1)); ok {
		t.Error("least recently used entry 1 was kept")
	}
	if _, _, ok := c.Get(name(0)); !ok {
		t.Error("recently used entry 0 was evicted")
	}
	// Larger than a quarter of the budget: not kept.
	c.Put(name(99), bytes.Repeat([]byte("y"), 300<<10), cacheMeta{})
	if _, _, ok := c.Get(name(99)); ok {
		t.Error("oversized entry kept")
	}

	// A restart finds what was there, and ignores a torn write.
	size := c.Size()
	os.WriteFile(filepath.Join(dir, name(11)[:2], tempPrefix+"torn"), []byte("half"), 0o644)
	c2, err := openDiskCache(dir, 1<<20, log)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Size() != size {
		t.Fatalf("after restart %d bytes, before %d", c2.Size(), size)
	}
	got, _, ok := c2.Get(name(11))
	if !ok || !bytes.Equal(got, body) {
		t.Fatal("entry lost across restart")
	}
	if _, err := os.Stat(filepath.Join(dir, name(11)[:2], tempPrefix+"torn")); !os.IsNotExist(err) {
		t.Error("temp file of a torn write left behind")
	}

	// A corrupted entry reads as a miss and is dropped.
	p := c2.path(name(11))
	raw, _ := os.ReadFile(p)
	raw[len(raw)-1] ^= 0xff
	os.WriteFile(p, raw, 0o644)
	if _, _, ok := c2.Get(name(11)); ok {
		t.Fatal("corrupted entry served")
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Error("corrupted entry not removed")
	}
}

func TestSegments(t *testing.T) {
	for _, tc := range []struct {
		fops string
		want []int
	}{
		{"imageView2/2/w/100", []int{1}},
		{"imageView2/2/w/100|imageInfo", []int{2}},
		{"imageView2/2/w/100|my-ufop/a|imageInfo", []int{1, 1, 1}},
		{"my-ufop|other-ufop", []int{1, 1}},
		{"my-ufop|imageView2/2/w/100|imageMogr2/rotate/90", []int{1, 2}},
	} {
		p, err := fop.Parse(tc.fops, 10)
		if err != nil {
			t.Fatalf("%s: %v", tc.fops, err)
		}
		var got []int
		for _, seg := range segments(p.Steps) {
			got = append(got, len(seg))
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: segments %v, want %v", tc.fops, got, tc.want)
		}
	}
}
