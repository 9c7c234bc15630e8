package gateway

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/manifest"
	"github.com/ufop/ufop/protocol"
)

// mountUFOPs adds the UFOP part of the admin API.
func (g *Gateway) mountUFOPs(v1 *echo.Group) {
	v1.GET("/ufops", g.listUFOPs)
	v1.PUT("/ufops/:name", g.registerUFOP)
	v1.GET("/ufops/:name", g.ufopInfo)
	v1.DELETE("/ufops/:name", g.unregisterUFOP)
	v1.POST("/ufops/:name/versions", g.buildUFOP)
	v1.GET("/ufops/:name/versions", g.ufopVersions)
	v1.PUT("/ufops/:name/version", g.chooseVersion)
	v1.PUT("/ufops/:name/instances", g.resizeUFOP)
	v1.POST("/ufops/:name/upgrade", g.upgradeUFOP)
	v1.PUT("/ufops/:name/scale", g.scaleUFOP)
	v1.GET("/ufops/:name/state", g.ufopState)
	v1.GET("/ufops/:name/logs", g.ufopLogs)
	v1.PUT("/ufops/:name/grants/:user", g.grantUFOP)
	v1.DELETE("/ufops/:name/grants/:user", g.revokeUFOP)
}

// ownUFOP returns a UFOP the caller may manage.
func (g *Gateway) ownUFOP(c echo.Context) (ufop.UFOP, error) {
	u, err := g.cat.UFOP(c.Param("name"))
	if err != nil {
		return u, err
	}
	if me := userOf(c); u.Owner != me.Name && !me.Admin {
		return u, ufop.Errorf(ufop.KindPermission, "UFOP %q belongs to another user", u.Name)
	}
	return u, nil
}

func (g *Gateway) listUFOPs(c echo.Context) error {
	me := userOf(c)
	all := g.cat.UFOPs("")
	out := []ufop.UFOP{}
	for _, u := range all {
		if me.Admin || u.Owner == me.Name || u.MayUse(me.Name) {
			out = append(out, u)
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"ufops": out})
}

