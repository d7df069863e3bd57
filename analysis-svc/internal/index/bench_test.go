package index

import (
	"math/rand/v2"
	"testing"
)

// 20 megapixels: a 5472 x 3648 frame (DJI Phantom 4 Pro / Mavic 2 Pro size).
const benchPixels = 5472 * 3648

func benchBands() Bands {
	rng := rand.New(rand.NewPCG(5, 6))
	b := Bands{Blue: make([]float32, benchPixels), Green: make([]float32, benchPixels), Red: make([]float32, benchPixels), RedEdge: make([]float32, benchPixels), NIR: make([]float32, benchPixels)}
	for _, r := range b.Roles() {
		s := b.Slice(r)
		for i := range s {
			s[i] = float32(rng.IntN(4096))
		}
	}
	return b
}

// BenchmarkComputeAndSummarize is one index over 20 MP: the kernel and
// everything Analyze derives from the values (Def.ComputeSummary: Stats,
// health classes, the 8 x 8 zonal grid).
func BenchmarkComputeAndSummarize(b *testing.B) {
	bands := benchBands()
	dst := make([]float32, benchPixels)
	for _, name := range []string{"NDVI", "EVI", "VARI", "MSAVI2"} {
		d, _ := Lookup(name)
		o := SummaryOptions{Threshold: d.Threshold, HistMin: d.Min, HistMax: d.Max, Health: d.Health,
			Width: 5472, Height: 3648, GridRows: DefaultGridRows, GridCols: DefaultGridCols}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(benchPixels) * 4 * int64(len(d.Needs)))
			for b.Loop() {
				if _, err := d.ComputeSummary(dst, &bands, Params{SAVIL: 0.5}, o); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchPixels)*float64(b.N)/b.Elapsed().Seconds(), "pixels/s")
		})
	}
}

// BenchmarkCompute is the index kernel alone over 20 MP (Def.Compute: the
// bands read, the index written), without the statistics
// BenchmarkComputeAndSummarize adds.
func BenchmarkCompute(b *testing.B) {
	bands := benchBands()
	dst := make([]float32, benchPixels)
	for _, name := range []string{"NDVI", "EVI", "VARI", "MSAVI2"} {
		d, _ := Lookup(name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(benchPixels) * 4 * int64(len(d.Needs)))
			for b.Loop() {
				if err := d.Compute(dst, &bands, Params{SAVIL: 0.5}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchPixels)*float64(b.N)/b.Elapsed().Seconds(), "pixels/s")
		})
	}
}

// BenchmarkSummarizeParts times the statistics alone, over one index's
// values (NDVI of the benchmark bands): the fused SummarizeAll against the
// separate passes it replaces.
func BenchmarkSummarizeParts(b *testing.B) {
	bands := benchBands()
	vals := make([]float32, benchPixels)
	d, _ := Lookup("NDVI")
	if err := d.Compute(vals, &bands, Params{SAVIL: 0.5}); err != nil {
		b.Fatal(err)
	}
	const w, h = 5472, 3648
	b.Run("SummarizeAll", func(b *testing.B) {
		b.SetBytes(int64(benchPixels) * 4)
		for b.Loop() {
			SummarizeAll(vals, SummaryOptions{Threshold: d.Threshold, HistMin: d.Min, HistMax: d.Max, Health: d.Health,
				Width: w, Height: h, GridRows: 8, GridCols: 8})
		}
	})
	b.Run("Summarize", func(b *testing.B) {
		b.SetBytes(int64(benchPixels) * 4)
		for b.Loop() {
			Summarize(vals, d.Threshold, d.Min, d.Max)
		}
	})
	b.Run("CountClasses", func(b *testing.B) {
		b.SetBytes(int64(benchPixels) * 4)
		for b.Loop() {
			CountClasses(vals, d.Health)
		}
	})
	b.Run("Zones", func(b *testing.B) {
		b.SetBytes(int64(benchPixels) * 4)
		for b.Loop() {
			Zones(vals, w, h, 8, 8, d.Health)
		}
	})
}
