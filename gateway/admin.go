package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/mirror"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/storage"
)

const ctxUser = "user"

// mountAdmin adds the admin API (SPEC §7) under /v1/.
func (g *Gateway) mountAdmin(e *echo.Echo) {
	v1 := e.Group("/v1", g.authenticate)
	v1.GET("/whoami", g.whoami)

	v1.GET("/buckets", g.listBuckets)
	v1.PUT("/buckets/:bucket", g.createBucket)
	v1.GET("/buckets/:bucket", g.getBucket)
	v1.DELETE("/buckets/:bucket", g.deleteBucket)
	v1.GET("/buckets/:bucket/objects", g.listObjects)
	g.mountStyles(v1)

	v1.PUT("/objects/*", g.putObject)
	v1.GET("/objects/*", g.getObject)
	v1.HEAD("/objects/*", g.getObject)
	v1.DELETE("/objects/*", g.deleteObject)
	v1.POST(strings.TrimPrefix(protocol.PrefetchPrefix, "/v1")+"*", g.prefetch)

	v1.POST("/users", g.addUser)
	v1.GET("/users", g.listUsers)
	v1.DELETE("/users/:name", g.removeUser)
	g.mountLimits(v1)
	g.mountUsage(v1)

	g.mountUFOPs(v1)
	g.mountPfop(e, v1)

	g.mountConsole(e, v1)

	g.mountMigrations(v1)
}

// authenticate checks the request's signature (SPEC §7). Uploads are
// streamed to the store and their body hash checked there, before the
// object becomes visible; every other body is read here, bounded.
func (g *Gateway) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if ok, err := g.consoleAuth(c); ok || err != nil {
			if err != nil {
				return err
			}
			return next(c)
		}
		cred, err := auth.ParseAuthorization(r.Header.Get("Authorization"))
		if err != nil {
			return err
		}
		user, sk, err := g.cat.LookupKey(cred.AK)
		if err != nil {
			return err
		}
		verify := func(bodyHash string) error {
			if err := auth.VerifyRequest(r.Method, auth.RequestPathAndQuery(r), bodyHash, cred, sk, time.Now(), g.cfg.MaxSkew); err != nil {
				return err
			}
			// Only a request that verified is recorded: others cannot
			// fill the replay cache.
			return g.replay.check(r.Context(), cred, auth.RequestPathAndQuery(r))
		}
		if streamedBody(r) {
			// Refuse a stale request before taking its body; the body
			// hash is checked once the body is spooled, before it is used.
			if err := auth.CheckTimestamp(auth.RequestPathAndQuery(r), time.Now(), g.cfg.MaxSkew); err != nil {
				return err
			}
			c.Set(ctxVerify, verify)
		} else {
			body, err := g.readAdminBody(r)
			if err != nil {
				return err
			}
			if err := verify(auth.BodyHash(body)); err != nil {
				return err
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		c.Set(ctxUser, user)
		return next(c)
	}
}

const ctxVerify = "verify"

