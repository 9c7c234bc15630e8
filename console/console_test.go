package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/protocol"
)

// users is a fixed user table, the catalog's stand-in in unit tests.
type users map[string]ufop.User

func (u users) User(name string) (ufop.User, error) {
	if x, ok := u[name]; ok {
		return x, nil
	}
	return ufop.User{}, ufop.Errorf(ufop.KindNotFound, "no such user %q", name)
}

func newTestConsole(t *testing.T, cfg Config) *Console {
	t.Helper()
	c, err := New(cfg, testenv.EtcdClient(t), users{"alice": {Name: "alice"}, "root": {Name: "root", Admin: true}}, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"prefix without slash", func(c *Config) { c.Prefix = "/x" }, false},
		{"zero sign-in lifetime", func(c *Config) { c.SignInTTL = 0 }, false},
		{"zero session lifetime", func(c *Config) { c.SessionTTL = 0 }, false},
		{"no sample period", func(c *Config) { c.SampleEvery = 0 }, false},
		{"one sample", func(c *Config) { c.Samples = 1 }, false},
	} {
		cfg := DefaultConfig()
		c.edit(&cfg)
		if err := cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: Validate() = %v", c.name, err)
		}
	}
	if d := DefaultConfig(); d.SignInTTL != 5*time.Minute || d.Samples*int(d.SampleEvery/time.Second) != 3600 {
		t.Errorf("defaults: sign-in %s, %d samples every %s (want 5m and an hour)", d.SignInTTL, d.Samples, d.SampleEvery)
	}
}

func sessionRequest(method, cookie, csrf, origin string) *http.Request {
	r := httptest.NewRequest(method, "http://console.test/v1/buckets", nil)
	if cookie != "" {
		r.AddCookie(&http.Cookie{Name: protocol.ConsoleCookie, Value: cookie})
	}
	if csrf != "" {
		r.Header.Set(protocol.ConsoleCSRFHeader, csrf)
	}
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	return r
}

// TestSignInOnceThenSession is the sign-in path against a real etcd: a
// token works once, its session authenticates with its CSRF token only,
// and a change needs this host as its Origin.
func TestSignInOnceThenSession(t *testing.T) {
	c := newTestConsole(t, DefaultConfig())
	ctx := context.Background()
	tok, exp, err := c.MintSignIn(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(exp); d < 4*time.Minute || d > 5*time.Minute {
		t.Errorf("sign-in token expires in %s", d)
	}
	// etcd holds only the token's hash.
	resp, err := c.cli.Get(ctx, c.cfg.Prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		if strings.Contains(string(kv.Key)+string(kv.Value), tok) {
			t.Fatalf("etcd holds the token itself at %s", kv.Key)
		}
	}

	// Two browsers race for the one token: exactly one wins.
	var wg sync.WaitGroup
	ids := make([]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); ids[i], _, errs[i] = c.Redeem(ctx, tok) }()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("redeeming twice at once: %v, %v", errs[0], errs[1])
	}
	id := ids[0]
	if errs[0] != nil {
		id = ids[1]
	}
	if _, _, err := c.Redeem(ctx, tok); ufop.KindOf(err) != ufop.KindUnauthenticated {
		t.Fatalf("third use: %v", err)
	}
	s, _, ok, err := c.session(sessionRequest("GET", id, "", ""))
	if !ok || err != nil || s.User != "alice" || len(s.CSRF) != 64 {
		t.Fatalf("session: %+v %v %v", s, ok, err)
	}

	for _, tc := range []struct {
		name                         string
		method, cookie, csrf, origin string
		ok                           bool
		kind                         ufop.Kind
	}{
		{"no cookie: not a console request", "GET", "", "", "", false, 0},
		{"read with the token", "GET", id, s.CSRF, "", true, 0},
		{"read without the token", "GET", id, "", "", true, ufop.KindPermission},
		{"read with another token", "GET", id, strings.Repeat("a", 64), "", true, ufop.KindPermission},
		{"change from this host", "PUT", id, s.CSRF, "http://console.test", true, 0},
		{"change from another host", "PUT", id, s.CSRF, "http://evil.test", true, ufop.KindPermission},
		{"change from a look-alike host", "DELETE", id, s.CSRF, "http://console.test.evil.test", true, ufop.KindPermission},
		{"change without an origin", "POST", id, s.CSRF, "", true, ufop.KindPermission},
		{"change without the token", "PUT", id, "", "http://console.test", true, ufop.KindPermission},
		{"unknown session", "GET", strings.Repeat("b", 64), s.CSRF, "", true, ufop.KindUnauthenticated},
		{"malformed session", "GET", "x", s.CSRF, "", true, ufop.KindUnauthenticated},
	} {
		u, ok, err := c.Authenticate(sessionRequest(tc.method, tc.cookie, tc.csrf, tc.origin))
		if ok != tc.ok || ufop.KindOf(err) != tc.kind && !(err == nil && tc.kind == 0) {
			t.Errorf("%s: ok %v err %v (want ok %v kind %v)", tc.name, ok, err, tc.ok, tc.kind)
		}
		if err == nil && ok && u.Name != "alice" {
			t.Errorf("%s: user %q", tc.name, u.Name)
		}
	}

	// Signing out ends the session.
	if err := c.signOut(sessionRequest("POST", id, s.CSRF, "http://console.test")); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Authenticate(sessionRequest("GET", id, s.CSRF, "")); !ok || ufop.KindOf(err) != ufop.KindUnauthenticated {
		t.Fatalf("after sign-out: %v %v", ok, err)
	}
}

