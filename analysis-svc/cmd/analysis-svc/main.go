// Command analysis-svc claims uploaded images, computes vegetation indices
// and health metrics, renders a colour map and reports the results.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/canopyag/canopy/analysis-svc/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, os.Getenv, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "analysis-svc:", err)
		os.Exit(1)
	}
}