// streamedBody reports requests whose body is too large to read up front:
// object uploads and UFOP packages.
func streamedBody(r *http.Request) bool {
	return (r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v1/objects/")) ||
		(r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/ufops/") && strings.HasSuffix(r.URL.Path, "/versions")) ||
		migrationListBody(r)
}

func userOf(c echo.Context) ufop.User {
	u, _ := c.Get(ctxUser).(ufop.User)
	return u
}

func requireAdmin(c echo.Context) error {
	if !userOf(c).Admin {
		return ufop.Errorf(ufop.KindPermission, "only admins may do that")
	}
	return nil
}

// ownBucket returns a bucket the caller may manage.
func (g *Gateway) ownBucket(c echo.Context, name string) (ufop.Bucket, error) {
	b, err := g.cat.Bucket(name)
	if err != nil {
		return b, err
	}
	if u := userOf(c); b.Owner != u.Name && !u.Admin {
		return b, ufop.Errorf(ufop.KindPermission, "bucket %q belongs to another user", name)
	}
	return b, nil
}

func (g *Gateway) whoami(c echo.Context) error { return c.JSON(http.StatusOK, userOf(c)) }

func (g *Gateway) listBuckets(c echo.Context) error {
	u := userOf(c)
	owner := u.Name
	if u.Admin {
		owner = ""
	}
	bs := g.cat.Buckets(owner)
	if bs == nil {
		bs = []ufop.Bucket{}
	}
	return c.JSON(http.StatusOK, map[string]any{"buckets": bs})
}

// BucketOptions is the body of PUT /v1/buckets/<name>.
type BucketOptions = protocol.BucketOptions

func (g *Gateway) createBucket(c echo.Context) error {
	name := c.Param("bucket")
	if err := storage.ValidateBucketName(name); err != nil {
		return err
	}
	if err := consoleReserved(name); err != nil {
		return err
	}
	var opts BucketOptions
	err := decodeJSON(c, &opts)
	if err != nil {
		return err
	}
	if opts.Mirror != "" {
		if opts.Mirror, err = mirror.ParseOrigin(g.egress, opts.Mirror); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	if err := g.store.CreateBucket(ctx, name); err != nil {
		return err
	}
	b, err := g.cat.CreateBucket(ctx, ufop.Bucket{Name: name, Owner: userOf(c).Name, Private: opts.Private,
		Referers: opts.Referers, AllowEmptyReferer: opts.AllowEmptyReferer, Mirror: opts.Mirror})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, b)
}

func (g *Gateway) getBucket(c echo.Context) error {
	b, err := g.ownBucket(c, c.Param("bucket"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, b)
}

func (g *Gateway) deleteBucket(c echo.Context) error {
	b, err := g.ownBucket(c, c.Param("bucket"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if c.QueryParam("force") == "1" {
		if err := g.emptyBucket(ctx, b.Name); err != nil {
			return err
		}
	}
	if err := g.store.DeleteBucket(ctx, b.Name); err != nil {
		return err
	}
	if err := g.cat.DeleteBucket(ctx, b.Name); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// emptyBucket deletes every object of a bucket (bucket rm --force). A put
// racing it can leave an object behind: DeleteBucket then refuses, 409.
func (g *Gateway) emptyBucket(ctx context.Context, bucket string) error {
	for {
		objs, _, err := g.store.List(ctx, bucket, "", "", 0)
		if err != nil || len(objs) == 0 {
			return err
		}
		deleted := 0
		for _, o := range objs {
			err := g.store.Delete(ctx, bucket, o.Key)
			if err != nil && ufop.KindOf(err) != ufop.KindNotFound {
				return err
			}
			if err == nil {
				deleted++
			}
		}
		if deleted == 0 {
			return nil // nothing left that can go: DeleteBucket says what remains
		}
	}
}

func (g *Gateway) listObjects(c echo.Context) error {
	b, err := g.ownBucket(c, c.Param("bucket"))
	if err != nil {
		return err
	}
	limit := 1000
	if s := c.QueryParam("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 10000 {
			return ufop.Errorf(ufop.KindInvalid, "limit %q: use 1 to 10000", s)
		}
	}
	objs, next, err := g.store.List(c.Request().Context(), b.Name, c.QueryParam("prefix"), c.QueryParam("marker"), limit)
	if err != nil {
		return err
	}
	if objs == nil {
		objs = []ufop.Object{}
	}
	return c.JSON(http.StatusOK, map[string]any{"objects": objs, "next": next})
}

// adminObject returns the bucket and key of /v1/objects/<bucket>/<key>.
func (g *Gateway) adminObject(c echo.Context) (ufop.Bucket, string, error) {
	return g.adminObjectAt(c, "/v1/objects/")
}

// adminObjectAt returns the bucket, which the caller must own, and key of
// <prefix><bucket>/<key>.
func (g *Gateway) adminObjectAt(c echo.Context, prefix string) (ufop.Bucket, string, error) {
	rest := strings.TrimPrefix(c.Request().URL.EscapedPath(), prefix)
	bucket, ekey, _ := strings.Cut(rest, "/")
	key, err := url.PathUnescape(ekey)
	if err != nil {
		return ufop.Bucket{}, "", ufop.Errorf(ufop.KindInvalid, "the key is not a valid percent-encoded path")
	}
	if err := storage.ValidateKey(key); err != nil {
		return ufop.Bucket{}, "", err
	}
	b, err := g.ownBucket(c, bucket)
	return b, key, err
}

func (g *Gateway) putObject(c echo.Context) error {
	b, key, err := g.adminObject(c)
	if err != nil {
		return err
	}
	verify, _ := c.Get(ctxVerify).(func(string) error)
	r := c.Request()
	ct := r.Header.Get("Content-Type")
	if ct == "application/octet-stream" {
		ct = "" // let the store sniff it
	}
	obj, err := g.store.Put(r.Context(), b.Name, key, r.Body, storage.PutOptions{ContentType: ct, Verify: verify})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, obj)
}

func (g *Gateway) getObject(c echo.Context) error {
	b, key, err := g.adminObject(c)
	if err != nil {
		return err
	}
	return g.serveRaw(c, b, key)
}

func (g *Gateway) deleteObject(c echo.Context) error {
	b, key, err := g.adminObject(c)
	if err != nil {
		return err
	}
	if err := g.store.Delete(c.Request().Context(), b.Name, key); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// NewUser is the answer to POST /v1/users.
type NewUser = protocol.NewUser

func (g *Gateway) addUser(c echo.Context) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	var req struct {
		Name  string    `json:"name"`
		Tier  ufop.Tier `json:"tier"`
		Admin bool      `json:"admin"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	u, k, err := g.cat.CreateUser(c.Request().Context(), req.Name, req.Tier, req.Admin)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, NewUser{Name: u.Name, AK: k.AK, SK: k.SK, Tier: u.Tier, Admin: u.Admin})
}

func (g *Gateway) listUsers(c echo.Context) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	us := g.cat.Users()
	if us == nil {
		us = []ufop.User{}
	}
	return c.JSON(http.StatusOK, map[string]any{"users": us})
}

func (g *Gateway) removeUser(c echo.Context) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	name := c.Param("name")
	if err := catalog.ValidateUserName(name); err != nil {
		return err
	}
	if name == userOf(c).Name {
		return ufop.Errorf(ufop.KindConflict, "you cannot remove your own account")
	}
	if err := g.cat.DeleteUser(c.Request().Context(), name); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func decodeJSON(c echo.Context, v any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return ufop.Errorf(ufop.KindInvalid, "reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return ufop.Errorf(ufop.KindInvalid, "request body: %v", err)
	}
	return nil
}
