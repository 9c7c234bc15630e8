package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/console"
	"github.com/ufop/ufop/internal/lifecycle"
	"github.com/ufop/ufop/protocol"
)

// consoleParts are the web console's pieces a gateway holds (SPEC §15):
// the console itself (sessions, pages), the UFOP chart samples and the
// recent errors of the overview.
type consoleParts struct {
	console *console.Console
	history *console.History
	errors  *console.ErrorLog
}

// recentErrors is how many error answers the overview keeps.
const recentErrors = 200

func newConsoleParts(cfg console.Config, cli *clientv3.Client, cat *catalog.Catalog, logger *slog.Logger) (*consoleParts, error) {
	c, err := console.New(cfg, cli, cat, logger.With("part", "console"))
	if err != nil {
		return nil, err
	}
	return &consoleParts{console: c, history: console.NewHistory(cfg.Samples), errors: console.NewErrorLog(recentErrors)}, nil
}

const ctxViaConsole = "console"

// mountConsole serves the console's pages and its admin API additions; it
// is called with the admin routes, so the console lives on the admin
// listener (or the gateway's one listener when there is no other).
func (g *Gateway) mountConsole(e *echo.Echo, v1 *echo.Group) {
	h := echo.WrapHandler(g.ui.console.Handler())
	e.Any("/console", h)
	e.Any("/console/*", h)
	v1.POST("/console/signin", g.consoleSignIn)
	v1.POST("/console/sign", g.consoleSign)
	v1.GET("/overview", g.overview)
	v1.GET("/ufops/:name/history", g.ufopHistory)
}

// consoleAuth authenticates a request by its console session (ok false:
// it has none). The session maps to its user, who then passes the same
// permission checks as a signed request.
func (g *Gateway) consoleAuth(c echo.Context) (bool, error) {
	r := c.Request()
	if r.Header.Get("Authorization") != "" {
		return false, nil
	}
	u, ok, err := g.ui.console.Authenticate(r)
	if !ok || err != nil {
		return ok, err
	}
	if !streamedBody(r) {
		body, err := g.readAdminBody(r)
		if err != nil {
			return true, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	c.Set(ctxUser, u)
	c.Set(ctxViaConsole, true)
	return true, nil
}

// readAdminBody reads a (non-upload) admin request body, bounded.
func (g *Gateway) readAdminBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, g.cfg.MaxAdminBody+1))
	if err != nil {
		return nil, ufop.Errorf(ufop.KindInvalid, "reading the request body: %v", err)
	}
	if int64(len(body)) > g.cfg.MaxAdminBody {
		return nil, ufop.Errorf(ufop.KindTooLarge, "request body over %s", ufop.FormatBytes(g.cfg.MaxAdminBody))
	}
	return body, nil
}

// consoleReserved refuses the bucket name the console's paths take: its
// objects could not be downloaded where the console shares the listener.
func consoleReserved(bucket string) error {
	if "/"+bucket+"/" == protocol.ConsolePath {
		return ufop.Errorf(ufop.KindInvalid, "bucket name %q is reserved for the web console (%s): choose another", bucket, protocol.ConsolePath)
	}
	return nil
}

func viaConsole(c echo.Context) bool { v, _ := c.Get(ctxViaConsole).(bool); return v }

// consoleSignIn mints a one-time sign-in URL for the signed caller
// (ufopctl console). A console session cannot mint one: a sign-in starts
// from the holder of a key pair.
func (g *Gateway) consoleSignIn(c echo.Context) error {
	if viaConsole(c) {
		return ufop.Errorf(ufop.KindPermission, "a console session cannot mint sign-in links: use ufopctl console")
	}
	tok, exp, err := g.ui.console.MintSignIn(c.Request().Context(), userOf(c).Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, protocol.ConsoleSignIn{URL: console.SignInURL(baseURL(c.Request()), tok), Expires: exp.Format(time.RFC3339)})
}

// baseURL is the scheme and host a request came to.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// ConsoleSignRequest is the body of POST /v1/console/sign.
type ConsoleSignRequest struct {
	// Path is /<bucket>/<key>[?fops] on this gateway.
	Path string `json:"path"`
	// Expires is the lifetime in seconds (default 600).
	Expires int `json:"expires"`
}

// consoleSign signs a download URL with the caller's own key, as ufopctl
// sign does on the client: the browser never holds a secret key, so the
// playground asks for the signature of a private bucket's URL here. The
// URL grants no more than the caller's key could.
func (g *Gateway) consoleSign(c echo.Context) error {
	var req ConsoleSignRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if !strings.HasPrefix(req.Path, "/") || strings.HasPrefix(req.Path, "//") {
		return ufop.Errorf(ufop.KindInvalid, "sign: path %q: want /<bucket>/<key>[?fops]", req.Path)
	}
	if req.Expires == 0 {
		req.Expires = 600
	}
	if req.Expires < 1 || time.Duration(req.Expires)*time.Second > g.cfg.MaxURLLifetime {
		return ufop.Errorf(ufop.KindInvalid, "sign: expires %d s: use 1 s to %s", req.Expires, g.cfg.MaxURLLifetime)
	}
	me := userOf(c)
	if len(me.Keys) == 0 {
		return ufop.Errorf(ufop.KindConflict, "sign: user %q has no key", me.Name)
	}
	ak := me.Keys[len(me.Keys)-1]
	_, sk, err := g.cat.LookupKey(ak)
	if err != nil {
		return err
	}
	at := time.Now().Add(time.Duration(req.Expires) * time.Second).Truncate(time.Second)
	signed, err := auth.SignURL(baseURL(c.Request())+req.Path, ak, sk, at)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"url": signed, "expires": at.UTC()})
}

