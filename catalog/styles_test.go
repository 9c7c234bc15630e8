package catalog_test

import (
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/protocol"
)

func TestStyles(t *testing.T) {
	ctx, a, b := pair(t)
	if _, err := a.CreateBucket(ctx, ufop.Bucket{Name: "pics", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	sep := func(s string) protocol.BucketChange { return protocol.BucketChange{StyleSep: &s} }
	yes, no := true, false

	steps := []struct {
		name string
		do   func() error
		kind ufop.Kind // of the error; 0: none
	}{
		{"set", func() error { _, err := a.SetStyle(ctx, "pics", "thumb", "imageView2/2/w/200"); return err }, 0},
		{"set a name with dashes", func() error { _, err := a.SetStyle(ctx, "pics", "a-b", "imageInfo"); return err }, 0},
		{"replace", func() error { _, err := a.SetStyle(ctx, "pics", "thumb", "imageView2/2/w/100"); return err }, 0},
		{"bad name", func() error { _, err := a.SetStyle(ctx, "pics", "a/b", "imageInfo"); return err }, ufop.KindInvalid},
		{"no such bucket", func() error { _, err := a.SetStyle(ctx, "nosuch", "thumb", "imageInfo"); return err }, ufop.KindNotFound},
		{"separator a style name holds", func() error { _, err := a.ChangeBucket(ctx, "pics", sep("!-")); return err }, ufop.KindConflict},
		{"separator not allowed", func() error { _, err := a.ChangeBucket(ctx, "pics", sep("?")); return err }, ufop.KindInvalid},
		{"remove the clashing style", func() error { return a.DeleteStyle(ctx, "pics", "a-b") }, 0},
		{"remove it twice", func() error { return a.DeleteStyle(ctx, "pics", "a-b") }, ufop.KindNotFound},
		{"separators", func() error { _, err := a.ChangeBucket(ctx, "pics", sep("!-")); return err }, 0},
		{"a name holding a separator", func() error { _, err := a.SetStyle(ctx, "pics", "x!y", "imageInfo"); return err }, ufop.KindInvalid},
		{"protect", func() error {
			_, err := a.ChangeBucket(ctx, "pics", protocol.BucketChange{ProtectOriginal: &yes})
			return err
		}, 0},
	}
	for _, s := range steps {
		if err := s.do(); (s.kind == 0) != (err == nil) || (err != nil && ufop.KindOf(err) != s.kind) {
			t.Fatalf("%s: %v, want kind %v", s.name, err, s.kind)
		}
	}

	// The other catalog, as another gateway, sees every change.
	testenv.Eventually(t, time.Second, func() bool {
		st, err := b.Style("pics", "thumb")
		bk, _ := b.Bucket("pics")
		return err == nil && st.Fops == "imageView2/2/w/100" && bk.StyleSep == "!-" && bk.ProtectOriginal && len(b.Styles("pics")) == 1
	}, "the other catalog sees the styles and the bucket's settings")
	if _, err := b.Style("pics", "a-b"); ufop.KindOf(err) != ufop.KindNotFound {
		t.Fatalf("removed style: %v", err)
	}
	bk, err := a.ChangeBucket(ctx, "pics", protocol.BucketChange{ProtectOriginal: &no})
	if err != nil || bk.ProtectOriginal || bk.StyleSep != "!-" {
		t.Fatalf("unprotect: %+v %v", bk, err)
	}

	// A bucket's styles go with it: a new bucket of the same name, maybe
	// another user's, starts without them.
	if err := a.DeleteBucket(ctx, "pics"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateBucket(ctx, ufop.Bucket{Name: "pics", Owner: "bob"}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Second, func() bool {
		bk, err := b.Bucket("pics")
		return err == nil && bk.Owner == "bob" && len(b.Styles("pics")) == 0
	}, "the new bucket has no styles")
	if _, err := a.Style("pics", "thumb"); ufop.KindOf(err) != ufop.KindNotFound {
		t.Fatalf("style of the deleted bucket: %v", err)
	}
}
