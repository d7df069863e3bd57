package index

import "math"

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
	// Negative: all bits flipped; positive: the sign bit set. Without a
	// branch, which the sign of each pixel would make unpredictable.
	return bits ^ (uint32(int32(bits)>>31) | 0x80000000)
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
// otherwise): the counters are 32-bit to stay in cache, and no image the
// pixel limit lets through comes near that. It is SummarizeAll without the
// health classes and the zonal grid; see there for how.
func Summarize(vals []float32, threshold, histMin, histMax float64) Stats {
	return SummarizeAll(vals, SummaryOptions{Threshold: threshold, HistMin: histMin, HistMax: histMax}).Stats
}
