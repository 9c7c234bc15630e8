package platform

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/docker/docker/client"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop/builder"
	"github.com/ufop/ufop/container"
)

// Docker connects to the Docker engine named by the environment
// (DOCKER_HOST, else the local socket) and checks that it answers.
func Docker(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker: no engine: %w", err)
	}
	return cli, nil
}

// DockerRuntime returns the container runtime of agent agentID.
func DockerRuntime(cli *client.Client, agentID string, logger *slog.Logger) (*container.Runtime, error) {
	return container.New(container.Config{AgentID: agentID}, cli, logger.With("part", "containers"))
}

// BuilderService returns the builder role on cli.
func BuilderService(cli *client.Client, cfg builder.ServiceConfig, etcd *clientv3.Client, logger *slog.Logger) (*builder.Service, error) {
	bc := builder.DefaultConfig()
	bc.BaseImages = cfg.BaseImages
	b, err := builder.New(bc, cli, logger.With("role", "builder"))
	if err != nil {
		return nil, err
	}
	return builder.NewService(cfg, b, etcd, logger)
}
