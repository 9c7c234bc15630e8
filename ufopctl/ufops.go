package ufopctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/manifest"
)

// The UFOP verbs (SPEC §6): registration, builds, versions, instances.

func runReg(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	mode := fs.Int("m", 0, "access `mode` (required): 0 public, 1 protected (the owner and users granted with ufopctl grant), 2 private (the owner only)")
	desc := fs.String("d", "", "one-line `description`")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	name := pos[0]
	if !ufop.ValidUFOPName(name) {
		return usagef("UFOP name %q: want 5 to 20 characters of a-z, 0-9, _ and -", name)
	}
	switch {
	case !isSet(fs, "m"):
		return usagef("-m is required: 0 public, 1 protected, 2 private")
	case *mode < int(ufop.ModePublic) || *mode > int(ufop.ModePrivate):
		return usagef("-m %d: want 0 (public), 1 (protected) or 2 (private)", *mode)
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("reg %s: %w", name, err)
	}
	u, err := cl.RegisterUFOP(ctx, name, ufop.ACLMode(*mode), *desc)
	if err != nil {
		return fmt.Errorf("reg %s: %w", name, err)
	}
	if c.json() {
		return c.printJSON(u)
	}
	c.printf("registered %s UFOP %s\n", modeName(u.Mode), u.Name)
	return nil
}

func runUnreg(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	force := fs.Bool("force", false, "remove it even while instances run (they are stopped)")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	name := pos[0]
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("unreg %s: %w", name, err)
	}
	if err := cl.UnregisterUFOP(ctx, name, *force); err != nil {
		return fmt.Errorf("unreg %s: %w", name, err)
	}
	c.printf("unregistered %s\n", name)
	return nil
}

func runList(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flags(), args, 0, 0); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	us, err := cl.ListUFOPs(ctx)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	if c.json() {
		return c.printJSON(struct {
			UFOPs []ufop.UFOP `json:"ufops"`
		}{nonNil(us)})
	}
	tw := c.table()
	fmt.Fprintln(tw, "NAME\tOWNER\tMODE\tVERSION\tINSTANCES\tDESC")
	for _, u := range us {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, u.Owner, modeName(u.Mode), versionNumber(u.Version), instances(u), printableKey(u.Desc))
	}
	return tw.Flush()
}

func runInfo(ctx context.Context, c *cli, args []string) error {
	name, cl, err := c.ufopClient("info", args)
	if err != nil {
		return err
	}
	info, err := cl.UFOPInfo(ctx, name)
	if err != nil {
		return fmt.Errorf("info %s: %w", name, err)
	}
	if c.json() {
		info.Versions = nonNil(info.Versions)
		return c.printJSON(info)
	}
	u := info.UFOP
	tw := c.table()
	fmt.Fprintf(tw, "name\t%s\nowner\t%s\nmode\t%d (%s)\n", u.Name, u.Owner, u.Mode, modeName(u.Mode))
	if u.Desc != "" {
		fmt.Fprintf(tw, "desc\t%s\n", printableKey(u.Desc))
	}
	if u.Mode == ufop.ModeProtected {
		fmt.Fprintf(tw, "grants\t%s\n", orDash(strings.Join(u.Grants, ", ")))
	}
	fmt.Fprintf(tw, "version\t%s\n", versionNumber(u.Version))
	if u.Rollout != 0 && u.Rollout != u.Version {
		fmt.Fprintf(tw, "rollout\t%d (running instances stay on it until ufopctl upgrade)\n", u.Rollout)
	}
	fmt.Fprintf(tw, "instances\t%d\n", u.Instances)
	if u.Scale != nil {
		fmt.Fprintf(tw, "scale\t%s\n", scaleString(*u.Scale))
	}
	fmt.Fprintf(tw, "created\t%s\n", formatTime(u.Created))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(info.Versions) == 0 {
		c.printf("\nno versions: build one with ufopctl build %s -f DIR\n", u.Name)
		return nil
	}
	fmt.Fprintln(c.env.Stdout)
	return c.versionTable(info.Versions, u.Version)
}

