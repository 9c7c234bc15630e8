package console

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzCheckOrigin feeds hostile Origin and Referer headers to the check
// that guards every console change: it must accept only a URL whose host
// is exactly the request's host, and never panic.
func FuzzCheckOrigin(f *testing.F) {
	for _, s := range []string{"http://console.test", "https://console.test/x", "http://console.test.evil.test",
		"http://evil.test/?console.test", "http://user@console.test", "null", "", "//console.test", "console.test",
		"http://CONSOLE.test", "http://console.test:80", "http://[::1]:9000", "javascript:alert(1)//console.test"} {
		f.Add(s, "console.test")
	}
	f.Fuzz(func(t *testing.T, origin, host string) {
		r := httptest.NewRequest("PUT", "http://x/v1/buckets/b", nil)
		r.Host = host
		r.Header.Set("Origin", origin)
		err := checkOrigin(r)
		if err != nil {
			return
		}
		u, perr := url.Parse(origin)
		if perr != nil || u.Host == "" || !strings.EqualFold(u.Host, host) {
			t.Fatalf("origin %q accepted for host %q", origin, host)
		}
	})
}
