package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
)

// Baseline is bench/baseline.json: ratios measured within one run (ours
// against a reference loop in the same process and moment), so a slower or
// busier machine moves both sides and not the figure. Wall-clock numbers
// are never checked.
type Baseline struct {
	Note string `json:"note"`
	// Path in the results JSON -> committed value; a run fails when a figure
	// falls below Fraction of it.
	Figures  map[string]float64 `json:"figures"`
	Fraction float64            `json:"fraction"`
	// Path -> value that must be met exactly (correctness, not speed).
	Exact map[string]float64 `json:"exact"`
}

// checkFigures are what -write puts in a new baseline: each is a ratio of
// two things measured in the same run.
var checkFigures = []string{
	"upload.single_stream.ratio_to_floor",
	"upload.concurrent.ratio_to_floor",
	"queue.rpc_vs_raw_single",
	"queue.rpc_vs_raw_batched",
	"notify_cost.with_vs_without",
	"notify_cost.one_writer.with_vs_without",
	"kernels.worst_index_vs_membw",
	"kernels.worst_kernel_alone_vs_membw",
	"kernels.fft_vs_radix2",
}

var exactFigures = map[string]float64{
	"fanout.delivered_ratio":  1,
	"fanout.max_listen_conns": 1,
}

// lookup walks a dotted path through decoded JSON.
func lookup(doc any, path string) (float64, bool) {
	cur := doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return 0, false
		}
		if cur, ok = m[k]; !ok {
			return 0, false
		}
	}
	v, ok := cur.(float64)
	return v, ok
}

func cmdCheck(args []string) error {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	out := fs.String("out", "bench/results/check.json", "results of the short run")
	base := fs.String("baseline", "bench/baseline.json", "committed baseline")
	write := fs.Bool("write", false, "write the baseline from the results instead of checking")
	_ = fs.Parse(args)
	b, err := os.ReadFile(*out)
	if err != nil {
		return err
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%s: %w", *out, err)
	}
	if *write {
		bl := Baseline{Note: "ratios from `make bench-check` (canopy-bench run -quick); CI fails when one falls below fraction x its value", Figures: map[string]float64{}, Fraction: 0.5, Exact: exactFigures}
		for _, p := range checkFigures {
			v, ok := lookup(doc, p)
			if !ok {
				return fmt.Errorf("%s: no figure %s", *out, p)
			}
			bl.Figures[p] = v
		}
		enc, err := json.MarshalIndent(bl, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(*base, append(enc, '\n'), 0o644)
	}
	var bl Baseline
	bb, err := os.ReadFile(*base)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(bb, &bl); err != nil {
		return fmt.Errorf("%s: %w", *base, err)
	}
	if bl.Fraction == 0 {
		bl.Fraction = 0.5
	}
	var bad []string
	fmt.Printf("%-48s %10s %10s %10s  %s\n", "figure", "baseline", "floor", "now", "")
	for _, p := range slices.Sorted(maps.Keys(bl.Figures)) {
		want := bl.Figures[p]
		got, ok := lookup(doc, p)
		verdict := "ok"
		if !ok || got < want*bl.Fraction {
			verdict = "REGRESSED"
			bad = append(bad, p)
		}
		fmt.Printf("%-48s %10.3f %10.3f %10.3f  %s\n", p, want, want*bl.Fraction, got, verdict)
	}
	for _, p := range slices.Sorted(maps.Keys(bl.Exact)) {
		want := bl.Exact[p]
		got, ok := lookup(doc, p)
		verdict := "ok"
		if !ok || got != want {
			verdict = "WRONG"
			bad = append(bad, p)
		}
		fmt.Printf("%-48s %10.3f %10s %10.3f  %s\n", p, want, "=", got, verdict)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d figure(s) below the floor or wrong: %s", len(bad), strings.Join(bad, ", "))
	}
	return nil
}
