// Package archtest checks the import rules between ufop's packages: what
// crosses a process boundary lives in protocol (and manifest), so no role
// imports another role for a constant, the CLI links no server-side client,
// and the gateway links no Docker client.
package archtest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/ufop/ufop"

// roles are the server roles: none may link another.
var roles = []string{"gateway", "agent", "scheduler", "scaler", "builder"}

// deps lists the packages pkg links (itself included), tests excluded.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", module+"/"+pkg)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list %s: %v\n%s", pkg, err, msg)
	}
	return strings.Fields(string(out))
}

// linked returns, for each forbidden path (a module or package prefix)
// that pkg links, how many of its packages and one of them.
func linked(all []string, forbidden ...string) []string {
	var out []string
	for _, f := range forbidden {
		n, example := 0, ""
		for _, d := range all {
			if d == f || strings.HasPrefix(d, f+"/") {
				if n == 0 {
					example = d
				}
				n++
			}
		}
		if n > 0 {
			out = append(out, fmt.Sprintf("%s (%d packages, e.g. %s)", f, n, example))
		}
	}
	return out
}

const (
	docker = "github.com/docker/docker"
	etcd   = "go.etcd.io/etcd"
	nats   = "github.com/nats-io"
)

type rule struct {
	name, pkg string
	forbidden []string
	why       string
}

func rules() []rule {
	rs := []rule{
		{"cli", "ufopctl", []string{docker, etcd, nats}, "ufopctl is an HTTP client"},
		{"cli main", "cmd/ufopctl", []string{docker, etcd, nats}, "ufopctl is an HTTP client"},
		{"gateway without docker", "gateway", []string{docker}, "the gateway runs no containers"},
		{"platform without cli", "platform", []string{module + "/ufopctl"}, "platform assembles servers, the CLI is a client"},
		{"protocol", "protocol", []string{docker, etcd, nats, "gopkg.in/yaml.v3"}, "protocol is a leaf every side links"},
		{"manifest", "manifest", []string{docker, etcd, nats}, "ufopctl checks packages with it"},
		{"console", "console", []string{docker, nats, module + "/gateway", module + "/catalog", module + "/storage"},
			"the console reads data only through the admin API, never the catalog or storage itself"},
	}
	for _, role := range roles {
		var others []string
		for _, o := range roles {
			if o != role {
				others = append(others, module+"/"+o)
			}
		}
		rs = append(rs, rule{"role " + role, role, others, "a role takes shared names from protocol, not from another role"})
	}
	return rs
}

func TestImportRules(t *testing.T) {
	for _, r := range rules() {
		t.Run(r.name, func(t *testing.T) {
			bad := linked(deps(t, r.pkg), r.forbidden...)
			if len(bad) > 0 {
				t.Errorf("%s links %s: %s", r.pkg, strings.Join(bad, "; "), r.why)
				return
			}
			t.Logf("ok: %s links none of %s", r.pkg, strings.Join(r.forbidden, ", "))
		})
	}
}

// TestProtocolIsALeaf: protocol imports only the root package and the
// standard library, so linking it costs a process nothing.
func TestProtocolIsALeaf(t *testing.T) {
	for _, d := range deps(t, "protocol") {
		if d == module || d == module+"/protocol" {
			continue
		}
		if first, _, _ := strings.Cut(d, "/"); strings.Contains(first, ".") {
			t.Errorf("protocol links %s", d)
		}
	}
}
