package ufopctl

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ufop/ufop/internal/version"
)

// Env is the process environment the CLI runs in; tests fill it with
// buffers and a temp dir.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Getenv reads environment variables (UFOP_CONFIG); nil reads none.
	Getenv func(string) string
	// UserConfigDir is os.UserConfigDir(); the default config file is
	// <UserConfigDir>/ufop/config.json.
	UserConfigDir string
}

// Exit codes of Main.
const (
	exitOK    = 0
	exitError = 1 // the operation failed
	exitUsage = 2 // the command line is wrong
)

// command is one verb. Adding a verb is adding an entry to commands and
// writing its run function.
type command struct {
	name    string // the words that select it: "bucket create"
	args    string // synopsis after the name, for usage lines
	summary string
	run     func(ctx context.Context, c *cli, args []string) error
}

// commands is the verb table, in the order help lists it.
func commands() []command {
	return []command{
		{"login", "--ak AK --sk SK --endpoint URL [--admin-endpoint URL]", "store credentials in the config file", runLogin},
		{"whoami", "", "show the user the configured key pair belongs to", runWhoami},
		{"bucket create", "<bucket> [--private] [--mirror URL] [--referer HOST]... [--allow-empty-referer]", "create a bucket", runBucketCreate},
		{"bucket ls", "[<bucket> [--prefix P] [--marker M] [--limit N]]", "list buckets, or the objects of one bucket", runBucketLs},
		{"bucket rm", "<bucket> [<key>] [--force]", "delete an empty bucket (with --force, its objects too), or one object", runBucketRm},
		{"bucket set", "<bucket> [--style-sep CHARS] [--protect-original[=false]]", "set a bucket's style separators and whether its originals need a signed URL", runBucketSet},
		{"bucket put", "<bucket> <key> <file|-> [--content-type T]", "upload a file (same as put)", runPut},
		{"bucket get", "<bucket> <key> [file|-]", "download an object (same as get)", runGet},
		{"put", "<bucket> <key> <file|-> [--content-type T]", "upload a file", runPut},
		{"get", "<bucket> <key> [file|-]", "download an object to a file (default: the key's base name) or stdout", runGet},
		{"ls", "<bucket> [--prefix P] [--marker M] [--limit N]", "list objects", runLs},
		{"rm", "<bucket> <key>", "delete an object", runRm},
		{"prefetch", "<bucket> <key>...", "fetch keys from a mirror bucket's origin now, replacing what is stored", runPrefetch},
		{"reg", "<name> -m 0|1|2 [-d DESC]", "register a UFOP: mode 0 public, 1 protected (granted users), 2 private", runReg},
		{"unreg", "<name> [--force]", "remove a UFOP (refused while instances run, unless --force)", runUnreg},
		{"list", "", "list the UFOPs you own or may use", runList},
		{"info", "<name>", "show a UFOP and its versions", runInfo},
		{"build", "<name> -f <dir|tar|tar.gz>", "upload a package, stream the build log, print the new version", runBuild},
		{"version", "<name>", "list a UFOP's image versions and their build state", runVersion},
		{"chver", "<name> -c N", "choose the version new instances use", runChver},
		{"upgrade", "<name> [--step N] [--wait]", "replace running instances with the chosen version, N at a time", runUpgrade},
		{"resize", "<name> -n N [--wait] [--timeout D]", "set the number of instances; --wait until they are healthy", runResize},
		{"scale", "<name> --max N --threshold T [--min N] [--cooldown D] [--step N] [--idle D]", "set the autoscaling policy", runScale},
		{"state", "<name>", "show a UFOP's instances: node, version, state, in-flight, queue", runState},
		{"logs", "<name> [--instance ID] [-f]", "print instance output", runLogs},
		{"grant", "<name> <user>", "let a user run a protected UFOP", runGrant},
		{"revoke", "<name> <user>", "withdraw a grant", runRevoke},
		{"style set", "<bucket> <name> <fops>", "create or replace a named style of a bucket", runStyleSet},
		{"style ls", "<bucket>", "list the styles of a bucket", runStyleLs},
		{"style rm", "<bucket> <name>", "remove a style", runStyleRm},
		{"user add", "<name> [--tier free|paid] [--admin]", "create a user and its key pair (admin)", runUserAdd},
		{"user ls", "", "list users (admin)", runUserLs},
		{"user rm", "<name>", "delete a user (admin)", runUserRm},
		{"user key add", "<user>", "give a user a second key pair, for rotation (admin, or the user)", runUserKeyAdd},
		{"user key rm", "<user> <AK>", "revoke one of a user's keys (admin, or the user)", runUserKeyRm},
		{"limit set", "<user> [--rps R] [--burst N] [--concurrency N] [--cmd NAME]", "set a user's cluster-wide limits (admin)", runLimitSet},
		{"limit ls", "[<user>]", "list the limits admins set and the tier defaults", runLimitLs},
		{"limit rm", "<user> [--cmd NAME]", "remove a user's limits: tier defaults apply again (admin)", runLimitRm},
		{"sign", "<url|bucket/key[?fop]> [--expires 1h]", "make a private download URL", runSign},
		{"usage", "[--user U] [--bucket B] [--from T] [--to T] [--by minute|hour|day]", "requests, errors, bytes out and processing time per bucket and command", runUsage},
		{"pfop", "<bucket> <key> <fops> [--notify URL] [--wait]", "run fops on an object in the background, results stored (persistent processing)", runPfop},
		{"pfop status", "<id>", "show a persistent-processing job's status", runPfopStatus},

		{"console", "", "print a one-time sign-in URL of the web console (valid 5 minutes)", runConsole},

		{"migrate start", "<name> --from SRC --to BUCKET [--workers N] [--list FILE] [--src-ak AK --src-sk SK]", "copy a whole source into a bucket, inside the platform", runMigrateStart},
		{"migrate status", "<name> [--watch]", "a migration's state and counters; --watch shows a progress bar", runMigrateStatus},
		{"migrate verify", "<name>", "list source keys missing from the bucket or different there", runMigrateVerify},
		{"migrate pause", "<name>", "pause a migration", migrateStateVerb("pause", "paused")},
		{"migrate resume", "<name>", "resume a paused migration", migrateStateVerb("resume", "resumed")},
		{"migrate rm", "<name>", "stop and forget a migration (copied objects stay)", runMigrateRm},
		{"migrate ls", "", "list migrations", runMigrateLs},
		{"help", "[command]", "show help", runHelp},
	}
}

