package ufopctl

import (
	"flag"
	"strings"
)

// parseArgs parses fs's flags wherever they appear among args and returns
// the positional arguments in order: "reg name -m 0 -d desc" and
// "reg -m 0 name -d desc" mean the same. The standard flag package stops
// at the first positional argument, so this resumes after each one. After
// "--" everything is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// stringList is a repeatable string flag (--referer a --referer b).
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}
