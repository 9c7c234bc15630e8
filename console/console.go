// Package console is the platform's web console (SPEC §15): the sign-in
// and session machinery, and the pages, styles and scripts it serves from
// the binary (go:embed; no CDN, no build step). The gateway mounts it on
// the admin listener.
//
// The console has no data path of its own: its pages are shells whose
// scripts call the same /v1/ admin API as ufopctl, with the session cookie
// and a CSRF header instead of a signature. The gateway's admin
// authentication asks Authenticate who the session belongs to and then
// applies the very same permission checks as for a signed request.
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
)

// Config configures a Console.
type Config struct {
	// Prefix is the etcd prefix of sign-in tokens and sessions.
	Prefix string
	// SignInTTL is how long a sign-in URL stays usable (once).
	SignInTTL time.Duration
	// SessionTTL is how long a session lasts from sign-in.
	SessionTTL time.Duration
	// SampleEvery is the period of the UFOP chart samples; the chart keeps
	// Samples of them (default: every 10 s for an hour).
	SampleEvery time.Duration
	Samples     int
}

// DefaultConfig returns the defaults: sign-in URLs valid 5 minutes (SPEC
// §15), sessions of 12 hours, an hour of samples at 10 s.
func DefaultConfig() Config {
	return Config{Prefix: protocol.ConsolePrefix, SignInTTL: 5 * time.Minute, SessionTTL: 12 * time.Hour,
		SampleEvery: 10 * time.Second, Samples: 360}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case !strings.HasSuffix(c.Prefix, "/"):
		return errors.New("console: prefix must end with /")
	case c.SignInTTL < time.Second || c.SessionTTL < time.Second:
		return errors.New("console: sign-in and session lifetimes must be at least a second")
	case c.SampleEvery <= 0 || c.Samples < 2:
		return errors.New("console: need a positive sample period and at least 2 samples")
	}
	return nil
}

// Users resolves a session's user name; *catalog.Catalog is one.
type Users interface {
	User(name string) (ufop.User, error)
}

// Console mints sign-in tokens, keeps sessions and serves the pages.
type Console struct {
	cfg    Config
	cli    *clientv3.Client
	users  Users
	logger *slog.Logger
	pages  *pages
}

// New returns a console.
func New(cfg Config, cli *clientv3.Client, users Users, logger *slog.Logger) (*Console, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cli == nil || users == nil || logger == nil {
		return nil, errors.New("console: etcd client, users and logger are required")
	}
	p, err := newPages()
	if err != nil {
		return nil, err
	}
	return &Console{cfg: cfg, cli: cli, users: users, logger: logger, pages: p}, nil
}

// Config returns the console's configuration.
func (c *Console) Config() Config { return c.cfg }

// Session is a signed-in browser.
type Session struct {
	User    string    `json:"user"`
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

type signInRow struct {
	User    string    `json:"user"`
	Expires time.Time `json:"expires"`
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// lease grants a lease that outlives ttl by a second: the stored expiry is
// the one checked, the lease only cleans up.
func (c *Console) lease(ctx context.Context, ttl time.Duration) (clientv3.LeaseID, error) {
	resp, err := c.cli.Grant(ctx, int64((ttl+time.Second-1)/time.Second)+1)
	if err != nil {
		return 0, &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second, Msg: "the console's store is not reachable: try again shortly",
			Err: fmt.Errorf("console: lease: %w", err)}
	}
	return resp.ID, nil
}

// MintSignIn stores a one-time sign-in token for user, valid SignInTTL,
// and returns it with its expiry. Only its hash is stored.
func (c *Console) MintSignIn(ctx context.Context, user string) (string, time.Time, error) {
	tok := randomToken()
	exp := time.Now().Add(c.cfg.SignInTTL).UTC().Truncate(time.Second)
	lease, err := c.lease(ctx, c.cfg.SignInTTL)
	if err != nil {
		return "", time.Time{}, err
	}
	b, _ := json.Marshal(signInRow{User: user, Expires: exp})
	if _, err := c.cli.Put(ctx, protocol.ConsoleSignInKey(c.cfg.Prefix, hashOf(tok)), string(b), clientv3.WithLease(lease)); err != nil {
		return "", time.Time{}, fmt.Errorf("console: store sign-in token: %w", err)
	}
	return tok, exp, nil
}

// errSignIn is the one answer to any unusable sign-in token: unknown,
// used, or expired look alike.
var errSignIn = ufop.Errorf(ufop.KindUnauthenticated, "this sign-in link is expired or was used already: run ufopctl console for a new one")

// Redeem uses a sign-in token up (atomically: of two browsers racing, one
// wins) and starts a session. It returns the session's cookie value.
func (c *Console) Redeem(ctx context.Context, token string) (string, Session, error) {
	if len(token) != 64 {
		return "", Session{}, errSignIn
	}
	k := protocol.ConsoleSignInKey(c.cfg.Prefix, hashOf(token))
	tx, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), ">", 0)).
		Then(clientv3.OpGet(k), clientv3.OpDelete(k)).Commit()
	if err != nil {
		return "", Session{}, fmt.Errorf("console: redeem: %w", err)
	}
	if !tx.Succeeded || len(tx.Responses) == 0 || len(tx.Responses[0].GetResponseRange().Kvs) == 0 {
		return "", Session{}, errSignIn
	}
	var row signInRow
	if err := json.Unmarshal(tx.Responses[0].GetResponseRange().Kvs[0].Value, &row); err != nil || time.Now().After(row.Expires) {
		return "", Session{}, errSignIn
	}
	if _, err := c.users.User(row.User); err != nil {
		return "", Session{}, errSignIn
	}
	id := randomToken()
	s := Session{User: row.User, CSRF: randomToken(), Expires: time.Now().Add(c.cfg.SessionTTL).UTC().Truncate(time.Second)}
	lease, err := c.lease(ctx, c.cfg.SessionTTL)
	if err != nil {
		return "", Session{}, err
	}
	b, _ := json.Marshal(s)
	if _, err := c.cli.Put(ctx, protocol.ConsoleSessionKey(c.cfg.Prefix, hashOf(id)), string(b), clientv3.WithLease(lease)); err != nil {
		return "", Session{}, fmt.Errorf("console: store session: %w", err)
	}
	c.logger.Info("console sign-in", "user", s.User)
	return id, s, nil
}