// QueueRow is one UFOP's line of the overview.
type QueueRow struct {
	UFOP string `json:"ufop"`
	console.Sample
}

// Overview is the answer of GET /v1/overview. Agents and gateways are
// cluster internals: admins only.
type Overview struct {
	Agents   []ufop.Agent         `json:"agents,omitempty"`
	Gateways []ufop.Agent         `json:"gateways,omitempty"`
	Queues   []QueueRow           `json:"queues"`
	Errors   []console.ErrorEntry `json:"errors"`
	// SampleEvery is the period of the queue samples, in seconds.
	SampleEvery float64 `json:"sampleEvery"`
}

func (g *Gateway) overview(c echo.Context) error {
	me := userOf(c)
	out := Overview{Queues: []QueueRow{}, Errors: g.ui.errors.For(me.Name, me.Admin),
		SampleEvery: g.ui.console.Config().SampleEvery.Seconds()}
	if me.Admin {
		out.Agents, out.Gateways = g.reg.Agents(), g.peers.Agents()
	}
	for _, u := range g.cat.UFOPs("") {
		if !me.Admin && u.Owner != me.Name {
			continue
		}
		row := QueueRow{UFOP: u.Name, Sample: console.Sample{Desired: u.Instances}}
		if s := g.ui.history.Samples(u.Name); len(s) > 0 {
			row.Sample = s[len(s)-1]
		}
		out.Queues = append(out.Queues, row)
	}
	return c.JSON(http.StatusOK, out)
}

// History is the answer of GET /v1/ufops/<name>/history.
type History struct {
	UFOP        string           `json:"ufop"`
	SampleEvery float64          `json:"sampleEvery"` // seconds
	Samples     []console.Sample `json:"samples"`
}

func (g *Gateway) ufopHistory(c echo.Context) error {
	u, err := g.ownUFOP(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, History{UFOP: u.Name, SampleEvery: g.ui.console.Config().SampleEvery.Seconds(),
		Samples: g.ui.history.Samples(u.Name)})
}

// sampleUFOPs records every UFOP's queue depth, desired and healthy
// instances each SampleEvery, for the console's chart, until ctx ends.
func (g *Gateway) sampleUFOPs(ctx context.Context) {
	lifecycle.Every(ctx, g.ui.console.Config().SampleEvery, g.sampleOnce)
}

func (g *Gateway) sampleOnce(ctx context.Context) {
	us := g.cat.UFOPs("")
	names := make([]string, 0, len(us))
	healthy := map[string]int{}
	resp, err := g.deps.Etcd.Get(ctx, protocol.InstancesPrefix(g.cfg.SchedulerPrefix), clientv3.WithPrefix())
	if err != nil {
		g.logger.Debug("console sample: instances", "err", err)
		return
	}
	queued := map[string]int{}
	for _, kv := range resp.Kvs {
		var in ufop.Instance
		if json.Unmarshal(kv.Value, &in) == nil {
			if in.State == ufop.InstanceHealthy {
				healthy[in.UFOP]++
			}
			queued[in.UFOP] += in.Queued + in.Inflight
		}
	}
	now := time.Now().UTC()
	for _, u := range us {
		names = append(names, u.Name)
		q := queued[u.Name]
		if g.deps.Queue != nil {
			w, f, err := g.deps.Queue.Depth(ctx, u.Name)
			if err != nil {
				g.logger.Debug("console sample: queue depth", "ufop", u.Name, "err", err)
			} else {
				q = w + f
			}
		}
		g.ui.history.Add(u.Name, console.Sample{Time: now, Queue: q, Desired: u.Instances, Healthy: healthy[u.Name]})
	}
	g.ui.history.Keep(names)
}

// recordError keeps an error answer for the overview, visible to the
// signed-in requester and to the owner of the bucket it was about.
func (g *Gateway) recordError(c echo.Context, status int, msg string) {
	if g.ui == nil || status < 400 {
		return
	}
	r := c.Request()
	e := console.ErrorEntry{Time: time.Now().UTC(), Reqid: reqidOf(c), Method: r.Method, Path: r.URL.Path, Status: status, Error: msg}
	if u := userOf(c); u.Name != "" {
		e.Users = append(e.Users, u.Name)
	}
	if !strings.HasPrefix(r.URL.Path, "/v1/") && !strings.HasPrefix(r.URL.Path, "/console") {
		bucket, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if b, err := g.cat.Bucket(bucket); err == nil && b.Owner != "" {
			e.Users = append(e.Users, b.Owner)
		}
	}
	g.ui.errors.Add(e)
}
