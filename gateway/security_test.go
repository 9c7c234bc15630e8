package gateway_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/internal/testenv"
)

func clusterToken(t *testing.T, c *cluster) string {
	t.Helper()
	tok, err := catalog.ClusterToken(c.ctx, testenv.EtcdClientOf(t, c.etcd), gateway.DefaultConfig().Catalog.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func fetch(t *testing.T, url, authz string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// TestMetricsAccess: /metrics is not public. On a gateway with one
// listener it needs the cluster token; with a separate admin listener it
// is served there only.
func TestMetricsAccess(t *testing.T) {
	const series = "ufop_gateway_requests_total"
	t.Run("one listener", func(t *testing.T) {
		c := newCluster(t, 0)
		tok := clusterToken(t, c)
		for _, tc := range []struct {
			authz  string
			status int
		}{
			{"", 401},
			{"Bearer wrong", 401},
			{"Bearer " + tok + "x", 401},
			{"Bearer " + tok, 200},
		} {
			status, body, h := fetch(t, c.url+"/metrics", tc.authz)
			if status != tc.status {
				t.Errorf("%q: %d, want %d", tc.authz, status, tc.status)
			}
			if status == 200 && !bytes.Contains(body, []byte(series)) {
				t.Errorf("%q: no %s", tc.authz, series)
			}
			if status != 200 && (bytes.Contains(body, []byte(series)) || h.Get("Cache-Control") != "no-store") {
				t.Errorf("%q: refusal is not a SPEC error: %s", tc.authz, body)
			}
		}
	})
	t.Run("admin listener", func(t *testing.T) {
		c := newCluster(t, 0, func(cfg *gateway.Config, _ *gateway.Deps) { cfg.AdminAddr = "127.0.0.1:0" })
		tok := clusterToken(t, c)
		for _, authz := range []string{"", "Bearer " + tok} {
			if status, body, _ := fetch(t, c.url+"/metrics", authz); status != 404 || bytes.Contains(body, []byte(series)) {
				t.Errorf("public listener, %q: %d", authz, status)
			}
		}
		if status, body, _ := fetch(t, "http://"+c.gw.AdminAddr()+"/metrics", ""); status != 200 || !bytes.Contains(body, []byte(series)) {
			t.Errorf("admin listener: %d", status)
		}
	})
}
