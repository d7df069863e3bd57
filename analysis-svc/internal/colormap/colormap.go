// Package colormap renders one vegetation index as a colour PNG: a
// red-yellow-green diverging ramp over a fixed value range, no data fully
// transparent.
package colormap

import (
	"fmt"
	"image/color"
	"io"
	"math"
)

// rdYlGn returns the 11 anchor colours of ColorBrewer's RdYlGn diverging
// scheme (Brewer, colorbrewer2.org, Apache-2.0), from low (red) to high
// (green). A diverging ramp with a light middle keeps bare soil near 0
// neutral and separates stressed from healthy vegetation without the false
// bands a rainbow ramp draws.
func rdYlGn() [11]color.NRGBA {
	return [11]color.NRGBA{
		{0xa5, 0x00, 0x26, 0xff}, {0xd7, 0x30, 0x27, 0xff}, {0xf4, 0x6d, 0x43, 0xff},
		{0xfd, 0xae, 0x61, 0xff}, {0xfe, 0xe0, 0x8b, 0xff}, {0xff, 0xff, 0xbf, 0xff},
		{0xd9, 0xef, 0x8b, 0xff}, {0xa6, 0xd9, 0x6a, 0xff}, {0x66, 0xbd, 0x63, 0xff},
		{0x1a, 0x98, 0x50, 0xff}, {0x00, 0x68, 0x37, 0xff},
	}
}

// Steps is the number of ramp colours; palette index 0 is transparent, so a
// paletted PNG (a quarter of the bytes of RGBA, hence faster to compress)
// can hold the map.
const Steps = 255

// Ramp returns the colour at position t in [0, 1] along RdYlGn, linearly
// interpolated in sRGB between the anchors and rounded to 8 bits.
func Ramp(t float64) color.NRGBA {
	a := rdYlGn()
	t = math.Max(0, math.Min(1, t))
	x := t * float64(len(a)-1)
	i := int(x)
	if i >= len(a)-1 {
		return a[len(a)-1]
	}
	f := x - float64(i)
	lerp := func(p, q uint8) uint8 { return uint8(math.Round(float64(p) + f*(float64(q)-float64(p)))) }
	return color.NRGBA{lerp(a[i].R, a[i+1].R), lerp(a[i].G, a[i+1].G), lerp(a[i].B, a[i+1].B), 0xff}
}

// palette is transparent at 0, then Steps colours from min to max.
func palette() color.Palette {
	p := make(color.Palette, Steps+1)
	p[0] = color.NRGBA{}
	for i := 1; i <= Steps; i++ {
		p[i] = Ramp(float64(i-1) / (Steps - 1))
	}
	return p
}

// Color is the colour Render gives value v on the range [lo, hi]: values
// outside clamp to the ends, NaN and ±Inf are transparent.
func Color(v, lo, hi float64) color.NRGBA {
	return palette()[paletteIndex(float32(v), lo, 1/(hi-lo))].(color.NRGBA)
}

func paletteIndex(v float32, lo, inv float64) uint8 {
	if math.Float32bits(v)&0x7f800000 == 0x7f800000 { // NaN or ±Inf
		return 0
	}
	t := (float64(v) - lo) * inv
	if t <= 0 {
		return 1
	}
	if t >= 1 {
		return Steps
	}
	return uint8(1 + int(t*(Steps-1)+0.5))
}

// Render writes vals (row-major, width*height) as a paletted PNG,
// Huffman-coded only (see encodePaletted): the map is a preview, and
// compression dominates the time on large images.
func Render(w io.Writer, vals []float32, width, height int, lo, hi float64) error {
	if width <= 0 || height <= 0 || len(vals) != width*height {
		return fmt.Errorf("render map: %d values for %d x %d", len(vals), width, height)
	}
	if !(hi > lo) {
		return fmt.Errorf("render map: empty range %v..%v", lo, hi)
	}
	inv := 1 / (hi - lo)
	pix := make([]uint8, len(vals))
	for i, v := range vals {
		pix[i] = paletteIndex(v, lo, inv)
	}
	if err := encodePaletted(w, pix, width, height, palette()); err != nil {
		return fmt.Errorf("render map: %w", err)
	}
	return nil
}