func (cmd command) synopsis() string {
	return strings.TrimSpace("ufopctl " + cmd.name + " " + cmd.args)
}

// lookup finds the verb named by the first words of args.
func lookup(args []string) (command, []string, bool) {
	cmds := commands()
	for n := min(3, len(args)); n >= 1; n-- { // "user key add" has three words
		name := strings.Join(args[:n], " ")
		for _, cmd := range cmds {
			if cmd.name == name {
				return cmd, args[n:], true
			}
		}
	}
	return command{}, nil, false
}

// subcommands lists the verbs under a group word ("bucket").
func subcommands(group string) []string {
	var subs []string
	for _, cmd := range commands() {
		if g, sub, ok := strings.Cut(cmd.name, " "); ok && g == group {
			subs = append(subs, sub)
		}
	}
	return subs
}

// cli is the state of one Main call.
type cli struct {
	env        Env
	configFlag string
	output     string
	version    bool
	cmd        command
	fs         *flag.FlagSet // the running verb's flags, for its help
}

// usageError is a wrong command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// Main runs the CLI with args (without the program name) and returns the
// process exit status: 0 success, 1 failure, 2 usage error. Every failure
// prints one line on Stderr.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	c := &cli{env: env, output: "text"}
	global := flag.NewFlagSet("ufopctl", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	c.registerGlobals(global)
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.printUsage(env.Stdout)
			return exitOK
		}
		fmt.Fprintf(env.Stderr, "ufopctl: %v (run ufopctl help)\n", err)
		return exitUsage
	}
	rest := global.Args()
	if c.version {
		fmt.Fprintln(env.Stdout, version.Line("ufopctl"))
		return exitOK
	}
	if len(rest) == 0 {
		c.printUsage(env.Stderr)
		return exitUsage
	}
	cmd, cmdArgs, ok := lookup(rest)
	if !ok {
		if subs := subcommands(rest[0]); len(subs) > 0 {
			fmt.Fprintf(env.Stderr, "ufopctl: %s: want one of %s (run ufopctl help)\n", rest[0], strings.Join(subs, ", "))
		} else {
			fmt.Fprintf(env.Stderr, "ufopctl: unknown command %q (run ufopctl help)\n", rest[0])
		}
		return exitUsage
	}
	c.cmd = cmd
	err := cmd.run(ctx, c, cmdArgs)
	var uerr *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		c.printCommandHelp(env.Stdout)
		return exitOK
	case errors.As(err, &uerr):
		fmt.Fprintf(env.Stderr, "ufopctl: %s: %s (usage: %s)\n", cmd.name, oneLine(uerr.msg), cmd.synopsis())
		return exitUsage
	default:
		fmt.Fprintf(env.Stderr, "ufopctl: %s\n", oneLine(err.Error()))
		return exitError
	}
}

