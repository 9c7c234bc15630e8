// Package egress is the one address policy for every URL the platform
// fetches on a user's behalf: mirror origins, migration sources, pfop notify
// URLs, remote images. It refuses loopback, private, link-local, multicast
// and unspecified addresses unless the operator allows a range
// (--fetch-allow CIDR). The check runs on the address actually dialled,
// after DNS resolution, so DNS rebinding cannot get past it, and it runs on
// every hop of a redirect chain because each hop dials anew.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/ufop/ufop"
)

// Policy decides which addresses may be dialled. The zero value refuses
// every non-public address and allows the rest.
type Policy struct {
	allow []netip.Prefix
}

// New returns a policy that also allows the given ranges.
func New(allow []netip.Prefix) *Policy {
	return &Policy{allow: append([]netip.Prefix(nil), allow...)}
}

// ParseAllow parses a comma-separated list of CIDRs (or bare addresses,
// taken as /32 or /128), as given to --fetch-allow.
func ParseAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("egress: --fetch-allow %q: not a CIDR or address", f)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("egress: --fetch-allow %q: not a CIDR or address", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Allowed reports whether addr may be dialled.
func (p *Policy) Allowed(addr netip.Addr) bool {
	addr = addr.Unmap()
	if p != nil {
		for _, pr := range p.allow {
			if pr.Contains(addr) {
				return true
			}
		}
	}
	return public(addr)
}

// Check returns a KindPermission error naming addr when it may not be
// dialled.
func (p *Policy) Check(addr netip.Addr) error {
	if p.Allowed(addr) {
		return nil
	}
	return ufop.Errorf(ufop.KindPermission,
		"address %s is not public (loopback, private, link-local, multicast or unspecified); an operator may allow it with --fetch-allow", addr.Unmap())
}

// public reports whether addr is a unicast address on the public internet.
func public(a netip.Addr) bool {
	if !a.IsValid() || a.IsUnspecified() || a.IsLoopback() || a.IsPrivate() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() ||
		a.IsMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// nonPublic lists ranges that netip's predicates do not cover but that no
// user URL should reach: shared address space (carrier NAT), "this
// network", benchmarking, IPv4 broadcast and reserved space, and the IPv6
// ranges that embed IPv4 addresses or are reserved.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2002::/16"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("::/96"),
	netip.MustParsePrefix("::ffff:0:0:0/96"), // IPv4-translated (SIIT)
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation (TEST-NET-1..3)
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
}

// control runs on each socket just before connect, with the resolved
// address, which is the one that counts.
func (p *Policy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return ufop.Errorf(ufop.KindPermission, "cannot check address %q", address)
	}
	return p.Check(ap.Addr())
}

// DialContext dials like net.Dialer.DialContext, refusing addresses the
// policy does not allow.
func (p *Policy) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return p.dialer(0).DialContext(ctx, network, address)
}

// dialer returns a dialer that checks every address it connects to;
// timeout zero means DefaultDialTimeout.
func (p *Policy) dialer(timeout time.Duration) *net.Dialer {
	if timeout == 0 {
		timeout = DefaultDialTimeout
	}
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.control}
}

// Defaults of ClientConfig.
const (
	DefaultDialTimeout   = 10 * time.Second
	DefaultHeaderTimeout = 30 * time.Second
	DefaultMaxRedirects  = 5
)

// ClientConfig tunes Client.
type ClientConfig struct {
	// Timeout bounds a whole request, redirects and body included; zero
	// means none (bound it with the request's context).
	Timeout time.Duration
	// DialTimeout bounds one connection attempt; zero means
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// HeaderTimeout bounds the wait for a response's header once the
	// request is sent; zero means DefaultHeaderTimeout.
	HeaderTimeout time.Duration
	// MaxRedirects is how many redirects are followed; zero means
	// DefaultMaxRedirects.
	MaxRedirects int
}

// Client returns an HTTP client whose every connection, redirects
// included, goes through the policy. It ignores proxy settings from the
// environment, since a proxy would dial on our behalf unchecked.
func (p *Policy) Client(cfg ClientConfig) *http.Client {
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = DefaultMaxRedirects
	}
	if cfg.HeaderTimeout == 0 {
		cfg.HeaderTimeout = DefaultHeaderTimeout
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            p.dialer(cfg.DialTimeout).DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    16,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  cfg.HeaderTimeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= cfg.MaxRedirects {
				return ufop.Errorf(ufop.KindUpstream, "%s: more than %d redirects", via[0].URL.Redacted(), cfg.MaxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return ufop.Errorf(ufop.KindPermission, "redirect to %s: only http and https are fetched", req.URL.Redacted())
			}
			return nil
		},
	}
}

// CheckURL checks what can be checked of a URL before fetching it: the
// scheme, and the host when it is a literal address. Names are checked
// when dialled.
func (p *Policy) CheckURL(raw string) error {
	u, err := urlParse(raw)
	if err != nil {
		return err
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		return p.Check(a)
	}
	return nil
}

// IsRefused reports whether err is the policy refusing an address, as
// opposed to a network failure.
func IsRefused(err error) bool {
	var e *ufop.Error
	return errors.As(err, &e) && e.Kind == ufop.KindPermission
}
