// Package engines starts the embedded etcd and NATS (JetStream) servers a
// migration benchmark runs the real machinery against, on loopback.
package engines

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ufop/ufop/embedded"
)

// Engines are the running servers and a client of each.
type Engines struct {
	Etcd *clientv3.Client
	NATS *nats.Conn

	etcd *embedded.Etcd
	nats *embedded.NATS
}

// Start starts both servers with their data under dir.
func Start(ctx context.Context, dir string, logger *slog.Logger) (*Engines, error) {
	en := &Engines{}
	var err error
	if en.etcd, err = embedded.StartEtcd(ctx, embedded.EtcdConfig{Dir: filepath.Join(dir, "etcd"), ClientAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0"}, logger); err != nil {
		return nil, fmt.Errorf("engines: etcd: %w", err)
	}
	if en.nats, err = embedded.StartNATS(embedded.NATSConfig{Dir: filepath.Join(dir, "nats"), Port: -1}, logger); err != nil {
		en.Close()
		return nil, fmt.Errorf("engines: nats: %w", err)
	}
	if en.Etcd, err = clientv3.New(clientv3.Config{Endpoints: []string{en.etcd.ClientURL()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}); err != nil {
		en.Close()
		return nil, fmt.Errorf("engines: etcd client: %w", err)
	}
	if en.NATS, err = nats.Connect(en.nats.ClientURL()); err != nil {
		en.Close()
		return nil, fmt.Errorf("engines: nats client: %w", err)
	}
	return en, nil
}

// Close closes the clients and stops the servers.
func (en *Engines) Close() {
	if en.NATS != nil {
		en.NATS.Close()
	}
	if en.Etcd != nil {
		en.Etcd.Close()
	}
	if en.nats != nil {
		en.nats.Close()
	}
	if en.etcd != nil {
		en.etcd.Close()
	}
}

// EtcdURL is the etcd server's client URL, for other processes.
func (en *Engines) EtcdURL() string { return en.etcd.ClientURL() }

// NATSURL is the NATS server's client URL, for other processes.
func (en *Engines) NATSURL() string { return en.nats.ClientURL() }