// versionTable prints versions, marking current.
func (c *cli) versionTable(vs []ufop.Version, current int) error {
	tw := c.table()
	fmt.Fprintln(tw, "VERSION\tSTATE\tIMAGE\tCREATED")
	for _, v := range vs {
		n := strconv.Itoa(v.N)
		if v.N == current {
			n += " (current)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n, v.State, orDash(v.Image), formatTime(v.Created))
	}
	return tw.Flush()
}

func runBuild(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	src := fs.String("f", "", "the package: a `directory`, .tar or .tar.gz with ufop.yaml at its root")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	name := pos[0]
	if *src == "" {
		return usagef("-f is required: the package directory or tarball")
	}
	fail := func(err error) error { return fmt.Errorf("build %s: %w", name, err) }
	cl, err := c.client()
	if err != nil {
		return fail(err)
	}
	pkg, cleanup, err := openPackage(*src)
	if err != nil {
		return fail(err)
	}
	defer cleanup()

	p := newProgress(c.env.Stderr, "upload "+name+" package")
	log, err := cl.Build(ctx, name, pkg, p.update)
	if err != nil {
		p.abort()
		return fail(err)
	}
	defer log.Close()
	p.finish()
	// The log goes to stderr, so stdout carries only the version number
	// (v=$(ufopctl build ...) works in scripts).
	for {
		line, err := log.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				// The gateway cancels a build whose client has gone.
				return fail(fmt.Errorf("interrupted: check the outcome with ufopctl version %s", name))
			}
			return fail(err)
		}
		fmt.Fprintln(c.env.Stderr, line)
	}
	res, err := log.Result()
	if err != nil {
		return fail(fmt.Errorf("%w: the build may still be running; check ufopctl version %s", err, name))
	}
	if res.State != ufop.BuildOK {
		msg := res.Error
		if msg == "" {
			msg = "no reason given (see the log above)"
		}
		return fail(fmt.Errorf("version %d %s: %s", res.Version, res.State, msg))
	}
	if c.json() {
		return c.printJSON(res)
	}
	fmt.Fprintln(c.env.Stdout, res.Version)
	return nil
}

// openPackage opens what build -f names. A directory is checked with the
// builder's own rules, so a bad package is refused with the server's
// message before any upload, and written as a canonical tar to a temp file;
// a file is sent as it is (the server checks it). cleanup closes and
// removes what openPackage made.
func openPackage(src string) (io.ReadSeeker, func(), error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, nil, err
	}
	if !fi.IsDir() {
		f, err := os.Open(src)
		if err != nil {
			return nil, nil, err
		}
		return f, func() { f.Close() }, nil
	}
	pkg, err := manifest.ReadDir(src, manifest.DefaultLimits())
	if err != nil {
		return nil, nil, err
	}
	f, err := os.CreateTemp("", "ufop-package-*.tar")
	if err != nil {
		return nil, nil, fmt.Errorf("package %s: %w", src, err)
	}
	cleanup := func() {
		f.Close()
		os.Remove(f.Name())
	}
	if err := pkg.WriteTar(f); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("package %s: %w", src, err)
	}
	return f, cleanup, nil
}

func runVersion(ctx context.Context, c *cli, args []string) error {
	name, cl, err := c.ufopClient("version", args)
	if err != nil {
		return err
	}
	vs, err := cl.Versions(ctx, name)
	if err != nil {
		return fmt.Errorf("version %s: %w", name, err)
	}
	if c.json() {
		vs.Versions = nonNil(vs.Versions)
		return c.printJSON(vs)
	}
	return c.versionTable(vs.Versions, vs.Current)
}

func runChver(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	n := fs.Int("c", 0, "the version `N` new instances use (see ufopctl version)")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	name := pos[0]
	if *n <= 0 {
		return usagef("-c is required: a version number from ufopctl version %s", name)
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("chver %s: %w", name, err)
	}
	u, err := cl.ChooseVersion(ctx, name, *n)
	if err != nil {
		return fmt.Errorf("chver %s: %w", name, err)
	}
	if c.json() {
		return c.printJSON(u)
	}
	c.printf("%s: new instances use version %d\n", u.Name, u.Version)
	if u.Instances > 0 && u.Rollout != u.Version {
		// Choosing does not touch running instances; say how to.
		fmt.Fprintf(c.env.Stderr, "running instances keep version %d: run ufopctl upgrade %s to replace them\n", u.Rollout, u.Name)
	}
	return nil
}

