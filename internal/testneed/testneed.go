// Package testneed says which tests need more than the quick unit run
// (go test -short) allows: that run uses no Docker, no ../shared and
// nothing beyond loopback. A test that needs more calls one of these first;
// under -short it skips, saying what it needs. The package imports nothing
// beyond the standard library, so that any test can use it cheaply.
package testneed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Integration skips the test under -short: it needs what is named (for
// example "a UFOP image built on Docker" or "many seconds of real etcd").
func Integration(t testing.TB, needs string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s (integration test; run without -short)", needs)
	}
}

// Docker skips the test under -short, and outside CI when this machine has
// no Docker engine; in CI (CI set), where the engine tests must run, a
// missing engine fails the test.
func Docker(t testing.TB) {
	t.Helper()
	Integration(t, "Docker")
	if err := DockerReachable(os.Getenv("DOCKER_HOST")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs the Docker engine: %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
}

// SharedImages returns the directory of the shared test images
// (../shared/testdata/images beside the repository). It skips the test
// under -short, and when the directory is absent outside CI.
func SharedImages(t testing.TB) string {
	t.Helper()
	Integration(t, "the shared test images (../shared/testdata/images)")
	dir, err := SharedImagesDir()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs the shared test images: %v", err)
		}
		t.Skipf("shared test images absent: %v", err)
	}
	return dir
}

// SharedImagesDir finds ../shared/testdata/images beside the module root
// of the working directory (a test's package directory).
func SharedImagesDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root, err := moduleRoot(wd)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(filepath.Dir(root), "shared", "testdata", "images")
	if fi, err := os.Stat(dir); err != nil {
		return "", err
	} else if !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	return dir, nil
}

// moduleRoot is the nearest directory at or above dir holding go.mod.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod at or above %s", dir)
		}
		d = parent
	}
}

// DockerReachable reports why the Docker engine named by DOCKER_HOST (the
// local socket when empty) cannot be there: a unix socket that does not
// exist. Other schemes are taken as given.
func DockerReachable(host string) error {
	path := "/var/run/docker.sock"
	switch {
	case host == "":
	case strings.HasPrefix(host, "unix://"):
		path = strings.TrimPrefix(host, "unix://")
	default:
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return errors.New(path + " is not a socket")
	}
	return nil
}
