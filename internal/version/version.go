// Package version tells which build of ufop is running, from the build
// information the Go toolchain embeds (module version and VCS stamp).
package version

import (
	"runtime/debug"
	"strings"
)

// Get returns the running binary's version and commit.
func Get() (ver, commit string) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)", "unknown"
	}
	return From(info)
}

// From reads the version and commit out of info: the main module's
// version ("(devel)" for a build from a checkout) and the VCS revision,
// shortened, with "-dirty" when the tree had local changes.
func From(info *debug.BuildInfo) (ver, commit string) {
	ver, commit = info.Main.Version, "unknown"
	if ver == "" {
		ver = "(devel)"
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		commit = rev[:min(len(rev), 12)]
		if modified == "true" {
			commit += "-dirty"
		}
	}
	return ver, commit
}

// Line is what --version prints: "<program> <version> (<commit>)".
func Line(program string) string {
	ver, commit := Get()
	return strings.Join([]string{program, ver, "(" + commit + ")"}, " ")
}
