package main

import (
	"fmt"
	"io"
	"strings"
)

// row is one line of the human table: the figure, the target, and
// whether it is met ("" when the target is not a pass/fail one).
type row struct{ what, value, target, met string }

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

// printTable prints every measured figure next to its target, as Markdown
// so the README can take it as is.
func printTable(w io.Writer, r *Results) {
	var rows []row
	add := func(what, value, target, met string) { rows = append(rows, row{what, value, target, met}) }
	if u := r.Upload; u != nil {
		s := u.Single
		add(fmt.Sprintf("upload, 1 stream, %d x %d MB, %d KiB chunks", s.Images, s.ImageMB, u.ChunkKiB),
			fmt.Sprintf("%.0f MB/s; bare grpc-go %.0f MB/s = %.2f; disk write+fsync %.0f MB/s; vs slower reference %.2f", s.MBps, s.BareMBps, s.RatioToBare, s.DiskMBps, s.RatioToFloor),
			">= 0.70 of bare", yes(s.RatioToBare >= 0.7))
		c := u.Concurrent
		add(fmt.Sprintf("upload, %d streams x %d MB", c.Streams, c.ImageMB),
			fmt.Sprintf("%.0f MB/s, %.1f images/s; bare %.0f MB/s = %.2f; disk %.0f MB/s; vs slower reference %.2f; %d failed", c.MBps, c.ImagesPerS, c.BareMBps, c.RatioToBare, c.DiskMBps, c.RatioToFloor, c.Failures), "", "")
		okRSS := c.PeakRSSMiB > 0 && c.PeakRSSMiB < 1536
		target, met := "< 1.5 GiB at 100 x 50 MB", yes(okRSS)
		if c.Streams != 100 || c.ImageMB != 50 {
			// A short run's streams say nothing of the target's.
			target, met = "(full run: 100 x 50 MB < 1.5 GiB)", "not judged"
		}
		add("ingest-svc peak RSS during it", fmt.Sprintf("%.0f MiB (idle %.0f)", c.PeakRSSMiB, c.IdleRSSMiB), target, met)
	}
	if p := r.Pickup; p != nil {
		add(fmt.Sprintf("pickup, commit -> claim, idle worker (n=%d)", p.N), fmt.Sprintf("p50 %.2f / p95 %.2f / p99 %.2f ms", p.Latency.P50, p.Latency.P95, p.Latency.P99), "p50 <= 5, p99 <= 50 ms", yes(p.Latency.P50 <= 5 && p.Latency.P99 <= 50))
	}
	if p := r.PickupPoll; p != nil {
		add(fmt.Sprintf("pickup without LISTEN, claims polling every 1 s (n=%d)", p.N), fmt.Sprintf("p50 %.0f / p95 %.0f / p99 %.0f ms", p.Latency.P50, p.Latency.P95, p.Latency.P99), "p99 <= 1100 ms", yes(p.Latency.P99 <= 1100))
	}
	if q := r.Queue; q != nil {
		add(fmt.Sprintf("queue, single claims (%d workers, median of %d)", q.Workers, q.Rounds), fmt.Sprintf("%.0f jobs/s (raw SQL %.0f) = %.2f", q.RPCSingle, q.RawSingle, q.RatioSingle), ">= 0.70 of raw; >= 1000 jobs/s", yes(q.RatioSingle >= 0.7)+"; "+yes(q.RPCSingle >= 1000))
		add(fmt.Sprintf("queue, batched claims of %d", q.Batch), fmt.Sprintf("%.0f jobs/s (raw SQL %.0f) = %.2f", q.RPCBatched, q.RawBatched, q.RatioBatched), ">= 0.70 of raw; >= 4000 jobs/s", yes(q.RatioBatched >= 0.7)+"; "+yes(q.RPCBatched >= 4000))
	}
	if n := r.Notify; n != nil {
		add(fmt.Sprintf("event writes, NOTIFY after commit vs none (%d writers)", n.Writers), fmt.Sprintf("%.0f vs %.0f commits/s = %.2f (%d notes in %d transactions)", n.WithNotify, n.WithoutNotify, n.Ratio, n.Announced, n.Batches), ">= 0.80", yes(n.Ratio >= 0.8))
		add("the same, NOTIFY inside the commit (the former way)", fmt.Sprintf("%.0f commits/s = %.2f", n.InCommit, n.InCommitRatio), "", "")
		add("the same, one writer", fmt.Sprintf("%.0f vs %.0f commits/s = %.2f", n.OneWriter.WithNotify, n.OneWriter.WithoutNotify, n.OneWriter.Ratio), "", "")
	}
	if f := r.Fanout; f != nil {
		// The latency target is at 1,000 events/s: a short run's lower
		// rate is not judged against it.
		latency := func(s FanoutStep) string {
			if f.EventsPerS < 1000 {
				return fmt.Sprintf("not judged at %d/s", f.EventsPerS)
			}
			return yes(s.Latency.P50 <= 5 && s.Latency.P99 <= 50 && s.EventsPerS >= 0.95*float64(f.EventsPerS))
		}
		for _, s := range f.Steps {
			add(fmt.Sprintf("fan-out, %d WatchImage + %d WatchImages, %d events/s asked", s.Watchers, f.Firehoses, f.EventsPerS),
				fmt.Sprintf("%.0f events/s; p50 %.2f / p99 %.2f ms (batch streams p50 %.2f / p99 %.2f); lost %d+%d; %d pg conns, %d LISTEN",
					s.EventsPerS, s.Latency.P50, s.Latency.P99, s.Firehose.P50, s.Firehose.P99, s.Lost, s.FirehoseLost, s.StatusConns, s.StatusListenConns),
				"p50 <= 5, p99 <= 50 ms at 1000/s; lost 0; 1 LISTEN",
				"latency "+latency(s)+"; lost "+yes(s.Lost == 0 && s.FirehoseLost == 0)+"; LISTEN "+yes(s.StatusListenConns == 1))
		}
		add("status-svc pg connections, largest W / smallest W", fmt.Sprintf("%.2f", f.ConnGrowth), "1 (constant)", yes(f.ConnGrowth == 1))
	}
	if k := r.Kernels; k != nil {
		if a := k.RGB20MP; a != nil {
			// The target is a throughput: judged on the pool's figure
			// when there is one (older results have only one at a time).
			perCore, pool := a.ImagesPerSPerCore, ""
			if p := a.Pool; p != nil {
				perCore = p.ImagesPerSPerCore
				pool = fmt.Sprintf("; %d at once, as the worker pool runs: %.2f images/s = %.2f images/s/core", p.AtOnce, p.ImagesPerS, p.ImagesPerSPerCore)
			}
			add("analysis, 20 MP RGB JPEG (whole Analyze)", fmt.Sprintf("one at a time %.0f ms/image (%.2f images/s/core, %.1f MP/s%s)%s", a.MsPerImage, a.ImagesPerSPerCore, a.MPixPerS, a.vsMemory(), pool), ">= 2 images/s per core", yes(perCore >= 2))
		}
		if a := k.MicaSense; a != nil {
			pool := ""
			if p := a.Pool; p != nil {
				pool = fmt.Sprintf("; %d at once: %.2f captures/s", p.AtOnce, p.ImagesPerS)
			}
			add("analysis, 1280x960 5-band 16-bit capture", fmt.Sprintf("one at a time %.0f ms/capture (%.1f MP/s%s)%s", a.MsPerImage, a.MPixPerS, a.vsMemory(), pool), "", "")
		}
		indexRow := func(what string, m map[string]*IndexBench, worst float64, target string) {
			if len(m) == 0 {
				return
			}
			var parts []string
			for _, n := range []string{"NDVI", "EVI", "VARI", "MSAVI2"} {
				if ib := m[n]; ib != nil {
					parts = append(parts, fmt.Sprintf("%s %.0f MB/s (%.2f)", n, ib.MBps, ib.RatioToMemBW))
				}
			}
			add(what, strings.Join(parts, ", "), target, yes(worst >= 0.5))
		}
		indexRow("index kernel alone, 20 MP, vs memory loop", k.KernelOnly, k.WorstKernelOnlyVsMemBW, ">= 0.5 of memory loop (within 2x)")
		indexRow("index kernel + stats, 20 MP, vs memory loop", k.Index, k.WorstIndexVsMemBW, ">= 0.5 (the stricter reading)")
		if k.FFTVsRadix2 > 0 {
			add("band alignment's FFT, 1024 x 512, vs the former radix-2 one", fmt.Sprintf("%.2fx as fast", k.FFTVsRadix2), "", "")
		}
	}
	for _, e := range []*E2EResult{r.E2E, r.E2EReal} {
		if e == nil {
			continue
		}
		for _, id := range e.Idle {
			// The target is for a 3 MP image: the older design's test
			// images (r.E2E). The real captures are of other sizes.
			target, met := "", ""
			if e == r.E2E {
				target, met = "p50 < 300 ms (3 MP image)", yes(id.Latency.P50 < 300)
			}
			add("upload -> completed, idle, "+id.File, fmt.Sprintf("p50 %.0f / p99 %.0f ms (n=%d)", id.Latency.P50, id.Latency.P99, id.Latency.N), target, met)
		}
		if e.N > 0 {
			add(fmt.Sprintf("burst of %d, c=%d: %s", e.N, e.Concurrency, strings.Join(e.Files, ", ")), fmt.Sprintf("%.1f uploads/s, %.2f images/s, upload->completed p50 %.0f / p99 %.0f ms, %d failed", e.UploadsPerS, e.ImagesPerS, e.Latency.P50, e.Latency.P99, e.Failures), "", "")
		}
	}
	fmt.Fprintln(w, "| figure | measured | target | met |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, x := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", x.what, x.value, x.target, x.met)
	}
	if r.OlderDesgn != nil {
		fmt.Fprintln(w)
		printOlder(w, r.OlderDesgn)
	}
}

