package main

import (
	"strings"
	"testing"
)

// Three runs of go test -bench (-count 3 or three invocations): each
// figure is the median of its three lines.
const benchOutput = `goos: linux
BenchmarkMemoryBandwidth/RGB20MP-2   	      10	  60000000 ns/op	4000.00 MB/s
BenchmarkAnalyzeRGB20MP/one-2        	       3	 500000000 ns/op	 480.00 MB/s	  40000000 pixels/s
BenchmarkAnalyzeRGB20MP/pool-2       	       4	 400000000 ns/op	 600.00 MB/s	  50000000 pixels/s
BenchmarkAnalyzeRGB20MP/one-2        	       3	 700000000 ns/op	 342.00 MB/s	  28500000 pixels/s
BenchmarkAnalyzeRGB20MP/pool-2       	       4	 250000000 ns/op	 960.00 MB/s	  80000000 pixels/s
BenchmarkAnalyzeRGB20MP/one-2        	       3	 600000000 ns/op	 400.00 MB/s	  33300000 pixels/s
BenchmarkAnalyzeRGB20MP/pool-2       	       4	 500000000 ns/op	 480.00 MB/s	  40000000 pixels/s
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
	// The pool's median wall time per analysis is 400 ms with 2 at once:
	// 2.5 images/s, 1.25 per core; median 50 MP/s.
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
