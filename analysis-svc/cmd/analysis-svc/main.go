// Command analysis-svc claims uploaded images, computes vegetation indices
// and health metrics, renders a colour map and reports the results.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/canopyag/canopy/analysis-svc/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd := strings.Join(os.Args[1:], " "); cmd {
	case "":
		err = app.Run(ctx, os.Getenv, os.Stdout, nil)
	case "healthcheck": // for container health checks: exit 0 when SERVING
		err = app.Healthcheck(ctx, os.Getenv)
	default:
		err = fmt.Errorf("unknown command %q; usage: analysis-svc [healthcheck] (configuration from the environment, see README)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "analysis-svc:", err)
		os.Exit(1)
	}
}
