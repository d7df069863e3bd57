package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// KernelResult is scenario 5, read from `go test -bench` output of
// analysis-svc: whole analyses and single index kernels, each next to the
// plain memory-bandwidth loop over the same number of bytes, same run.
type KernelResult struct {
	CPUs int `json:"cpus"`
	// Whole Analyze calls (decode, indices, stats, map and thumbnail).
	RGB20MP   *AnalyzeBench `json:"rgb_20mp_jpeg,omitempty"`
	MicaSense *AnalyzeBench `json:"micasense_5band_16bit,omitempty"`
	// One index over 20 MP, kernel plus statistics, by index name.
	Index map[string]*IndexBench `json:"index_kernels,omitempty"`
	// The same indices' kernels alone (the index computed, no statistics).
	KernelOnly map[string]*IndexBench `json:"index_kernels_alone,omitempty"`
	// MB/s of the summing loop, by the benchmark it matches.
	MemBW map[string]float64 `json:"membw_mb_per_s"`
	// The slowest index kernel's MB/s over the memory loop's (>= 0.5 is
	// "within 2x").
	WorstIndexVsMemBW float64 `json:"worst_index_vs_membw"`
	// The same for the kernels alone.
	WorstKernelOnlyVsMemBW float64 `json:"worst_kernel_alone_vs_membw,omitempty"`
	// FFTVsRadix2 is how many times as fast band alignment's 2-D FFT is
	// as the plain radix-2 transform it replaced, both over a 1024 x 512
	// window in the same run (BenchmarkFFT2).
	FFTVsRadix2 float64 `json:"fft_vs_radix2,omitempty"`
}

// AnalyzeBench is one whole-image analysis benchmark: one analysis at a
// time (an idle worker's latency), and, in Pool, as many at once as the
// worker pool runs by default.
type AnalyzeBench struct {
	MsPerImage float64 `json:"ms_per_image"`
	ImagesPerS float64 `json:"images_per_s"`
	// images/s divided by the cores the benchmark could use (GOMAXPROCS).
	ImagesPerSPerCore float64    `json:"images_per_s_per_core"`
	MPixPerS          float64    `json:"megapixels_per_s"`
	MBps              float64    `json:"mb_per_s"`
	MemBWMBps         float64    `json:"membw_mb_per_s"`
	RatioToMemBW      float64    `json:"ratio_to_membw"`
	Pool              *PoolBench `json:"pool,omitempty"`
}

// PoolBench is the throughput of GOMAXPROCS analyses at once, as
// analysis-svc's worker pool runs them (WORKERS defaults to the cores):
// what "images/s per core" means for a busy worker.
type PoolBench struct {
	AtOnce            int     `json:"analyses_at_once"`
	ImagesPerS        float64 `json:"images_per_s"`
	ImagesPerSPerCore float64 `json:"images_per_s_per_core"`
	MPixPerS          float64 `json:"megapixels_per_s"`
}

// IndexBench is one index kernel benchmark.
type IndexBench struct {
	MBps         float64 `json:"mb_per_s"`
	MPixPerS     float64 `json:"megapixels_per_s"`
	RatioToMemBW float64 `json:"ratio_to_membw"`
}

type benchLine struct {
	nsPerOp, mbps, pixps, imgps float64
}

// BenchmarkName-2   3   398003543 ns/op   61.75 MB/s   3087410 pixels/s
var benchRE = regexp.MustCompile(`^(Benchmark\S+?)(?:-(\d+))?\s+\d+\s+(.*)$`)

// parseBench reads every benchmark line; with -count N a benchmark has N
// lines and each metric is their median. Every line must have run on the
// same number of cores (go test -cpu with one value): medians across
// core counts, or figures per core, would mean nothing.
func parseBench(r io.Reader) (map[string]benchLine, int, error) {
	all := map[string][]benchLine{}
	procs := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := benchRE.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		p := 1 // go test leaves out the suffix when GOMAXPROCS is 1
		if m[2] != "" {
			p, _ = strconv.Atoi(m[2])
		}
		if procs != 0 && p != procs {
			return nil, 0, fmt.Errorf("benchmarks ran on %d and on %d cores (%s); give go test -cpu one value", procs, p, m[1])
		}
		procs = p
		var bl benchLine
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				bl.nsPerOp = v
			case "MB/s":
				bl.mbps = v
			case "pixels/s":
				bl.pixps = v
			case "images/s":
				bl.imgps = v
			}
		}
		all[m[1]] = append(all[m[1]], bl)
	}
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	out := map[string]benchLine{}
	for name, bls := range all {
		var ns, mb, px, im []float64
		for _, bl := range bls {
			ns, mb, px, im = append(ns, bl.nsPerOp), append(mb, bl.mbps), append(px, bl.pixps), append(im, bl.imgps)
		}
		out[name] = benchLine{nsPerOp: median(ns), mbps: median(mb), pixps: median(px), imgps: median(im)}
	}
	return out, max(procs, 1), nil
}

