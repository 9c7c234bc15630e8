package gateway

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/storage"
)

func TestReadGrant(t *testing.T) {
	key, other := grantKey("token-a"), grantKey("token-b")
	now := time.Unix(1_800_000_000, 0)
	src, mark := ufop.ObjectRef{Bucket: "pub", Key: "a/b.jpg"}, ufop.ObjectRef{Bucket: "priv", Key: "m.png"}
	g := mintGrant(key, []ufop.ObjectRef{src, mark}, now.Add(time.Minute))
	payload, sig, _ := strings.Cut(g, ".")
	forged := mintGrant(key, []ufop.ObjectRef{src}, now.Add(time.Minute))
	fp, _, _ := strings.Cut(forged, ".")
	for _, tc := range []struct {
		name  string
		key   []byte
		grant string
		o     ufop.ObjectRef
		at    time.Time
		ok    bool
	}{
		{"source", key, g, src, now, true},
		{"mark", key, g, mark, now, true},
		{"not granted", key, g, ufop.ObjectRef{Bucket: "priv", Key: "other.png"}, now, false},
		{"bucket and key split elsewhere", key, g, ufop.ObjectRef{Bucket: "pub/a", Key: "b.jpg"}, now, false},
		{"expired", key, g, src, now.Add(2 * time.Minute), false},
		{"other cluster", other, g, src, now, false},
		{"none", key, "", src, now, false},
		{"payload swapped", key, fp + "." + sig, src, now, false},
		{"no signature", key, payload, src, now, false},
	} {
		err := checkGrant(tc.key, tc.grant, tc.o, tc.at)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err != nil && ufop.KindOf(err) != ufop.KindPermission {
			t.Errorf("%s: kind %v", tc.name, ufop.KindOf(err))
		}
	}
}

// FuzzResolveRef: any reference either resolves to a valid bucket and key
// of this platform or is refused with a client error; never a panic.
func FuzzResolveRef(f *testing.F) {
	for _, s := range []string{"b:k.png", "http://127.0.0.1:9000/b/k", "https://pics.img.test/a/b.png",
		"http://img.test/b/k", "http://evil.test/b/k", "http://u@127.0.0.1:9000/b/k", "b:../k", "http://127.0.0.1:9000/b/k?x#y", ":"} {
		f.Add(s, "127.0.0.1:9000")
	}
	g := &Gateway{cfg: Config{Domain: "img.test"}, addr: "10.0.0.1:9000"}
	f.Fuzz(func(t *testing.T, ref, host string) {
		o, err := g.resolveRef(requester{host: host}, ref)
		if err != nil {
			if k := ufop.KindOf(err); k != ufop.KindInvalid {
				t.Fatalf("%q: kind %v: %v", ref, k, err)
			}
			return
		}
		if o.Bucket == "" || o.Key == "" || storage.ValidateKey(o.Key) != nil {
			t.Fatalf("%q resolved to %+v", ref, o)
		}
		if strings.Contains(ref, "://") {
			u, _ := url.Parse(ref)
			h := strings.ToLower(u.Host)
			if h != strings.ToLower(host) && h != "10.0.0.1:9000" && !strings.HasSuffix(strings.ToLower(u.Hostname()), "img.test") {
				t.Fatalf("%q with request host %q resolved though foreign", ref, host)
			}
		}
	})
}
