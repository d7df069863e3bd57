package align

import (
	"math"
	"math/bits"
)

// plan holds what a radix-2 transform of one size needs, computed once:
// the bit-reversal permutation and the twiddle factors.
type plan struct {
	n       int
	reverse []int
	twiddle []complex128 // exp(-2πik/n), k < n/2
}

func newPlan(n int) *plan {
	p := &plan{n: n, reverse: make([]int, n), twiddle: make([]complex128, n/2)}
	shift := 64 - uint(bits.TrailingZeros(uint(n)))
	for i := range n {
		p.reverse[i] = int(bits.Reverse64(uint64(i)) >> shift)
	}
	if n == 1 {
		p.reverse[0] = 0
	}
	for k := range p.twiddle {
		s, c := math.Sincos(-2 * math.Pi * float64(k) / float64(n))
		p.twiddle[k] = complex(c, s)
	}
	return p
}

// fft transforms x (len n) in place; inverse computes the unscaled inverse.
func (p *plan) fft(x []complex128, inverse bool) {
	n := p.n
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

// fft is a one-off transform of a power-of-two length.
func fft(x []complex128, inverse bool) {
	if len(x) > 1 {
		newPlan(len(x)).fft(x, inverse)
	}
}

// fft2 transforms a row-major w x h grid in place (w and h powers of two).
func fft2(x []complex128, w, h int, inverse bool, pw, ph *plan) {
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
