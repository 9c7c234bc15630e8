// Command gostatic serves one file's bytes from memory with Go's net/http
// and nothing else: no router, no logging, no metrics, no second hop. The
// gateway benchmark (bench/gateway/run.sh) measures it beside ufopd and
// nginx to show how much of ufopd's gap to nginx is Go's HTTP server itself
// and how much is ufop's own work on a cached request.
//
//	gostatic -addr 127.0.0.1:18090 -file result.jpg
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "listen address")
	file := flag.String("file", "", "file whose bytes every GET answers")
	ctype := flag.String("content-type", "image/jpeg", "Content-Type of the answers")
	flag.Parse()
	if err := run(*addr, *file, *ctype); err != nil {
		fmt.Fprintln(os.Stderr, "gostatic:", err)
		os.Exit(1)
	}
}

func run(addr, file, ctype string) error {
	if file == "" {
		return fmt.Errorf("-file is required")
	}
	body, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: handler(body, ctype, time.Now()), ReadHeaderTimeout: 10 * time.Second}
	// The benchmark ends it with a signal; there is nothing to drain.
	return srv.ListenAndServe()
}

// handler answers every request with body, as ctype, with a fixed ETag so
// that conditional and range requests work as on a real static server.
func handler(body []byte, ctype string, modified time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("ETag", `"static"`)
		http.ServeContent(w, r, "", modified, bytes.NewReader(body))
	})
}
