// Package examples holds example UFOPs (sepia, slow) and Build, which turns
// one into a package directory (static binary + ufop.yaml) for tests and
// demos in other packages. package.sh does the same from a shell.
package examples

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"time"
)

//go:embed sepia/ufop.yaml slow/ufop.yaml
var manifests embed.FS

// manifestFile is the package manifest's name (SPEC §4).
const manifestFile = "ufop.yaml"

// Names are the example UFOPs Build knows.
var Names = []string{"sepia", "slow"}

// Build compiles the example UFOP name (CGO_ENABLED=0, GOOS=linux, the host
// architecture) into outDir/name/handler, writes its ufop.yaml beside it and
// returns outDir/name. It runs the go command, so it needs the module's
// source: it is meant for tests and tools run from this repository.
func Build(ctx context.Context, name, outDir string) (string, error) {
	if !slices.Contains(Names, name) {
		return "", fmt.Errorf("examples: no example %q (have %v)", name, Names)
	}
	manifest, err := manifests.ReadFile(name + "/ufop.yaml")
	if err != nil {
		return "", fmt.Errorf("examples: %s manifest: %w", name, err)
	}
	dir := filepath.Join(outDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("examples: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w",
		"-o", filepath.Join(dir, "handler"), "github.com/ufop/ufop/examples/"+name)
	cmd.Dir = sourceDir()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("examples: go build %s: %w: %s", name, err, bytes.TrimSpace(stderr.Bytes()))
	}
	if err := os.WriteFile(filepath.Join(dir, manifestFile), manifest, 0o644); err != nil {
		return "", fmt.Errorf("examples: %w", err)
	}
	return dir, nil
}

// Tarball builds the example like Build and packs it as outDir/name.tar.gz
// (sorted names, root owner, fixed times: what package.sh makes). It
// returns the file's path.
func Tarball(ctx context.Context, name, outDir string) (string, error) {
	dir, err := Build(ctx, name, outDir)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range []string{"handler", manifestFile} { // all Build writes
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return "", fmt.Errorf("examples: %w", err)
		}
		mode := int64(0o644)
		if f == "handler" {
			mode = 0o755
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f, Mode: mode, Size: int64(len(data)), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", fmt.Errorf("examples: %s: %w", name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return "", fmt.Errorf("examples: %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("examples: %s: %w", name, err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("examples: %s: %w", name, err)
	}
	out := filepath.Join(outDir, name+".tar.gz")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("examples: %w", err)
	}
	return out, nil
}

// sourceDir is this package's directory, so that go build resolves the
// module whatever the caller's working directory.
func sourceDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "."
	}
	if _, err := os.Stat(file); err != nil { // built with -trimpath
		return "."
	}
	return filepath.Dir(file)
}