func (g *Gateway) registerUFOP(c echo.Context) error {
	name := c.Param("name")
	if slices.Contains(fop.Builtins(), name) || strings.EqualFold(name, "saveas") || name == fop.StyleStep {
		return ufop.Errorf(ufop.KindInvalid, "%q is a built-in fop or step: choose another UFOP name", name)
	}
	var req struct {
		Mode ufop.ACLMode `json:"mode"`
		Desc string       `json:"desc"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	u, err := g.cat.RegisterUFOP(c.Request().Context(), ufop.UFOP{Name: name, Owner: userOf(c).Name, Mode: req.Mode, Desc: req.Desc})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

func (g *Gateway) ufopInfo(c echo.Context) error {
	u, err := g.cat.UFOP(c.Param("name"))
	if err != nil {
		return err
	}
	if me := userOf(c); !me.Admin && !u.MayUse(me.Name) {
		return ufop.Errorf(ufop.KindPermission, "UFOP %q is not shared with you", u.Name)
	}
	return c.JSON(http.StatusOK, map[string]any{"ufop": u, "versions": g.cat.Versions(u.Name)})
}

func (g *Gateway) unregisterUFOP(c echo.Context) error {
	u, err := g.ownUFOP(c)
	if err != nil {
		return err
	}
	if c.QueryParam("force") != "1" {
		if n := len(g.instancesOf(c.Request().Context(), u.Name)); n > 0 || u.Instances > 0 {
			return ufop.Errorf(ufop.KindConflict, "UFOP %q has instances (%d running, %d desired): resize it to 0 first, or use --force", u.Name, n, u.Instances)
		}
	}
	if err := g.cat.DeleteUFOP(c.Request().Context(), u.Name); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (g *Gateway) ufopVersions(c echo.Context) error {
	u, err := g.ownUFOP(c)
	if err != nil {
		return err
	}
	vs := g.cat.Versions(u.Name)
	if vs == nil {
		vs = []ufop.Version{}
	}
	return c.JSON(http.StatusOK, map[string]any{"versions": vs, "current": u.Version})
}

func (g *Gateway) chooseVersion(c echo.Context) error {
	var req struct {
		Version int `json:"version"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	u, err := g.ownUFOP(c)
	if err != nil {
		return err
	}
	v, err := g.cat.Version(u.Name, req.Version)
	if err != nil {
		return err
	}
	if v.State != ufop.BuildOK {
		return ufop.Errorf(ufop.KindConflict, "version %d of %s is %s: only a built version can be chosen", v.N, u.Name, v.State)
	}
	u, err = g.cat.UpdateUFOP(c.Request().Context(), u.Name, func(x *ufop.UFOP) error {
		x.Version = v.N
		if x.Rollout == 0 {
			// The first choice is what everything runs.
			x.Rollout = v.N
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

func (g *Gateway) resizeUFOP(c echo.Context) error {
	var req struct {
		Instances int `json:"instances"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Instances < 0 || req.Instances > 1000 {
		return ufop.Errorf(ufop.KindInvalid, "resize: instances %d: use 0 to 1000", req.Instances)
	}
	u, err := g.ownUFOP(c)
	if err != nil {
		return err
	}
	if req.Instances > 0 && u.Version == 0 {
		return ufop.Errorf(ufop.KindConflict, "UFOP %q has no chosen version: build it and run chver first", u.Name)
	}
	u, err = g.cat.UpdateUFOP(c.Request().Context(), u.Name, func(x *ufop.UFOP) error {
		x.Instances = req.Instances
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

func (g *Gateway) upgradeUFOP(c echo.Context) error {
	var req struct {
		Step int `json:"step"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Step < 0 || req.Step > 100 {
		return ufop.Errorf(ufop.KindInvalid, "upgrade: step %d: use 1 to 100", req.Step)
	}
	u, err := g.ownUFOP(c)
	if err != nil {
		return err
	}
	if u.Version == 0 {
		return ufop.Errorf(ufop.KindConflict, "UFOP %q has no chosen version: run chver first", u.Name)
	}
	u, err = g.cat.UpdateUFOP(c.Request().Context(), u.Name, func(x *ufop.UFOP) error {
		x.Rollout, x.Step = x.Version, max(req.Step, 1)
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

func (g *Gateway) scaleUFOP(c echo.Context) error {
	var p ufop.ScalePolicy
	if err := decodeJSON(c, &p); err != nil {
		return err
	}
	switch {
	case p.Min < 0 || p.Max < p.Min || p.Max > 1000:
		return ufop.Errorf(ufop.KindInvalid, "scale: need 0 ≤ min ≤ max ≤ 1000 (min %d, max %d)", p.Min, p.Max)
	case !(p.Threshold > 0):
		return ufop.Errorf(ufop.KindInvalid, "scale: threshold must be above 0")
	case p.Cooldown < 0 || p.MaxStep < 0 || p.Idle < 0:
		return ufop.Errorf(ufop.KindInvalid, "scale: cooldown, step and idle must not be negative")
	}
	if p.Min == 0 {
		// Stored explicitly, so that state shows when it goes to zero.
		p.Idle = p.IdleOrDefault()
	}
	u, err := g.ownUFOP(c)
	if err != nil {
		return err
	}
	u, err = g.cat.UpdateUFOP(c.Request().Context(), u.Name, func(x *ufop.UFOP) error {
		x.Scale = &p
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

func (g *Gateway) grantUFOP(c echo.Context) error  { return g.setGrant(c, true) }
func (g *Gateway) revokeUFOP(c echo.Context) error { return g.setGrant(c, false) }

func (g *Gateway) setGrant(c echo.Context, grant bool) error {
	u, err := g.ownUFOP(c)
	if err != nil {
		return err
	}
	user := c.Param("user")
	if _, err := g.cat.User(user); err != nil && grant {
		return err
	}
	u, err = g.cat.UpdateUFOP(c.Request().Context(), u.Name, func(x *ufop.UFOP) error {
		x.Grants = slices.DeleteFunc(x.Grants, func(s string) bool { return s == user })
		if grant {
			x.Grants = append(x.Grants, user)
			slices.Sort(x.Grants)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

// instancesOf reads the instances agents report for a UFOP.
func (g *Gateway) instancesOf(ctx context.Context, name string) []ufop.Instance {
	resp, err := g.deps.Etcd.Get(ctx, protocol.InstancesPrefix(g.cfg.SchedulerPrefix), clientv3.WithPrefix())
	if err != nil {
		return nil
	}
	var out []ufop.Instance
	for _, kv := range resp.Kvs {
		var in ufop.Instance
		if json.Unmarshal(kv.Value, &in) == nil && in.UFOP == name {
			out = append(out, in)
		}
	}
	slices.SortFunc(out, func(a, b ufop.Instance) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// State is the answer to GET /v1/ufops/<name>/state.
type State struct {
	UFOP      ufop.UFOP       `json:"ufop"`
	Instances []ufop.Instance `json:"instances"`
	// Queue is the depth of the UFOP's work queue: jobs waiting for an
	// agent plus jobs taken and not yet answered.
	Queue int `json:"queue"`
	// Waiting and Inflight split Queue.
	Waiting  int `json:"waiting"`
	Inflight int `json:"inflight"`
}

func (g *Gateway) ufopState(c echo.Context) error {
	u, err := g.ownUFOP(c)
	if err != nil {
		return err
	}
	st := State{UFOP: u, Instances: g.instancesOf(c.Request().Context(), u.Name)}
	if st.Instances == nil {
		st.Instances = []ufop.Instance{}
	}
	if g.deps.Queue != nil {
		st.Waiting, st.Inflight, err = g.deps.Queue.Depth(c.Request().Context(), u.Name)
		if err != nil {
			g.logger.Warn("queue depth", "ufop", u.Name, "err", err)
		}
	} else {
		for _, in := range st.Instances {
			st.Waiting += in.Queued
			st.Inflight += in.Inflight
		}
	}
	st.Queue = st.Waiting + st.Inflight
	return c.JSON(http.StatusOK, st)
}

// ufopLogs streams instance output from the agents that run them.
func (g *Gateway) ufopLogs(c echo.Context) error {
	u, err := g.ownUFOP(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	want := c.QueryParam("instance")
	follow := c.QueryParam("follow") == "1"
	var ins []ufop.Instance
	for _, in := range g.instancesOf(ctx, u.Name) {
		if want == "" || in.ID == want {
			ins = append(ins, in)
		}
	}
	if len(ins) == 0 {
		return ufop.Errorf(ufop.KindNotFound, "no running instance of %s%s", u.Name, map[bool]string{true: " with id " + want}[want != ""])
	}
	if follow && len(ins) > 1 {
		return ufop.Errorf(ufop.KindInvalid, "logs -f follows one instance: name it with --instance (one of %s)", ids(ins))
	}
	addrs := map[string]string{}
	for _, a := range g.reg.Agents() {
		addrs[a.ID] = a.Addr
	}
	w := c.Response()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	for _, in := range ins {
		if len(ins) > 1 {
			fmt.Fprintf(w, "==> %s (%s v%d on %s) <==\n", in.ID, in.UFOP, in.Version, in.Agent)
		}
		if err := g.agentLogs(ctx, addrs[in.Agent], in.ID, follow, w); err != nil {
			fmt.Fprintf(w, "ufop: logs of %s: %v\n", in.ID, ufop.Message(err))
		}
	}
	return nil
}

func ids(ins []ufop.Instance) string {
	s := make([]string, len(ins))
	for i, in := range ins {
		s[i] = in.ID
	}
	return strings.Join(s, ", ")
}

func (g *Gateway) agentLogs(ctx context.Context, addr, id string, follow bool, w *echo.Response) error {
	if addr == "" {
		return ufop.Errorf(ufop.KindUnavailable, "its agent is not reachable")
	}
	u := addr + protocol.InstanceLogsPath(id)
	if follow {
		u += "?follow=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	// No client timeout: a followed log lasts as long as the caller wants.
	resp, err := (&http.Client{Transport: g.client.Transport}).Do(req)
	if err != nil {
		return ufop.Errorf(ufop.KindUnavailable, "its agent is not reachable")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return ufop.Errorf(ufop.KindUpstream, "agent answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
			w.Flush()
		}
		if err != nil {
			return nil
		}
	}
}

// buildUFOP takes a package upload (SPEC §4), validates it, allocates a
// version and has a builder build it, streaming the build log back. The
// package is spooled to a temporary file while its hash is checked against
// the request's signature.
func (g *Gateway) buildUFOP(c echo.Context) error {
	u, err := g.ownUFOP(c)
	if err != nil {
		return err
	}
	r := c.Request()
	verify, _ := c.Get(ctxVerify).(func(string) error)
	bcfg := manifest.DefaultLimits()
	f, err := os.CreateTemp("", "ufop-package-*")
	if err != nil {
		return fmt.Errorf("gateway: spool package: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r.Body, bcfg.MaxPackageBytes+1))
	if err != nil {
		return ufop.Errorf(ufop.KindInvalid, "reading the package upload: %v", err)
	}
	if n > bcfg.MaxPackageBytes {
		return ufop.Errorf(ufop.KindTooLarge, "package: over the %s limit", ufop.FormatBytes(bcfg.MaxPackageBytes))
	}
	if verify != nil {
		if err := verify(hex.EncodeToString(h.Sum(nil))); err != nil {
			return err
		}
	}
	// Refuse a bad package before it takes a version number.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := manifest.ReadPackage(f, bcfg); err != nil {
		return err
	}
	addr, err := g.pickBuilder(r.Context())
	if err != nil {
		return err
	}
	v, err := g.cat.NewVersion(r.Context(), u.Name)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost,
		addr+protocol.BuildPath(u.Name, v.N), f)
	if err != nil {
		return err
	}
	req.ContentLength = n
	req.Header.Set("Authorization", "Bearer "+g.token)
	resp, err := (&http.Client{Transport: g.client.Transport}).Do(req)
	if err != nil {
		g.failVersion(v, "the builder could not be reached: "+err.Error())
		return ufop.Errorf(ufop.KindUnavailable, "the builder could not be reached")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Refused before it started (protocol.BuildRefusal): the user's error,
		// with its kind (a base image not theirs: 403).
		var ref protocol.BuildRefusal
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
		if json.Unmarshal(b, &ref) != nil || ref.Error == "" {
			ref = protocol.BuildRefusal{Kind: ufop.KindInternal.String(), Error: "the builder answered " + resp.Status}
		}
		g.failVersion(v, ref.Error)
		return &ufop.Error{Kind: ufop.ParseKind(ref.Kind), Msg: fmt.Sprintf("build %s version %d: %s", u.Name, v.N, ref.Error)}
	}
	w := c.Response()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "building %s version %d\n", u.Name, v.N)
	w.Flush()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sawResult := false
	for sc.Scan() {
		line := sc.Text()
		sawResult = sawResult || strings.HasPrefix(line, protocol.BuildResultPrefix)
		fmt.Fprintln(w, line)
		w.Flush()
	}
	if !sawResult {
		msg := "the builder stopped before the build finished"
		g.failVersion(v, msg)
		io.WriteString(w, protocol.BuildResult{UFOP: u.Name, Version: v.N, State: ufop.BuildFailed, Error: msg}.Line())
	}
	return nil
}

func (g *Gateway) failVersion(v ufop.Version, msg string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v.State, v.Log, v.Finished = ufop.BuildFailed, msg, time.Now().UTC()
	if err := g.cat.PutVersion(ctx, v); err != nil {
		g.logger.Warn("record failed build", "ufop", v.UFOP, "version", v.N, "err", err)
	}
}

// pickBuilder returns the address of a registered builder.
func (g *Gateway) pickBuilder(ctx context.Context) (string, error) {
	resp, err := g.deps.Etcd.Get(ctx, protocol.BuildersPrefix, clientv3.WithPrefix())
	if err != nil {
		return "", fmt.Errorf("gateway: builders: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: 5 * time.Second, Msg: "no builder is running"}
	}
	return string(resp.Kvs[rand.IntN(len(resp.Kvs))].Value), nil
}

// ufopSteps checks the UFOP steps of a pipeline: registered, usable by the
// bucket's owner. It returns their names and their chosen versions.
func (g *Gateway) ufopSteps(p fop.Pipeline, owner string) (names []string, err error) {
	for _, s := range p.Steps {
		if s.Builtin() {
			continue
		}
		u, err := g.cat.UFOP(s.Name())
		if ufop.KindOf(err) == ufop.KindNotFound {
			return nil, ufop.Errorf(ufop.KindInvalid, "unknown fop %q: neither a built-in nor a registered UFOP", s.Name())
		}
		if err != nil {
			return nil, err
		}
		if !u.MayUse(owner) {
			return nil, ufop.Errorf(ufop.KindPermission, "UFOP %q is not available to the owner of this bucket", u.Name)
		}
		if !slices.Contains(names, u.Name) {
			names = append(names, u.Name)
		}
	}
	return names, nil
}

// hasAll reports whether agent a hosts every UFOP in names.
func hasAll(a ufop.Agent, names []string) bool {
	for _, n := range names {
		if !slices.Contains(a.UFOPs, n) {
			return false
		}
	}
	return true
}
