package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// ClientConfig is what ufopctl needs to reach and sign for the platform. It is
// stored as JSON (ufopctl login writes it; ufopd up writes one for its
// admin).
type ClientConfig struct {
	// Endpoint is the gateway's base URL, like http://127.0.0.1:9000.
	Endpoint string `json:"endpoint"`
	// AdminEndpoint is the admin API's base URL when it has its own
	// listener; empty means Endpoint.
	AdminEndpoint string `json:"adminEndpoint,omitempty"`
	AK            string `json:"ak"`
	SK            string `json:"sk"`
}

// Validate reports whether c can be used to make signed requests.
func (c ClientConfig) Validate() error {
	if err := checkBaseURL("endpoint", c.Endpoint); err != nil {
		return err
	}
	if c.AdminEndpoint != "" {
		if err := checkBaseURL("admin endpoint", c.AdminEndpoint); err != nil {
			return err
		}
	}
	if c.AK == "" || c.SK == "" {
		return errors.New("config: both an access key (ak) and a secret key (sk) are required")
	}
	return nil
}

func checkBaseURL(what, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("config: %s %q must be a URL like http://127.0.0.1:9000", what, s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("config: %s %q must not have a query or fragment", what, s)
	}
	return nil
}

// LoadClientConfig reads a config file. A missing file is an error wrapping
// fs.ErrNotExist.
func LoadClientConfig(path string) (ClientConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ClientConfig{}, fmt.Errorf("read config: %w", err)
	}
	var c ClientConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return ClientConfig{}, fmt.Errorf("config %s is not valid JSON: %w", path, err)
	}
	return c, nil
}

// SaveClientConfig writes c to path with mode 0600 (it holds a secret key),
// atomically: a crash leaves the old file or the new one, never half.
func SaveClientConfig(path string, c ClientConfig) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	f, err := os.CreateTemp(dir, ".config-*.tmp")
	if err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	defer os.Remove(f.Name()) // after a successful rename this is a no-op
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("save config: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("save config: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("save config: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}
