package fop

import "testing"

// TestResultKey pins the key's inputs: the gateway sends it as the ETag of
// processed results, and clients hold ETags, so a change of hash, of
// separator or of the normal form must show up here.
func TestResultKey(t *testing.T) {
	tests := []struct {
		etag, query, want string
	}{
		{`"abc123"`, "imageView2/2/w/200", "44cc66b0310bed11d63fdf3713690075"},
		// Other spellings of the same pipeline give the same key.
		{`"abc123"`, "imageView2/2/w/0200/q/85", "44cc66b0310bed11d63fdf3713690075"},
		{"Fh8xVqod2MQ1mocfI4S4KpRL6D98", "imageMogr2/strip/auto-orient/thumbnail/300x%7CimageInfo", "3b184f0baefe3d1c1c555c64f7ba7ea7"},
	}
	for _, tc := range tests {
		p, err := Parse(tc.query, 0)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.query, err)
		}
		if got := ResultKey(tc.etag, p); got != tc.want {
			t.Errorf("ResultKey(%q, %q) = %s, want %s", tc.etag, tc.query, got, tc.want)
		}
	}
	// The source is part of the key.
	p, _ := Parse("imageInfo", 0)
	if ResultKey("a", p) == ResultKey("b", p) {
		t.Error("two sources share a key")
	}
}

func TestNewStepMatchesParse(t *testing.T) {
	for _, q := range []string{"imageView2/2/w/200/q/70", "imageMogr2/thumbnail/!50p/rotate/90", "facecrop/20x10", "imageInfo", "exif", "watermark/2/text/SGk"} {
		p, err := Parse(q, 0)
		if err != nil {
			t.Fatalf("Parse(%q): %v", q, err)
		}
		s := p.Steps[0]
		n := NewStep(s.Params())
		if n.Name() != s.Name() || n.Args() != s.Args() || n.String() != s.String() || !n.Builtin() {
			t.Errorf("NewStep(%q) = %s %q %q, want %s %q %q", q, n.Name(), n.Args(), n, s.Name(), s.Args(), s)
		}
	}
}