// oneLine keeps an error on one line whatever its source put in it.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func (c *cli) registerGlobals(fs *flag.FlagSet) {
	fs.StringVar(&c.configFlag, "config", c.configFlag, "config `file` (default $UFOP_CONFIG, else <user config dir>/ufop/config.json)")
	fs.StringVar(&c.output, "o", c.output, "output `format`: text or json")
	fs.BoolVar(&c.version, "version", false, "print the version of ufopctl and exit")
}

// flags returns a flag set for the running verb, with the global flags
// so they may also follow the verb.
func (c *cli) flags() *flag.FlagSet {
	fs := flag.NewFlagSet(c.cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by Main, in one line
	fs.Usage = func() {}
	c.registerGlobals(fs)
	c.fs = fs
	return fs
}

// parse parses the verb's args and checks the number of positional
// arguments is within [minPos, maxPos].
func (c *cli) parse(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, error) {
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, err
	}
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	if c.output != "text" && c.output != "json" {
		return nil, usagef("-o %q: want text or json", c.output)
	}
	switch {
	case len(pos) < minPos:
		return nil, usagef("missing arguments")
	case len(pos) > maxPos:
		return nil, usagef("unexpected argument %q", pos[maxPos])
	}
	return pos, nil
}

func (c *cli) json() bool { return c.output == "json" }

func (c *cli) printJSON(v any) error {
	out, err := durationsAsStrings(v)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(c.env.Stdout)
	enc.SetEscapeHTML(false) // URLs keep their '&'
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// durationKeys are the fields of the API's answers that hold a
// time.Duration, which the API sends as nanoseconds.
var durationKeys = map[string]bool{"cooldown": true, "idle": true, "maxAge": true, "healthTimeout": true, "timeout": true}

// durationsAsStrings re-encodes v with its durations written as manifests
// and flags write them ("1m0s"), not as nanoseconds.
func durationsAsStrings(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber() // other numbers stay exactly as they were
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	var walk func(any) any
	walk = func(n any) any {
		switch n := n.(type) {
		case map[string]any:
			for k, e := range n {
				if num, ok := e.(json.Number); ok && durationKeys[k] {
					if ns, err := num.Int64(); err == nil {
						n[k] = time.Duration(ns).String()
						continue
					}
				}
				n[k] = walk(e)
			}
		case []any:
			for i, e := range n {
				n[i] = walk(e)
			}
		}
		return n
	}
	return walk(tree), nil
}

// printf prints a confirmation line in text mode; -o json prints only
// data, so confirmations are dropped there.
func (c *cli) printf(format string, args ...any) {
	if !c.json() {
		fmt.Fprintf(c.env.Stdout, format, args...)
	}
}

func (c *cli) table() *tabwriter.Writer {
	return tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
}

// configPath picks the config file: --config, $UFOP_CONFIG, or the user
// config dir.
func (c *cli) configPath() (string, error) {
	if c.configFlag != "" {
		return c.configFlag, nil
	}
	if p := c.env.Getenv("UFOP_CONFIG"); p != "" {
		return p, nil
	}
	if c.env.UserConfigDir == "" {
		return "", errors.New("no user config directory: pass --config FILE or set UFOP_CONFIG")
	}
	return filepath.Join(c.env.UserConfigDir, "ufop", "config.json"), nil
}

func (c *cli) loadConfig() (Config, error) {
	path, err := c.configPath()
	if err != nil {
		return Config{}, err
	}
	cfg, err := LoadConfig(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Config{}, fmt.Errorf("no config at %s: run ufopctl login --ak AK --sk SK --endpoint URL first", path)
	}
	if err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w (run ufopctl login to fix it)", path, err)
	}
	return cfg, nil
}

func (c *cli) client() (*Client, error) {
	cfg, err := c.loadConfig()
	if err != nil {
		return nil, err
	}
	return NewClient(cfg, nil), nil
}

func (c *cli) printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: ufopctl [--config FILE] [-o json] <command> [arguments]\n       ufopctl --version\n\ncommands:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, cmd := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", cmd.name, cmd.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nFlags may come before or after arguments. Run ufopctl help <command> for its flags.\n")
}

func (c *cli) printCommandHelp(w io.Writer) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n\nflags:\n", c.cmd.synopsis(), c.cmd.summary)
	if c.fs != nil {
		c.fs.SetOutput(w)
		c.fs.PrintDefaults()
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// formatSize prints a byte count for people.
func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
