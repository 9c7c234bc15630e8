package auth

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop"
)

var epoch = time.Unix(1700000000, 0)

func wantKind(t *testing.T, err error, kind ufop.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want kind %v", kind)
	}
	if got := ufop.KindOf(err); got != kind {
		t.Fatalf("error %q has kind %v, want %v", err, got, kind)
	}
}

func TestBodyHash(t *testing.T) {
	if got := BodyHash(nil); got != EmptyBodyHash {
		t.Fatalf("BodyHash(nil) = %s, want %s", got, EmptyBodyHash)
	}
	// FIPS 180-2 test vector.
	if got := BodyHash([]byte("abc")); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("BodyHash(abc) = %s", got)
	}
}

// The vectors were computed independently with
// printf '<string to sign>' | openssl dgst -sha1 -hmac secret -binary | base64 | tr '+/' '-_'.
func TestSignRequestVector(t *testing.T) {
	r := httptest.NewRequest("GET", "http://127.0.0.1:9000/v1/buckets", nil)
	signRequest(r, "AK", "secret", EmptyBodyHash, epoch, "")
	if got, want := r.URL.RequestURI(), "/v1/buckets?ts=1700000000"; got != want {
		t.Fatalf("signed target %q, want %q", got, want)
	}
	if got, want := r.Header.Get("Authorization"), "UFOP AK:4XgTZDULqPaAZFqyAeMl60h8MFk="; got != want {
		t.Fatalf("Authorization %q, want %q", got, want)
	}
}

func TestSignURLVector(t *testing.T) {
	got, err := SignURL("http://127.0.0.1:9000/pics/a%20b.jpg?imageView2/1/w/200", "AK", "secret", epoch)
	if err != nil {
		t.Fatal(err)
	}
	want := "http://127.0.0.1:9000/pics/a%20b.jpg?imageView2/1/w/200&e=1700000000&token=AK:4CknEHuPWJ8uPPOfo1lM6TAMYyw="
	if got != want {
		t.Fatalf("SignURL = %s\nwant      %s", got, want)
	}
}

