package gateway

import (
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/labstack/echo/v4"
)

// mountPprof serves the runtime profiles (net/http/pprof) under
// /debug/pprof/, guarded like /metrics: open on a separate admin listener,
// behind the cluster token on a shared one. The handlers are mounted one
// by one rather than through http.DefaultServeMux, so that importing
// net/http/pprof exposes nothing anywhere else.
func (g *Gateway) mountPprof(e *echo.Echo, open bool) {
	guard := func(h http.Handler) echo.HandlerFunc {
		wrapped := echo.WrapHandler(h)
		if open {
			return wrapped
		}
		return g.tokenGuard("/debug/pprof/", wrapped)
	}
	e.GET("/debug/pprof/", guard(http.HandlerFunc(pprof.Index)))
	e.GET("/debug/pprof/cmdline", guard(http.HandlerFunc(pprof.Cmdline)))
	e.GET("/debug/pprof/profile", guard(http.HandlerFunc(pprof.Profile)))
	e.GET("/debug/pprof/symbol", guard(http.HandlerFunc(pprof.Symbol)))
	e.POST("/debug/pprof/symbol", guard(http.HandlerFunc(pprof.Symbol)))
	e.GET("/debug/pprof/trace", guard(http.HandlerFunc(pprof.Trace)))
	// The named profiles (heap, goroutine, allocs, block, mutex,
	// threadcreate); pprof.Handler refuses unknown names with a 404.
	e.GET("/debug/pprof/:name", func(c echo.Context) error {
		name := strings.TrimPrefix(c.Request().URL.Path, "/debug/pprof/")
		return guard(pprof.Handler(name))(c)
	})
}
