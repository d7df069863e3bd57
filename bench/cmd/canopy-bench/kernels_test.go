package main

import (
	"strings"
	"testing"
)

// Three runs of go test -bench (-count 3 or three invocations): each
// figure is the median of its three lines. The pool benchmark's op is a
// round of two analyses and it reports images/s itself.
const benchOutput = `goos: linux
BenchmarkMemoryBandwidth/RGB20MP-2   	      10	  60000000 ns/op	4000.00 MB/s
BenchmarkAnalyzeRGB20MP/one-2        	       3	 500000000 ns/op	 480.00 MB/s	  40000000 pixels/s
BenchmarkAnalyzeRGB20MP/pool-2       	       2	 800000000 ns/op	 600.00 MB/s	         2.500 images/s	  50000000 pixels/s
BenchmarkAnalyzeRGB20MP/one-2        	       3	 700000000 ns/op	 342.00 MB/s	  28500000 pixels/s
BenchmarkAnalyzeRGB20MP/pool-2       	       2	 500000000 ns/op	 960.00 MB/s	         4.000 images/s	  80000000 pixels/s
BenchmarkAnalyzeRGB20MP/one-2        	       3	 600000000 ns/op	 400.00 MB/s	  33300000 pixels/s
BenchmarkAnalyzeRGB20MP/pool-2       	       2	1000000000 ns/op	 480.00 MB/s	         2.000 images/s	  40000000 pixels/s
PASS
`

func TestKernelResultOneAtATimeAndPool(t *testing.T) {
	lines, procs, err := parseBench(strings.NewReader(benchOutput))
	if err != nil {
		t.Fatal(err)
	}
	if procs != 2 {
		t.Fatalf("procs = %d, want 2 (the -2 suffix)", procs)
	}
	a := kernelResult(lines, procs).RGB20MP
	if a == nil {
		t.Fatal("no RGB20MP result")
	}
	// One at a time, medians 600 ms and 400 MB/s: 1/0.6 = 1.667 images/s
	// over 2 cores = 0.833 each; 400 / 4000 = 0.1 of the memory loop.
	if a.MsPerImage != 600 || a.ImagesPerS != 1.667 || a.ImagesPerSPerCore != 0.833 || a.RatioToMemBW != 0.1 {
		t.Errorf("one at a time: %+v, want 600 ms, 1.667 images/s, 0.833 per core, 0.1 of memory", a)
	}
	// The pool: median of 2.5, 4 and 2 images/s is 2.5, 1.25 per core;
	// median 50 MP/s.
	p := a.Pool
	if p == nil || p.AtOnce != 2 || p.ImagesPerS != 2.5 || p.ImagesPerSPerCore != 1.25 || p.MPixPerS != 50 {
		t.Errorf("pool: %+v, want 2 at once, 2.5 images/s, 1.25 per core, 50 MP/s", p)
	}
}

// Results of a bench from before the pool benchmark (no /one, /pool
// names) give no whole-analysis figures rather than wrong ones.
func TestKernelResultWithoutSubBenchmarks(t *testing.T) {
	lines, procs, err := parseBench(strings.NewReader("BenchmarkAnalyzeRGB20MP-2   3   500000000 ns/op\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a := kernelResult(lines, procs).RGB20MP; a != nil {
		t.Errorf("got %+v from a line without /one", a)
	}
}

// Lines from different core counts (go test -cpu 1,2) are refused: their
// medians, and any figure per core, would mix two machines' worth.
func TestParseBenchRefusesMixedCoreCounts(t *testing.T) {
	mixed := "BenchmarkAnalyzeMicaSense/one   3   1300000000 ns/op\nBenchmarkAnalyzeMicaSense/one-2   3   650000000 ns/op\n"
	if _, _, err := parseBench(strings.NewReader(mixed)); err == nil || !strings.Contains(err.Error(), "1 and on 2 cores") {
		t.Errorf("mixed core counts: %v, want an error naming both", err)
	}
}

// Without a memory-loop line in the run, the table leaves that comparison
// out instead of printing "vs memory loop 0 = 0.000".
func TestAnalysisRowWithoutMemoryLoop(t *testing.T) {
	lines, procs, err := parseBench(strings.NewReader("BenchmarkAnalyzeMicaSense/one-2   2   650000000 ns/op   37.0 MB/s   1900000 pixels/s\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := kernelResult(lines, procs).MicaSense
	if a == nil {
		t.Fatal("no MicaSense result")
	}
	if s := a.vsMemory(); s != "" {
		t.Errorf("vsMemory() = %q without a memory loop, want nothing", s)
	}
}
