package mirror

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/egress"
)

func TestParseOrigin(t *testing.T) {
	policy := egress.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	for _, tc := range []struct {
		in   string
		want string
		kind ufop.Kind
	}{
		{"http://origin.test", "http://origin.test/", 0},
		{"https://origin.test/img/", "https://origin.test/img/", 0},
		{"https://origin.test/img_", "https://origin.test/img_", 0},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/", 0},
		{"HTTP://origin.test/a", "http://origin.test/a", 0},
		{"ftp://origin.test/", "", ufop.KindInvalid},
		{"origin.test/img", "", ufop.KindInvalid},
		{"//origin.test/img", "", ufop.KindInvalid},
		{"http:origin.test", "", ufop.KindInvalid},
		{"http://", "", ufop.KindInvalid},
		{"http://u:p@origin.test/", "", ufop.KindInvalid},
		{"http://origin.test/?a=b", "", ufop.KindInvalid},
		{"http://origin.test/?", "", ufop.KindInvalid},
		{"http://origin.test/#x", "", ufop.KindInvalid},
		{"http://%zz/", "", ufop.KindInvalid},
		{"http://127.0.0.2/", "", ufop.KindPermission},
		{"http://[::1]/", "", ufop.KindPermission},
		{"http://[::ffff:10.0.0.1]/", "", ufop.KindPermission},
		{"http://0.0.0.0/", "", ufop.KindPermission},
	} {
		got, err := ParseOrigin(policy, tc.in)
		if tc.kind != 0 {
			if ufop.KindOf(err) != tc.kind || !strings.Contains(err.Error(), "mirror origin") {
				t.Errorf("ParseOrigin(%q) = %q, %v; want a %v error naming the mirror origin", tc.in, got, err, tc.kind)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestOriginURL(t *testing.T) {
	for _, tc := range []struct{ origin, key, want string }{
		{"http://o.test/", "a.jpg", "http://o.test/a.jpg"},
		{"http://o.test", "a.jpg", "http://o.test/a.jpg"},
		{"http://o.test/img/", "x/y z.jpg", "http://o.test/img/x/y%20z.jpg"},
		{"http://o.test/img_", "ü?#.jpg", "http://o.test/img_%C3%BC%3F%23.jpg"},
		{"http://o.test/", "a//b", "http://o.test/a//b"},
	} {
		if got := OriginURL(tc.origin, tc.key); got != tc.want {
			t.Errorf("OriginURL(%q, %q) = %q, want %q", tc.origin, tc.key, got, tc.want)
		}
	}
}

func TestLimitedBody(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int
		limit    int64
		over     bool
		readErr  bool
		wantRead int
	}{
		{"under", 10, 11, false, false, 10},
		{"at the limit", 10, 10, false, false, 10},
		{"one over", 11, 10, true, false, 11},
		{"far over", 1 << 20, 100, true, false, 101},
		{"read error", 10, 100, false, true, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r io.Reader = bytes.NewReader(make([]byte, tc.size))
			if tc.readErr {
				r = io.MultiReader(r, iotest.ErrReader(errors.New("reset")))
			}
			l := &limitedBody{r: iotest.OneByteReader(r), left: tc.limit}
			n, err := io.Copy(io.Discard, l)
			if l.over != tc.over || (err != nil) != (tc.over || tc.readErr) || (l.err != nil) != tc.readErr || int(n) != tc.wantRead {
				t.Fatalf("read %d, err %v, over %v, recorded %v", n, err, l.over, l.err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, mod := range []func(*Config){
		func(c *Config) { c.Timeout = 0 },
		func(c *Config) { c.ConnectTimeout = -1 },
		func(c *Config) { c.MaxBytes = 0 },
		func(c *Config) { c.MaxRedirects = -1 },
	} {
		c := DefaultConfig()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%+v validated", c)
		}
	}
}

// FuzzParseOrigin: whatever a user gives as --mirror, ParseOrigin either
// refuses it with a 400 or 403 kind, or returns an origin that parses
// again to itself and to which keys append as URLs of the same host.
func FuzzParseOrigin(f *testing.F) {
	policy := egress.New(nil)
	f.Fuzz(func(t *testing.T, origin, key string) {
		got, err := ParseOrigin(policy, origin)
		if err != nil {
			if k := ufop.KindOf(err); k != ufop.KindInvalid && k != ufop.KindPermission {
				t.Fatalf("ParseOrigin(%q): kind %v: %v", origin, k, err)
			}
			return
		}
		again, err := ParseOrigin(policy, got)
		if err != nil || again != got {
			t.Fatalf("ParseOrigin(%q) = %q, which parses to %q, %v", origin, got, again, err)
		}
		if key == "" {
			return
		}
		u := OriginURL(got, key)
		if !strings.HasPrefix(u, got) || strings.ContainsAny(u[len(got):], "?#") {
			t.Fatalf("OriginURL(%q, %q) = %q escapes the origin", got, key, u)
		}
	})
}
