package index

import "math"

// Slice kernels: one plain loop per index so that the formula (a small
// function in formula.go) is inlined and nothing is called indirectly per
// pixel. Re-slicing the inputs to len(dst) lets the compiler drop the bounds
// checks inside the loops. Compute has checked that every slice has that
// length.

func kernelNormDiff(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = float32(normDiff(float64(a[i]), float64(b[i])))
	}
}

func kernelNDVI(dst []float32, b *Bands, _ Params)  { kernelNormDiff(dst, b.NIR, b.Red) }
func kernelGNDVI(dst []float32, b *Bands, _ Params) { kernelNormDiff(dst, b.NIR, b.Green) }
func kernelNDRE(dst []float32, b *Bands, _ Params)  { kernelNormDiff(dst, b.NIR, b.RedEdge) }
func kernelNGRDI(dst []float32, b *Bands, _ Params) { kernelNormDiff(dst, b.Green, b.Red) }

func kernelSAVI(dst []float32, b *Bands, p Params) {
	s, l := p.scale(), p.SAVIL
	n, r := b.NIR[:len(dst)], b.Red[:len(dst)]
	for i := range dst {
		dst[i] = float32(savi(float64(n[i])*s, float64(r[i])*s, l))
	}
}

func kernelOSAVI(dst []float32, b *Bands, p Params) {
	s := p.scale()
	n, r := b.NIR[:len(dst)], b.Red[:len(dst)]
	for i := range dst {
		dst[i] = float32(osavi(float64(n[i])*s, float64(r[i])*s))
	}
}

func kernelMSAVI2(dst []float32, b *Bands, p Params) {
	s := p.scale()
	n, r := b.NIR[:len(dst)], b.Red[:len(dst)]
	for i := range dst {
		dst[i] = float32(msavi2(float64(n[i])*s, float64(r[i])*s))
	}
}

func kernelEVI(dst []float32, b *Bands, p Params) {
	s := p.scale()
	n, r, bl := b.NIR[:len(dst)], b.Red[:len(dst)], b.Blue[:len(dst)]
	for i := range dst {
		dst[i] = float32(evi(float64(n[i])*s, float64(r[i])*s, float64(bl[i])*s))
	}
}

func kernelEVI2(dst []float32, b *Bands, p Params) {
	s := p.scale()
	n, r := b.NIR[:len(dst)], b.Red[:len(dst)]
	for i := range dst {
		dst[i] = float32(evi2(float64(n[i])*s, float64(r[i])*s))
	}
}

func kernelVARI(dst []float32, b *Bands, _ Params) {
	g, r, bl := b.Green[:len(dst)], b.Red[:len(dst)], b.Blue[:len(dst)]
	nan := math.Float64bits(math.NaN())
	for i := range dst {
		// vari without branches, bit for bit (NaN payloads too), written
		// out because the inliner would not take it: on photos its
		// out-of-range test flips at random from pixel to pixel (sky,
		// water, noise near a zero denominator), and each flip was a
		// misprediction. The quotient is computed whatever the
		// denominator; where vari returns math.NaN() the mask picks it.
		gi, ri := float64(g[i]), float64(r[i])
		d := gi + ri - float64(bl[i])
		v := (gi - ri) / d
		m := -uint64(b2i(d == 0) | b2i(v < -1-1e-6) | b2i(v > 1+1e-6))
		dst[i] = float32(math.Float64frombits(math.Float64bits(v)&^m | nan&m))
	}
}
func kernelExG(dst []float32, b *Bands, _ Params) {
	r, g, bl := b.Red[:len(dst)], b.Green[:len(dst)], b.Blue[:len(dst)]
	for i := range dst {
		dst[i] = float32(exg(float64(r[i]), float64(g[i]), float64(bl[i])))
	}
}

func kernelGLI(dst []float32, b *Bands, _ Params) {
	r, g, bl := b.Red[:len(dst)], b.Green[:len(dst)], b.Blue[:len(dst)]
	for i := range dst {
		dst[i] = float32(gli(float64(r[i]), float64(g[i]), float64(bl[i])))
	}
}