func runResize(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	// -n has no default (a zero would stop every instance): unset is
	// told apart from 0 with isSet, so help shows no "(default -1)".
	n := fs.Int("n", 0, "the number of instances `N` (required; 0 stops them all)")
	wait := fs.Bool("wait", false, "wait until exactly N instances run, all healthy, printing progress")
	interval := fs.Duration("interval", time.Second, "with --wait, how often to check")
	timeout := fs.Duration("timeout", 2*time.Minute, "with --wait, how long to wait before giving up (the resize goes on)")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	name := pos[0]
	switch {
	case !isSet(fs, "n"):
		return usagef("-n is required: the number of instances, 0 or more")
	case *n < 0:
		return usagef("-n %d: want 0 or more instances", *n)
	case *interval <= 0 || *timeout <= 0:
		return usagef("--interval and --timeout must be positive durations like 2s or 10m")
	}
	fail := func(err error) error { return fmt.Errorf("resize %s: %w", name, err) }
	cl, err := c.client()
	if err != nil {
		return fail(err)
	}
	u, err := cl.Resize(ctx, name, *n)
	if err != nil {
		return fail(err)
	}
	if u.Scale != nil {
		fmt.Fprintf(c.env.Stderr, "%s has an autoscaling policy (%s): the scaler may change the count\n", u.Name, scaleString(*u.Scale))
	}
	if !*wait {
		if c.json() {
			return c.printJSON(u)
		}
		c.printf("%s: %d %s desired\n", u.Name, u.Instances, plural(u.Instances, "instance"))
		return nil
	}
	// As upgrade --wait: progress on stdout, or on stderr with -o json.
	progress := c.env.Stdout
	if c.json() {
		progress = c.env.Stderr
	}
	fmt.Fprintf(progress, "%s: %d %s desired\n", u.Name, u.Instances, plural(u.Instances, "instance"))
	st, err := waitState(ctx, cl, name, *interval, *timeout, progress, func(st UFOPState) (fmt.Stringer, bool) {
		p := resizeProgressOf(st, *n)
		return p, p.done()
	})
	if err != nil {
		return fail(fmt.Errorf("%w; it goes on, follow it with ufopctl state %s", err, name))
	}
	if c.json() {
		st.Instances = nonNil(st.Instances)
		return c.printJSON(st)
	}
	return nil
}

// resizeProgress summarises a state for resize --wait.
type resizeProgress struct {
	want, healthy, starting, stopping, failed int
}

func resizeProgressOf(st UFOPState, want int) resizeProgress {
	p := resizeProgress{want: want}
	for _, in := range st.Instances {
		switch in.State {
		case ufop.InstanceHealthy:
			p.healthy++
		case ufop.InstanceStopping:
			p.stopping++
		case ufop.InstanceFailed:
			p.failed++
		default:
			p.starting++
		}
	}
	return p
}

// done: exactly the instances asked for, all of them taking traffic.
func (p resizeProgress) done() bool {
	return p.healthy == p.want && p.starting+p.stopping+p.failed == 0
}

func (p resizeProgress) String() string {
	s := fmt.Sprintf("%d/%d %s healthy", p.healthy, p.want, plural(p.want, "instance"))
	for _, c := range []struct {
		n    int
		what string
	}{{p.starting, "starting"}, {p.stopping, "stopping"}, {p.failed, "failed"}} {
		if c.n > 0 {
			s += fmt.Sprintf(", %d %s", c.n, c.what)
		}
	}
	return s
}

