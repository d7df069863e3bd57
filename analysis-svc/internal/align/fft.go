package align

import (
	"math"
	"math/bits"
)

// plan holds what a transform of one power-of-two size needs, computed
// once: the bit-reversal swaps and each stage's twiddle factors, forward
// and inverse, laid out in the order the stages read them.
//
// The transform is an iterative decimation-in-time FFT whose radix-2
// stages are taken two at a time (radix 4): half the passes over the data,
// which is what a transform of a window larger than the caches is paying
// for. Alignment spends most of its time here.
type plan struct {
	n     int
	swaps []int32 // pairs i < j to exchange for the bit-reversed order
	// fwd[h-1+k] is exp(-2πik/2h) for k < h, for every stage half h =
	// 1, 2, 4, ..., n/2; inv holds the conjugates. fwdRot and invRot are
	// the same times -i and i (exactly: a swap and a sign), the twiddles
	// of a radix-4 butterfly's fourth leg.
	fwd, inv, fwdRot, invRot []complex128
}

func newPlan(n int) *plan {
	p := &plan{n: n}
	if n < 2 {
		return p
	}
	shift := 64 - uint(bits.TrailingZeros(uint(n)))
	for i := range n {
		if j := int(bits.Reverse64(uint64(i)) >> shift); j > i {
			p.swaps = append(p.swaps, int32(i), int32(j))
		}
	}
	p.fwd = make([]complex128, n-1)
	p.inv = make([]complex128, n-1)
	p.fwdRot = make([]complex128, n-1)
	p.invRot = make([]complex128, n-1)
	for h := 1; h < n; h *= 2 {
		for k := range h {
			s, c := math.Sincos(-math.Pi * float64(k) / float64(h))
			p.fwd[h-1+k] = complex(c, s)
			p.inv[h-1+k] = complex(c, -s)
			p.fwdRot[h-1+k] = complex(s, -c)
			p.invRot[h-1+k] = complex(s, c)
		}
	}
	return p
}

// fft transforms x (len n) in place; inverse computes the unscaled inverse.
func (p *plan) fft(x []complex128, inverse bool) {
	n := p.n
	if n < 2 {
		return
	}
	x = x[:n]
	for i := 0; i < len(p.swaps); i += 2 {
		a, b := p.swaps[i], p.swaps[i+1]
		x[a], x[b] = x[b], x[a]
	}
	tw, rot := p.fwd, p.fwdRot
	if inverse {
		tw, rot = p.inv, p.invRot
	}
	h := 1
	if bits.TrailingZeros(uint(n))%2 == 1 {
		// An odd number of stages: the first alone, whose twiddle is 1.
		for i := 0; i < n; i += 2 {
			a, b := x[i], x[i+1]
			x[i], x[i+1] = a+b, a-b
		}
		h = 2
	}
	for ; h < n; h *= 4 {
		// Stages of half h and 2h in one pass. Within a block of 4h the
		// first stage pairs (a, b) and (c, d) with twiddle w1 = W(2h)^k;
		// the second pairs (a', c') with w2 = W(4h)^k and (b', d') with
		// W(4h)^(k+h) = w2·(∓i).
		w1s, w2s, w3s := tw[h-1:2*h-1], tw[2*h-1:3*h-1], rot[2*h-1:3*h-1]
		for start := 0; start < n; start += 4 * h {
			q0 := x[start : start+h]
			// Equal lengths, told to the compiler: no bounds checks below.
			q1 := x[start+h : start+2*h][:len(q0)]
			q2 := x[start+2*h : start+3*h][:len(q0)]
			q3 := x[start+3*h : start+4*h][:len(q0)]
			w1s, w2s, w3s := w1s[:len(q0)], w2s[:len(q0)], w3s[:len(q0)]
			for k := range q0 {
				w1 := w1s[k]
				a, b, c, d := q0[k], q1[k]*w1, q2[k], q3[k]*w1
				a1, b1 := a+b, a-b
				c1, d1 := (c+d)*w2s[k], (c-d)*w3s[k]
				q0[k], q2[k] = a1+c1, a1-c1
				q1[k], q3[k] = b1+d1, b1-d1
			}
		}
	}
}

// fft is a one-off transform of a power-of-two length.
func fft(x []complex128, inverse bool) {
	newPlan(len(x)).fft(x, inverse)
}

// columnBlock is how many columns fft2 gathers at once: their values in a
// row are adjacent, so each cache line read serves several columns.
const columnBlock = 8

// fft2 transforms a row-major w x h grid in place (w and h powers of two).
func fft2(x []complex128, w, h int, inverse bool, pw, ph *plan) {
	for y := range h {
		pw.fft(x[y*w:(y+1)*w], inverse)
	}
	if h < 2 {
		return
	}
	nb := min(columnBlock, w)
	cols := make([]complex128, nb*h)
	for c0 := 0; c0 < w; c0 += nb {
		for y := range h {
			row := x[y*w+c0 : y*w+c0+nb]
			for j, v := range row {
				cols[j*h+y] = v
			}
		}
		for j := range nb {
			ph.fft(cols[j*h:(j+1)*h], inverse)
		}
		for y := range h {
			row := x[y*w+c0 : y*w+c0+nb]
			for j := range row {
				row[j] = cols[j*h+y]
			}
		}
	}
}
