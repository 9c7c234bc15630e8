package gateway

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/protocol"
)

// mountLimits adds the limit and key-rotation routes of the admin API.
func (g *Gateway) mountLimits(v1 *echo.Group) {
	v1.GET("/limits", g.listLimits)
	v1.GET("/limits/:user", g.userLimits)
	v1.PUT("/limits/:user", g.setLimit)
	v1.DELETE("/limits/:user", g.deleteLimits)
	v1.POST("/users/:name/keys", g.addKey)
	v1.DELETE("/users/:name/keys/:ak", g.removeKey)
}

// LimitRequest is the body of PUT /v1/limits/<user>.
type LimitRequest = protocol.LimitChange

// Limits is the answer of GET /v1/limits: the rows admins set and the
// tier defaults that apply where no row does.
type Limits struct {
	Limits   []catalog.Limit          `json:"limits"`
	Defaults map[ufop.Tier]TierLimits `json:"defaults,omitempty"`
}

// validCmd accepts what a pipeline step may be called: a built-in fop or
// a UFOP name (registered or not yet: a limit may come first).
func validCmd(cmd string) error {
	if slices.Contains(fop.Builtins(), cmd) || ufop.ValidUFOPName(cmd) {
		return nil
	}
	return ufop.Errorf(ufop.KindInvalid, "limit: cmd %q is neither a built-in fop nor a UFOP name", cmd)
}

func (g *Gateway) setLimit(c echo.Context) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	var req LimitRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Cmd != "" {
		if err := validCmd(req.Cmd); err != nil {
			return err
		}
	}
	l, err := g.cat.SetLimit(c.Request().Context(), c.Param("user"), req.Cmd,
		catalog.LimitChange{RPS: req.RPS, Burst: req.Burst, Concurrency: req.Concurrency})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

func (g *Gateway) listLimits(c echo.Context) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, Limits{Limits: nonNilLimits(g.cat.Limits("")), Defaults: g.cfg.Limits.Tiers})
}

// userLimits answers an admin, or users asking about themselves.
func (g *Gateway) userLimits(c echo.Context) error {
	name := c.Param("user")
	if me := userOf(c); me.Name != name && !me.Admin {
		return ufop.Errorf(ufop.KindPermission, "only admins may read the limits of other users")
	}
	u, err := g.cat.User(name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, Limits{Limits: nonNilLimits(g.cat.Limits(name)),
		Defaults: map[ufop.Tier]TierLimits{u.Tier: g.cfg.Limits.Tiers[u.Tier]}})
}

func (g *Gateway) deleteLimits(c echo.Context) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	name, cmd := c.Param("user"), c.QueryParam("cmd")
	if err := catalog.ValidateUserName(name); err != nil {
		return err
	}
	if err := g.cat.DeleteLimits(c.Request().Context(), name, cmd); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func nonNilLimits(ls []catalog.Limit) []catalog.Limit {
	if ls == nil {
		return []catalog.Limit{}
	}
	return ls
}

// NewKey is the answer to POST /v1/users/<name>/keys.
type NewKey = protocol.NewKey

// mayManageKeys lets admins manage any user's keys and users their own,
// so that anyone can rotate a leaked key without waiting for an admin.
func mayManageKeys(c echo.Context, name string) error {
	if me := userOf(c); me.Name != name && !me.Admin {
		return ufop.Errorf(ufop.KindPermission, "only admins may manage the keys of other users")
	}
	return nil
}

func (g *Gateway) addKey(c echo.Context) error {
	name := c.Param("name")
	if err := mayManageKeys(c, name); err != nil {
		return err
	}
	k, err := g.cat.AddKey(c.Request().Context(), name)
	if err != nil {
		return err
	}
	g.logger.Info("key added", "reqid", reqidOf(c), "user", name, "ak", k.AK, "by", userOf(c).Name)
	return c.JSON(http.StatusOK, NewKey{User: name, AK: k.AK, SK: k.SK})
}

func (g *Gateway) removeKey(c echo.Context) error {
	name := c.Param("name")
	if err := mayManageKeys(c, name); err != nil {
		return err
	}
	ak, err := url.PathUnescape(c.Param("ak"))
	if err != nil {
		return ufop.Errorf(ufop.KindInvalid, "access key %q is not valid percent-encoding", c.Param("ak"))
	}
	if err := g.cat.RemoveKey(c.Request().Context(), name, ak); err != nil {
		return err
	}
	g.logger.Info("key removed", "reqid", reqidOf(c), "user", name, "ak", ak, "by", userOf(c).Name)
	return c.NoContent(http.StatusNoContent)
}