func runUpgrade(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	step := fs.Int("step", 1, "replace at most `N` instances at a time (1 to 100)")
	wait := fs.Bool("wait", false, "wait until every instance runs the chosen version, printing progress")
	interval := fs.Duration("interval", time.Second, "with --wait, how often to check")
	timeout := fs.Duration("timeout", 10*time.Minute, "with --wait, how long to wait before giving up (the upgrade goes on)")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	name := pos[0]
	switch {
	case *step < 1 || *step > 100:
		return usagef("--step %d: want 1 to 100", *step)
	case *interval <= 0 || *timeout <= 0:
		return usagef("--interval and --timeout must be positive durations like 2s or 10m")
	}
	fail := func(err error) error { return fmt.Errorf("upgrade %s: %w", name, err) }
	cl, err := c.client()
	if err != nil {
		return fail(err)
	}
	u, err := cl.Upgrade(ctx, name, *step)
	if err != nil {
		return fail(err)
	}
	if !*wait {
		if c.json() {
			return c.printJSON(u)
		}
		c.printf("%s: upgrading to version %d, %d at a time (follow it with ufopctl state %s)\n", u.Name, u.Rollout, max(u.Step, 1), u.Name)
		return nil
	}
	// Progress lines are data in text mode; with -o json stdout holds
	// only the final state.
	progress := c.env.Stdout
	if c.json() {
		progress = c.env.Stderr
	}
	fmt.Fprintf(progress, "%s: upgrading to version %d, %d at a time\n", u.Name, u.Rollout, max(u.Step, 1))
	st, err := waitUpgrade(ctx, cl, name, *interval, *timeout, progress)
	if err != nil {
		return fail(err)
	}
	if c.json() {
		st.Instances = nonNil(st.Instances)
		return c.printJSON(st)
	}
	return nil
}

// upgradeProgress summarises a state for upgrade --wait.
type upgradeProgress struct {
	version, desired int
	ready            int // healthy on version
	old              int // on other versions, in any state
	// Instances on version that are not healthy yet, by state.
	starting, stopping, failed int
}

func progressOf(st UFOPState) upgradeProgress {
	// Rollout is what the scheduler moves instances to; a chver during the
	// wait changes Version but not the upgrade under way.
	target := st.UFOP.Rollout
	if target == 0 {
		target = st.UFOP.Version
	}
	p := upgradeProgress{version: target, desired: st.UFOP.Instances}
	for _, in := range st.Instances {
		switch {
		case in.Version != target:
			p.old++
		case in.State == ufop.InstanceHealthy:
			p.ready++
		case in.State == ufop.InstanceStopping:
			p.stopping++
		case in.State == ufop.InstanceFailed:
			p.failed++
		default:
			p.starting++
		}
	}
	return p
}

func (p upgradeProgress) done() bool {
	return p.ready == p.desired && p.old+p.starting+p.stopping+p.failed == 0
}

func (p upgradeProgress) String() string {
	s := fmt.Sprintf("%d/%d %s healthy on version %d", p.ready, p.desired, plural(p.desired, "instance"), p.version)
	for _, c := range []struct {
		n    int
		what string
	}{{p.old, "on older versions"}, {p.starting, "starting"}, {p.stopping, "stopping"}, {p.failed, "failed"}} {
		if c.n > 0 {
			s += fmt.Sprintf(", %d %s", c.n, c.what)
		}
	}
	return s
}

// waitUpgrade polls the state until p.done, printing a line whenever the
// progress changes.
func waitUpgrade(ctx context.Context, cl *Client, name string, interval, timeout time.Duration, w io.Writer) (UFOPState, error) {
	st, err := waitState(ctx, cl, name, interval, timeout, w, func(st UFOPState) (fmt.Stringer, bool) {
		p := progressOf(st)
		return p, p.done()
	})
	if err != nil {
		return st, fmt.Errorf("%w; it goes on, follow it with ufopctl state %s", err, name)
	}
	return st, nil
}

// waitState polls the state until check says done, printing a line
// whenever the progress it reports changes.
func waitState(ctx context.Context, cl *Client, name string, interval, timeout time.Duration, w io.Writer, check func(UFOPState) (fmt.Stringer, bool)) (UFOPState, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last := ""
	seen := false
	for {
		st, err := cl.State(ctx, name)
		switch {
		case err == nil:
			p, done := check(st)
			if line := p.String(); !seen || line != last {
				fmt.Fprintf(w, "%s: %s\n", name, line)
				last, seen = line, true
			}
			if done {
				return st, nil
			}
		case ctx.Err() == nil || !seen:
			return UFOPState{}, err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return UFOPState{}, fmt.Errorf("not finished after %s: %s", timeout, last)
			}
			return UFOPState{}, fmt.Errorf("stopped waiting at %s", last)
		case <-tick.C:
		}
	}
}

