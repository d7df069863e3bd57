package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

type runConfig struct {
	ingest, status, dbURL string
	ingestPID, statusPID  int
	statusApp             string
	quick                 bool

	chunkKiB                int
	diskDir                 string
	singleMB, singleCount   int
	streams, streamMB       int
	uploadRounds            int
	pickupN                 int
	queueJobs, queueWorkers int
	queueBatch, queueRounds int
	notifySeconds           float64
	notifyConns             int
	watchers                []int
	firehoses, eventsPerS   int
	fanoutSeconds           float64
	e2eFiles                []string
	e2eIndices              []string
	e2eN, e2eC, e2eIdle     int
	e2eSection              string
	e2eTimeout              time.Duration
	apiKey                  string
}

func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	c := &runConfig{}
	out := fs.String("out", "bench/results/latest.json", "results file (sections are merged into it)")
	scen := fs.String("scenarios", "upload,pickup,queue,notify,fanout", "comma-separated: upload,pickup,pickup_poll,queue,notify,fanout,e2e")
	fs.StringVar(&c.ingest, "ingest", env("CANOPY_INGEST_ADDR", "127.0.0.1:7001"), "ingest-svc gRPC address ($CANOPY_INGEST_ADDR)")
	fs.StringVar(&c.status, "status", env("CANOPY_STATUS_ADDR", "127.0.0.1:7002"), "status-svc gRPC address ($CANOPY_STATUS_ADDR)")
	fs.StringVar(&c.dbURL, "db", env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/canopy?sslmode=disable"), "the services' PostgreSQL, for the raw-SQL reference loops, event production and pg_stat_activity ($DATABASE_URL)")
	fs.IntVar(&c.ingestPID, "ingest-pid", 0, "ingest-svc pid for RSS (default: found by name)")
	fs.IntVar(&c.statusPID, "status-pid", 0, "status-svc pid for RSS (default: found by name)")
	fs.StringVar(&c.statusApp, "status-app", "canopy-status", "application_name status-svc connects with (set in its DATABASE_URL), to count its connections")
	fs.StringVar(&c.apiKey, "api-key", os.Getenv("CANOPY_API_KEY"), "API key sent as a bearer token, if the services require one ($CANOPY_API_KEY)")
	fs.BoolVar(&c.quick, "quick", false, "short CI sizes (defaults below are the full run's)")
	fs.IntVar(&c.chunkKiB, "chunk-kib", 256, "upload chunk size")
	fs.StringVar(&c.diskDir, "disk-dir", os.TempDir(), "directory on the blob store's file system, for the write+fsync reference")
	fs.IntVar(&c.singleMB, "single-mb", 64, "image size of the one-stream upload and bare-loop runs")
	fs.IntVar(&c.singleCount, "single-count", 4, "images sent one after the other on one stream")
	fs.IntVar(&c.streams, "streams", 100, "concurrent upload streams")
	fs.IntVar(&c.streamMB, "stream-mb", 50, "image size of each concurrent stream")
	fs.IntVar(&c.uploadRounds, "upload-rounds", 1, "rounds of the concurrent upload and its references (best of each)")
	fs.IntVar(&c.pickupN, "pickup-n", 200, "uploads timed to their claim by an idle worker")
	fs.IntVar(&c.queueJobs, "queue-jobs", 3000, "no-op jobs per queue run")
	fs.IntVar(&c.queueWorkers, "queue-workers", 8, "concurrent no-op workers (RPC) and connections (raw SQL)")
	fs.IntVar(&c.queueBatch, "queue-batch", 50, "items per batched claim")
	fs.IntVar(&c.queueRounds, "queue-rounds", 3, "alternating rounds (raw SQL / RPC); medians reported")
	fs.Float64Var(&c.notifySeconds, "notify-seconds", 3, "seconds per notify-cost run")
	fs.IntVar(&c.notifyConns, "notify-conns", 8, "concurrent writers in the notify-cost runs")
	ws := fs.String("watchers", "100,1000", "WatchImage watcher counts to step through (e.g. 1000,10000)")
	fs.IntVar(&c.firehoses, "firehoses", 4, "WatchImages (all events) watchers alongside")
	fs.IntVar(&c.eventsPerS, "events-per-s", 1000, "status events produced per second during the fan-out run")
	fs.Float64Var(&c.fanoutSeconds, "fanout-seconds", 5, "seconds of event production per watcher step")
	files := fs.String("e2e-files", "", "comma-separated images for e2e; FILE+FILE+... is one multi-file capture, FILE@NRG gives a band layout")
	fs.IntVar(&c.e2eN, "e2e-n", 20, "images in the end-to-end burst (0: none)")
	fs.IntVar(&c.e2eC, "e2e-c", 8, "upload concurrency of the burst")
	fs.IntVar(&c.e2eIdle, "e2e-idle", 5, "uploads per file timed one at a time on an idle system")
	fs.StringVar(&c.e2eSection, "e2e-section", "e2e", "section to write: e2e or e2e_real")
	indices := fs.String("e2e-indices", "", "comma-separated indices each e2e upload asks for (e.g. NDVI,SAVI: the older design's); empty: every index the bands allow")
	fs.DurationVar(&c.e2eTimeout, "e2e-timeout", 10*time.Minute, "give up waiting for completions after this")
	_ = fs.Parse(args)
	if c.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, p *int, v int) {
			if !set[name] {
				*p = v
			}
		}
		def("single-mb", &c.singleMB, 32)
		def("single-count", &c.singleCount, 2)
		def("streams", &c.streams, 8)
		def("stream-mb", &c.streamMB, 32)
		def("upload-rounds", &c.uploadRounds, 2)
		def("pickup-n", &c.pickupN, 40)
		def("queue-jobs", &c.queueJobs, 300)
		if !set["notify-seconds"] {
			c.notifySeconds = 1.5
		}
		if !set["fanout-seconds"] {
			c.fanoutSeconds = 2
		}
		if !set["watchers"] {
			*ws = "200"
		}
		def("events-per-s", &c.eventsPerS, 300)
	}
	for _, w := range strings.Split(*ws, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil {
			return fmt.Errorf("-watchers: %w", err)
		}
		c.watchers = append(c.watchers, n)
	}
	if *files != "" {
		c.e2eFiles = strings.Split(*files, ",")
	}
	if *indices != "" {
		c.e2eIndices = strings.Split(*indices, ",")
	}
	if c.ingestPID == 0 {
		c.ingestPID = findPID("ingest-svc")
	}
	if c.statusPID == 0 {
		c.statusPID = findPID("status-svc")
	}

	ctx := context.Background()
	pool, err := pgxpool.New(ctx, c.dbURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	ingest, err := dial(c.ingest, c.apiKey)
	if err != nil {
		return err
	}
	defer ingest.Close()
	status, err := dial(c.status, c.apiKey)
	if err != nil {
		return err
	}
	defer status.Close()

	r := load(*out)
	r.Meta = newMeta(c.quick, c.ingest, c.status)
	for _, s := range strings.Split(*scen, ",") {
		start := time.Now()
		fmt.Fprintf(os.Stderr, "==> %s\n", s)
		var err error
		switch strings.TrimSpace(s) {
		case "upload":
			r.Upload, err = runUpload(ctx, c, ingest)
		case "pickup":
			r.Pickup, err = runPickup(ctx, c, ingest)
		case "pickup_poll": // point -ingest at an ingest-svc with DATABASE_LISTEN=false
			r.PickupPoll, err = runPickup(ctx, c, ingest)
		case "queue":
			r.Queue, err = runQueue(ctx, c, ingest, pool)
		case "notify":
			r.Notify, err = runNotify(ctx, c, pool)
		case "fanout":
			r.Fanout, err = runFanout(ctx, c, status, pool)
		case "e2e":
			var e *E2EResult
			e, err = runE2E(ctx, c, ingest, status)
			if c.e2eSection == "e2e_real" {
				r.E2EReal = e
			} else {
				r.E2E = e
			}
		default:
			err = fmt.Errorf("unknown scenario %q", s)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		fmt.Fprintf(os.Stderr, "    %s took %.1fs\n", s, time.Since(start).Seconds())
		if err := save(*out, r); err != nil {
			return err
		}
	}
	printTable(os.Stdout, r)
	return nil
}

type bearer struct{ key string }

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.key}, nil
}
func (bearer) RequireTransportSecurity() bool { return false }

func dial(addr, key string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if key != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{key}))
	}
	cc, err := grpc.NewClient(addr, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return cc, nil
}
