// Command ingest-svc takes images in over gRPC (and REST) and serves the
// analysis work queue.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/canopyag/canopy/ingest-svc/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd := strings.Join(os.Args[1:], " "); cmd {
	case "":
		err = app.Run(ctx, os.Getenv, os.Stdout, nil)
	case "migrate": // one-shot: apply the schema migrations and exit
		err = app.Migrate(ctx, os.Getenv, os.Stdout)
	case "healthcheck": // for container health checks: exit 0 when SERVING
		err = app.Healthcheck(ctx, os.Getenv)
	default:
		err = fmt.Errorf("unknown command %q; usage: ingest-svc [migrate|healthcheck] (configuration from the environment, see README)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingest-svc:", err)
		os.Exit(1)
	}
}