// verifyServer checks admin signatures the way the gateway does, over a
// real HTTP round trip, so what the client signs is what the server sees.
func verifyServer(t *testing.T, sk string, now time.Time) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		cred, err := ParseAuthorization(r.Header.Get("Authorization"))
		if err == nil {
			err = VerifyRequest(r.Method, RequestPathAndQuery(r), BodyHash(body), cred, sk, now, 0)
		}
		if err != nil {
			http.Error(w, ufop.KindOf(err).String()+": "+ufop.Message(err), http.StatusUnauthorized)
			return
		}
		io.WriteString(w, cred.AK)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSignAndVerifyRequest(t *testing.T) {
	srv := verifyServer(t, "sk1", epoch)
	tests := []struct {
		name   string
		method string
		target string // appended to the server URL
		body   string
		sk     string
		now    time.Time
		tamper func(r *http.Request)
		ok     bool
		msg    string
	}{
		{name: "get", method: "GET", target: "/v1/buckets", sk: "sk1", now: epoch, ok: true},
		{name: "put with body", method: "PUT", target: "/v1/buckets/pics", body: `{"private":true}`, sk: "sk1", now: epoch, ok: true},
		{name: "escaped key", method: "PUT", target: "/v1/objects/pics/a%20b/%C3%BC.jpg", body: "img", sk: "sk1", now: epoch, ok: true},
		{name: "query kept", method: "GET", target: "/v1/buckets/pics/objects?prefix=a%2Fb&limit=10", sk: "sk1", now: epoch, ok: true},
		{name: "old ts replaced", method: "GET", target: "/v1/users?ts=1", sk: "sk1", now: epoch, ok: true},
		{name: "clock skew within limit", method: "GET", target: "/v1/whoami", sk: "sk1", now: epoch.Add(14 * time.Minute), ok: true},
		{name: "wrong secret", method: "GET", target: "/v1/whoami", sk: "sk2", now: epoch,
			msg: `signature does not match for access key "AK": check the secret key`},
		{name: "stale", method: "GET", target: "/v1/whoami", sk: "sk1", now: epoch.Add(-20 * time.Minute),
			msg: "request timestamp is 20m0s away from the server clock (limit 15m0s): check the client's clock"},
		{name: "from the future", method: "GET", target: "/v1/whoami", sk: "sk1", now: epoch.Add(16 * time.Minute),
			msg: "request timestamp is 16m0s away from the server clock (limit 15m0s): check the client's clock"},
		{name: "body changed", method: "PUT", target: "/v1/buckets/pics", body: "a", sk: "sk1", now: epoch,
			tamper: func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader("b")); r.ContentLength = 1 },
			msg:    `signature does not match for access key "AK": check the secret key`},
		{name: "method changed", method: "GET", target: "/v1/buckets/pics", sk: "sk1", now: epoch,
			tamper: func(r *http.Request) { r.Method = "DELETE" },
			msg:    `signature does not match for access key "AK": check the secret key`},
		{name: "path changed", method: "GET", target: "/v1/buckets/pics", sk: "sk1", now: epoch,
			tamper: func(r *http.Request) { r.URL.Path = "/v1/buckets/other" },
			msg:    `signature does not match for access key "AK": check the secret key`},
		{name: "ts removed", method: "GET", target: "/v1/whoami", sk: "sk1", now: epoch,
			tamper: func(r *http.Request) { r.URL.RawQuery = "" },
			msg:    "request must carry exactly one ts=<unix seconds> query parameter inside its signature"},
		{name: "ts doubled", method: "GET", target: "/v1/whoami", sk: "sk1", now: epoch,
			tamper: func(r *http.Request) { r.URL.RawQuery += "&ts=1" },
			msg:    "request must carry exactly one ts=<unix seconds> query parameter inside its signature"},
		{name: "no header", method: "GET", target: "/v1/whoami", sk: "sk1", now: epoch,
			tamper: func(r *http.Request) { r.Header.Del("Authorization") },
			msg:    "request is not signed: send an Authorization: UFOP <AK>:<signature> header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.NewRequest(tt.method, srv.URL+tt.target, bytes.NewReader([]byte(tt.body)))
			if err != nil {
				t.Fatal(err)
			}
			SignRequest(r, "AK", tt.sk, BodyHash([]byte(tt.body)), tt.now)
			if _, n := lookupParam(r.URL.RawQuery, TimestampParam); n != 1 {
				t.Fatalf("signed query %q has %d ts parameters", r.URL.RawQuery, n)
			}
			if tt.tamper != nil {
				tt.tamper(r)
			}
			resp, err := srv.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tt.ok {
				if resp.StatusCode != 200 || string(got) != "AK" {
					t.Fatalf("status %d %q, want 200 AK", resp.StatusCode, got)
				}
				return
			}
			if want := "unauthenticated: " + tt.msg + "\n"; resp.StatusCode != 401 || string(got) != want {
				t.Fatalf("status %d %q, want 401 %q", resp.StatusCode, got, want)
			}
		})
	}
}

func TestCheckTimestamp(t *testing.T) {
	tests := []struct {
		target string
		ok     bool
	}{
		{"/v1/x?ts=1700000000", true},
		{"/v1/x?a=b&ts=1700000900", true},
		{"/v1/x?ts=1699999100", true},
		{"/v1/x?ts=1700000901", false},
		{"/v1/x?ts=1699999099", false},
		{"/v1/x?ts=9223372036854775807", false},
		{"/v1/x?ts=-9223372036854775808", false},
		{"/v1/x?ts=99999999999999999999", false},
		{"/v1/x?ts=", false},
		{"/v1/x?ts=1700000000&ts=1700000000", false},
		{"/v1/x", false},
		{"/v1/x?xts=1700000000", false},
	}
	for _, tt := range tests {
		err := CheckTimestamp(tt.target, epoch, 0)
		if tt.ok && err != nil {
			t.Errorf("CheckTimestamp(%q) = %v", tt.target, err)
		}
		if !tt.ok && ufop.KindOf(err) != ufop.KindUnauthenticated {
			t.Errorf("CheckTimestamp(%q) = %v, want unauthenticated", tt.target, err)
		}
	}
}

