package egress

import (
	"net/url"

	"github.com/ufop/ufop"
)

// urlParse parses an absolute http(s) URL with a host and no user info.
func urlParse(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, ufop.Errorf(ufop.KindInvalid, "url %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, ufop.Errorf(ufop.KindInvalid, "url %q: scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return nil, ufop.Errorf(ufop.KindInvalid, "url %q: no host", u.Redacted())
	}
	if u.User != nil {
		return nil, ufop.Errorf(ufop.KindInvalid, "url %q: user info is not allowed", u.Redacted())
	}
	return u, nil
}
