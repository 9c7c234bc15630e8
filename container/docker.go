package container

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/docker/docker/client"
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

// ForAgent returns the container runtime of agent agentID on cli, with the
// default settings.
func ForAgent(cli *client.Client, agentID string, logger *slog.Logger) (*Runtime, error) {
	return New(Config{AgentID: agentID}, cli, logger.With("part", "containers"))
}
