package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ufop/ufop"
)

// statusOf is the one place where error kinds become HTTP statuses
// (SPEC §2).
func statusOf(k ufop.Kind) int {
	switch k {
	case ufop.KindInvalid:
		return http.StatusBadRequest
	case ufop.KindUnauthenticated:
		return http.StatusUnauthorized
	case ufop.KindPermission:
		return http.StatusForbidden
	case ufop.KindNotFound:
		return http.StatusNotFound
	case ufop.KindConflict:
		return http.StatusConflict
	case ufop.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case ufop.KindUnsupported:
		return http.StatusUnsupportedMediaType
	case ufop.KindCorrupt:
		return http.StatusUnprocessableEntity
	case ufop.KindRateLimited:
		return http.StatusTooManyRequests
	case ufop.KindUpstream:
		return http.StatusBadGateway
	case ufop.KindUnavailable:
		return http.StatusServiceUnavailable
	case ufop.KindTimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON of every error response.
type errorBody struct {
	Code  int    `json:"code"`
	Error string `json:"error"`
	Reqid string `json:"reqid"`
}

// handleError renders any error a handler returns as SPEC §2 JSON.
func (g *Gateway) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := http.StatusInternalServerError, ""
	var he *echo.HTTPError
	if errors.As(err, &he) {
		// Errors from echo itself: unknown route, wrong method.
		status = he.Code
		msg = http.StatusText(status)
		if m, ok := he.Message.(string); ok {
			msg = m
		}
	} else {
		kind := ufop.KindOf(err)
		status, msg = statusOf(kind), ufop.Message(err)
		if kind == ufop.KindInternal {
			g.logger.Error("internal error", "reqid", reqidOf(c), "err", err)
		}
		retry := ufop.RetryAfterOf(err)
		if retry == 0 && (kind == ufop.KindRateLimited || kind == ufop.KindUnavailable) {
			retry = time.Second
		}
		if retry > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
		}
	}
	c.Set(ctxErrKey, err)
	g.recordError(c, status, msg)
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	h.Del("ETag")
	h.Del("Last-Modified")
	c.Response().WriteHeader(status)
	if c.Request().Method == http.MethodHead {
		return
	}
	json.NewEncoder(c.Response()).Encode(errorBody{Code: status, Error: msg, Reqid: reqidOf(c)})
}
