package ufopctl

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/protocol"
)

// UFOPInfo is the answer to GET /v1/ufops/<name>: the UFOP and its image
// versions.
type UFOPInfo struct {
	UFOP     ufop.UFOP      `json:"ufop"`
	Versions []ufop.Version `json:"versions"`
}

// UFOPVersions is the answer to GET /v1/ufops/<name>/versions.
type UFOPVersions struct {
	Versions []ufop.Version `json:"versions"`
	// Current is the version new instances use (chver); 0 when none.
	Current int `json:"current"`
}

// UFOPState is the answer to GET /v1/ufops/<name>/state: what the agents
// report about a UFOP's instances.
type UFOPState struct {
	UFOP      ufop.UFOP       `json:"ufop"`
	Instances []ufop.Instance `json:"instances"`
	// Queue is the jobs waiting for an instance, summed over instances.
	Queue int `json:"queue"`
}

func ufopPath(name string) string { return "/v1/ufops/" + url.PathEscape(name) }

// RegisterUFOP registers a UFOP owned by the caller.
func (c *Client) RegisterUFOP(ctx context.Context, name string, mode ufop.ACLMode, desc string) (ufop.UFOP, error) {
	in := struct {
		Mode ufop.ACLMode `json:"mode"`
		Desc string       `json:"desc"`
	}{mode, desc}
	var u ufop.UFOP
	err := c.Do(ctx, http.MethodPut, ufopPath(name), mustJSON(in), &u)
	return u, err
}

// UnregisterUFOP removes a UFOP. The API refuses while it has instances
// unless force is set.
func (c *Client) UnregisterUFOP(ctx context.Context, name string, force bool) error {
	p := ufopPath(name)
	if force {
		p += "?force=1"
	}
	return c.Do(ctx, http.MethodDelete, p, nil, nil)
}

// ListUFOPs lists the UFOPs the caller owns or may use (all for an admin).
func (c *Client) ListUFOPs(ctx context.Context) ([]ufop.UFOP, error) {
	var out struct {
		UFOPs []ufop.UFOP `json:"ufops"`
	}
	err := c.Do(ctx, http.MethodGet, "/v1/ufops", nil, &out)
	return out.UFOPs, err
}

// UFOPInfo returns a UFOP and its versions.
func (c *Client) UFOPInfo(ctx context.Context, name string) (UFOPInfo, error) {
	var out UFOPInfo
	err := c.Do(ctx, http.MethodGet, ufopPath(name), nil, &out)
	return out, err
}

// Versions returns a UFOP's image versions and the one chosen.
func (c *Client) Versions(ctx context.Context, name string) (UFOPVersions, error) {
	var out UFOPVersions
	err := c.Do(ctx, http.MethodGet, ufopPath(name)+"/versions", nil, &out)
	return out, err
}

// ChooseVersion sets the version new instances use; it must be built.
func (c *Client) ChooseVersion(ctx context.Context, name string, version int) (ufop.UFOP, error) {
	in := struct {
		Version int `json:"version"`
	}{version}
	var u ufop.UFOP
	err := c.Do(ctx, http.MethodPut, ufopPath(name)+"/version", mustJSON(in), &u)
	return u, err
}

// Resize sets the desired number of instances.
func (c *Client) Resize(ctx context.Context, name string, instances int) (ufop.UFOP, error) {
	in := struct {
		Instances int `json:"instances"`
	}{instances}
	var u ufop.UFOP
	err := c.Do(ctx, http.MethodPut, ufopPath(name)+"/instances", mustJSON(in), &u)
	return u, err
}

// Upgrade starts replacing running instances with the chosen version,
// step at a time (0 lets the server choose).
func (c *Client) Upgrade(ctx context.Context, name string, step int) (ufop.UFOP, error) {
	in := struct {
		Step int `json:"step"`
	}{step}
	var u ufop.UFOP
	err := c.Do(ctx, http.MethodPost, ufopPath(name)+"/upgrade", mustJSON(in), &u)
	return u, err
}

// SetScale sets the autoscaling policy.
func (c *Client) SetScale(ctx context.Context, name string, p ufop.ScalePolicy) (ufop.UFOP, error) {
	var u ufop.UFOP
	err := c.Do(ctx, http.MethodPut, ufopPath(name)+"/scale", mustJSON(p), &u)
	return u, err
}

// State returns the instances of a UFOP as its agents report them.
func (c *Client) State(ctx context.Context, name string) (UFOPState, error) {
	var out UFOPState
	err := c.Do(ctx, http.MethodGet, ufopPath(name)+"/state", nil, &out)
	return out, err
}

