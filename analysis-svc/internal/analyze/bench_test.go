package analyze

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/airbusgeo/godal"
)

// Benchmarks time the whole Analyze call: decode, every available index with
// its statistics, health classes and zones, and the PNG map and thumbnail
// (to io.Discard; no GeoTIFFs, whose cost is the disk's). b.SetBytes is the
// size of the decoded float32 samples (width*height*bands*4), so MB/s
// compares directly with BenchmarkMemoryBandwidth over the same number of
// bytes.

const (
	micaW, micaH, micaBands = 1280, 960, 5
	rgbW, rgbH, rgbBands    = 5472, 3648, 3 // 19.96 MP, a 20 MP 3:2 drone frame
)

func benchAnalyze(b *testing.B, fs []File, w, h, bands int) {
	analyze := func(ctx context.Context) error {
		_, err := Analyze(ctx, fs, Options{}, Outputs{Map: io.Discard, Thumbnail: io.Discard})
		return err
	}
	// Each sub-benchmark first runs once untimed: the first analyses of a
	// process fault in their buffers' memory from the kernel (one 20 MP
	// round of two read 1.5 images/s against 2.3 after it), which a worker
	// that has been running has long done; b.Loop's timer starts at its
	// first call.
	//
	// one: a single analysis at a time, its indices spread over the cores
	// (the latency of an image on an idle worker).
	b.Run("one", func(b *testing.B) {
		b.SetBytes(int64(w * h * bands * 4))
		ctx := context.Background()
		if err := analyze(ctx); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := analyze(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(w*h)*float64(b.N)/b.Elapsed().Seconds(), "pixels/s")
	})
	// pool: GOMAXPROCS analyses at once, as analysis-svc's worker pool runs
	// them by default (WORKERS): the throughput of a busy worker. Each op
	// is one round of that many, started together and all waited for, so
	// every analysis has the others beside it whatever -benchtime is
	// (RunParallel's last ops run alone when b.N is not a multiple of the
	// cores). images/s is the figure to read; ns/op is a round's.
	b.Run("pool", func(b *testing.B) {
		n := runtime.GOMAXPROCS(0)
		b.SetBytes(int64(n * w * h * bands * 4))
		ctx := context.Background()
		round := func() {
			errs := make(chan error, n)
			for range n {
				go func() { errs <- analyze(ctx) }()
			}
			for range n {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
		}
		round()
		for b.Loop() {
			round()
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
		b.ReportMetric(float64(n*w*h)*float64(b.N)/b.Elapsed().Seconds(), "pixels/s")
	})
}

func BenchmarkAnalyzeMicaSense(b *testing.B) {
	benchAnalyze(b, micaSenseFlight(sharedData(b)), micaW, micaH, micaBands)
}

// BenchmarkAnalyzeRGB20MP generates a 5472 x 3648 JPEG (quality 90) of
// smooth fields with noise, so the decoder sees realistic entropy.
func BenchmarkAnalyzeRGB20MP(b *testing.B) {
	p := filepath.Join(b.TempDir(), "DJI_20MP.JPG")
	if err := godal.RegisterRaster(godal.Memory, godal.DriverName("JPEG")); err != nil {
		b.Fatal(err)
	}
	mem, err := godal.Create(godal.Memory, "", rgbBands, godal.Byte, rgbW, rgbH)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	buf := make([]byte, rgbW*rgbH)
	for bi, band := range mem.Bands() {
		for y := 0; y < rgbH; y++ {
			for x := 0; x < rgbW; x++ {
				v := 110 + 60*math.Sin(float64(x)/97+float64(bi)) + 40*math.Cos(float64(y)/53) + rng.NormFloat64()*12
				buf[y*rgbW+x] = uint8(max(0, min(255, v)))
			}
		}
		if err := band.Write(0, 0, buf, rgbW, rgbH); err != nil {
			b.Fatal(err)
		}
	}
	jpg, err := mem.Translate(p, []string{"-of", "JPEG", "-co", "QUALITY=90"})
	if err != nil {
		b.Fatal(err)
	}
	jpg.Close()
	mem.Close()
	benchAnalyze(b, []File{{Path: p, Filename: "DJI_20MP.JPG"}}, rgbW, rgbH, rgbBands)
}

// BenchmarkMemoryBandwidth reads the same number of bytes as each analysis
// benchmark's decoded samples with a plain summing loop: the floor any
// pass over the data costs on this machine.
func BenchmarkMemoryBandwidth(b *testing.B) {
	for _, c := range []struct {
		name string
		n    int
	}{{"MicaSense", micaW * micaH * micaBands}, {"RGB20MP", rgbW * rgbH * rgbBands}} {
		b.Run(c.name, func(b *testing.B) {
			v := make([]float32, c.n)
			for i := range v {
				v[i] = float32(i & 1023)
			}
			b.SetBytes(int64(c.n * 4))
			var sink float32
			for b.Loop() {
				var s0, s1, s2, s3 float32
				for i := 0; i+4 <= len(v); i += 4 {
					s0 += v[i]
					s1 += v[i+1]
					s2 += v[i+2]
					s3 += v[i+3]
				}
				sink += s0 + s1 + s2 + s3
			}
			if sink == -1 {
				b.Log(sink)
			}
		})
	}
}
