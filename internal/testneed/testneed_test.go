package testneed

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIntegrationSkipsOnlyUnderShort(t *testing.T) {
	var ran bool
	res := t.Run("inner", func(t *testing.T) {
		Integration(t, "a thing")
		ran = true
	})
	if !res {
		t.Fatal("Integration failed the test")
	}
	if testing.Short() == ran {
		t.Errorf("-short=%v but the test body ran=%v", testing.Short(), ran)
	}
}

func TestDockerReachable(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		ok   bool
	}{
		{"unix://" + sock, true},
		{"unix://" + filepath.Join(dir, "none.sock"), false},
		{"unix://" + plain, false},     // not a socket
		{"tcp://127.0.0.1:2375", true}, // taken as given: nothing dialed
	}
	for _, tc := range tests {
		if err := DockerReachable(tc.host); (err == nil) != tc.ok {
			t.Errorf("DockerReachable(%q) = %v, want ok=%v", tc.host, err, tc.ok)
		}
	}
}

func TestModuleRoot(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := moduleRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	// This package is internal/testenv of the module.
	if want := filepath.Dir(filepath.Dir(wd)); root != want {
		t.Errorf("moduleRoot(%s) = %s, want %s", wd, root, want)
	}
	if _, err := moduleRoot(t.TempDir()); err == nil {
		t.Error("moduleRoot of a temporary directory found a go.mod")
	}
}

func TestSharedImagesDirBesideModule(t *testing.T) {
	dir, err := SharedImagesDir()
	if err != nil {
		// Absent is fine (the quick run needs no ../shared): the error
		// names where it looked.
		if !strings.Contains(err.Error(), filepath.Join("shared", "testdata", "images")) {
			t.Errorf("error does not say where it looked: %v", err)
		}
		return
	}
	if filepath.Base(filepath.Dir(filepath.Dir(dir))) != "shared" {
		t.Errorf("SharedImagesDir = %s", dir)
	}
}
