package main

import (
	"context"
	"fmt"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// retry re-queues failed images.
func (a *cli) retry(ctx context.Context, args []string) error {
	fs := a.flags("retry")
	asJSON := fs.Bool("json", false, "print each image as JSON")
	if err := parseFlags(fs, args); err != nil || fs.NArg() == 0 {
		fmt.Fprintln(a.stderr, "usage: canopy retry [--json] ID...")
		return errUsage
	}
	return a.each(ctx, fs.Args(), *asJSON, func(c canopyv1.IngestServiceClient, id string) (*canopyv1.Image, error) {
		return c.RetryImage(ctx, &canopyv1.RetryImageRequest{ImageId: id})
	})
}

// cancel stops images that are not finished.
func (a *cli) cancel(ctx context.Context, args []string) error {
	fs := a.flags("cancel")
	reason := fs.String("reason", "", "why, recorded in the event log")
	asJSON := fs.Bool("json", false, "print each image as JSON")
	if err := parseFlags(fs, args); err != nil || fs.NArg() == 0 {
		fmt.Fprintln(a.stderr, "usage: canopy cancel [--reason TEXT] [--json] ID...")
		return errUsage
	}
	return a.each(ctx, fs.Args(), *asJSON, func(c canopyv1.IngestServiceClient, id string) (*canopyv1.Image, error) {
		return c.CancelImage(ctx, &canopyv1.CancelImageRequest{ImageId: id, Reason: *reason})
	})
}

// each applies op to every id, printing one line per image; one refusal
// does not stop the rest.
func (a *cli) each(ctx context.Context, ids []string, asJSON bool, op func(canopyv1.IngestServiceClient, string) (*canopyv1.Image, error)) error {
	c, err := a.connect()
	if err != nil {
		return err
	}
	failed := false
	for _, id := range ids {
		img, err := op(c.Ingest, id)
		if err != nil {
			fmt.Fprintf(a.stderr, "canopy: %s: %s\n", id, describe(err))
			failed = true
			continue
		}
		if asJSON {
			a.printJSON(img)
			continue
		}
		fmt.Fprintf(a.stdout, "%s\t%s\n", img.GetId(), statusName(img.GetStatus()))
	}
	if failed {
		return errFailed
	}
	return nil
}
