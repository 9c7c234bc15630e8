package ufopctl

import (
	"context"
	"fmt"
	"net/http"

	"github.com/ufop/ufop/protocol"
)

// ConsoleSignIn asks the platform for a one-time sign-in URL of the web
// console (SPEC §15), valid for a few minutes, for this key's user.
func (c *Client) ConsoleSignIn(ctx context.Context) (protocol.ConsoleSignIn, error) {
	var out protocol.ConsoleSignIn
	err := c.Do(ctx, http.MethodPost, protocol.ConsoleSignInAPI, nil, &out)
	return out, err
}

func runConsole(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flags(), args, 0, 0); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	s, err := cl.ConsoleSignIn(ctx)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	if c.json() {
		return c.printJSON(s)
	}
	fmt.Fprintln(c.env.Stdout, s.URL)
	if isTerminal(c.env.Stderr) {
		fmt.Fprintf(c.env.Stderr, "open it in a browser before %s; it works once\n", s.Expires)
	}
	return nil
}
