package egress

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/ufop/ufop"
)

func TestAllowed(t *testing.T) {
	allow, err := ParseAllow("127.0.0.0/8, 10.1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	p := New(allow)
	var zero *Policy
	tests := []struct {
		addr        string
		def, custom bool
	}{
		{"8.8.8.8", true, true},
		{"2606:4700::1111", true, true},
		{"127.0.0.1", false, true},
		{"127.9.9.9", false, true},
		{"::1", false, false},
		{"::ffff:127.0.0.1", false, true},
		{"10.1.2.3", false, true},
		{"10.1.2.4", false, false},
		{"192.168.1.1", false, false},
		{"172.17.0.1", false, false},
		{"169.254.169.254", false, false},
		{"fe80::1", false, false},
		{"fc00::1", false, false},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"ff02::1", false, false},
		{"100.64.0.1", false, false},
		{"255.255.255.255", false, false},
		{"64:ff9b::7f00:1", false, false},
		{"fec0::1", false, false},
		{"2001:db8::1", false, false},
		{"192.0.2.1", false, false},
		{"::ffff:0:7f00:1", false, false},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		if got := zero.Allowed(a); got != tt.def {
			t.Errorf("default Allowed(%s) = %v, want %v", tt.addr, got, tt.def)
		}
		if got := p.Allowed(a); got != tt.custom {
			t.Errorf("with allow list, Allowed(%s) = %v, want %v", tt.addr, got, tt.custom)
		}
	}
}

func TestParseAllowRejectsGarbage(t *testing.T) {
	for _, s := range []string{"nope", "10.0.0.0/33", "1.2.3.4/x"} {
		if _, err := ParseAllow(s); err == nil {
			t.Errorf("ParseAllow(%q) succeeded", s)
		}
	}
}

// TestClientRefusesLoopbackUnlessAllowed dials loopback only: refused by
// default, served once 127.0.0.0/8 is allowed.
func TestClientRefusesLoopbackUnlessAllowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()

	_, err := New(nil).Client(ClientConfig{}).Get(srv.URL)
	if err == nil || !IsRefused(err) || ufop.KindOf(err) != ufop.KindPermission {
		t.Fatalf("default policy: err = %v, want a refusal", err)
	}
	allow, _ := ParseAllow("127.0.0.0/8")
	resp, err := New(allow).Client(ClientConfig{}).Get(srv.URL)
	if err != nil {
		t.Fatalf("allowed loopback: %v", err)
	}
	resp.Body.Close()
}

// TestRedirectToRefusedAddress: an allowed host (127.0.0.1) redirects to a
// refused one (127.0.0.2 is outside the one allowed address); the hop is
// refused at dial time.
func TestRedirectToRefusedAddress(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secret") }))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := "http://127.0.0.2:" + portOf(target.Listener.Addr().String())
		http.Redirect(w, r, u, http.StatusFound)
	}))
	defer redirector.Close()
	allow, _ := ParseAllow("127.0.0.1")
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, redirector.URL, nil)
	_, err := New(allow).Client(ClientConfig{}).Do(req)
	if !IsRefused(err) {
		t.Fatalf("redirect to 127.0.0.2: err = %v, want a refusal", err)
	}
}

func portOf(hostport string) string {
	return strconv.Itoa(int(netip.MustParseAddrPort(hostport).Port()))
}

func TestCheckURL(t *testing.T) {
	p := New(nil)
	for _, u := range []string{"ftp://example.com/x", "http://user:pw@example.com/", "http:///x", "http://127.0.0.1/x", "http://[::1]/"} {
		if err := p.CheckURL(u); err == nil {
			t.Errorf("CheckURL(%q) = nil, want an error", u)
		}
	}
	if err := p.CheckURL("https://example.com/a"); err != nil {
		t.Errorf("CheckURL(public name) = %v", err)
	}
}

// TestHeaderTimeout: an origin that accepts the request but never answers
// is cut at HeaderTimeout, well before the whole-request timeout.
func TestHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	allow, _ := ParseAllow("127.0.0.1")
	cl := New(allow).Client(ClientConfig{HeaderTimeout: 100 * time.Millisecond, Timeout: time.Minute})
	_, err := cl.Get(srv.URL)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
}
