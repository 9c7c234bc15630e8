// Command slow is an example UFOP for load tests: it waits, then echoes the
// source back with its Content-Type.
//
//	?my-slow          wait 200 ms
//	?my-slow/1500     wait 1.5 s (at most 60000 ms)
//	?my-slow/crash    exit(1) mid-request, to see how the platform copes
//
// The wait ends early, with an error, when the platform gives up on the
// request.
package main

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/ufop/ufop/sdk"
)

const (
	defaultDelay = 200 * time.Millisecond
	maxDelayMS   = 60000
)

func main() { sdk.Main(handle) }

func handle(ctx context.Context, req *sdk.Request) (*sdk.Response, error) {
	delay := defaultDelay
	if req.Params == "crash" {
		os.Exit(1)
	}
	if req.Params != "" {
		ms, err := strconv.Atoi(req.Params)
		if err != nil || ms < 0 || ms > maxDelayMS {
			return nil, sdk.Errorf(http.StatusBadRequest, "%s: parameter delay: %q is not a number of milliseconds from 0 to %d", req.Name, req.Params, maxDelayMS)
		}
		delay = time.Duration(ms) * time.Millisecond
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, sdk.Errorf(http.StatusServiceUnavailable, "%s: request abandoned during the wait", req.Name)
	}
	ct := req.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	return &sdk.Response{Body: req.Body, ContentType: ct}, nil
}
