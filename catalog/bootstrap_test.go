package catalog_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/protocol"
)

func TestLoadMasterKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "master.key")
	first, err := catalog.LoadMasterKey(path)
	if err != nil || len(first) != 32 {
		t.Fatalf("first load: %d bytes, %v", len(first), err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	again, err := catalog.LoadMasterKey(path)
	if err != nil || !bytes.Equal(again, first) {
		t.Fatalf("second load gave another key (%v)", err)
	}
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("too short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.LoadMasterKey(short); err == nil {
		t.Fatal("a 9-byte key was accepted")
	}
}

func TestEnsureAdmin(t *testing.T) {
	ctx, c, _ := pair(t)
	path := filepath.Join(t.TempDir(), "ufopctl.json")
	if err := c.EnsureAdmin(ctx, path, "http://127.0.0.1:9000", ""); err != nil {
		t.Fatal(err)
	}
	first, err := protocol.LoadClientConfig(path)
	if err != nil || first.Validate() != nil {
		t.Fatalf("config %+v: %v", first, err)
	}
	if u, sk, err := c.LookupKey(first.AK); err != nil || sk != first.SK || u.Name != "admin" || !u.Admin {
		t.Fatalf("the config's key belongs to %+v (%v), want the admin", u, err)
	}
	// A restart on other listeners keeps the keys and moves the endpoints.
	if err := c.EnsureAdmin(ctx, path, "http://127.0.0.1:9100", "http://127.0.0.1:9101"); err != nil {
		t.Fatal(err)
	}
	moved, err := protocol.LoadClientConfig(path)
	want := protocol.ClientConfig{Endpoint: "http://127.0.0.1:9100", AdminEndpoint: "http://127.0.0.1:9101", AK: first.AK, SK: first.SK}
	if err != nil || moved != want {
		t.Fatalf("after restart %+v (%v), want %+v", moved, err, want)
	}
	// A lost config mints another admin rather than failing on the name.
	os.Remove(path)
	if err := c.EnsureAdmin(ctx, path, "http://127.0.0.1:9000", ""); err != nil {
		t.Fatal(err)
	}
	other, err := protocol.LoadClientConfig(path)
	if err != nil || other.AK == first.AK {
		t.Fatalf("after losing the config: %+v, %v", other, err)
	}
}
