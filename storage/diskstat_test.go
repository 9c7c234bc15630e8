package storage

import (
	"context"
	"strings"
	"testing"

	"github.com/ufop/ufop"
)

// TestStatMemo: Stat served from the memo follows every change of the
// object: a replacement (even one of the same size), and a deletion.
func TestStatMemo(t *testing.T) {
	ctx := context.Background()
	s, err := New(Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	for i, body := range []string{"first", "other", "third body"} {
		put, err := s.Put(ctx, "bkt", "k", strings.NewReader(body), PutOptions{ContentType: "text/plain"})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // read, then from the memo
			got, err := s.Stat(ctx, "bkt", "k")
			if err != nil || got.ETag != put.ETag || got.Size != int64(len(body)) || !got.Modified.Equal(put.Modified) {
				t.Fatalf("put %d: Stat %+v %v, want %+v", i, got, err, put)
			}
		}
	}
	if n := len(s.memo.m); n != 1 {
		t.Errorf("memo holds %d entries, want 1", n)
	}
	if err := s.Delete(ctx, "bkt", "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "bkt", "k"); ufop.KindOf(err) != ufop.KindNotFound {
		t.Errorf("Stat of a deleted object: %v", err)
	}
}
