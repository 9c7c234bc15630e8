package storage

import (
	"strings"
	"testing"
)

func TestS3Name(t *testing.T) {
	long := strings.Repeat("k", 450)
	tests := []struct{ key, want string }{
		{"a", "a!"},
		{"a/b", "a%2Fb!"},
		{"cat.jpg", "cat%2Ejpg!"},
		{"ü", "~C3~BC!"},
		{"~%!", "~7E%25%21!"},
		{long, long[:200] + "/" + long[200:400] + "/" + long[400:] + "!"},
		{strings.Repeat("x", 200), strings.Repeat("x", 200) + "!"},
	}
	for _, tt := range tests {
		got := s3Name(tt.key)
		if got != tt.want {
			t.Errorf("s3Name(%.30q) = %.60q, want %.60q", tt.key, got, tt.want)
		}
		if back, ok := parseS3Name(got); !ok || back != tt.key {
			t.Errorf("parseS3Name(%.60q) = %.30q, %v", got, back, ok)
		}
	}
	for _, bad := range []string{"", "!", "a", ".ufop-bucket", "a%2!", "a%3F!", "~41!", "a/b!", "x!!", strings.Repeat("x", 200) + "/!"} {
		if k, ok := parseS3Name(bad); ok {
			t.Errorf("parseS3Name(%q) = %q, want not ok", bad, k)
		}
	}
}

// FuzzS3Name checks that escaped names round-trip, sort like their keys,
// have no path component longer than a file name, and that a key's
// prefix escapes to an S3 prefix of its name.
func FuzzS3Name(f *testing.F) {
	for _, s := range [][2]string{{"a", "a/b"}, {"a.b", "a/b"}, {"ü", "z"}, {strings.Repeat("q", 200), strings.Repeat("q", 201)}, {"a b", "a!"}, {"", "x"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if ValidateKey(a) != nil || ValidateKey(b) != nil {
			return
		}
		na, nb := s3Name(a), s3Name(b)
		if back, ok := parseS3Name(na); !ok || back != a {
			t.Fatalf("parseS3Name(s3Name(%q)) = %q, %v", a, back, ok)
		}
		if (a < b) != (na < nb) || (a == b) != (na == nb) {
			t.Fatalf("order: %q<%q is %v, names %q<%q is %v", a, b, a < b, na, nb, na < nb)
		}
		for _, part := range strings.Split(na, "/") {
			if len(part) == 0 || len(part) > 255 {
				t.Fatalf("s3Name(%q) has a component of %d bytes", a, len(part))
			}
		}
		if strings.HasPrefix(b, a) != strings.HasPrefix(nb, s3NamePrefix(a)) {
			t.Fatalf("prefix: %q has prefix %q is %v, but names say %v", b, a, strings.HasPrefix(b, a), !strings.HasPrefix(b, a))
		}
		if strings.HasPrefix(na, nb) && a != b {
			t.Fatalf("name %q is a prefix of name %q (a file would be a directory)", nb, na)
		}
	})
}
