package gateway

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/discovery"
)

// peersConfig is the discovery config of the gateways' own registry:
// every gateway announces itself there under a lease and counts the
// others, to take its share of the cluster-wide limits. It reuses the
// agents' registry code; a gateway's entry carries its ID, address and
// start time.
func peersConfig(c LimitsConfig) discovery.Config {
	d := discovery.DefaultConfig()
	d.Prefix, d.TTL = c.PeersPrefix, c.PeerTTL
	return d
}

func (g *Gateway) limitConns(ln net.Listener) *connLimiter {
	return newConnLimiter(ln, g.cfg.Conns, g.metrics.conn, g.metrics.openConns)
}

// announce registers this gateway among its peers until ctx ends.
func (g *Gateway) announce(ctx context.Context, wg *sync.WaitGroup, addr string) error {
	a, err := discovery.NewAnnouncer(peersConfig(g.cfg.Limits), g.deps.Etcd,
		ufop.Agent{ID: g.cfg.ID, Addr: "http://" + addr, Started: time.Now().UTC()}, g.logger.With("registry", "gateways"))
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); a.Run(ctx) }()
	return nil
}

// Peers returns how many gateways share the cluster-wide limits, as this
// one sees them (itself included once registered).
func (g *Gateway) Peers() int { return max(1, len(g.peers.Agents())) }
