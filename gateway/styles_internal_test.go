package gateway

import (
	"context"
	"net/url"
	"testing"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/protocol"
)

// BenchmarkStyledRequest is what styles cost a download, catalog look-ups
// included: the path split, the style's look-up and expansion, then the
// decoding and parse every processing request does. "fops" is the same pipeline written
// in the query of a bucket with separators (the split finds no style).
func BenchmarkStyledRequest(b *testing.B) {
	cat := benchCatalog(b)
	ctx := context.Background()
	if _, err := cat.CreateBucket(ctx, ufop.Bucket{Name: "pics", Owner: "alice"}); err != nil {
		b.Fatal(err)
	}
	sep := "-!"
	if _, err := cat.ChangeBucket(ctx, "pics", protocol.BucketChange{StyleSep: &sep}); err != nil {
		b.Fatal(err)
	}
	const def = "imageView2/1/w/200/h/200/q/80"
	if _, err := cat.SetStyle(ctx, "pics", "thumb", def); err != nil {
		b.Fatal(err)
	}
	bk, err := cat.Bucket("pics")
	if err != nil {
		b.Fatal(err)
	}
	g := &Gateway{cfg: DefaultConfig(), cat: cat}
	for _, tc := range []struct{ name, rawKey, query string }{
		{"fops", "photos/2026/portrait-1.jpg", def},
		{"styled-path", "photos/2026/portrait-1.jpg-thumb", ""},
		{"style-query", "photos/2026/portrait-1.jpg", "style/thumb"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				key, _ := url.PathUnescape(tc.rawKey)
				_, fops, _, err := g.styledRequest(requester{}, bk, key, tc.rawKey, tc.query)
				if err != nil {
					b.Fatal(err)
				}
				if fops, err = url.PathUnescape(fops); err != nil {
					b.Fatal(err)
				}
				if _, err := fop.Parse(fops, 10); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
