package gateway

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ufop/ufop/protocol"
)

// Mirror buckets (SPEC §10): serveObject and internalObject fill a
// missing key of a mirror bucket from its origin (package mirror), after
// the request's own checks and limits; bucket creation checks the origin
// (mirror.ParseOrigin). Every origin fetch goes through g.egress.

// prefetch answers POST /v1/prefetch/<bucket>/<key>: the bucket's owner
// or an admin fetches the key from the origin now, replacing what is
// stored.
func (g *Gateway) prefetch(c echo.Context) error {
	b, key, err := g.adminObjectAt(c, protocol.PrefetchPrefix)
	if err != nil {
		return err
	}
	obj, err := g.mirror.Fetch(c.Request().Context(), b, key)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, obj)
}
