package auth

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop"
)

func signedCred(t *testing.T, target string, now time.Time) (Credential, string) {
	t.Helper()
	r := httptest.NewRequest("GET", "http://h"+target, nil)
	SignRequest(r, "AK", "secret", EmptyBodyHash, now)
	cred, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		t.Fatal(err)
	}
	return cred, r.URL.RequestURI()
}

func TestSignRequestNonce(t *testing.T) {
	// Two identical requests in the same second sign differently, and each
	// still verifies.
	a, ta := signedCred(t, "/v1/buckets?ts=1&nonce=x", epoch)
	b, tb := signedCred(t, "/v1/buckets", epoch)
	if string(a.Sig) == string(b.Sig) || ta == tb {
		t.Fatalf("identical requests signed alike: %s %s", ta, tb)
	}
	for _, target := range []string{ta, tb} {
		if strings.Count(target, "nonce=") != 1 || strings.Count(target, "ts=") != 1 {
			t.Fatalf("signed target %q: want one ts= and one nonce=", target)
		}
	}
	if err := VerifyRequest("GET", ta, EmptyBodyHash, a, "secret", epoch, 0); err != nil {
		t.Fatal(err)
	}
	// The nonce is inside the signature.
	tampered := strings.Replace(ta, "nonce=", "nonce=0", 1)
	wantKind(t, VerifyRequest("GET", tampered, EmptyBodyHash, a, "secret", epoch, 0), ufop.KindUnauthenticated)
}

func TestReplayCache(t *testing.T) {
	c := NewReplayCache(time.Minute, 3)
	cred, target := signedCred(t, "/v1/users", epoch)
	if err := c.Check(cred, target, epoch); err != nil {
		t.Fatal(err)
	}
	wantKind(t, c.Check(cred, target, epoch.Add(59*time.Second)), ufop.KindUnauthenticated)

	// Full of live signatures: refuse with 503 rather than forget one.
	for i := range 2 {
		cr, tg := signedCred(t, "/v1/users", epoch.Add(time.Duration(i)*time.Second))
		if err := c.Check(cr, tg, epoch); err != nil {
			t.Fatal(err)
		}
	}
	other, otherTarget := signedCred(t, "/v1/buckets", epoch)
	err := c.Check(other, otherTarget, epoch)
	wantKind(t, err, ufop.KindUnavailable)
	if ufop.RetryAfterOf(err) <= 0 {
		t.Fatal("full cache gives no Retry-After")
	}

	// Past ts + skew the signatures are forgotten (the timestamp check
	// refuses those requests by then anyway).
	later := epoch.Add(2 * time.Minute)
	if err := c.Check(other, otherTarget, later); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if n := c.Len(); n != 1 {
		t.Fatalf("cache holds %d signatures after expiry, want 1", n)
	}

	bad := Credential{AK: "AK", Sig: make([]byte, 20)}
	wantKind(t, c.Check(bad, "/v1/users?ts=x", epoch), ufop.KindUnauthenticated)
	wantKind(t, c.Check(bad, "/v1/users", epoch), ufop.KindUnauthenticated)
}

func TestReplayExpiry(t *testing.T) {
	got, err := ReplayExpiry("/v1/x?a=b&ts=1700000000&nonce=1", 0)
	if err != nil || !got.Equal(epoch.Add(DefaultMaxSkew)) {
		t.Fatalf("ReplayExpiry = %v, %v", got, err)
	}
	if _, err := ReplayExpiry("/v1/x?ts=1&ts=2", time.Second); err == nil {
		t.Fatal("two ts= accepted")
	}
}

func BenchmarkReplayCache(b *testing.B) {
	c := NewReplayCache(time.Minute, 1<<20)
	r := httptest.NewRequest("GET", "http://h/v1/buckets", nil)
	i := 0
	for b.Loop() {
		SignRequest(r, "AK", "secret", EmptyBodyHash, epoch)
		cred, _ := ParseAuthorization(r.Header.Get("Authorization"))
		if err := c.Check(cred, r.URL.RequestURI(), epoch.Add(time.Duration(i)*time.Millisecond)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// FuzzReplayCheck feeds arbitrary request targets to the replay cache: it
// never panics, fails only as unauthenticated, and a target it accepted
// once is refused the second time.
func FuzzReplayCheck(f *testing.F) {
	f.Add("/v1/buckets?ts=1700000000&nonce=0123456789abcdef", []byte("01234567890123456789"))
	f.Add("/v1/x?ts=1&ts=2", []byte("a"))
	f.Add("/v1/x?ts=-9223372036854775808", []byte{})
	f.Add("?ts=99999999999999999999", []byte("sig"))
	f.Fuzz(func(t *testing.T, target string, sig []byte) {
		c := NewReplayCache(time.Minute, 16)
		cred := Credential{AK: "AK", Sig: sig}
		err := c.Check(cred, target, epoch)
		if err != nil {
			if ufop.KindOf(err) != ufop.KindUnauthenticated {
				t.Fatalf("Check(%q) error kind %v", target, ufop.KindOf(err))
			}
			return
		}
		exp, _ := ReplayExpiry(target, time.Minute)
		if !exp.After(epoch) {
			return // already expired: forgotten on the next check
		}
		if err := c.Check(cred, target, epoch); err != ErrReplayed {
			t.Fatalf("second Check(%q) = %v, want a replay", target, err)
		}
	})
}