func cmdKernels(args []string) error {
	fs := flag.NewFlagSet("kernels", flag.ExitOnError)
	out := fs.String("out", "bench/results/latest.json", "results file")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: kernels [-out FILE] GO_TEST_BENCH_OUTPUT", errUsage)
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	lines, procs, err := parseBench(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", fs.Arg(0), err)
	}
	if len(lines) == 0 {
		return fmt.Errorf("no benchmark lines in %s", fs.Arg(0))
	}
	k := kernelResult(lines, procs)
	r := load(*out)
	r.Kernels = k
	return save(*out, r)
}

// kernelResult derives scenario 5's figures from the benchmarks' lines,
// run with procs cores.
func kernelResult(lines map[string]benchLine, procs int) *KernelResult {
	k := &KernelResult{CPUs: procs, Index: map[string]*IndexBench{}, KernelOnly: map[string]*IndexBench{}, MemBW: map[string]float64{}}
	for name, bl := range lines {
		if m, ok := strings.CutPrefix(name, "BenchmarkMemoryBandwidth/"); ok {
			k.MemBW[m] = bl.mbps
		}
	}
	whole := func(name, mem string) *AnalyzeBench {
		bl, ok := lines[name+"/one"]
		if !ok || bl.nsPerOp == 0 {
			return nil
		}
		a := &AnalyzeBench{MsPerImage: round3(bl.nsPerOp / 1e6), ImagesPerS: round3(1e9 / bl.nsPerOp), MPixPerS: round3(bl.pixps / 1e6), MBps: bl.mbps, MemBWMBps: k.MemBW[mem]}
		a.ImagesPerSPerCore = round3(1e9 / bl.nsPerOp / float64(procs)) // from the unrounded rate
		a.RatioToMemBW = ratio(a.MBps, a.MemBWMBps)
		// The pool benchmark's op is a round of procs analyses; it
		// reports images/s itself.
		if pl, ok := lines[name+"/pool"]; ok && pl.imgps > 0 {
			a.Pool = &PoolBench{AtOnce: procs, ImagesPerS: round3(pl.imgps), ImagesPerSPerCore: round3(pl.imgps / float64(procs)), MPixPerS: round3(pl.pixps / 1e6)}
		}
		return a
	}
	k.RGB20MP = whole("BenchmarkAnalyzeRGB20MP", "RGB20MP")
	k.MicaSense = whole("BenchmarkAnalyzeMicaSense", "MicaSense")
	// The index benchmarks run over 20 MP planes: the RGB20MP loop is the
	// one of comparable size (both far beyond the caches).
	indexBench := func(prefix string, into map[string]*IndexBench, worst *float64) {
		for name, bl := range lines {
			if ix, ok := strings.CutPrefix(name, prefix); ok {
				ib := &IndexBench{MBps: bl.mbps, MPixPerS: round3(bl.pixps / 1e6), RatioToMemBW: ratio(bl.mbps, k.MemBW["RGB20MP"])}
				into[ix] = ib
				if *worst == 0 || ib.RatioToMemBW < *worst {
					*worst = ib.RatioToMemBW
				}
			}
		}
	}
	indexBench("BenchmarkComputeAndSummarize/", k.Index, &k.WorstIndexVsMemBW)
	indexBench("BenchmarkCompute/", k.KernelOnly, &k.WorstKernelOnlyVsMemBW)
	if r2, r4 := lines["BenchmarkFFT2/1024x512/radix2"], lines["BenchmarkFFT2/1024x512/radix4"]; r2.mbps > 0 && r4.mbps > 0 {
		k.FFTVsRadix2 = ratio(r4.mbps, r2.mbps)
	}
	return k
}