// session returns the live session of a request's cookie; ok is false
// when the request carries none.
func (c *Console) session(r *http.Request) (Session, string, bool, error) {
	ck, err := r.Cookie(protocol.ConsoleCookie)
	if err != nil || ck.Value == "" {
		return Session{}, "", false, nil
	}
	expired := ufop.Errorf(ufop.KindUnauthenticated, "the console session expired or was signed out: run ufopctl console to sign in again")
	if len(ck.Value) != 64 {
		return Session{}, "", true, expired
	}
	k := protocol.ConsoleSessionKey(c.cfg.Prefix, hashOf(ck.Value))
	resp, err := c.cli.Get(r.Context(), k)
	if err != nil {
		return Session{}, "", true, &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second,
			Msg: "the console's store is not reachable: try again shortly", Err: fmt.Errorf("console: session: %w", err)}
	}
	if len(resp.Kvs) == 0 {
		return Session{}, "", true, expired
	}
	var s Session
	if err := json.Unmarshal(resp.Kvs[0].Value, &s); err != nil || time.Now().After(s.Expires) {
		return Session{}, "", true, expired
	}
	return s, k, true, nil
}

// Authenticate reports who a console request acts for: ok is false when
// it carries no session cookie (the caller then asks for a signature).
// Every call needs the session's CSRF token in the X-Ufop-Csrf header, and
// a change (any method but GET and HEAD) an Origin of this host: SameSite
// cookies alone leave older browsers and same-site pages open.
func (c *Console) Authenticate(r *http.Request) (ufop.User, bool, error) {
	s, _, ok, err := c.session(r)
	if !ok || err != nil {
		return ufop.User{}, ok, err
	}
	if err := checkCSRF(r, s); err != nil {
		return ufop.User{}, true, err
	}
	u, err := c.users.User(s.User)
	if err != nil {
		return ufop.User{}, true, ufop.Errorf(ufop.KindUnauthenticated, "the console session's user %q no longer exists", s.User)
	}
	return u, true, nil
}

// checkCSRF checks the session's token and, for changes, the Origin.
func checkCSRF(r *http.Request, s Session) error {
	got := r.Header.Get(protocol.ConsoleCSRFHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) != 1 {
		return ufop.Errorf(ufop.KindPermission, "console request without its CSRF token (%s header): reload the page", protocol.ConsoleCSRFHeader)
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	return checkOrigin(r)
}

// checkOrigin requires a change's Origin (or, lacking one, Referer) to
// name the host the request came to.
func checkOrigin(r *http.Request) error {
	o := r.Header.Get("Origin")
	if o == "" {
		o = r.Header.Get("Referer")
	}
	u, err := url.Parse(o)
	if o == "" || err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return ufop.Errorf(ufop.KindPermission, "console change from origin %q refused: only pages of %s may make changes", o, r.Host)
	}
	return nil
}

// SignOut ends the request's session.
func (c *Console) signOut(r *http.Request) error {
	s, k, ok, err := c.session(r)
	if !ok || err != nil {
		return err
	}
	if err := checkCSRF(r, s); err != nil {
		return err
	}
	if _, err := c.cli.Delete(r.Context(), k); err != nil {
		return fmt.Errorf("console: sign out: %w", err)
	}
	return nil
}
