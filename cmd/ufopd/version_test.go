package main

import (
	"os/exec"
	"regexp"
	"testing"
)

// TestVersionFlag: the built binary prints "ufopd <version> (<commit>)".
func TestVersionFlag(t *testing.T) {
	bin := buildUfopd(t)
	for _, arg := range []string{"--version", "-version", "version"} {
		out, err := exec.Command(bin, arg).CombinedOutput()
		if err != nil || !regexp.MustCompile(`^ufopd \S+ \(\S+\)\n$`).Match(out) {
			t.Errorf("ufopd %s: %v, output %q", arg, err, out)
		}
	}
}

func TestListFlag(t *testing.T) {
	var list []string
	set := listFlag(&list)
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"scratch,busybox:latest", []string{"scratch", "busybox:latest"}},
		{" busybox , ,ghcr.io/x/y:1 ", []string{"busybox", "ghcr.io/x/y:1"}},
		{"", nil},
	} {
		if err := set(tt.in); err != nil || len(list) != len(tt.want) {
			t.Fatalf("%q: %q, %v", tt.in, list, err)
		}
		for i := range list {
			if list[i] != tt.want[i] {
				t.Fatalf("%q: %q, want %q", tt.in, list, tt.want)
			}
		}
	}
}
