package index

import "math"

// The per-pixel formulas. Each is a small function so that the slice kernels
// in kernel.go get them inlined: one definition of the math serves both the
// table (Def.Pixel) and the fast path.

// normDiff is the normalised difference (a-b)/(a+b) behind NDVI, GNDVI, NDRE
// and NGRDI.
func normDiff(a, b float64) float64 {
	d := a + b
	if d == 0 {
		return math.NaN()
	}
	return (a - b) / d
}

// savi is the Soil-Adjusted Vegetation Index, Huete (1988), Remote Sensing of
// Environment 25:295-309: (1+L)(NIR-Red)/(NIR+Red+L).
func savi(nir, red, l float64) float64 {
	d := nir + red + l
	if d == 0 {
		return math.NaN()
	}
	return (1 + l) * (nir - red) / d
}

// osavi is the Optimized SAVI, Rondeaux, Steven & Baret (1996), Remote
// Sensing of Environment 55:95-107: (NIR-Red)/(NIR+Red+0.16). Rondeaux's
// published form has no (1+0.16) factor; some software adds one.
func osavi(nir, red float64) float64 {
	d := nir + red + 0.16
	if d == 0 {
		return math.NaN()
	}
	return (nir - red) / d
}

// msavi2 is the Modified SAVI, Qi et al. (1994), Remote Sensing of
// Environment 48:119-126, in its closed form:
// (2NIR+1 - sqrt((2NIR+1)^2 - 8(NIR-Red))) / 2.
// A negative radicand (only possible on non-reflectance input) gives NaN.
func msavi2(nir, red float64) float64 {
	a := 2*nir + 1
	return (a - math.Sqrt(a*a-8*(nir-red))) / 2
}

// EVI coefficients from Huete et al. (2002), Remote Sensing of Environment
// 83:195-213 (the MODIS EVI).
const (
	eviG  = 2.5
	eviC1 = 6
	eviC2 = 7.5
	eviL  = 1
)

// evi is G(NIR-Red)/(NIR + C1 Red - C2 Blue + L).
func evi(nir, red, blue float64) float64 {
	d := nir + eviC1*red - eviC2*blue + eviL
	if d == 0 {
		return math.NaN()
	}
	return eviG * (nir - red) / d
}

// evi2 is the two-band EVI, Jiang et al. (2008), Remote Sensing of
// Environment 112:3833-3845: 2.5(NIR-Red)/(NIR + 2.4 Red + 1).
func evi2(nir, red float64) float64 {
	d := nir + 2.4*red + 1
	if d == 0 {
		return math.NaN()
	}
	return 2.5 * (nir - red) / d
}

// vari is the Visible Atmospherically Resistant Index, Gitelson et al. (2002),
// Remote Sensing of Environment 80:76-87: (G-R)/(G+R-B).
func vari(g, r, b float64) float64 {
	d := g + r - b
	if d == 0 {
		return math.NaN()
	}
	v := (g - r) / d
	// VARI is meant to lie in -1..1; beyond that the denominator is near
	// zero (blue about as bright as red and green together: sky, water,
	// deep shadow) and the value says nothing about plants. Such pixels
	// are left out like a zero denominator, instead of dragging the mean
	// to -7 or +50.
	if v < -1-1e-6 || v > 1+1e-6 {
		return math.NaN()
	}
	return v
}

// exg is the Excess Green index on chromatic coordinates, Woebbecke et al.
// (1995), Transactions of the ASAE 38(1):259-269: 2g-r-b with
// r=R/(R+G+B), g=G/(R+G+B), b=B/(R+G+B).
func exg(r, g, b float64) float64 {
	s := r + g + b
	if s == 0 {
		return math.NaN()
	}
	return (2*g - r - b) / s
}

// gli is the Green Leaf Index, Louhaichi, Borman & Johnson (2001), Geocarto
// International 16(1):65-70: (2G-R-B)/(2G+R+B).
func gli(r, g, b float64) float64 {
	d := 2*g + r + b
	if d == 0 {
		return math.NaN()
	}
	return (2*g - r - b) / d
}
