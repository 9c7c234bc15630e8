package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFrom(t *testing.T) {
	tests := []struct {
		name        string
		info        debug.BuildInfo
		ver, commit string
	}{
		{"checkout", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "1aba582c0ffee1234567890"}, {Key: "vcs.modified", Value: "false"}}}, "(devel)", "1aba582c0ffe"},
		{"dirty", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "1aba582c0ffee1234567890"}, {Key: "vcs.modified", Value: "true"}}}, "(devel)", "1aba582c0ffe-dirty"},
		{"go install", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3", "unknown"},
		{"short revision", debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}}, "(devel)", "abc"},
	}
	for _, tt := range tests {
		ver, commit := From(&tt.info)
		if ver != tt.ver || commit != tt.commit {
			t.Errorf("%s: From = %q, %q; want %q, %q", tt.name, ver, commit, tt.ver, tt.commit)
		}
	}
}

func TestLine(t *testing.T) {
	line := Line("ufopctl")
	if !strings.HasPrefix(line, "ufopctl ") || !strings.Contains(line, " (") || !strings.HasSuffix(line, ")") {
		t.Fatalf("Line = %q, want \"ufopctl <version> (<commit>)\"", line)
	}
}
