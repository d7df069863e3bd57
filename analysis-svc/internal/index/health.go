package index

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ClassNames are the health classes, from no vegetation to dense healthy
// vegetation; class i of Thresholds.Class has name ClassNames[i].
var ClassNames = [4]string{"bare_or_water", "stressed", "moderate", "healthy"}

// Thresholds are the three cut points between the four health classes:
//
//	bare_or_water  v < T[0]
//	stressed       T[0] <= v < T[1]
//	moderate       T[1] <= v < T[2]
//	healthy        T[2] <= v
//
// The outer classes are open-ended, so every valid value (even one beyond
// the index's display range, e.g. EVI above 1) falls in exactly one class.
// They are rules of thumb for crops seen from above, not calibrated per crop
// or growth stage; callers can override them per index.
type Thresholds [3]float64

// Validate reports cut points that are not finite or not strictly
// increasing.
func (t Thresholds) Validate() error {
	for i, v := range t {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("health threshold %d is %v, not a finite number", i+1, v)
		}
		if i > 0 && !(v > t[i-1]) {
			return fmt.Errorf("health thresholds %v are not strictly increasing", t)
		}
	}
	return nil
}

// Class returns the class of v, 0..3 (see ClassNames). v must be finite.
func (t Thresholds) Class(v float64) int {
	return int(b2i(v >= t[0]) + b2i(v >= t[1]) + b2i(v >= t[2]))
}

// Bounds returns class i's [lo, hi), with -Inf and +Inf at the open ends.
func (t Thresholds) Bounds(i int) (lo, hi float64) {
	lo, hi = math.Inf(-1), math.Inf(1)
	if i > 0 {
		lo = t[i-1]
	}
	if i < len(t) {
		hi = t[i]
	}
	return lo, hi
}

// CountClasses counts the finite values of vals in each health class.
func CountClasses(vals []float32, t Thresholds) [4]int64 {
	var n [4]int64
	// Compare in float64, as Class does: float32 thresholds (0.2 is not
	// exact in either) would move values right at a cut point.
	for _, v := range vals {
		if math.Float32bits(v)&0x7f800000 == 0x7f800000 { // NaN or ±Inf
			continue
		}
		f := float64(v)
		n[b2i(f >= t[0])+b2i(f >= t[1])+b2i(f >= t[2])]++
	}
	return n
}

// BlockBounds returns where block i of n along an axis of length size
// starts and ends: [i*size/n, (i+1)*size/n) in integer division, so blocks
// differ in length by at most one pixel and tile the axis exactly. When
// size < n some blocks are empty.
func BlockBounds(i, n, size int) (start, end int) {
	return i * size / n, (i + 1) * size / n
}

// columnBounds is where each of cols blocks across width starts, and the
// last one ends: block c is columns [b[c], b[c+1]).
func columnBounds(cols, width int) []int {
	b := make([]int, cols+1)
	for c := range cols {
		b[c], b[c+1] = BlockBounds(c, cols, width)
	}
	return b
}

// BlockMeans cuts a width x height raster into rows x cols blocks (see
// BlockBounds) and returns, row-major from the top left, each block's count
// of finite values and their mean (0 when the count is 0).
func BlockMeans(vals []float32, width, height, rows, cols int) (means []float64, counts []int64) {
	means = make([]float64, rows*cols)
	counts = make([]int64, rows*cols)
	sums := means // accumulate in place, divide at the end
	colBounds := columnBounds(cols, width)
	for r := range rows {
		y0, y1 := BlockBounds(r, rows, height)
		s, k := sums[r*cols:(r+1)*cols], counts[r*cols:(r+1)*cols]
		for y := y0; y < y1; y++ {
			row := vals[y*width : (y+1)*width]
			// One block's part of the row at a time, its sum in a
			// register: adding into s[c] pixel by pixel waits on the
			// store of the previous pixel's sum. The order of the
			// additions is the same.
			for c := range s {
				acc, n := s[c], k[c]
				for _, v := range row[colBounds[c]:colBounds[c+1]] {
					if math.Float32bits(v)&0x7f800000 == 0x7f800000 {
						continue
					}
					acc += float64(v)
					n++
				}
				s[c], k[c] = acc, n
			}
		}
	}
	for i, n := range counts {
		if n > 0 {
			means[i] = sums[i] / float64(n)
		}
	}
	return means, counts
}

// Zone is one cell of a zonal grid.
type Zone struct {
	Row, Col int
	Valid    int64
	// Mean of the cell's valid values; 0 when Valid is 0.
	Mean float64
	// Class is the health class of Mean (see ClassNames), -1 when Valid is 0.
	Class int
}

// DefaultGridRows and DefaultGridCols size the zonal grid: 8 x 8 cells are
// fine enough to point at a stressed patch in one photo and few enough to
// read as a table.
const (
	DefaultGridRows = 8
	DefaultGridCols = 8
)

// Zones computes the zonal grid of rows x cols cells over a width x height
// raster, row-major from the top left (cell boundaries as in BlockBounds),
// each cell's valid count, mean and the class of its mean.
func Zones(vals []float32, width, height, rows, cols int, t Thresholds) []Zone {
	means, counts := BlockMeans(vals, width, height, rows, cols)
	out := make([]Zone, len(means))
	for i := range out {
		z := Zone{Row: i / cols, Col: i % cols, Valid: counts[i], Mean: means[i], Class: -1}
		if z.Valid > 0 {
			z.Class = t.Class(z.Mean)
		}
		out[i] = z
	}
	return out
}

// ParseThresholds reads per-index health cut points written as
// "NDVI=0.2,0.4,0.6;SAVI=0.15,0.3,0.5" (the HEALTH_THRESHOLDS setting).
// Index names are matched as Lookup matches them. An empty string means no
// overrides. It is strict, so a typo stops the service at start-up instead
// of failing every image it analyses.
func ParseThresholds(s string) (map[string]Thresholds, error) {
	out := map[string]Thresholds{}
	for _, entry := range strings.Split(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, values, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, fmt.Errorf("health thresholds %q: want INDEX=T1,T2,T3", entry)
		}
		d, ok := Lookup(strings.TrimSpace(name))
		if !ok {
			return nil, fmt.Errorf("health thresholds %q: unknown index %q", entry, strings.TrimSpace(name))
		}
		if _, dup := out[d.Name]; dup {
			return nil, fmt.Errorf("health thresholds: %s given twice", d.Name)
		}
		parts := strings.Split(values, ",")
		if len(parts) != 3 {
			return nil, fmt.Errorf("health thresholds %q: want three cut points, got %d", entry, len(parts))
		}
		var t Thresholds
		for i, p := range parts {
			v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil {
				return nil, fmt.Errorf("health thresholds %q: cut point %d: %w", entry, i+1, err)
			}
			t[i] = v
		}
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("health thresholds for %s: %w", d.Name, err)
		}
		out[d.Name] = t
	}
	return out, nil
}
