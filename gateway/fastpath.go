package gateway

import "net/http"

// publicHandler is the public listener's handler when the admin API has a
// listener of its own.
func (g *Gateway) publicHandler() http.Handler { return g.publicRoutes(false) }
