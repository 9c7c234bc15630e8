package auth

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop"
)

// FuzzParseAuthorization feeds arbitrary headers: parsing never panics,
// fails only with KindUnauthenticated, and what it accepts re-encodes to
// a header that parses to the same credential.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("UFOP AK:" + encodeSig(mac("sk", "x")))
	f.Add("UFOP AK:4XgTZDULqPaAZFqyAeMl60h8MFk")
	f.Add("Bearer xyz")
	f.Add("UFOP :")
	f.Fuzz(func(t *testing.T, header string) {
		cred, err := ParseAuthorization(header)
		if err != nil {
			if ufop.KindOf(err) != ufop.KindUnauthenticated {
				t.Fatalf("ParseAuthorization(%q) error kind %v", header, ufop.KindOf(err))
			}
			return
		}
		if cred.AK == "" || len(cred.Sig) != 20 {
			t.Fatalf("ParseAuthorization(%q) accepted %+v", header, cred)
		}
		again, err := ParseAuthorization(Scheme + " " + cred.AK + ":" + encodeSig(cred.Sig))
		if err != nil || again.AK != cred.AK || !bytes.Equal(again.Sig, cred.Sig) {
			t.Fatalf("re-encoded credential %+v parses to %+v, %v", cred, again, err)
		}
	})
}

// FuzzVerifyURL feeds arbitrary URLs: VerifyURL never panics and accepts
// only URLs whose token is the HMAC of everything before "&token=", and
// every URL SignURL produces verifies and strips back to its fop.
func FuzzVerifyURL(f *testing.F) {
	f.Add("http://127.0.0.1:9000/pics/a%20b.jpg?imageView2/1/w/200&e=1700000000&token=AK:4CknEHuPWJ8uPPOfo1lM6TAMYyw=")
	f.Add("http://h/b/k?e=1&token=AK:x")
	f.Add("http://h/b/k?token=AK:x&e=1")
	f.Add("http://h/b/ü?imageInfo")
	f.Add("https://h/b/k?&&e=&token=:")
	now := time.Unix(1700000000, 0)
	secretOf := func(ak string) (string, error) {
		if ak == "AK" {
			return "secret", nil
		}
		return "", ufop.Errorf(ufop.KindNotFound, "no such access key")
	}
	f.Fuzz(func(t *testing.T, raw string) {
		ak, err := VerifyURL(raw, secretOf, now)
		if err != nil && ufop.KindOf(err) != ufop.KindUnauthenticated {
			t.Fatalf("VerifyURL(%q) error kind %v", raw, ufop.KindOf(err))
		}
		if err == nil {
			i := strings.LastIndex(raw, "&token=")
			if ak != "AK" || i < 0 {
				t.Fatalf("VerifyURL(%q) accepted ak %q", raw, ak)
			}
			tok, _ := url.QueryUnescape(raw[i+len("&token="):])
			_, b64, _ := strings.Cut(tok, ":")
			sig, ok := decodeSig(b64)
			if !ok || !bytes.Equal(sig, mac("secret", raw[:i])) {
				t.Fatalf("VerifyURL(%q) accepted a token that is not the URL's HMAC", raw)
			}
		}

		signed, err := SignURL(raw, "AK", "secret", now.Add(time.Minute))
		if err != nil {
			if ufop.KindOf(err) != ufop.KindInvalid {
				t.Fatalf("SignURL(%q) error kind %v", raw, ufop.KindOf(err))
			}
			return
		}
		if ak, err := VerifyURL(signed, secretOf, now); err != nil || ak != "AK" {
			t.Fatalf("VerifyURL(SignURL(%q) = %q) = %q, %v", raw, signed, ak, err)
		}
		orig, _ := url.Parse(raw)
		u, err := url.Parse(signed)
		if err != nil {
			t.Fatalf("SignURL(%q) = %q does not parse: %v", raw, signed, err)
		}
		if got := StripToken(u); got != orig.RawQuery {
			t.Fatalf("StripToken(%q) = %q, want %q", signed, got, orig.RawQuery)
		}
	})
}
