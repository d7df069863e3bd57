package radiometry

import (
	"fmt"
	"math"
)

// Point is a pixel position: X the column, Y the row, pixel centres at
// whole numbers (as numpy indexes them).
type Point struct{ X, Y float64 }

// Region is a convex polygon of pixels, e.g. a calibration panel's four
// corners in any winding order. A pixel is inside when its centre is inside
// or on an edge.
type Region []Point

// Rect is the region of rows [row0, row1) and columns [col0, col1), as a
// numpy slice [row0:row1, col0:col1] selects them.
func Rect(row0, row1, col0, col1 int) Region {
	// Half a pixel inside the exclusive ends, so the edges fall on pixel
	// centres that belong to the slice.
	r1, c1 := float64(row1)-0.5, float64(col1)-0.5
	return Region{{float64(col0), float64(row0)}, {c1, float64(row0)}, {c1, r1}, {float64(col0), r1}}
}

func (g Region) contains(x, y float64) bool {
	pos, neg := false, false
	for i, a := range g {
		b := g[(i+1)%len(g)]
		c := (b.X-a.X)*(y-a.Y) - (b.Y-a.Y)*(x-a.X)
		pos = pos || c > 0
		neg = neg || c < 0
	}
	return !(pos && neg)
}

// RegionStats are the values of v inside a region, NaN excluded.
type RegionStats struct {
	Pixels         int
	Mean, Std      float64 // population standard deviation
	Min, Max       float64
	NaN            int // pixels inside that were NaN (saturated or no data)
	BoundsRow      [2]int
	BoundsCol      [2]int
	sum, sumSquare float64
}

// Stats measures v (width x height) inside the region.
func (g Region) Stats(v []float32, width, height int) (RegionStats, error) {
	if len(g) < 3 {
		return RegionStats{}, fmt.Errorf("region: %d corners, need at least 3", len(g))
	}
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range g {
		minX, maxX = math.Min(minX, p.X), math.Max(maxX, p.X)
		minY, maxY = math.Min(minY, p.Y), math.Max(maxY, p.Y)
	}
	c0, c1 := max(int(math.Ceil(minX)), 0), min(int(math.Floor(maxX)), width-1)
	r0, r1 := max(int(math.Ceil(minY)), 0), min(int(math.Floor(maxY)), height-1)
	s := RegionStats{Min: math.Inf(1), Max: math.Inf(-1), BoundsRow: [2]int{r0, r1}, BoundsCol: [2]int{c0, c1}}
	// Two passes (mean, then squared deviations) keep the variance exact
	// for values as tightly clustered as a panel's.
	for pass := range 2 {
		for y := r0; y <= r1; y++ {
			for x := c0; x <= c1; x++ {
				if !g.contains(float64(x), float64(y)) {
					continue
				}
				f := float64(v[y*width+x])
				if f != f {
					if pass == 0 {
						s.NaN++
					}
					continue
				}
				if pass == 0 {
					s.Pixels++
					s.sum += f
					s.Min, s.Max = math.Min(s.Min, f), math.Max(s.Max, f)
				} else {
					d := f - s.Mean
					s.sumSquare += d * d
				}
			}
		}
		if s.Pixels == 0 {
			return s, fmt.Errorf("region %v: no valid pixel inside the %d x %d image", []Point(g), width, height)
		}
		if pass == 0 {
			s.Mean = s.sum / float64(s.Pixels)
		}
	}
	s.Std = math.Sqrt(s.sumSquare / float64(s.Pixels))
	return s, nil
}

// PanelBand is one band's calibration from a panel capture.
type PanelBand struct {
	// Reflectance is the panel's known reflectance in this band.
	Reflectance float64
	// Radiance is the mean radiance over the panel (W/m²/sr/nm), Pixels
	// how many pixels it averages.
	Radiance float64
	Pixels   int
	// RadianceStd, RadianceMin and RadianceMax describe the spread over
	// the panel (a panel is uniform: a large spread means the corners
	// include its edge or the ground).
	RadianceStd, RadianceMin, RadianceMax float64
	// Factor turns radiance into reflectance: Reflectance / Radiance.
	Factor float64
	// Irradiance is the downwelling irradiance the panel implies,
	// π Radiance / Reflectance (W/m²/nm).
	Irradiance float64
}

// MinPanelPixels is the fewest pixels a panel region may hold: a 5 x 5
// patch. A calibration panel photographed as the maker advises covers
// thousands (26,000 in the sample capture).
const MinPanelPixels = 25

// Panel measures a panel in a radiance image. Saturated pixels inside the
// panel make its mean unreliable, so they are an error.
func Panel(radiance []float32, width, height int, corners Region, reflectance float64) (PanelBand, error) {
	if !(reflectance > 0 && reflectance <= 1) {
		return PanelBand{}, fmt.Errorf("panel: reflectance %g is outside (0, 1]", reflectance)
	}
	// A region cut off at the image's edge, or one enclosing next to
	// nothing, still has a mean; it is just not the panel's. Refuse both
	// rather than calibrate with ground or a stray pixel.
	for _, p := range corners {
		if !(p.X >= -0.5 && p.X <= float64(width)-0.5 && p.Y >= -0.5 && p.Y <= float64(height)-0.5) {
			return PanelBand{}, fmt.Errorf("panel: corner (%g, %g) is outside the %d x %d image", p.X, p.Y, width, height)
		}
	}
	st, err := corners.Stats(radiance, width, height)
	if err != nil {
		return PanelBand{}, fmt.Errorf("panel: %w", err)
	}
	if st.Pixels+st.NaN < MinPanelPixels {
		return PanelBand{}, fmt.Errorf("panel: the corners enclose %d pixels; a panel measurement needs at least %d (check the corners are the panel's, in this band's pixels)", st.Pixels+st.NaN, MinPanelPixels)
	}
	if st.NaN > 0 {
		return PanelBand{}, fmt.Errorf("panel: %d of %d pixels inside the corners are saturated or no data", st.NaN, st.NaN+st.Pixels)
	}
	if !(st.Mean > 0) {
		return PanelBand{}, fmt.Errorf("panel: mean radiance %g inside the corners", st.Mean)
	}
	return PanelBand{
		Reflectance: reflectance, Radiance: st.Mean, Pixels: st.Pixels,
		RadianceStd: st.Std, RadianceMin: st.Min, RadianceMax: st.Max,
		Factor: reflectance / st.Mean, Irradiance: math.Pi * st.Mean / reflectance,
	}, nil
}
