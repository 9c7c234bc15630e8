package container

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// firewall is the host INPUT filter for one bridge: see the package doc.
// It shells out to iptables because that is what the engine itself uses,
// so both share the same backend (nft or legacy) and the xtables lock.
type firewall struct {
	bin     string // iptables or ip6tables
	chain   string
	bridge  string
	gateway string // empty: no agent port is opened (IPv6)
	port    int
}

func newFirewall(bin, bridge, gateway string, port int) *firewall {
	return &firewall{bin: bin, chain: chainName(bridge), bridge: bridge, gateway: gateway, port: port}
}

// chainName fits iptables' 28-char limit: bridge names are at most 15.
func chainName(bridge string) string { return "UFOP-" + bridge }

// rules is the chain's content, in iptables-restore syntax.
func (f *firewall) rules() []string {
	// Written the way iptables -S prints them, so intact can compare.
	r := []string{"-A " + f.chain + " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"}
	if f.gateway != "" {
		r = append(r, fmt.Sprintf("-A %s -d %s/32 -p tcp -m tcp --dport %d -m conntrack --ctstate NEW -j ACCEPT", f.chain, f.gateway, f.port))
	}
	return append(r, "-A "+f.chain+" -j DROP")
}

// install (re)writes the chain atomically, then makes sure INPUT jumps to
// it first for the bridge. Safe to repeat.
func (f *firewall) install(ctx context.Context) error {
	// With --noflush, declaring the chain creates or empties it and the
	// new rules land in the same commit: there is no moment with an empty
	// chain behind an existing jump.
	script := "*filter\n:" + f.chain + " - [0:0]\n" + strings.Join(f.rules(), "\n") + "\nCOMMIT\n"
	if _, err := f.exec(ctx, f.bin+"-restore", []byte(script), "-w", "--noflush"); err != nil {
		return fmt.Errorf("firewall: write chain %s: %w", f.chain, err)
	}
	jump := []string{"INPUT", "-i", f.bridge, "-j", f.chain}
	if _, err := f.exec(ctx, f.bin, nil, append([]string{"-w", "-C"}, jump...)...); err == nil {
		return nil
	}
	if _, err := f.exec(ctx, f.bin, nil, append([]string{"-w", "-I", "INPUT", "1"}, jump[1:]...)...); err != nil {
		return fmt.Errorf("firewall: jump to %s from INPUT: %w", f.chain, err)
	}
	return nil
}

// intact reports whether the jump and the chain's rules are all in place.
func (f *firewall) intact(ctx context.Context) bool {
	if _, err := f.exec(ctx, f.bin, nil, "-w", "-C", "INPUT", "-i", f.bridge, "-j", f.chain); err != nil {
		return false
	}
	out, err := f.exec(ctx, f.bin, nil, "-w", "-S", f.chain)
	if err != nil {
		return false
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "-A ") {
			got = append(got, l)
		}
	}
	want := f.rules()
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// remove deletes every jump to the chain, then the chain. Missing pieces
// are not errors.
func (f *firewall) remove(ctx context.Context) error {
	for range 16 { // duplicates, if someone re-added the jump by hand
		if _, err := f.exec(ctx, f.bin, nil, "-w", "-D", "INPUT", "-i", f.bridge, "-j", f.chain); err != nil {
			break
		}
	}
	if _, err := f.exec(ctx, f.bin, nil, "-w", "-S", f.chain); err != nil {
		return nil // no such chain
	}
	if _, err := f.exec(ctx, f.bin, nil, "-w", "-F", f.chain); err != nil {
		return fmt.Errorf("firewall: flush %s: %w", f.chain, err)
	}
	if _, err := f.exec(ctx, f.bin, nil, "-w", "-X", f.chain); err != nil {
		return fmt.Errorf("firewall: delete %s: %w", f.chain, err)
	}
	return nil
}

func (f *firewall) exec(ctx context.Context, bin string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// String is for logs.
func (f *firewall) String() string {
	return f.bin + ":" + f.chain + "(" + f.bridge + "," + f.gateway + ":" + strconv.Itoa(f.port) + ")"
}
