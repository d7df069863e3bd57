package index

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
	for i := range dst {
		dst[i] = float32(vari(float64(g[i]), float64(r[i]), float64(bl[i])))
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
