package index

import (
	"math"
	"slices"
	"sort"
)

// SummaryOptions say what SummarizeAll computes besides Stats.
type SummaryOptions struct {
	// Threshold is Stats.Threshold; HistMin and HistMax the display
	// histogram's range (Stats.Histogram).
	Threshold, HistMin, HistMax float64
	// Health are the cut points of Summary.Classes and of the zones'
	// classes.
	Health Thresholds
	// Width, Height, GridRows and GridCols describe the zonal grid (as in
	// Zones); GridRows == 0 means no grid.
	Width, Height, GridRows, GridCols int
}

// Summary is what SummarizeAll computes: the statistics, the valid pixels
// per health class (as CountClasses counts them) and the zonal grid (as
// Zones computes it, nil without one).
type Summary struct {
	Stats   Stats
	Classes [4]int64
	Zones   []Zone
}

// SummarizeAll computes Stats, the health-class counts and the zonal grid
// of vals in two passes, with results bit-identical to Summarize's
// definition, CountClasses and Zones computed separately.
//
// Pass one adds the valid values up (in order, so the mean rounds as a
// plain loop's does) and counts them in 65,536 bins of their sort keys'
// top halves (sign, exponent and 7 mantissa bits). Every count the
// statistics need is a count of values below some key: the display
// histogram's bins, the vegetation share and the health classes are
// monotone in the value, so each of their edges is the smallest float32
// whose bin (computed exactly as a per-pixel loop computes it) is past
// the edge, found by binary search over the keys; min, max and the
// percentiles are values at ranks. The coarse bins settle all of that
// except inside the few bins an edge or a rank falls in. Pass two gathers
// the squared deviations from the mean (a two-pass variance keeps the
// precision that sum-of-squares loses), the zones' sums in row order, and,
// only for values in those few bins, a histogram of the keys' low halves
// (rank bins) or a count below each edge (edge bins). It allocates about
// 0.7 MiB plus 256 KiB per rank bin (at most 16), whatever len(vals) is.
func SummarizeAll(vals []float32, o SummaryOptions) Summary {
	s := newSummarizer(len(vals))
	s.add(vals)
	return s.finish(vals, o)
}

// ComputeSummary computes the index into dst, as Compute does, and its
// SummarizeAll: the first statistics pass runs on each chunk of dst just
// after the kernel wrote it, while it is still in cache.
func (d Def) ComputeSummary(dst []float32, b *Bands, p Params, o SummaryOptions) (Summary, error) {
	if err := d.check(dst, b, p); err != nil {
		return Summary{}, err
	}
	s := newSummarizer(len(dst))
	// 4096 values: the chunk and its inputs stay in the first-level cache.
	const chunk = 4096
	for i := 0; i < len(dst); i += chunk {
		j := min(i+chunk, len(dst))
		sub := b.sub(i, j)
		d.kernel(dst[i:j], &sub, p)
		s.add(dst[i:j])
	}
	return s.finish(dst, o), nil
}

// sub returns the bands' values i..j.
func (b *Bands) sub(i, j int) Bands {
	cut := func(s []float32) []float32 {
		if s == nil {
			return nil
		}
		return s[i:j:j]
	}
	return Bands{Blue: cut(b.Blue), Green: cut(b.Green), Red: cut(b.Red), RedEdge: cut(b.RedEdge), NIR: cut(b.NIR)}
}

// summarizer holds pass one's state.
type summarizer struct {
	sum    float64
	coarse []uint32 // by sort key >> 16
}

func newSummarizer(n int) *summarizer {
	if uint64(n) > math.MaxUint32 {
		panic("index.Summarize: 2^32 or more values")
	}
	return &summarizer{coarse: make([]uint32, 1<<16)}
}

// add is pass one over the next values. It has no branch: a pixel that is
// no data (NaN or ±Inf) adds +0 to the sum, which leaves it unchanged (a
// sum that starts at +0 is never -0), and is counted in a bin of the
// non-finite keys, which finish ignores. With a branch, images that mix
// valid pixels and no data at random pay a misprediction per pixel.
func (s *summarizer) add(vals []float32) {
	coarse := s.coarse[:1<<16]
	sum := s.sum
	for _, v := range vals {
		bits := math.Float32bits(v)
		sum += float64(math.Float32frombits(bits & finiteMask(bits)))
		coarse[sortKey(bits)>>16]++
	}
	s.sum = sum
}

// finiteMask is all ones for the bits of a finite float32, else 0.
func finiteMask(bits uint32) uint32 {
	return uint32(b2i(bits&0x7f800000 != 0x7f800000)) * 0xffffffff
}

