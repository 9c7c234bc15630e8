package container_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/docker/docker/client"

	"github.com/ufop/ufop/container"
)

// How an agent drives a Runtime: run it, serve the local fetcher where
// instances can reach it, start instances, react to events, stop them.
func Example() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	docker, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		logger.Error("docker client", "err", err)
		return
	}
	defer docker.Close()
	rt, err := container.New(container.Config{AgentID: "agent1"}, docker, logger)
	if err != nil {
		logger.Error("runtime", "err", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- rt.Run(ctx) }()
	defer func() {
		cancel()
		<-runErr
		rt.Close() // keeps the network and rules while instances survive
	}()
	<-rt.Ready()

	// The local fetcher: the only host service instances may reach.
	ln, err := net.Listen("tcp", rt.AgentAddr())
	if err != nil {
		logger.Error("local fetcher", "err", err)
		return
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(ln)
	defer srv.Close()

	inst, err := rt.Start(ctx, container.Spec{Name: "thumbs", Version: 3, Image: "ufop/thumbs:v3", Memory: 128 << 20})
	if err != nil {
		logger.Error("start", "err", err)
		return
	}
	// POST inst.Addr + "/handler?cmd=..." from here on; watch rt.Events()
	// for Died/OOM/Unhealthy and replace the instance.
	_ = rt.Stop(ctx, inst.ID)
}
