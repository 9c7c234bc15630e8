package sdk_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/ufop/ufop/sdk"
)

// upper is a complete UFOP handler: it upper-cases text sources.
func upper(ctx context.Context, req *sdk.Request) (*sdk.Response, error) {
	if !strings.HasPrefix(req.ContentType, "text/") {
		return nil, sdk.Errorf(http.StatusUnsupportedMediaType, "%s: want a text source, got %q", req.Name, req.ContentType)
	}
	return &sdk.Response{Body: bytes.ToUpper(req.Body), ContentType: req.ContentType}, nil
}

// A UFOP's main is one line: sdk.Main(upper). Here Serve runs it on a
// loopback port to show a request as the platform sends it.
func ExampleServe() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sdk.Serve(ctx, upper, sdk.Options{Listener: ln}) }()

	resp, err := http.Post("http://"+ln.Addr().String()+"/handler?cmd=my-upper", "text/plain", strings.NewReader("hello"))
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))

	stop()
	fmt.Println(<-done)
	// Output:
	// 200 HELLO
	// <nil>
}
