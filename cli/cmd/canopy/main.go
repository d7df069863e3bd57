// Command canopy is the ground-station client: it uploads drone images,
// follows their analysis live and prints the results.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `canopy: upload drone images to Canopy and read the results.

Usage:
  canopy [global flags] COMMAND [flags] [args]

Commands:
  upload FILES...   upload images (rig band files are grouped into captures); --watch to follow them
  watch ID...       stream status changes until each image is finished
  status ID         show one image's state
  show ID           one image: status, GPS, a metrics table per index, warnings, outputs
  result ID         one image's analysis (--json for all of it)
  results [ID...]   one row per image: status, GPS, NDVI/SAVI/VARI means, vegetation
                    fraction, health (--batch, --status, --format table|json|csv)
  download ID       save an analysis output (colour map, GeoTIFF, thumbnail); reads
                    the blob store directly: needs BLOB_STORE/BLOB_DIR or S3_* set
  list              list images (--status, --batch)
  stats             count images per status
  retry ID...       put failed images back in the queue
  cancel ID...      stop unfinished images (--reason TEXT)
  sample DIR        write synthetic sample images (used by the demo without real data)
  admin key create --project P --role R [--name N]
                    create an API key (printed once); roles: viewer, uploader,
                    worker, admin (a worker key may omit --project: every project)
  admin key list    list keys (never the keys themselves)
  admin key revoke ID
                    revoke a key; it stops working within 5 s
                    (admin commands talk to PostgreSQL directly: DATABASE_URL)

Every command takes --json (results: --format json) for machine-readable
output; "canopy COMMAND -h" shows its flags. Exit status: 0 done, 1 an
error or a failed image, 2 bad usage.

Global flags (or environment):
  --ingest ADDR     ingest-svc gRPC address (CANOPY_INGEST_ADDR, default 127.0.0.1:7001)
  --status ADDR     status-svc gRPC address (CANOPY_STATUS_ADDR, default 127.0.0.1:7002)
  --api-key KEY     API key sent with every call (CANOPY_API_KEY)
  --tls             use TLS (CANOPY_TLS=true; implied by --tls-ca)
  --tls-ca FILE     CA certificate (PEM) to check the services with (CANOPY_TLS_CA_FILE)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errFailed marks a run whose requests went through but some image failed:
// exit status 1 without printing the error twice.
var errFailed = errors.New("some images failed")

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("canopy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	ingest := fs.String("ingest", envOr(getenv, "CANOPY_INGEST_ADDR", "127.0.0.1:7001"), "ingest-svc address")
	status := fs.String("status", envOr(getenv, "CANOPY_STATUS_ADDR", "127.0.0.1:7002"), "status-svc address")
	apiKey := fs.String("api-key", getenv("CANOPY_API_KEY"), "API key")
	useTLS := fs.Bool("tls", strings.EqualFold(getenv("CANOPY_TLS"), "true") || getenv("CANOPY_TLS") == "1", "use TLS")
	caFile := fs.String("tls-ca", getenv("CANOPY_TLS_CA_FILE"), "CA certificate file (PEM)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	app := &cli{ingestAddr: *ingest, statusAddr: *status, apiKey: *apiKey, tls: *useTLS || *caFile != "", caFile: *caFile,
		stdout: terminalSafe{stdout}, stderr: terminalSafe{stderr}, rawStdout: stdout, rawStderr: stderr, getenv: getenv}
	var err error
	switch cmd {
	case "upload":
		err = app.upload(ctx, rest)
	case "watch":
		err = app.watch(ctx, rest)
	case "status":
		err = app.status(ctx, rest)
	case "show":
		err = app.show(ctx, rest)
	case "result":
		err = app.result(ctx, rest)
	case "download":
		err = app.download(ctx, rest)
	case "results":
		err = app.results(ctx, rest)
	case "list":
		err = app.list(ctx, rest)
	case "stats":
		err = app.stats(ctx, rest)
	case "retry":
		err = app.retry(ctx, rest)
	case "cancel":
		err = app.cancel(ctx, rest)
	case "sample":
		err = app.sample(rest)
	case "admin":
		err = app.admin(ctx, rest)
	case "help", "-h", "--help":
		fs.Usage()
		return 0
	default:
		fmt.Fprintf(stderr, "canopy: unknown command %q\n\n", cmd)
		fs.Usage()
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errFailed):
		return 1
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintln(stderr, "canopy:", describe(err))
	return 1
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
