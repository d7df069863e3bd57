package index

import (
	"math"
	"sort"
)

// HistogramBins is the number of equal bins Stats.Histogram splits
// [Def.Min, Def.Max] into: 40 bins of 0.05 for the -1..1 indices.
const HistogramBins = 40

// Stats summarises one index over an image. Only valid pixels (finite
// values) enter any figure; when Valid is 0 every float field is 0.
type Stats struct {
	Valid  int64 // pixels with a finite value
	NoData int64 // pixels left out: no input data, zero denominator, non-finite result

	Mean, Std float64 // Std is the population standard deviation
	Min, Max  float64

	// Percentiles are exact over the float32 values, interpolated linearly
	// between the two nearest ranks (numpy.percentile's default "linear").
	P2, P5, P25, P50, P75, P95, P98 float64

	Threshold          float64 // the threshold used for VegetationFraction
	VegetationFraction float64 // share of valid pixels with value > Threshold

	Histogram Histogram
}

// Histogram counts valid values in equal bins over [Min, Max]. A value equal
// to Max falls in the last bin; values outside the range are counted in Below
// and Above so that the counts still add up to Stats.Valid.
type Histogram struct {
	Min, Max     float64
	Counts       []int64
	Below, Above int64
}

// sortKey maps a float32's bits to a uint32 that orders like the value, so
// that a histogram over the key's top 16 bits (sign, exponent and 7 mantissa
// bits) is a histogram with bins that widen with magnitude: fine near 0 and
// still bounded for outliers such as VARI near a zero denominator.
func sortKey(bits uint32) uint32 {
	if bits&0x80000000 != 0 {
		return ^bits
	}
	return bits | 0x80000000
}

// edgeBin places a value outside [lo, hi) in hist: below, the last bin
// (exactly hi), or above.
func edgeBin(f, lo, hi float64) int {
	switch {
	case f < lo:
		return 0
	case f == hi:
		return HistogramBins
	}
	return HistogramBins + 1
}

// b2i is 1 for true; the compiler turns it into a flag move, not a branch,
// which matters for comparisons that flip at random pixel to pixel.
func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func keyValue(key uint32) float64 {
	if key&0x80000000 != 0 {
		return float64(math.Float32frombits(key &^ 0x80000000))
	}
	return float64(math.Float32frombits(^key))
}

// Summarize computes Stats over vals with the given vegetation threshold and
// histogram range. vals must hold fewer than 2^32 values (it panics
// otherwise): the fine counters are 32-bit to stay in cache, and no image
// the pixel limit lets through comes near that.
//
// Percentiles are exact without sorting, in two passes. Pass one gathers
// count, sum, min, max, the display histogram and a 65,536-bin histogram of
// the sort keys' top halves. Pass two gathers the squared deviations (a
// two-pass variance keeps the precision that sum-of-squares loses) and, only
// for the few coarse bins that hold a wanted rank, histograms of the keys'
// low halves; the two levels together pin the value at each rank. It
// allocates about 1 MiB plus 256 KiB per such bin (at most 14), whatever
// len(vals) is.
func Summarize(vals []float32, threshold, histMin, histMax float64) Stats {
	st := Stats{
		Threshold: threshold,
		Histogram: Histogram{Min: histMin, Max: histMax, Counts: make([]int64, HistogramBins)},
	}
	if uint64(len(vals)) > math.MaxUint32 {
		panic("index.Summarize: 2^32 or more values")
	}
	coarse := make([]uint64, 1<<16)
	// hist[0] counts values below histMin, hist[HistogramBins+1] above
	// histMax.
	var hist [HistogramBins + 2]int64
	var (
		n      int64
		sum    float64
		lo, hi = float32(math.Inf(1)), float32(math.Inf(-1))
		veg    int64
		hLo    = histMin
		hScale = float64(HistogramBins) / (histMax - histMin)
	)
	for _, v := range vals {
		bits := math.Float32bits(v)
		if bits&0x7f800000 == 0x7f800000 { // NaN or ±Inf
			continue
		}
		n++
		f := float64(v)
		sum += f
		// Branches, not min/max: they are rarely taken, and the builtins
		// pay for NaN handling that the check above made moot.
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
		veg += b2i(f > threshold)
		// Most values lie in the range, so this branch predicts well; the
		// range test also keeps huge values away from the float-to-int
		// conversion, which is undefined for them.
		if f >= hLo && f < histMax {
			// min guards against rounding up to the top edge.
			hist[1+min(int((f-hLo)*hScale), HistogramBins-1)]++
		} else {
			hist[edgeBin(f, hLo, histMax)]++
		}
		coarse[sortKey(bits)>>16]++
	}
	copy(st.Histogram.Counts, hist[1:HistogramBins+1])
	st.Histogram.Below, st.Histogram.Above = hist[0], hist[HistogramBins+1]
	st.Valid = n
	st.NoData = int64(len(vals)) - n
	if n == 0 {
		return st
	}
	mean := sum / float64(n)
	st.Mean, st.Min, st.Max = mean, float64(lo), float64(hi)
	st.VegetationFraction = float64(veg) / float64(n)

	// The percentiles reported, in Stats field order, and the 0-based ranks
	// that linear interpolation needs for each.
	pct := [...]float64{2, 5, 25, 50, 75, 95, 98}
	var ranks [2 * len(pct)]int64
	for i, p := range pct {
		r := int64(math.Floor(float64(n-1) * p / 100))
		ranks[2*i] = r
		ranks[2*i+1] = min(r+1, n-1)
	}
	// before[b] is the number of values in coarse bins below b.
	before := make([]uint64, len(coarse)+1)
	for b, c := range coarse {
		before[b+1] = before[b] + c
	}
	var rankBin [len(ranks)]int
	slot := make([]int8, len(coarse))
	for i := range slot {
		slot[i] = -1
	}
	var bins []int
	for i, r := range ranks {
		// The bin b with before[b] <= r < before[b+1].
		b := sort.Search(len(coarse), func(b int) bool { return before[b+1] > uint64(r) })
		rankBin[i] = b
		if slot[b] < 0 {
			slot[b] = int8(len(bins))
			bins = append(bins, b)
		}
	}
	// uint32 halves the cache footprint of these randomly hit counters;
	// no bin can hold more than len(vals) values, which Summarize's callers
	// keep far below 2^32 (the pixel limit).
	fine := make([][]uint32, len(bins))
	for i := range fine {
		fine[i] = make([]uint32, 1<<16)
	}

	var ss float64
	for _, v := range vals {
		bits := math.Float32bits(v)
		if bits&0x7f800000 == 0x7f800000 {
			continue
		}
		d := float64(v) - mean
		ss += d * d
		k := sortKey(bits)
		if s := slot[k>>16]; s >= 0 {
			fine[s][k&0xffff]++
		}
	}
	st.Std = math.Sqrt(ss / float64(n))

	var at [len(ranks)]float64
	for i, r := range ranks {
		f := fine[slot[rankBin[i]]]
		cum := before[rankBin[i]]
		for low, c := range f {
			if uint64(r) < cum+uint64(c) {
				at[i] = keyValue(uint32(rankBin[i])<<16 | uint32(low))
				break
			}
			cum += uint64(c)
		}
	}
	ps := [...]*float64{&st.P2, &st.P5, &st.P25, &st.P50, &st.P75, &st.P95, &st.P98}
	for i, p := range pct {
		h := float64(n-1) * p / 100
		frac := h - math.Floor(h)
		a, b := at[2*i], at[2*i+1]
		*ps[i] = a + frac*(b-a)
	}
	return st
}