func TestParseAuthorization(t *testing.T) {
	sig := mac("sk", "x")
	good := encodeSig(sig)
	tests := []struct {
		header string
		ak     string
		ok     bool
	}{
		{"UFOP AK:" + good, "AK", true},
		{"ufop AK:" + good, "AK", true},
		{"UFOP AK:" + strings.TrimRight(good, "="), "AK", true},
		{"UFOP  AK:" + good, "AK", true},
		{"", "", false},
		{"Bearer AK:" + good, "", false},
		{"UFOP", "", false},
		{"UFOP AK" + good, "", false},
		{"UFOP :" + good, "", false},
		{"UFOP AK:", "", false},
		{"UFOP AK:!!!!", "", false},
		{"UFOP AK:" + encodeSig(sig[:10]), "", false},
		{"UFOP A K:" + good, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			cred, err := ParseAuthorization(tt.header)
			if !tt.ok {
				wantKind(t, err, ufop.KindUnauthenticated)
				return
			}
			if err != nil || cred.AK != tt.ak || !bytes.Equal(cred.Sig, sig) {
				t.Fatalf("ParseAuthorization = %+v, %v", cred, err)
			}
		})
	}
}

func TestSignAndVerifyURL(t *testing.T) {
	keys := map[string]string{"AK": "sk1", "AK2": "sk2"}
	errCatalog := errors.New("etcd: connection refused")
	secretOf := func(ak string) (string, error) {
		if ak == "BROKEN" {
			return "", errCatalog
		}
		if sk, ok := keys[ak]; ok {
			return sk, nil
		}
		return "", ufop.Errorf(ufop.KindNotFound, "no such access key %q", ak)
	}
	expires := epoch.Add(time.Hour)
	sign := func(raw string) string {
		s, err := SignURL(raw, "AK", "sk1", expires)
		if err != nil {
			t.Fatalf("SignURL(%q): %v", raw, err)
		}
		return s
	}
	e := strconv.FormatInt(expires.Unix(), 10)
	tests := []struct {
		name      string
		url       string
		now       time.Time
		kind      ufop.Kind // KindInternal with ok false means any non-401 error
		msg       string
		ok        bool
		wantQuery string // StripToken of a good URL
	}{
		{name: "plain", url: sign("http://127.0.0.1:9000/pics/a.jpg"), now: epoch, ok: true},
		{name: "fop", url: sign("http://127.0.0.1:9000/pics/a.jpg?imageView2/1/w/200|imageMogr2/rotate/90"), now: epoch, ok: true,
			wantQuery: "imageView2/1/w/200|imageMogr2/rotate/90"},
		{name: "unicode path re-escaped", url: sign("https://pics.example.test/%E5%86%99/a b.jpg"), now: epoch, ok: true},
		{name: "bucket host", url: sign("http://pics.img.local:9000/k?exif"), now: epoch, ok: true, wantQuery: "exif"},
		{name: "at expiry", url: sign("http://h/b/k"), now: expires, ok: true},
		{name: "expired", url: sign("http://h/b/k"), now: expires.Add(time.Second), kind: ufop.KindUnauthenticated, msg: "token expired"},
		{name: "no query", url: "http://h/b/k", now: epoch, kind: ufop.KindUnauthenticated,
			msg: "this bucket is private: the URL needs a download token (?e=<expiry>&token=<AK>:<signature>, see ufopctl sign)"},
		{name: "fop but no token", url: "http://h/b/k?imageInfo", now: epoch, kind: ufop.KindUnauthenticated,
			msg: "this bucket is private: the URL needs a download token (?e=<expiry>&token=<AK>:<signature>, see ufopctl sign)"},
		{name: "path tampered", url: strings.Replace(sign("http://h/b/k1"), "/k1", "/k2", 1), now: epoch, kind: ufop.KindUnauthenticated,
			msg: "download token: signature does not match the URL"},
		{name: "host tampered", url: strings.Replace(sign("http://h1/b/k"), "h1", "h2", 1), now: epoch, kind: ufop.KindUnauthenticated,
			msg: "download token: signature does not match the URL"},
		{name: "expiry extended", url: strings.Replace(sign("http://h/b/k"), "e="+e, "e=9"+e, 1), now: epoch, kind: ufop.KindUnauthenticated,
			msg: "download token: signature does not match the URL"},
		{name: "fop changed", url: strings.Replace(sign("http://h/b/k?imageView2/1/w/20"), "w/20", "w/2000", 1), now: epoch, kind: ufop.KindUnauthenticated,
			msg: "download token: signature does not match the URL"},
		{name: "token not last", url: sign("http://h/b/k") + "&imageInfo", now: epoch, kind: ufop.KindUnauthenticated,
			msg: "download token: token= must be the last parameter of the URL"},
		{name: "no e", url: "http://h/b/k?token=AK:" + encodeSig(mac("sk1", "http://h/b/k")), now: epoch, kind: ufop.KindUnauthenticated,
			msg: "download token: the URL needs an e=<unix expiry> parameter right before token="},
		{name: "bad e", url: "http://h/b/k?e=soon&token=AK:" + encodeSig(mac("sk1", "http://h/b/k?e=soon")), now: epoch, kind: ufop.KindUnauthenticated,
			msg: `download token: e="soon" is not a unix time in seconds`},
		{name: "unknown ak", url: strings.Replace(sign("http://h/b/k"), "token=AK:", "token=NOPE:", 1), now: epoch, kind: ufop.KindUnauthenticated,
			msg: `download token: unknown access key "NOPE"`},
		{name: "other user's key", url: strings.Replace(sign("http://h/b/k"), "token=AK:", "token=AK2:", 1), now: epoch, kind: ufop.KindUnauthenticated,
			msg: "download token: signature does not match the URL"},
		{name: "catalog down", url: strings.Replace(sign("http://h/b/k"), "token=AK:", "token=BROKEN:", 1), now: epoch, kind: ufop.KindInternal,
			msg: "internal error"},
		{name: "fully escaped query", url: strings.Replace(strings.Replace(sign("http://h/b/k"), "AK:", "AK%3A", 1), "=", "%3D", -1), now: epoch,
			kind: ufop.KindUnauthenticated, msg: "this bucket is private: the URL needs a download token (?e=<expiry>&token=<AK>:<signature>, see ufopctl sign)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ak, err := VerifyURL(tt.url, secretOf, tt.now)
			if tt.ok {
				if err != nil || ak != "AK" {
					t.Fatalf("VerifyURL(%s) = %q, %v", tt.url, ak, err)
				}
				u, err := url.Parse(tt.url)
				if err != nil {
					t.Fatal(err)
				}
				if got := StripToken(u); got != tt.wantQuery {
					t.Fatalf("StripToken = %q, want %q", got, tt.wantQuery)
				}
				return
			}
			wantKind(t, err, tt.kind)
			if got := ufop.Message(err); got != tt.msg {
				t.Fatalf("message %q, want %q", got, tt.msg)
			}
			if tt.kind == ufop.KindInternal && !errors.Is(err, errCatalog) {
				t.Fatalf("catalog error not wrapped: %v", err)
			}
		})
	}
}

