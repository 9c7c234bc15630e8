// Command hostile is a UFOP that attacks its sandbox, for the platform's
// isolation test. Commands (?<name>/<cmd>/<arg>):
//
//	dial/<host:port>[,<host:port>...]
//	                   open a TCP connection to each address that is not
//	                   the instance's own; answers {"ok":bool (any
//	                   connected),"err":"...","dialed":[...],"self":[...]}
//	fork               start copies of itself until the kernel refuses
//	hog                allocate and touch memory until killed
//	source             GET the url= the agent gave and compare it with the body
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/ufop/ufop/sdk"
)

func main() {
	if os.Getenv("HOSTILE_CHILD") == "1" {
		time.Sleep(time.Hour) // hold a pid
		return
	}
	sdk.Main(handle)
}

func handle(ctx context.Context, req *sdk.Request) (*sdk.Response, error) {
	cmd, arg, _ := strings.Cut(req.Params, "/")
	var out any
	switch cmd {
	case "dial":
		// Skip its own addresses: the test lists every instance and
		// whichever answers dials the others, so which instance the
		// gateway picks does not matter.
		var self []string
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				self = append(self, ipn.IP.String())
			}
		}
		ok, lastErr, dialed := false, "", []string{}
		for _, addr := range strings.Split(arg, ",") {
			if host, _, _ := net.SplitHostPort(addr); slices.Contains(self, host) && len(strings.Split(arg, ",")) > 1 {
				continue
			}
			dialed = append(dialed, addr)
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				lastErr = err.Error()
				continue
			}
			c.Close()
			ok = true
		}
		out = map[string]any{"ok": ok, "err": lastErr, "dialed": dialed, "self": self}
	case "source":
		// The agent's local fetcher is the one address the sandbox allows.
		out = map[string]any{"url": req.SourceURL, "body": len(req.Body)}
		if req.SourceURL != "" {
			resp, err := http.Get(req.SourceURL)
			if err != nil {
				out = map[string]any{"url": req.SourceURL, "err": err.Error()}
				break
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			out = map[string]any{"url": req.SourceURL, "body": len(req.Body), "fetched": len(b), "same": bytes.Equal(b, req.Body)}
		}
	case "fork":
		n, lastErr := 0, ""
		for ; n < 10000; n++ {
			c := exec.Command("/proc/self/exe")
			c.Env = []string{"HOSTILE_CHILD=1"}
			if err := c.Start(); err != nil {
				lastErr = err.Error()
				break
			}
		}
		out = map[string]any{"children": n, "err": lastErr}
	case "hog":
		var hold [][]byte
		for {
			b := make([]byte, 8<<20)
			for i := range b {
				b[i] = byte(i)
			}
			hold = append(hold, b)
		}
	default:
		return nil, sdk.Errorf(400, "unknown command %q", cmd)
	}
	b, _ := json.Marshal(out)
	return &sdk.Response{Body: b, ContentType: "application/json"}, nil
}
