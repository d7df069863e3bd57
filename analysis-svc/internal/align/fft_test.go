package align

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// dft is the textbook O(n²) transform, the reference the fast one must match.
func dft(x []complex128, inverse bool) []complex128 {
	n := len(x)
	sign := -1.0
	if inverse {
		sign = 1
	}
	out := make([]complex128, n)
	for k := range n {
		var s complex128
		for j, v := range x {
			// k*j mod n keeps the angle small, so the reference is exact to
			// rounding even for long inputs.
			s += v * complex(math.Cos(sign*2*math.Pi*float64(k*j%n)/float64(n)), math.Sin(sign*2*math.Pi*float64(k*j%n)/float64(n)))
		}
		out[k] = s
	}
	return out
}

func randomComplex(rng *rand.Rand, n int) []complex128 {
	x := make([]complex128, n)
	for i := range x {
		x[i] = complex(rng.NormFloat64(), rng.NormFloat64())
	}
	return x
}

// TestFFTMatchesDFTEverySize covers each power of two up to 1024, so both
// an odd and an even number of radix-2 stages, each way.
func TestFFTMatchesDFTEverySize(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 1024; n *= 2 {
		for _, inverse := range []bool{false, true} {
			x := randomComplex(rng, n)
			want := dft(x, inverse)
			got := append([]complex128(nil), x...)
			newPlan(n).fft(got, inverse)
			// The error of a radix-2 FFT grows as log n; the reference's
			// own error as n. Relative to the input's energy:
			tol := 1e-12 * math.Sqrt(float64(n)) * float64(n)
			for k := range want {
				if d := got[k] - want[k]; math.Hypot(real(d), imag(d)) > tol {
					t.Fatalf("n=%d inverse=%v: X[%d] = %v, want %v", n, inverse, k, got[k], want[k])
				}
			}
		}
	}
}

// TestFFT2MatchesDFT: the 2-D transform is the 1-D one over every row and
// then every column, checked against a direct 2-D DFT on grids wider than
// tall, taller than wide and narrower than a column block.
func TestFFT2MatchesDFT(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sz := range [][2]int{{1, 1}, {2, 8}, {4, 4}, {16, 8}, {8, 32}, {64, 16}} {
		w, h := sz[0], sz[1]
		for _, inverse := range []bool{false, true} {
			x := randomComplex(rng, w*h)
			want := make([]complex128, w*h)
			sign := -1.0
			if inverse {
				sign = 1
			}
			for v := range h {
				for u := range w {
					var s complex128
					for y := range h {
						for xx := range w {
							a := sign * 2 * math.Pi * (float64(u*xx%w)/float64(w) + float64(v*y%h)/float64(h))
							s += x[y*w+xx] * complex(math.Cos(a), math.Sin(a))
						}
					}
					want[v*w+u] = s
				}
			}
			got := append([]complex128(nil), x...)
			fft2(got, w, h, inverse, newPlan(w), newPlan(h))
			for i := range want {
				if d := got[i] - want[i]; math.Hypot(real(d), imag(d)) > 1e-9 {
					t.Fatalf("%d x %d inverse=%v: X[%d] = %v, want %v", w, h, inverse, i, got[i], want[i])
				}
			}
		}
	}
}

// radix2Plan is the plain radix-2 transform (one stage a pass, a twiddle
// table read with a stride, columns gathered one at a time) that plan
// replaced, kept as the benchmark's baseline so both are timed in the same
// run.
type radix2Plan struct {
	reverse []int
	twiddle []complex128 // exp(-2πik/n), k < n/2
}

func newRadix2Plan(n int) *radix2Plan {
	p := &radix2Plan{reverse: make([]int, n), twiddle: make([]complex128, n/2)}
	shift := 64 - uint(bits.TrailingZeros(uint(n)))
	for i := range n {
		p.reverse[i] = int(bits.Reverse64(uint64(i)) >> shift)
	}
	for k := range p.twiddle {
		s, c := math.Sincos(-2 * math.Pi * float64(k) / float64(n))
		p.twiddle[k] = complex(c, s)
	}
	return p
}

func (p *radix2Plan) fft(x []complex128, inverse bool) {
	n := len(p.reverse)
	for i, j := range p.reverse {
		if j > i {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		half, step := size/2, n/size
		for start := 0; start < n; start += size {
			for k := range half {
				w := p.twiddle[k*step]
				if inverse {
					w = complex(real(w), -imag(w))
				}
				a, b := x[start+k], x[start+k+half]*w
				x[start+k], x[start+k+half] = a+b, a-b
			}
		}
	}
}

func radix2FFT2(x []complex128, w, h int, inverse bool, pw, ph *radix2Plan) {
	for y := range h {
		pw.fft(x[y*w:(y+1)*w], inverse)
	}
	col := make([]complex128, h)
	for c := range w {
		for y := range h {
			col[y] = x[y*w+c]
		}
		ph.fft(col, inverse)
		for y := range h {
			x[y*w+c] = col[y]
		}
	}
}

// BenchmarkFFT2 times the 2-D transforms alignment runs (the full- and
// half-resolution global windows of a 1280 x 960 capture and the local
// windows), each against the plain radix-2 transform in the same run:
//
//	go test -run '^$' -bench FFT2 ./internal/align
func BenchmarkFFT2(b *testing.B) {
	for _, sz := range [][2]int{{1024, 512}, {512, 256}, {256, 256}, {128, 128}} {
		w, h := sz[0], sz[1]
		pw, ph := newPlan(w), newPlan(h)
		rw, rh := newRadix2Plan(w), newRadix2Plan(h)
		for _, impl := range []struct {
			name string
			fn   func(x []complex128, inverse bool)
		}{
			{"radix2", func(x []complex128, inverse bool) { radix2FFT2(x, w, h, inverse, rw, rh) }},
			{"radix4", func(x []complex128, inverse bool) { fft2(x, w, h, inverse, pw, ph) }},
		} {
			b.Run(fmt.Sprintf("%dx%d/%s", w, h, impl.name), func(b *testing.B) {
				x := randomComplex(rand.New(rand.NewPCG(5, 6)), w*h)
				scale := complex(1/float64(w*h), 0)
				b.SetBytes(int64(w * h * 16))
				for b.Loop() {
					impl.fn(x, false)
					impl.fn(x, true)
					for i := range x {
						x[i] *= scale
					}
				}
			})
		}
	}
}