// A token signed with an escaped ':' still verifies when only the token
// value is escaped (some clients escape reserved characters in values).
func TestVerifyURLEscapedTokenValue(t *testing.T) {
	s, err := SignURL("http://h/b/k", "AK", "sk1", epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndex(s, "token=") + len("token=")
	escaped := s[:i] + url.QueryEscape(s[i:])
	if escaped == s {
		t.Fatal("test URL has nothing to escape")
	}
	if ak, err := VerifyURL(escaped, func(string) (string, error) { return "sk1", nil }, epoch); err != nil || ak != "AK" {
		t.Fatalf("VerifyURL(%s) = %q, %v", escaped, ak, err)
	}
}

func TestSignURLErrors(t *testing.T) {
	tests := []struct{ name, url, ak, sk string }{
		{"relative", "/b/k", "AK", "sk"},
		{"no host", "http:///b/k", "AK", "sk"},
		{"ftp", "ftp://h/b/k", "AK", "sk"},
		{"has e", "http://h/b/k?e=1", "AK", "sk"},
		{"has token", "http://h/b/k?x&token=a", "AK", "sk"},
		{"no ak", "http://h/b/k", "", "sk"},
		{"no sk", "http://h/b/k", "AK", ""},
		{"unparsable", "http://h/%zz", "AK", "sk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SignURL(tt.url, tt.ak, tt.sk, epoch)
			wantKind(t, err, ufop.KindInvalid)
		})
	}
}

