package index

import (
	"math"
	"sort"
)

// The statistics as they were computed before Summarize was fused with the
// health classes and the zonal grid: two plain passes for Stats and one
// pass each for CountClasses and BlockMeans. Tests check that the fused
// code gives bit-identical results.

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
func summarizeRef(vals []float32, threshold, histMin, histMax float64) Stats {
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

// countClassesRef counts the finite values of vals in each health class,
// one value at a time through Class, the definition of a class.
func countClassesRef(vals []float32, t Thresholds) [4]int64 {
	var n [4]int64
	for _, v := range vals {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		n[t.Class(f)]++
	}
	return n
}

// BlockMeans cuts a width x height raster into rows x cols blocks (see
// BlockBounds) and returns, row-major from the top left, each block's count
// of finite values and their mean (0 when the count is 0).
func blockMeansRef(vals []float32, width, height, rows, cols int) (means []float64, counts []int64) {
	means = make([]float64, rows*cols)
	counts = make([]int64, rows*cols)
	sums := means // accumulate in place, divide at the end
	// colBlock[x] is the block column of pixel column x.
	colBlock := make([]int, width)
	for c := range cols {
		x0, x1 := BlockBounds(c, cols, width)
		for x := x0; x < x1; x++ {
			colBlock[x] = c
		}
	}
	for r := range rows {
		y0, y1 := BlockBounds(r, rows, height)
		s, k := sums[r*cols:(r+1)*cols], counts[r*cols:(r+1)*cols]
		for y := y0; y < y1; y++ {
			row := vals[y*width : (y+1)*width]
			for x, v := range row {
				if math.Float32bits(v)&0x7f800000 == 0x7f800000 {
					continue
				}
				c := colBlock[x]
				s[c] += float64(v)
				k[c]++
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
