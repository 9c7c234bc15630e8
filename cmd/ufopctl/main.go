// Command ufopctl is the platform's command-line client: see package
// ufopctl, and SPEC §6 for the verbs.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ufop/ufop/ufopctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	configDir, _ := os.UserConfigDir() // empty when unknown: then --config or $UFOP_CONFIG is needed
	code := ufopctl.Main(ctx, os.Args[1:], ufopctl.Env{
		Stdin:         os.Stdin,
		Stdout:        os.Stdout,
		Stderr:        os.Stderr,
		Getenv:        os.Getenv,
		UserConfigDir: configDir,
	})
	stop()
	os.Exit(code)
}