// Sort keys of the finite float32 values: -MaxFloat32 .. +MaxFloat32.
const (
	minFiniteKey = 0x00800000
	maxFiniteKey = 0xff7fffff
)

// firstKey returns the smallest finite key whose value satisfies pred,
// which must be monotone (false, then true, in key order), or
// maxFiniteKey+1 when none does.
func firstKey(pred func(float64) bool) uint64 {
	i := sort.Search(maxFiniteKey-minFiniteKey+1, func(i int) bool {
		return pred(keyValue(uint32(minFiniteKey + i)))
	})
	return uint64(minFiniteKey + i)
}

// binSlot is pass two's work for one coarse bin: a fine histogram of the
// keys' low halves (for a bin that holds a wanted rank) and counts of
// values below split points (low halves, for a bin that an edge falls in).
type binSlot struct {
	fine   []uint32
	splits []uint32
	below  []uint32
}

func (s *summarizer) finish(vals []float32, o SummaryOptions) Summary {
	coarse := s.coarse
	// The bins of the non-finite keys (see add).
	clear(coarse[:minFiniteKey>>16])
	clear(coarse[maxFiniteKey>>16+1:])
	st := Stats{
		Threshold: o.Threshold,
		Histogram: Histogram{Min: o.HistMin, Max: o.HistMax, Counts: make([]int64, HistogramBins)},
	}
	// before[b] is the number of values in coarse bins below b.
	before := make([]uint64, len(coarse)+1)
	for b, c := range coarse {
		before[b+1] = before[b] + uint64(c)
	}
	n := before[len(coarse)]

	width, height, rows, cols := len(vals), 1, 1, 1
	if o.GridRows > 0 {
		width, height, rows, cols = o.Width, o.Height, o.GridRows, o.GridCols
		if width*height != len(vals) || cols <= 0 {
			panic("index.SummarizeAll: grid does not match the values")
		}
	}

	// The ranks: min, max and the two each percentile interpolates
	// between.
	pct := [...]float64{2, 5, 25, 50, 75, 95, 98}
	var ranks []uint64
	if n > 0 {
		ranks = append(ranks, 0, n-1)
		for _, p := range pct {
			r := uint64(math.Floor(float64(n-1) * p / 100))
			ranks = append(ranks, r, min(r+1, n-1))
		}
	}
	// The edges, each the smallest key past it.
	hLo, hHi := o.HistMin, o.HistMax
	hScale := float64(HistogramBins) / (hHi - hLo)
	binOf := func(f float64) int {
		if f >= hLo && f < hHi {
			return 1 + min(int((f-hLo)*hScale), HistogramBins-1)
		}
		return edgeBin(f, hLo, hHi)
	}
	var histEdges [HistogramBins + 1]uint64 // bin >= e+1
	var classEdges [3]uint64                // value >= Health[j]
	var vegEdge uint64                      // value > Threshold
	if n > 0 {
		for e := range histEdges {
			histEdges[e] = firstKey(func(f float64) bool { return binOf(f) >= e+1 })
		}
		for j, t := range o.Health {
			classEdges[j] = firstKey(func(f float64) bool { return f >= t })
		}
		vegEdge = firstKey(func(f float64) bool { return f > o.Threshold })
	}

	slot := make([]int8, len(coarse))
	for i := range slot {
		slot[i] = -1
	}
	var slots []binSlot
	slotOf := func(b uint64) *binSlot {
		if slot[b] < 0 {
			slot[b] = int8(len(slots))
			slots = append(slots, binSlot{})
		}
		return &slots[slot[b]]
	}
	rankBin := make([]uint64, len(ranks))
	for i, r := range ranks {
		// The bin b with before[b] <= r < before[b+1].
		b := uint64(sort.Search(len(coarse), func(b int) bool { return before[b+1] > r }))
		rankBin[i] = b
		if sl := slotOf(b); sl.fine == nil {
			sl.fine = make([]uint32, 1<<16)
		}
	}
	split := func(k uint64) {
		b, low := k>>16, uint32(k&0xffff)
		if k > maxFiniteKey || low == 0 || coarse[b] == 0 {
			return // settled by the coarse counts
		}
		sl := slotOf(b)
		if !slices.Contains(sl.splits, low) {
			sl.splits = append(sl.splits, low)
			sl.below = append(sl.below, 0)
		}
	}
	if n > 0 {
		for _, k := range histEdges {
			split(k)
		}
		for _, k := range classEdges {
			split(k)
		}
		split(vegEdge)
	}

	// Pass two, row by row and zone by zone, in the values' order.
	mean := 0.0
	if n > 0 {
		mean = s.sum / float64(n)
	}
	sums := make([]float64, rows*cols)
	counts := make([]int64, rows*cols)
	colBounds := columnBounds(cols, width)
	slot = slot[:1<<16]
	var ss float64
	for r := range rows {
		y0, y1 := BlockBounds(r, rows, height)
		zs, zk := sums[r*cols:(r+1)*cols], counts[r*cols:(r+1)*cols]
		for y := y0; y < y1; y++ {
			row := vals[y*width : (y+1)*width]
			for c := range zs {
				acc, k := zs[c], zk[c]
				for _, v := range row[colBounds[c]:colBounds[c+1]] {
					// Branch-free like pass one: no data adds +0 and
					// counts 0; its key's bin has no slot.
					bits := math.Float32bits(v)
					m := finiteMask(bits)
					f := float64(math.Float32frombits(bits & m))
					acc += f
					k += int64(m & 1)
					d := math.Float64frombits(math.Float64bits(f-mean) & (uint64(m) | uint64(m)<<32))
					ss += d * d
					key := sortKey(bits)
					if i := slot[key>>16]; i >= 0 {
						slots[i].hit(key & 0xffff)
					}
				}
				zs[c], zk[c] = acc, k
			}
		}
	}

	var sum Summary
	if o.GridRows > 0 {
		sum.Zones = make([]Zone, rows*cols)
		for i := range sum.Zones {
			z := Zone{Row: i / cols, Col: i % cols, Valid: counts[i], Class: -1}
			if z.Valid > 0 {
				z.Mean = sums[i] / float64(z.Valid)
				z.Class = o.Health.Class(z.Mean)
			}
			sum.Zones[i] = z
		}
	}
	st.Valid = int64(n)
	st.NoData = int64(len(vals)) - int64(n)
	if n == 0 {
		sum.Stats = st
		return sum
	}

	// below(k) is the number of values with a key below k.
	below := func(k uint64) uint64 {
		if k > maxFiniteKey {
			return n
		}
		b, low := k>>16, uint32(k&0xffff)
		c := before[b]
		if low == 0 || coarse[b] == 0 {
			return c
		}
		sl := &slots[slot[b]]
		return c + uint64(sl.below[slices.Index(sl.splits, low)])
	}
	var hist [HistogramBins + 2]int64
	prev := uint64(0)
	for e, k := range histEdges {
		b := below(k)
		hist[e] = int64(b - prev)
		prev = b
	}
	hist[HistogramBins+1] = int64(n - prev)
	copy(st.Histogram.Counts, hist[1:HistogramBins+1])
	st.Histogram.Below, st.Histogram.Above = hist[0], hist[HistogramBins+1]
	st.VegetationFraction = float64(n-below(vegEdge)) / float64(n)

	t := o.Health
	if t[0] <= t[1] && t[1] <= t[2] {
		// Nested: class i is at least cut point i-1 but not cut point i.
		atLeast := [5]uint64{n, n - below(classEdges[0]), n - below(classEdges[1]), n - below(classEdges[2]), 0}
		for i := range sum.Classes {
			sum.Classes[i] = int64(atLeast[i] - atLeast[i+1])
		}
	} else {
		sum.Classes = CountClasses(vals, t)
	}

	at := make([]float64, len(ranks))
	for i, r := range ranks {
		f := slots[slot[rankBin[i]]].fine
		cum := before[rankBin[i]]
		for low, c := range f {
			if r < cum+uint64(c) {
				at[i] = keyValue(uint32(rankBin[i])<<16 | uint32(low))
				break
			}
			cum += uint64(c)
		}
	}
	st.Mean = mean
	st.Std = math.Sqrt(ss / float64(n))
	st.Min, st.Max = at[0], at[1]
	if st.Min == 0 || st.Max == 0 {
		// A plain loop keeps the first of equal values, so a zero minimum
		// or maximum has the sign of the first zero.
		for _, v := range vals {
			if v == 0 {
				z := float64(v)
				if st.Min == 0 {
					st.Min = z
				}
				if st.Max == 0 {
					st.Max = z
				}
				break
			}
		}
	}
	ps := [...]*float64{&st.P2, &st.P5, &st.P25, &st.P50, &st.P75, &st.P95, &st.P98}
	for i, p := range pct {
		h := float64(n-1) * p / 100
		frac := h - math.Floor(h)
		a, b := at[2+2*i], at[3+2*i]
		*ps[i] = a + frac*(b-a)
	}
	sum.Stats = st
	return sum
}

// hit is pass two's work for a value whose key's low half is low, in a
// bin with a slot.
func (sl *binSlot) hit(low uint32) {
	if sl.fine != nil {
		sl.fine[low&0xffff]++
	}
	for j, p := range sl.splits {
		sl.below[j] += uint32(b2i(low < p))
	}
}
