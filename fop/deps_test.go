package fop

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoImageCode holds the package to the grammar: whoever parses a query
// (the gateway, ufopctl) must not link image codecs through it.
func TestNoImageCode(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the dependencies with")
	}
	out, err := exec.Command(gocmd, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "image" || strings.HasPrefix(dep, "image/") || strings.HasPrefix(dep, "golang.org/x/image") ||
			strings.HasPrefix(dep, "github.com/ufop/ufop/images") || strings.Contains(dep, "wasm") {
			t.Errorf("fop depends on %s", dep)
		}
	}
}
