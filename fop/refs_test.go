package fop

import (
	"encoding/base64"
	"slices"
	"testing"
)

func TestPipelineRefs(t *testing.T) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		fops string
		want []string
	}{
		{"imageView2/2/w/100", nil},
		{"watermark/2/text/" + b64("hi"), nil},
		{"watermark/1/image/" + b64("priv:mark.png") + "/ws/1", []string{"priv:mark.png"}},
		{"watermark/3/image/" + b64("a:1.png") + "/text/" + b64("x") + "/image/" + b64("http://h/b/k.png") +
			"|imageView2/2/w/10|watermark/1/image/" + b64("a:1.png"), []string{"a:1.png", "http://h/b/k.png"}},
	} {
		p, err := Parse(tc.fops, 0)
		if err != nil {
			t.Fatalf("%s: %v", tc.fops, err)
		}
		if got := p.Refs(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: refs %q, want %q", tc.fops, got, tc.want)
		}
	}
}
