package ufopctl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// PfopStatus is a persistent-processing job's status (SPEC §13).
type PfopStatus struct {
	ID          string           `json:"id"`
	Code        int              `json:"code"`
	Desc        string           `json:"desc"`
	InputBucket string           `json:"inputBucket"`
	InputKey    string           `json:"inputKey"`
	Items       []PfopItemStatus `json:"items"`
}

// PfopItemStatus is one pipeline's status within a job.
type PfopItemStatus struct {
	Cmd   string `json:"cmd"`
	Code  int    `json:"code"`
	Desc  string `json:"desc"`
	Error string `json:"error,omitempty"`
	Key   string `json:"key,omitempty"`
	Hash  string `json:"hash,omitempty"`
}

// Final reports whether the job has ended: done (0), failed (3) or its
// notification failed (4).
func (s PfopStatus) Final() bool { return s.Code == 0 || s.Code == 3 || s.Code == 4 }

// Pfop submits a persistent-processing job and returns its id.
func (c *Client) Pfop(ctx context.Context, bucket, key, fops, notifyURL string) (string, error) {
	body, err := json.Marshal(map[string]string{"bucket": bucket, "key": key, "fops": fops, "notifyURL": notifyURL})
	if err != nil {
		return "", err
	}
	var out struct {
		PersistentID string `json:"persistentId"`
	}
	if err := c.Do(ctx, "POST", "/v1/pfop", body, &out); err != nil {
		return "", err
	}
	return out.PersistentID, nil
}

// PfopStatus returns a job's status.
func (c *Client) PfopStatus(ctx context.Context, id string) (PfopStatus, error) {
	var s PfopStatus
	err := c.Do(ctx, "GET", "/v1/pfop/"+url.PathEscape(id), nil, &s)
	return s, err
}

// waitPfop polls a job's status until it ends or ctx does.
func (c *Client) waitPfop(ctx context.Context, id string, every time.Duration) (PfopStatus, error) {
	for {
		s, err := c.PfopStatus(ctx, id)
		if err != nil || s.Final() {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(every):
		}
	}
}

func runPfop(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	notify := fs.String("notify", "", "`URL` that receives the final status by POST")
	wait := fs.Bool("wait", false, "wait for the job to end and print its status")
	pos, err := c.parse(fs, args, 3, 3)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("pfop: %w", err)
	}
	id, err := cl.Pfop(ctx, pos[0], pos[1], pos[2], *notify)
	if err != nil {
		return fmt.Errorf("pfop %s/%s: %w", pos[0], pos[1], err)
	}
	if !*wait {
		if c.json() {
			return c.printJSON(map[string]string{"persistentId": id})
		}
		c.printf("%s\n", id)
		return nil
	}
	s, err := cl.waitPfop(ctx, id, 300*time.Millisecond)
	if err != nil {
		return fmt.Errorf("pfop %s: %w", id, err)
	}
	if err := c.printPfop(s); err != nil {
		return err
	}
	return pfopFailure(s)
}

func runPfopStatus(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags(), args, 1, 1)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("pfop status: %w", err)
	}
	s, err := cl.PfopStatus(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("pfop status %s: %w", pos[0], err)
	}
	return c.printPfop(s)
}

func (c *cli) printPfop(s PfopStatus) error {
	if c.json() {
		return c.printJSON(s)
	}
	tw := c.table()
	fmt.Fprintf(tw, "id\t%s\ncode\t%d (%s)\ninput\t%s/%s\n", s.ID, s.Code, s.Desc, s.InputBucket, s.InputKey)
	for i, it := range s.Items {
		line := fmt.Sprintf("item %d\t%d (%s)\t%s", i+1, it.Code, it.Desc, it.Cmd)
		if it.Key != "" {
			line += "\t-> " + it.Key
		}
		if it.Error != "" {
			line += "\terror: " + it.Error
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// pfopFailure is the error of a job that ended badly, for --wait's exit
// status.
func pfopFailure(s PfopStatus) error {
	switch s.Code {
	case 3:
		var errs []string
		for i, it := range s.Items {
			if it.Code == 3 {
				errs = append(errs, fmt.Sprintf("item %d: %s", i+1, it.Error))
			}
		}
		return fmt.Errorf("pfop %s failed: %s", s.ID, strings.Join(errs, "; "))
	case 4:
		return fmt.Errorf("pfop %s: processing done, but the notification failed", s.ID)
	}
	return nil
}