func TestStripToken(t *testing.T) {
	tests := []struct{ query, want string }{
		{"", ""},
		{"e=1&token=a:b", ""},
		{"imageView2/1/w/200&e=1&token=a:b", "imageView2/1/w/200"},
		{"watermark/1/image/aHR0cDovL2E=&e=1&token=a:b", "watermark/1/image/aHR0cDovL2E="},
		{"exif", "exif"},
		{"a&b", "a&b"},
	}
	for _, tt := range tests {
		if got := StripToken(&url.URL{RawQuery: tt.query}); got != tt.want {
			t.Errorf("StripToken(%q) = %q, want %q", tt.query, got, tt.want)
		}
	}
}

func TestFullURL(t *testing.T) {
	r := httptest.NewRequest("GET", "http://pics.example.test:9000/b/a%20b.jpg?imageInfo&e=1&token=x", nil)
	if got, want := FullURL(r), "http://pics.example.test:9000/b/a%20b.jpg?imageInfo&e=1&token=x"; got != want {
		t.Fatalf("FullURL = %q, want %q", got, want)
	}
}

func BenchmarkVerifyRequest(b *testing.B) {
	r := httptest.NewRequest("GET", "http://h/v1/buckets/pics/objects?prefix=a", nil)
	SignRequest(r, "AK", "secret", EmptyBodyHash, epoch)
	cred, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		b.Fatal(err)
	}
	target := r.URL.RequestURI()
	for b.Loop() {
		if err := VerifyRequest("GET", target, EmptyBodyHash, cred, "secret", epoch, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyURL(b *testing.B) {
	u, err := SignURL("http://127.0.0.1:9000/pics/a.jpg?imageView2/1/w/200", "AK", "secret", epoch.Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	secretOf := func(string) (string, error) { return "secret", nil }
	for b.Loop() {
		if _, err := VerifyURL(u, secretOf, epoch); err != nil {
			b.Fatal(err)
		}
	}
}

func TestVerifyURLMaxLifetime(t *testing.T) {
	secretOf := func(string) (string, error) { return "sk1", nil }
	const max = 7 * 24 * time.Hour
	for _, tc := range []struct {
		name    string
		expires int64 // seconds after epoch, or an absolute e= when abs
		abs     bool
		ok      bool
	}{
		{name: "an hour", expires: 3600, ok: true},
		{name: "exactly the limit", expires: int64(max / time.Second), ok: true},
		{name: "a second over", expires: int64(max/time.Second) + 1},
		{name: "a year", expires: 365 * 24 * 3600},
		{name: "int64 max", expires: math.MaxInt64, abs: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := epoch.Unix() + tc.expires
			if tc.abs {
				e = tc.expires
			}
			signed := "http://h/b/k?e=" + strconv.FormatInt(e, 10)
			u := signed + "&token=AK:" + encodeSig(mac("sk1", signed))
			if _, err := VerifyURL(u, secretOf, epoch); err != nil {
				t.Fatalf("without a limit: %v", err)
			}
			_, err := VerifyURLWithin(u, secretOf, epoch, max)
			if tc.ok != (err == nil) {
				t.Fatalf("with a limit of %v: %v", max, err)
			}
			if err != nil && (ufop.KindOf(err) != ufop.KindPermission || !strings.Contains(ufop.Message(err), "7 days")) {
				t.Errorf("error %v (kind %v) should be a 403 naming the limit", err, ufop.KindOf(err))
			}
		})
	}
}
