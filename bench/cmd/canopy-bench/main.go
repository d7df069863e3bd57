// Command canopy-bench measures a running Canopy: upload throughput against
// a bare grpc-go streaming loop, pickup latency, queue overhead against a
// raw-SQL loop, status fan-out, the cost of NOTIFY, end-to-end latency, and
// (from `go test -bench` output) the analysis kernels. It writes JSON (merged
// into -out, so several invocations build one file) and prints a table.
//
//	canopy-bench run [-scenarios upload,pickup,queue,notify,fanout,e2e] [flags]
//	canopy-bench kernels [-out FILE] GO_TEST_BENCH_OUTPUT
//	canopy-bench compare -defaults SEED.json -tuned SEED.json [-out FILE]
//	canopy-bench check -baseline bench/baseline.json [-out FILE]
//	canopy-bench table [-out FILE]
//	canopy-bench freeport N
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Results is the JSON file: each section is written by the run that
// measured it and kept by later runs that did not.
type Results struct {
	Meta   *Meta         `json:"meta,omitempty"`
	Upload *UploadResult `json:"upload,omitempty"`
	Pickup *PickupResult `json:"pickup,omitempty"`
	// PickupPoll is the pickup scenario against an ingest-svc without
	// LISTEN (DATABASE_LISTEN=false), whose claims poll.
	PickupPoll *PickupResult    `json:"pickup_poll,omitempty"`
	Queue      *QueueResult     `json:"queue,omitempty"`
	Notify     *NotifyResult    `json:"notify_cost,omitempty"`
	Fanout     *FanoutResult    `json:"fanout,omitempty"`
	E2E        *E2EResult       `json:"e2e,omitempty"`
	E2EReal    *E2EResult       `json:"e2e_real,omitempty"`
	Kernels    *KernelResult    `json:"kernels,omitempty"`
	OlderDesgn *OlderComparison `json:"older_design,omitempty"`
}

// Meta describes the machine and run.
type Meta struct {
	Time   time.Time `json:"time"`
	Host   string    `json:"host"`
	CPUs   int       `json:"cpus"`
	Go     string    `json:"go"`
	Quick  bool      `json:"quick"`
	Ingest string    `json:"ingest_addr"`
	Status string    `json:"status_addr"`
}

func load(path string) *Results {
	r := &Results{}
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, r); err != nil {
			fmt.Fprintf(os.Stderr, "warning: %s is not a results file (%v); starting afresh\n", path, err)
			r = &Results{}
		}
	}
	return r
}

func save(path string, r *Results) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: canopy-bench run|kernels|compare|check|table|freeport ...")
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "run":
		err = cmdRun(args)
	case "kernels":
		err = cmdKernels(args)
	case "compare":
		err = cmdCompare(args)
	case "check":
		err = cmdCheck(args)
	case "table":
		fs := flag.NewFlagSet("table", flag.ExitOnError)
		out := fs.String("out", "bench/results/latest.json", "results file")
		_ = fs.Parse(args)
		printTable(os.Stdout, load(*out))
	case "freeport":
		err = cmdFreeport(args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "canopy-bench:", err)
		os.Exit(1)
	}
}

func cmdFreeport(args []string) error {
	n := 1
	if len(args) > 0 {
		if _, err := fmt.Sscan(args[0], &n); err != nil {
			return err
		}
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	// Below Linux's ephemeral range (32768 up by default): a port the
	// kernel picks (port 0) is from the range every outgoing connection
	// draws from, so one of them could take it between this check and the
	// service's bind.
	for try := 0; len(ls) < n; try++ {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		if try >= 1000 {
			addr = "127.0.0.1:0" // that range is full: take what the kernel gives
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if try >= 1000 {
				return err
			}
			continue // in use; held ports are refused too, so none repeats
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

func newMeta(quick bool, ingest, status string) *Meta {
	host, _ := os.Hostname()
	return &Meta{Time: time.Now().UTC().Truncate(time.Second), Host: host, CPUs: runtime.NumCPU(), Go: runtime.Version(), Quick: quick, Ingest: ingest, Status: status}
}

var errUsage = errors.New("bad usage")