func runScale(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	var p ufop.ScalePolicy
	fs.IntVar(&p.Min, "min", 0, "the fewest instances `N`")
	fs.IntVar(&p.Max, "max", 0, "the most instances `N` (required)")
	fs.Float64Var(&p.Threshold, "threshold", 0, "pending tasks per instance `T` above which to add instances (required)")
	fs.DurationVar(&p.Cooldown, "cooldown", time.Minute, "how long the queue must stay below capacity before instances are removed (`time`)")
	fs.IntVar(&p.MaxStep, "step", 0, "add or remove at most `N` instances at a time (0: no limit)")
	fs.DurationVar(&p.Idle, "idle", 0, "with --min 0, how long the queue must stay empty before the last instance stops (`time`; default 5m)")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	name := pos[0]
	for _, f := range []string{"max", "threshold"} {
		if !isSet(fs, f) {
			return usagef("--%s is required", f)
		}
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("scale %s: %w", name, err)
	}
	u, err := cl.SetScale(ctx, name, p)
	if err != nil {
		return fmt.Errorf("scale %s: %w", name, err)
	}
	if c.json() {
		return c.printJSON(u)
	}
	if u.Scale != nil {
		p = *u.Scale
	}
	c.printf("%s: autoscaling %s\n", u.Name, scaleString(p))
	return nil
}

func runState(ctx context.Context, c *cli, args []string) error {
	name, cl, err := c.ufopClient("state", args)
	if err != nil {
		return err
	}
	st, err := cl.State(ctx, name)
	if err != nil {
		return fmt.Errorf("state %s: %w", name, err)
	}
	if c.json() {
		st.Instances = nonNil(st.Instances)
		return c.printJSON(st)
	}
	u := st.UFOP
	running, old := 0, 0
	for _, in := range st.Instances {
		if in.State == ufop.InstanceHealthy {
			running++
		}
		if u.Rollout != 0 && in.Version != u.Rollout {
			old++
		}
	}
	header := fmt.Sprintf("%s: version %s, %d desired, %d running, %d queued", u.Name, versionNumber(u.Version), u.Instances, running, st.Queue)
	if old > 0 {
		header += fmt.Sprintf(", %d being moved to version %d", old, u.Rollout)
	}
	if u.Scale != nil {
		header += ", autoscaling " + scaleString(*u.Scale)
	}
	fmt.Fprintln(c.env.Stdout, header)
	if len(st.Instances) == 0 {
		return nil
	}
	tw := c.table()
	fmt.Fprintln(tw, "ID\tAGENT\tVERSION\tSTATE\tINFLIGHT\tQUEUED\tRESTARTS")
	for _, in := range st.Instances {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\n", in.ID, in.Agent, in.Version, in.State, in.Inflight, in.Queued, in.Restarts)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, in := range st.Instances {
		if in.Error != "" {
			fmt.Fprintf(c.env.Stdout, "%s: %s\n", in.ID, oneLine(in.Error))
		}
	}
	return nil
}

func runLogs(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	id := fs.String("instance", "", "only the instance with this `ID` (see ufopctl state)")
	follow := fs.Bool("f", false, "keep printing new output until interrupted (needs --instance when several run)")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	name := pos[0]
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("logs %s: %w", name, err)
	}
	body, err := cl.Logs(ctx, name, *id, *follow)
	if err != nil {
		return fmt.Errorf("logs %s: %w", name, err)
	}
	defer body.Close()
	if c.json() {
		err = c.logLines(body, *id)
	} else {
		_, err = io.Copy(c.env.Stdout, body)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("logs %s: %w", name, err)
	}
	// Interrupting is how -f ends: not a failure.
	return nil
}