// Grant lets user run a protected UFOP.
func (c *Client) Grant(ctx context.Context, name, user string) (ufop.UFOP, error) {
	var u ufop.UFOP
	err := c.Do(ctx, http.MethodPut, ufopPath(name)+"/grants/"+url.PathEscape(user), nil, &u)
	return u, err
}

// Revoke withdraws a grant.
func (c *Client) Revoke(ctx context.Context, name, user string) (ufop.UFOP, error) {
	var u ufop.UFOP
	err := c.Do(ctx, http.MethodDelete, ufopPath(name)+"/grants/"+url.PathEscape(user), nil, &u)
	return u, err
}

// Logs returns the output of a UFOP's instances (of one instance when id
// is set) as text. With follow the body stays open for new output until
// ctx ends. The caller closes it.
func (c *Client) Logs(ctx context.Context, name, id string, follow bool) (io.ReadCloser, error) {
	q := url.Values{}
	if id != "" {
		q.Set("instance", id)
	}
	if follow {
		q.Set("follow", "1")
	}
	p := ufopPath(name) + "/logs"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	req, err := c.newRequest(ctx, http.MethodGet, p, nil, 0, auth.EmptyBodyHash)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Build uploads a package (a .tar or .tar.gz, as manifest.Package.WriteTar
// writes) as a new version of a UFOP. It returns once the server has
// accepted the package and the build has started; the build's log then
// arrives on the returned BuildLog. The body hash is part of the
// signature, so pkg is read twice: to hash it, then to send it. progress,
// if set, is called as bytes are sent (done, total).
//
// The build can take minutes: bound it with ctx, not a client timeout.
func (c *Client) Build(ctx context.Context, name string, pkg io.ReadSeeker, progress func(done, total int64)) (*BuildLog, error) {
	size, sum, err := hashSeeker(pkg)
	if err != nil {
		return nil, err
	}
	// progressReader hides pkg's Close from net/http: the caller owns it.
	body := &progressReader{r: io.LimitReader(pkg, size), total: size, fn: progress}
	req, err := c.newRequest(ctx, http.MethodPost, ufopPath(name)+"/versions", body, size, sum)
	if err != nil {
		return nil, err
	}
	// .tar or .tar.gz: the server tells them apart by their magic bytes.
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Accept", "text/plain, application/json")
	if progress != nil {
		progress(0, size)
	}
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	return &BuildLog{body: resp.Body, r: bufio.NewReader(resp.Body)}, nil
}

// hashSeeker returns the size and hex SHA-256 of r from its start, and
// leaves r at its start.
func hashSeeker(r io.ReadSeeker) (int64, string, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return 0, "", fmt.Errorf("rewind upload: %w", err)
	}
	h := sha256.New()
	size, err := io.Copy(h, r)
	if err != nil {
		return 0, "", fmt.Errorf("hash upload: %w", err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return 0, "", fmt.Errorf("rewind upload: %w", err)
	}
	return size, hex.EncodeToString(h.Sum(nil)), nil
}

// BuildLog is the streamed answer of a build: log lines, then one result
// line (protocol.BuildResultPrefix + JSON), which Next does not return.
type BuildLog struct {
	body  io.ReadCloser
	r     *bufio.Reader
	queue []string // lines read but not yet returned
	// held is the latest result line, kept back until the log ends or
	// another line shows it was not the last (a build script may print
	// anything, including the prefix).
	held string
	res  protocol.BuildResult
}

// errNoResult is a build answer that ended without its result line: the
// connection broke, or the gateway went away mid-build.
var errNoResult = errors.New("the build log ended without a result")

// Next returns the next log line without its line ending, as soon as it
// has arrived. At the end of the log it returns io.EOF; Result then has
// the outcome.
func (b *BuildLog) Next() (string, error) {
	for len(b.queue) == 0 {
		line, err := b.r.ReadString('\n')
		if line == "" && err != nil {
			if errors.Is(err, io.EOF) {
				return "", io.EOF
			}
			return "", fmt.Errorf("read build log: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if b.held != "" && strings.TrimSpace(line) != "" {
			b.queue = append(b.queue, b.held)
			b.held = ""
		}
		if res, ok := protocol.ParseBuildResult(line); ok {
			b.held, b.res = line, res
			continue
		}
		b.queue = append(b.queue, line)
	}
	line := b.queue[0]
	b.queue = b.queue[1:]
	return line, nil
}

// Result returns the build's outcome once Next has returned io.EOF. A
// build that failed is a Result with State ufop.BuildFailed, not an error;
// the error is for a log that ended without a result.
func (b *BuildLog) Result() (protocol.BuildResult, error) {
	if b.held == "" {
		return protocol.BuildResult{}, errNoResult
	}
	return b.res, nil
}

// Close releases the connection; closing before the end does not stop the
// build on the server.
func (b *BuildLog) Close() error { return b.body.Close() }
