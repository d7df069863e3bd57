package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
)

// OlderComparison is the side-by-side run against ../shared/baseline: each
// of the older design's settings next to a run of ours made just before it,
// same images, same N and concurrency.
type OlderComparison struct {
	Defaults *SidePair `json:"defaults_10s_batch5,omitempty"`
	Tuned    *SidePair `json:"tuned_0.1s_batch50,omitempty"`
	// The same, with ours asked for the older design's indices only (NDVI
	// and SAVI) instead of every index the bands allow (seven for NIR-R-G).
	DefaultsSameIndices *SidePair `json:"defaults_10s_batch5_same_indices,omitempty"`
	TunedSameIndices    *SidePair `json:"tuned_0.1s_batch50_same_indices,omitempty"`
}

// SidePair holds both runs and ours/theirs ratios. The latency ratio is
// ours over theirs as well, so below 1 is better there; Speedup is its
// inverse.
type SidePair struct {
	N               int      `json:"n"`
	Concurrency     int      `json:"concurrency"`
	Files           []string `json:"files"`
	OursIndices     []string `json:"ours_indices,omitempty"`
	Ours            SideRun  `json:"ours"`
	Theirs          SideRun  `json:"theirs"`
	UploadsRatio    float64  `json:"uploads_per_s_ratio"`
	ImagesRatio     float64  `json:"images_per_s_ratio"`
	LatencyP50Ratio float64  `json:"latency_p50_ratio"`
	LatencySpeedup  float64  `json:"latency_p50_speedup"`
}

// SideRun is the part of a run both load drivers report.
type SideRun struct {
	UploadsPerS   float64 `json:"uploads_per_s"`
	ImagesPerS    float64 `json:"images_per_s"`
	EndToEndS     float64 `json:"end_to_end_seconds"`
	LatencyP50Ms  float64 `json:"latency_p50_ms"`
	LatencyP99Ms  float64 `json:"latency_p99_ms"`
	Failures      int     `json:"failures"`
	WorkerSPerImg float64 `json:"worker_seconds_per_image,omitempty"`
}

// seedLine is bench_seed.py's JSON line.
type seedLine struct {
	N           int     `json:"n"`
	Concurrency int     `json:"concurrency"`
	UploadsPerS float64 `json:"uploads_per_s"`
	ImagesPerS  float64 `json:"images_per_s"`
	EndToEndS   float64 `json:"end_to_end_seconds"`
	Latency     struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	} `json:"latency_ms"`
	Failures      int      `json:"failures"`
	WorkerSPerImg float64  `json:"worker_seconds_per_image"`
	Files         []string `json:"files"`
}

func readSeed(path string) (*seedLine, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// The JSON line is the last non-empty line (the driver may log above it).
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	s := &seedLine{}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func pair(oursPath, theirsPath string) (*SidePair, error) {
	ours := load(oursPath).E2E
	if ours == nil {
		return nil, fmt.Errorf("%s has no e2e section", oursPath)
	}
	th, err := readSeed(theirsPath)
	if err != nil {
		return nil, err
	}
	if th.N != ours.N || th.Concurrency != ours.Concurrency {
		return nil, fmt.Errorf("not the same burst: ours n=%d c=%d, theirs n=%d c=%d", ours.N, ours.Concurrency, th.N, th.Concurrency)
	}
	p := &SidePair{N: ours.N, Concurrency: ours.Concurrency, Files: ours.Files, OursIndices: ours.Indices,
		Ours:   SideRun{UploadsPerS: ours.UploadsPerS, ImagesPerS: ours.ImagesPerS, EndToEndS: ours.EndToEndSecond, LatencyP50Ms: ours.Latency.P50, LatencyP99Ms: ours.Latency.P99, Failures: ours.Failures},
		Theirs: SideRun{UploadsPerS: th.UploadsPerS, ImagesPerS: th.ImagesPerS, EndToEndS: th.EndToEndS, LatencyP50Ms: th.Latency.P50, LatencyP99Ms: th.Latency.P99, Failures: th.Failures, WorkerSPerImg: th.WorkerSPerImg},
	}
	p.UploadsRatio = ratio(p.Ours.UploadsPerS, p.Theirs.UploadsPerS)
	p.ImagesRatio = ratio(p.Ours.ImagesPerS, p.Theirs.ImagesPerS)
	p.LatencyP50Ratio = ratio(p.Ours.LatencyP50Ms, p.Theirs.LatencyP50Ms)
	p.LatencySpeedup = ratio(p.Theirs.LatencyP50Ms, p.Ours.LatencyP50Ms)
	return p, nil
}

func cmdCompare(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	out := fs.String("out", "bench/results/latest.json", "results file to write the older_design section into")
	oursD := fs.String("ours-defaults", "", "our e2e results run just before the older design at its defaults")
	thD := fs.String("defaults", "", "bench_seed.py output, older design at 10 s / 5")
	oursT := fs.String("ours-tuned", "", "our e2e results run just before the tuned older design")
	thT := fs.String("tuned", "", "bench_seed.py output, older design at 0.1 s / 50")
	oursDS := fs.String("ours-defaults-same", "", "like -ours-defaults, uploads asking for the older design's indices only")
	oursTS := fs.String("ours-tuned-same", "", "like -ours-tuned, uploads asking for the older design's indices only")
	_ = fs.Parse(args)
	oc := &OlderComparison{}
	for _, x := range []struct {
		name         string
		ours, theirs string
		into         **SidePair
	}{
		{"defaults", *oursD, *thD, &oc.Defaults},
		{"tuned", *oursT, *thT, &oc.Tuned},
		{"defaults, same indices", *oursDS, *thD, &oc.DefaultsSameIndices},
		{"tuned, same indices", *oursTS, *thT, &oc.TunedSameIndices},
	} {
		if x.ours == "" || x.theirs == "" {
			continue
		}
		p, err := pair(x.ours, x.theirs)
		if err != nil {
			return fmt.Errorf("%s: %w", x.name, err)
		}
		*x.into = p
	}
	if oc.Defaults == nil && oc.Tuned == nil {
		return fmt.Errorf("%w: give -ours-defaults with -defaults and/or -ours-tuned with -tuned", errUsage)
	}
	r := load(*out)
	r.OlderDesgn = oc
	if err := save(*out, r); err != nil {
		return err
	}
	printOlder(os.Stdout, oc)
	return nil
}
