package catalog

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
)

// LoadMasterKey reads the 32-byte master key at path, creating it on first
// use. The key seals users' secret keys and never enters etcd.
func LoadMasterKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("catalog: master key %s: want 32 bytes, have %d", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("catalog: master key: %w", err)
	}
	b = make([]byte, 32)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("catalog: master key: %w", err)
	}
	return b, nil
}

// EnsureAdmin creates an admin account on first start and writes its
// ufopctl config (protocol.ClientConfig) to path; on later starts it only
// updates the endpoints in that config. adminEndpoint is "" when the admin
// API shares endpoint. The catalog must be ready.
func (c *Catalog) EnsureAdmin(ctx context.Context, path, endpoint, adminEndpoint string) error {
	if cc, err := protocol.LoadClientConfig(path); err == nil {
		// Keys stay; the listeners may have moved since the last start.
		if cc.Endpoint != endpoint || cc.AdminEndpoint != adminEndpoint {
			cc.Endpoint, cc.AdminEndpoint = endpoint, adminEndpoint
			return protocol.SaveClientConfig(path, cc)
		}
		return nil
	}
	name := "admin"
	if _, err := c.User(name); err == nil {
		// The account exists but its config is gone: mint another admin.
		name = "admin-" + time.Now().UTC().Format("20060102150405")
	}
	_, key, err := c.CreateUser(ctx, name, ufop.TierPaid, true)
	if err != nil {
		return fmt.Errorf("catalog: create admin: %w", err)
	}
	cc := protocol.ClientConfig{Endpoint: endpoint, AdminEndpoint: adminEndpoint, AK: key.AK, SK: key.SK}
	if err := protocol.SaveClientConfig(path, cc); err != nil {
		return err
	}
	c.logger.Info("created admin account", "user", name, "config", path)
	return nil
}