func TestSignInAndSessionExpire(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SignInTTL, cfg.SessionTTL = time.Second, time.Second
	c := newTestConsole(t, cfg)
	ctx := context.Background()
	stale, _, err := c.MintSignIn(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	fresh, _, err := c.MintSignIn(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	id, s, err := c.Redeem(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	// Past the lifetime, the stored expiry refuses both, whether or not
	// the lease has reaped the keys yet.
	testenv.Eventually(t, 5*time.Second, func() bool {
		_, _, err := c.Redeem(ctx, stale)
		_, ok, aerr := c.Authenticate(sessionRequest("GET", id, s.CSRF, ""))
		return ufop.KindOf(err) == ufop.KindUnauthenticated && ok && ufop.KindOf(aerr) == ufop.KindUnauthenticated
	}, "the sign-in token and the session expire")
}

func TestSignInOfRemovedUser(t *testing.T) {
	c := newTestConsole(t, DefaultConfig())
	tok, _, err := c.MintSignIn(context.Background(), "ghost")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Redeem(context.Background(), tok); ufop.KindOf(err) != ufop.KindUnauthenticated {
		t.Fatalf("a removed user's token: %v", err)
	}
}

// TestPages checks the server side of the pages: a page without a session
// asks to sign in, with one it renders for its user; admin pages are
// refused to others; every answer forbids outside content and framing.
func TestPages(t *testing.T) {
	c := newTestConsole(t, DefaultConfig())
	ctx := context.Background()
	session := func(user string) string {
		tok, _, err := c.MintSignIn(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		id, _, err := c.Redeem(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	alice, root := session("alice"), session("root")
	h := c.Handler()
	for _, tc := range []struct {
		name, path, cookie string
		status             int
		contains           string
	}{
		{"overview without a session", "/console/", "", 401, "ufopctl console"},
		{"overview", "/console/", alice, 200, `data-page="overview"`},
		{"a bucket", "/console/buckets/pics", alice, 200, `data-param="pics"`},
		{"a UFOP", "/console/ufops/my-ufop", alice, 200, `data-param="my-ufop"`},
		{"users for a user", "/console/users", alice, 403, "Only admins"},
		{"users for an admin", "/console/users", root, 200, `data-page="users"`},
		{"no such page", "/console/nope", alice, 404, "no console page"},
		{"script", "/console/static/console.js", "", 200, "X-Ufop-Csrf"},
		{"style", "/console/static/console.css", "", 200, ":focus-visible"},
		{"sign-in with a bad token", "/console/signin?t=nope", "", 401, "expired or was used"},
	} {
		r := httptest.NewRequest("GET", tc.path, nil)
		if tc.cookie != "" {
			r.AddCookie(&http.Cookie{Name: protocol.ConsoleCookie, Value: tc.cookie})
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.contains) {
			t.Errorf("%s: %d, want %d with %q:\n%.300s", tc.name, w.Code, tc.status, tc.contains, w.Body.String())
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", tc.name, csp)
		}
	}
	// The admin's nav offers the users page, a user's does not.
	for _, tc := range []struct {
		cookie string
		want   bool
	}{{alice, false}, {root, true}} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/console/", nil)
		r.AddCookie(&http.Cookie{Name: protocol.ConsoleCookie, Value: tc.cookie})
		h.ServeHTTP(w, r)
		if got := strings.Contains(w.Body.String(), `href="/console/users"`); got != tc.want {
			t.Errorf("users link shown %v, want %v", got, tc.want)
		}
	}

	// A good sign-in sets a strict, HttpOnly cookie and goes to the overview.
	tok, _, err := c.MintSignIn(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", SignInURL("", tok), nil))
	ck := w.Result().Cookies()
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != protocol.ConsolePath || len(ck) != 1 ||
		!ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].MaxAge <= 0 {
		t.Fatalf("sign-in: %d %q %+v", w.Code, w.Header().Get("Location"), ck)
	}
}

func TestHistoryRing(t *testing.T) {
	h := NewHistory(3)
	at := time.Unix(0, 0)
	for i := range 5 {
		h.Add("a", Sample{Time: at.Add(time.Duration(i) * time.Second), Queue: i})
	}
	h.Add("b", Sample{Queue: 9})
	got := h.Samples("a")
	if len(got) != 3 || got[0].Queue != 2 || got[1].Queue != 3 || got[2].Queue != 4 {
		t.Fatalf("ring after 5 adds of 3: %+v", got)
	}
	if b := h.Samples("b"); len(b) != 1 || b[0].Queue != 9 {
		t.Fatalf("b: %+v", b)
	}
	if n := h.Samples("none"); n == nil || len(n) != 0 {
		t.Fatalf("unknown UFOP: %#v", n)
	}
	h.Keep([]string{"b"})
	if len(h.Samples("a")) != 0 || len(h.Samples("b")) != 1 {
		t.Fatal("Keep did not forget a, or forgot b")
	}
}

func TestErrorLogVisibility(t *testing.T) {
	l := NewErrorLog(2)
	l.Add(ErrorEntry{Reqid: "1", Users: []string{"alice"}})
	l.Add(ErrorEntry{Reqid: "2", Users: []string{"bob", "alice"}})
	l.Add(ErrorEntry{Reqid: "3", Users: []string{"bob"}})
	reqids := func(es []ErrorEntry) string {
		var s []string
		for _, e := range es {
			s = append(s, e.Reqid)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		user  string
		admin bool
		want  string
	}{{"alice", false, "2"}, {"bob", false, "3,2"}, {"carol", false, ""}, {"root", true, "3,2"}} {
		if got := reqids(l.For(tc.user, tc.admin)); got != tc.want {
			t.Errorf("%s sees %q, want %q", tc.user, got, tc.want)
		}
	}
}
