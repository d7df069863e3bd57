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

// BenchmarkComputeAndSummarize is one index over 20 MP: kernel then stats.
func BenchmarkComputeAndSummarize(b *testing.B) {
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
				Summarize(dst, d.Threshold, d.Min, d.Max)
			}
			b.ReportMetric(float64(benchPixels)*float64(b.N)/b.Elapsed().Seconds(), "pixels/s")
		})
	}
}