func printOlder(w io.Writer, oc *OlderComparison) {
	fmt.Fprintln(w, "| older design setting | ours computes | burst | uploads/s ours / theirs | images/s ours / theirs | upload->completed p50 ours / theirs |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, x := range []struct {
		name string
		p    *SidePair
	}{{"defaults (10 s poll, batch 5)", oc.Defaults}, {"defaults (10 s poll, batch 5)", oc.DefaultsSameIndices},
		{"tuned (0.1 s poll, batch 50)", oc.Tuned}, {"tuned (0.1 s poll, batch 50)", oc.TunedSameIndices}} {
		if x.p == nil {
			continue
		}
		p := x.p
		speed := fmt.Sprintf("%.1fx faster", p.LatencySpeedup)
		if p.LatencySpeedup < 1 {
			speed = fmt.Sprintf("%.1fx slower", p.LatencyP50Ratio)
		}
		work := "every index the bands allow"
		if len(p.OursIndices) > 0 {
			work = strings.Join(p.OursIndices, ", ") + " (as the older design)"
		}
		fmt.Fprintf(w, "| %s | %s | n=%d c=%d | %.1f / %.1f = **%.2f** | %.2f / %.3f = **%.2f** | %.0f ms / %.0f ms = **%.2f** (%s) |\n",
			x.name, work, p.N, p.Concurrency, p.Ours.UploadsPerS, p.Theirs.UploadsPerS, p.UploadsRatio, p.Ours.ImagesPerS, p.Theirs.ImagesPerS, p.ImagesRatio,
			p.Ours.LatencyP50Ms, p.Theirs.LatencyP50Ms, p.LatencyP50Ratio, speed)
	}
}

// vsMemory compares an analysis with the memory loop over the same bytes,
// when the run had one.
func (a *AnalyzeBench) vsMemory() string {
	if a.MemBWMBps <= 0 {
		return ""
	}
	return fmt.Sprintf("; %.0f MB/s vs memory loop %.0f = %.3f", a.MBps, a.MemBWMBps, a.RatioToMemBW)
}