// LogLine is one line of instance output in logs -o json, which prints
// one such object per line (JSON Lines) as the output arrives.
type LogLine struct {
	Instance string `json:"instance,omitempty"` // empty when one instance runs and --instance was not given
	Line     string `json:"line,omitempty"`
	Error    string `json:"error,omitempty"` // an instance whose output could not be read
}

// The gateway's separators in the logs of several instances.
var (
	logHeaderRE = regexp.MustCompile(`^==> (\S+) \(.*\) <==$`)
	logErrorRE  = regexp.MustCompile(`^ufop: logs of (\S+): (.*)$`)
)

// logLines turns the gateway's text log stream into JSON Lines.
func (c *cli) logLines(body io.Reader, instance string) error {
	enc := json.NewEncoder(c.env.Stdout)
	enc.SetEscapeHTML(false)
	r := bufio.NewReader(body)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			line = strings.TrimSuffix(line, "\n")
			var werr error
			if m := logHeaderRE.FindStringSubmatch(line); m != nil {
				instance = m[1]
			} else if m := logErrorRE.FindStringSubmatch(line); m != nil {
				werr = enc.Encode(LogLine{Instance: m[1], Error: m[2]})
			} else {
				werr = enc.Encode(LogLine{Instance: instance, Line: line})
			}
			if werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func runGrant(ctx context.Context, c *cli, args []string) error {
	return setGrant(ctx, c, args, true)
}

func runRevoke(ctx context.Context, c *cli, args []string) error {
	return setGrant(ctx, c, args, false)
}

func setGrant(ctx context.Context, c *cli, args []string, grant bool) error {
	pos, err := c.parse(c.flags(), args, 2, 2)
	if err != nil {
		return err
	}
	name, user := pos[0], pos[1]
	verb := map[bool]string{true: "grant", false: "revoke"}[grant]
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", verb, name, user, err)
	}
	op := cl.Revoke
	if grant {
		op = cl.Grant
	}
	u, err := op(ctx, name, user)
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", verb, name, user, err)
	}
	if c.json() {
		return c.printJSON(u)
	}
	if grant {
		c.printf("%s may now use %s\n", user, u.Name)
	} else {
		c.printf("%s may no longer use %s\n", user, u.Name)
	}
	if u.Mode != ufop.ModeProtected {
		// Grants are kept but only a protected UFOP consults them.
		fmt.Fprintf(c.env.Stderr, "note: %s is %s: grants only matter in mode 1 (protected)\n", u.Name, modeName(u.Mode))
	}
	return nil
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func modeName(m ufop.ACLMode) string {
	switch m {
	case ufop.ModePublic:
		return "public"
	case ufop.ModeProtected:
		return "protected"
	case ufop.ModePrivate:
		return "private"
	}
	return "mode " + strconv.Itoa(int(m))
}

// versionNumber prints a version number, 0 meaning none chosen.
func versionNumber(n int) string {
	if n <= 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

// instances prints the desired count, with the autoscaling range.
func instances(u ufop.UFOP) string {
	s := strconv.Itoa(u.Instances)
	if u.Scale != nil {
		s += fmt.Sprintf(" (auto %d-%d)", u.Scale.Min, u.Scale.Max)
	}
	return s
}

func scaleString(p ufop.ScalePolicy) string {
	s := fmt.Sprintf("%d to %d instances at %g pending per instance, cooldown %s", p.Min, p.Max, p.Threshold, p.Cooldown)
	if p.MaxStep > 0 {
		s += fmt.Sprintf(", %d at a time", p.MaxStep)
	}
	if p.Min == 0 {
		s += fmt.Sprintf(", to zero after %s idle", p.IdleOrDefault())
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ufopClient parses the arguments of a verb that takes one UFOP name and
// no flags, and returns the name with a client.
func (c *cli) ufopClient(verb string, args []string) (string, *Client, error) {
	pos, err := c.parse(c.flags(), args, 1, 1)
	if err != nil {
		return "", nil, err
	}
	cl, err := c.client()
	if err != nil {
		return "", nil, fmt.Errorf("%s %s: %w", verb, pos[0], err)
	}
	return pos[0], cl, nil
}
