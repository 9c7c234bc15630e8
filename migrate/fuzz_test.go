package migrate

import (
	"strings"
	"testing"

	"github.com/ufop/ufop"
)

// FuzzParseSource: any string gives a spec or a KindInvalid error, never
// a panic; a spec is self-consistent.
func FuzzParseSource(f *testing.F) {
	for _, s := range []string{"s3://b/p?endpoint=http://127.0.0.1:1", "http://h/p", "file:///d", "ftp://x", "", "s3://b?endpoint=%", "file://h/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := ParseSource(raw)
		if err != nil {
			if ufop.KindOf(err) != ufop.KindInvalid {
				t.Fatalf("%q: error kind %v", raw, ufop.KindOf(err))
			}
			return
		}
		switch s.Scheme {
		case SchemeS3:
			if s.Bucket == "" || s.Endpoint == "" || (s.Prefix != "" && !strings.HasSuffix(s.Prefix, "/")) {
				t.Fatalf("%q: bad s3 spec %+v", raw, s)
			}
		case SchemeHTTP:
			if !strings.HasSuffix(s.Base, "/") || !(strings.HasPrefix(s.Base, "http://") || strings.HasPrefix(s.Base, "https://")) {
				t.Fatalf("%q: bad http spec %+v", raw, s)
			}
		case SchemeFile:
			if !strings.HasPrefix(s.Dir, "/") {
				t.Fatalf("%q: bad file spec %+v", raw, s)
			}
		default:
			t.Fatalf("%q: scheme %q", raw, s.Scheme)
		}
	})
}

// FuzzListScanner: any input gives keys (non-blank, bounded, valid UTF-8,
// no line break) or an error naming a line; offsets never pass the input.
func FuzzListScanner(f *testing.F) {
	for _, s := range []string{"a\nb\r\n\nc", "", "\xff\n", strings.Repeat("k", 5000), "x\r\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s := NewListScanner(strings.NewReader(in), 0)
		for s.Scan() {
			k := s.Key()
			if strings.TrimSpace(k) == "" || len(k) > MaxListLine || strings.ContainsAny(k, "\n") {
				t.Fatalf("bad key %q", k)
			}
			if s.Offset() > int64(len(in)) {
				t.Fatalf("offset %d past %d", s.Offset(), len(in))
			}
		}
		if err := s.Err(); err != nil && (ufop.KindOf(err) != ufop.KindInvalid || !strings.Contains(err.Error(), "line ")) {
			t.Fatalf("error %v", err)
		}
	})
}
