package index

import (
	"math"
	"slices"
	"sort"
	"unsafe"
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
// of vals, in one pass in the common case, with results bit-identical to
// Summarize's definition, CountClasses and Zones computed separately,
// except Std, which is within rounding of the two-pass variance (see
// summarizer.addRun).
//
// The pass adds the valid values up (in order, so the mean rounds as a
// plain loop's does), adds each zone's values up (in row order, likewise),
// gathers the variance, and counts the values in 65,536 bins of their sort
// keys' top halves (sign, exponent and 7 mantissa bits). Every count the
// statistics need is a count of values below some key: the display
// histogram's bins, the vegetation share and the health classes are
// monotone in the value, so each of their edges is the smallest float32
// whose bin (computed exactly as a per-pixel loop computes it) is past
// the edge, found by binary search over the keys; min, max and the
// percentiles are values at ranks. The coarse bins settle all of that
// except inside the few bins an edge or a rank falls in, and for those the
// pass keeps the values it meets there (their bits), which finish counts in
// fine histograms of the keys' low halves (rank bins) or below each edge
// (edge bins). The edges do not depend on the data, so their bins are
// known before the pass; the rank bins are not, so the pass keeps the
// values of every bin a sample of the values (see sampleSize) says a rank
// is likely to fall in: typically a tenth of them. A rank that falls
// outside those bins, or more kept values than a quarter of vals, costs a
// second pass over vals for just the bins missed. It allocates about 2 MiB,
// 256 KiB per rank bin (at most 16) and the kept values, at most a quarter
// of len(vals) (plus 32 KiB).
func SummarizeAll(vals []float32, o SummaryOptions) Summary {
	s := newSummarizer(len(vals), o)
	s.speculate(sampleOf(vals))
	s.add(vals)
	return s.finish(vals)
}

// chunk is how many values pass one takes at a time (4096: the chunk and
// the kernel's inputs stay in the first-level cache), and the most it keeps
// keys of in its staging buffer.
const chunk = 4096

// ComputeSummary computes the index into dst, as Compute does, and its
// SummarizeAll: the statistics pass runs on each chunk of dst just after
// the kernel wrote it, while it is still in cache.
func (d Def) ComputeSummary(dst []float32, b *Bands, p Params, o SummaryOptions) (Summary, error) {
	if err := d.check(dst, b, p); err != nil {
		return Summary{}, err
	}
	s := newSummarizer(len(dst), o)
	// The sample's values are the ones the kernel will write at those
	// positions: the kernel works pixel by pixel.
	sb := b.gather(len(dst))
	sample := make([]float32, sampleLen(len(dst)))
	d.kernel(sample, &sb, p)
	s.speculate(sample)
	for i := 0; i < len(dst); i += chunk {
		j := min(i+chunk, len(dst))
		sub := b.sub(i, j)
		d.kernel(dst[i:j], &sub, p)
		s.add(dst[i:j])
	}
	return s.finish(dst), nil
}

// sub returns the bands' values i..j.
func (b *Bands) sub(i, j int) Bands {
	return b.each(func(s []float32) []float32 { return s[i:j:j] })
}

// gather returns the bands' values at the sample positions of n values.
func (b *Bands) gather(n int) Bands {
	return b.each(func(s []float32) []float32 { return sampleOf(s[:n]) })
}

// each returns f of each band that b has.
func (b *Bands) each(f func([]float32) []float32) Bands {
	cut := func(s []float32) []float32 {
		if s == nil {
			return nil
		}
		return f(s)
	}
	return Bands{Blue: cut(b.Blue), Green: cut(b.Green), Red: cut(b.Red), RedEdge: cut(b.RedEdge), NIR: cut(b.NIR)}
}

// sampleSize is how many values speculate sees: enough to place a
// percentile of an image's values to within about a percent of the
// values on either side (four standard errors at the median), few enough
// that gathering them reads a small part of the bands (one cache line in
// about 19 per band for 20 MP). Twice as many would halve what pass one
// keeps but cost more to gather, from memory, than that saves.
const sampleSize = 1 << 16

func sampleLen(n int) int { return min(n, sampleSize) }

// samplePos is the position of sample value j among n values: the middles
// of sampleSize equal stretches, or every value when there are fewer.
func samplePos(j, n int) int {
	if n <= sampleSize {
		return j
	}
	return int(uint64(2*j+1) * uint64(n) / (2 * sampleSize))
}

// sampleOf returns the values of vals at the sample positions.
func sampleOf(vals []float32) []float32 {
	out := make([]float32, sampleLen(len(vals)))
	for j := range out {
		out[j] = vals[samplePos(j, len(vals))]
	}
	return out
}

// summarizer holds pass one's state.
type summarizer struct {
	o   SummaryOptions
	n   int     // values to come
	sum float64 // of the valid values, in order
	// valid, mean and m2 are the count, mean and sum of squared deviations
	// from the mean of the valid values so far (see addRun).
	valid    int64
	mean, m2 float64

	hist *[1 << 16]uint32 // by bits >> 16
	// track is 1, by bits >> 16, for the bins whose values' bits pass one
	// keeps, in kept, by way of stage; 0 for all once kept would pass
	// keepLimit (overflow).
	track     *[1 << 16]uint8
	stage     *[chunk]uint32
	kept      []uint32
	keepLimit int
	overflow  bool
	// masked says that the last run held no data, so the next is summed
	// with masking straight away (see addRun).
	masked bool
	// secondPass says that finish went over all values again.
	secondPass bool

	// The zonal grid (a single zone without one) and pass one's position
	// in it: column x of row y, in zone column c and zone row zr, which
	// ends at row rowEnd; at is the position in the values.
	width, height, rows, cols int
	colBounds                 []int
	zoneSum                   []float64
	zoneValid                 []int64
	x, y, c, zr, rowEnd, at   int

	// The edges, each the smallest key past it.
	histEdges  [HistogramBins + 1]uint64 // bin >= e+1
	classEdges [3]uint64                 // value >= Health[j]
	vegEdge    uint64                    // value > Threshold
}

func newSummarizer(n int, o SummaryOptions) *summarizer {
	if uint64(n) > math.MaxUint32 {
		panic("index.Summarize: 2^32 or more values")
	}
	s := &summarizer{
		o:         o,
		n:         n,
		hist:      new([1 << 16]uint32),
		track:     new([1 << 16]uint8),
		stage:     new([chunk]uint32),
		keepLimit: n/4 + 2*chunk,
		width:     n, height: 1, rows: 1, cols: 1,
	}
	if o.GridRows > 0 {
		s.width, s.height, s.rows, s.cols = o.Width, o.Height, o.GridRows, o.GridCols
		if s.width*s.height != n || s.cols <= 0 {
			panic("index.SummarizeAll: grid does not match the values")
		}
	}
	s.colBounds = columnBounds(s.cols, s.width)
	s.zoneSum = make([]float64, s.rows*s.cols)
	s.zoneValid = make([]int64, s.rows*s.cols)
	_, s.rowEnd = BlockBounds(0, s.rows, s.height)
	if n == 0 {
		return s
	}

	hLo, hHi := o.HistMin, o.HistMax
	hScale := float64(HistogramBins) / (hHi - hLo)
	binOf := func(f float64) int {
		if f >= hLo && f < hHi {
			return 1 + min(int((f-hLo)*hScale), HistogramBins-1)
		}
		return edgeBin(f, hLo, hHi)
	}
	for e := range s.histEdges {
		s.histEdges[e] = firstKey(func(f float64) bool { return binOf(f) >= e+1 })
	}
	for j, t := range o.Health {
		s.classEdges[j] = firstKey(func(f float64) bool { return f >= t })
	}
	s.vegEdge = firstKey(func(f float64) bool { return f > o.Threshold })
	for _, k := range s.edges() {
		if k <= maxFiniteKey && k&0xffff != 0 {
			s.track[rawBin(uint32(k>>16))] = 1
		}
	}
	return s
}

// edges returns every edge key.
func (s *summarizer) edges() []uint64 {
	return append(append(s.histEdges[:len(s.histEdges):len(s.histEdges)], s.classEdges[:]...), s.vegEdge)
}

// speculate marks for keeping the coarse bins that the sample's values say
// the ranks finish needs will likely fall in: below the sample's minimum,
// above its maximum, and around each percentile four standard errors of
// the sample's rank either way (for independent samples, one percentile in
// about 15,000 falls outside). It must run before pass one.
func (s *summarizer) speculate(sample []float32) {
	hist := make([]uint32, 1<<16)
	m := 0
	for _, v := range sample {
		bits := math.Float32bits(v)
		if bits&0x7f800000 != 0x7f800000 {
			hist[sortKey(bits)>>16]++
			m++
		}
	}
	if m == 0 {
		return // no rank to look for; kept, if it must hold edge bins, grows
	}
	// before[b] is the number of sample values in bins below b.
	before := make([]int, len(hist)+1)
	for b, c := range hist {
		before[b+1] = before[b] + int(c)
	}
	binAt := func(r int) int {
		return sort.Search(len(hist), func(b int) bool { return before[b+1] > r })
	}
	mark := func(lo, hi int) {
		for b := lo; b <= hi; b++ {
			s.track[rawBin(uint32(b))] = 1
		}
	}
	// The minimum is at most the sample's, the maximum at least.
	mark(minFiniteKey>>16, binAt(0))
	mark(binAt(m-1), maxFiniteKey>>16)
	for _, p := range percentiles {
		q := p / 100
		c := q * float64(m-1)
		d := 4*math.Sqrt(float64(m)*q*(1-q)) + 2
		lo, hi := max(0, int(math.Floor(c-d))), min(m-1, int(math.Ceil(c+d)))
		mark(binAt(lo), binAt(hi))
	}
	// Room for as many kept values as the sample has in tracked bins,
	// and some: growing kept as it fills costs more than pass one's keeping.
	inTracked := 0
	for _, v := range sample {
		inTracked += int(s.track[math.Float32bits(v)>>16])
	}
	want := int(float64(inTracked) / float64(len(sample)) * float64(s.n))
	if want += want/8 + 2*chunk; want > s.keepLimit {
		s.overflow = true
		clear(s.track[:])
		return
	}
	s.kept = make([]uint32, 0, want)
}

// percentiles are the ones Stats reports, in its field order.
var percentiles = [...]float64{2, 5, 25, 50, 75, 95, 98}

// add is pass one over the next values, cut into runs that lie in one zone
// and one chunk-aligned stretch of chunk values: the runs, and so the
// variance's rounding, are the same however the caller cuts vals.
func (s *summarizer) add(vals []float32) {
	for len(vals) > 0 {
		// Skip the columns and rows of the zones that have none (more
		// zones than pixels): x < width and y < height while values are
		// left.
		for s.x == s.colBounds[s.c+1] {
			s.c++
		}
		for s.y == s.rowEnd {
			s.zr++
			_, s.rowEnd = BlockBounds(s.zr, s.rows, s.height)
		}
		k := min(len(vals), s.colBounds[s.c+1]-s.x, chunk-s.at%chunk)
		s.addRun(vals[:k], s.zr*s.cols+s.c)
		vals = vals[k:]
		s.at += k
		if s.x += k; s.x == s.width {
			s.x, s.c = 0, 0
			s.y++
		}
	}
}

// addRun is pass one over at most chunk values of zone z. It counts each
// value's bits in s.hist by their top half, keeps the bits of the values in
// tracked bins (always stored in stage, kept if w moves on: no branch),
// adds the values up and gathers the zone's sum and the variance.
//
// The variance is gathered run by run: the sums of d and d² with d the
// value's difference from the mean so far (k), which give the run's mean
// and squared deviations without the cancellation a plain sum of squares
// suffers, and these are merged into the running figures by Chan, Golub &
// LeVeque's update. Its rounding differs from the two-pass variance's, and
// is as small while the mean so far is near the run's values. A run of
// near-equal values far from the mean so far loses more in s2 - s1²/n: an
// adversarial test of old against new found Std off by 3.5e-10 of itself
// (the two-pass one by 1e-13), inside the 1e-9·(Std+|Mean|) the tests
// allow; on real images and on 45-100 MP random data the differences were
// at most 1.1e-11 of Std+|Mean|, the new Std at times the closer one.
//
// The loop assumes that every value is valid, which saves masking each
// one; a NaN or ±Inf makes s2 NaN or +Inf (a finite float32 squared, 4096
// times, stays far below MaxFloat64), and then addRun does the sums again
// with maskedSums, and sums the runs after it masked from the start
// (maskedRun) until one holds no more no data. The values' bins need no
// second look: no data falls in the bins of the non-finite keys, which
// finish ignores, and is never kept.
func (s *summarizer) addRun(vals []float32, z int) {
	k := s.mean
	if s.valid == 0 {
		k = 0
		for _, v := range vals {
			if finiteMask(math.Float32bits(v)) != 0 {
				k = float64(v)
				break
			}
		}
	}
	bits := floatBits(vals)
	var (
		sum, zs, s1, s2 float64
		n, w            int
	)
	if s.masked {
		// No data comes in stretches (an image's nodata border, VARI's
		// sky and water): after a run with some, the next is summed with
		// masking at once rather than twice. The sums are the same either
		// way, bit for bit: maskedSums adds in the same order and adds +0
		// for no data.
		sum, zs, s1, s2, n, w = s.maskedRun(bits, k, z)
		s.masked = n < len(vals)
	} else {
		sum, zs, s1, s2, w = s.plainRun(vals, bits, k, z)
		n = len(vals)
		if math.IsNaN(s2) || math.IsInf(s2, 0) {
			sum, zs, s1, s2, n = maskedSums(bits, k, s.sum, s.zoneSum[z])
			s.masked = true
		}
	}
	s.sum, s.zoneSum[z] = sum, zs
	s.zoneValid[z] += int64(n)
	if n > 0 {
		nf, total := float64(n), s.valid+int64(n)
		runMean := k + s1/nf
		runM2 := max(0, s2-s1*s1/nf)
		delta := runMean - s.mean
		s.mean += delta * nf / float64(total)
		s.m2 += runM2 + delta*delta*float64(s.valid)*nf/float64(total)
		s.valid = total
	}
	if w > 0 {
		if len(s.kept)+w > s.keepLimit {
			// Too many to be worth keeping: finish makes its second
			// pass instead.
			s.overflow, s.kept = true, nil
			clear(s.track[:])
			return
		}
		s.kept = append(s.kept, s.stage[:w]...)
	}
}

// plainRun is addRun's loop over a run it takes to be all valid: it
// counts and stages every value and returns the running sums, s1 and s2
// (addRun's d and d² sums about k) and how many values it staged.
func (s *summarizer) plainRun(vals []float32, bits []uint32, k float64, z int) (sum, zs, s1, s2 float64, w int) {
	hist, track, stage := s.hist[:], s.track[:], s.stage[:]
	sum, zs = s.sum, s.zoneSum[z]
	// Two values a turn: the loop's own instructions are a tenth of the
	// work otherwise.
	i := 0
	for ; i+1 < len(bits); i += 2 {
		b0, b1 := bits[i], bits[i+1]
		r0, r1 := b0>>16, b1>>16
		hist[r0]++
		stage[w&(chunk-1)] = b0
		w += int(track[r0])
		hist[r1]++
		stage[w&(chunk-1)] = b1
		w += int(track[r1])
		f0, f1 := float64(vals[i]), float64(vals[i+1])
		sum += f0
		sum += f1
		zs += f0
		zs += f1
		d0, d1 := f0-k, f1-k
		s1 += d0 + d1
		s2 += d0*d0 + d1*d1
	}
	for ; i < len(vals); i++ {
		b := bits[i]
		r := b >> 16
		hist[r]++
		stage[w&(chunk-1)] = b
		w += int(track[r])
		f := float64(vals[i])
		sum += f
		zs += f
		d := f - k
		s1 += d
		s2 += d * d
	}
	return sum, zs, s1, s2, w
}

// maskedRun is plainRun for a run that may hold no data: it counts and
// stages the values, then sums them with maskedSums, which also counts
// the valid ones. The run is in the first-level cache, so the second
// loop over it costs little. No data needs no mask in the counting: its
// keys' bins are never tracked, and finish ignores them.
func (s *summarizer) maskedRun(bits []uint32, k float64, z int) (sum, zs, s1, s2 float64, n, w int) {
	hist, track, stage := s.hist[:], s.track[:], s.stage[:]
	for _, b := range bits {
		r := b >> 16
		hist[r]++
		stage[w&(chunk-1)] = b
		w += int(track[r])
	}
	sum, zs, s1, s2, n = maskedSums(bits, k, s.sum, s.zoneSum[z])
	return sum, zs, s1, s2, n, w
}

// validMask is all ones for the bits of a finite float32, else 0, as a
// uint64 for masking both a float32's bits and a float64's: its exponent
// field less all ones is negative unless it is all ones.
func validMask(b uint32) uint64 { return uint64(int64(int32(b&0x7f800000-0x7f800000)) >> 63) }

// maskedSums is addRun's sums over values some of which may be no data:
// from sum and zs on, the valid values' sums, their d's and d²'s sums and
// their count. No data adds +0, which leaves a sum unchanged (a sum that
// starts at +0 is never -0), counts 0 and has d = 0-0. Without a branch:
// images that mix valid pixels and no data at random (VARI's out-of-range
// pixels) would pay a misprediction per pixel.
func maskedSums(bits []uint32, k, sum, zs float64) (_, _, s1, s2 float64, n int) {
	kBits := math.Float64bits(k)
	// Two values a turn, as addRun's loop.
	i := 0
	for ; i+1 < len(bits); i += 2 {
		m0, m1 := validMask(bits[i]), validMask(bits[i+1])
		f0 := float64(math.Float32frombits(bits[i] & uint32(m0)))
		f1 := float64(math.Float32frombits(bits[i+1] & uint32(m1)))
		sum += f0
		sum += f1
		zs += f0
		zs += f1
		n += int(m0&1 + m1&1)
		d0 := f0 - math.Float64frombits(kBits&m0)
		d1 := f1 - math.Float64frombits(kBits&m1)
		s1 += d0 + d1
		s2 += d0*d0 + d1*d1
	}
	for ; i < len(bits); i++ {
		m := validMask(bits[i])
		f := float64(math.Float32frombits(bits[i] & uint32(m)))
		sum += f
		zs += f
		n += int(m & 1)
		d := f - math.Float64frombits(kBits&m)
		s1 += d
		s2 += d * d
	}
	return sum, zs, s1, s2, n
}

// floatBits returns vals' bits, in place: loading a uint32 is one
// instruction, math.Float32bits of a loaded float32 two.
func floatBits(vals []float32) []uint32 {
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(vals))), len(vals))
}

// rawBin is the bin of bits>>16 (hist's) in which the sort keys' top halves
// (coarse's) count a value: the keys order like the values, the bits do
// not, but a key's top half depends only on the bits' top half.
func rawBin(keyBin uint32) uint32 {
	if keyBin&0x8000 != 0 {
		return keyBin &^ 0x8000 // positive: the sign bit was set
	}
	return ^keyBin & 0xffff // negative: all bits were flipped
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

// binSlot is the work for one coarse bin after pass one: a fine histogram
// of the keys' low halves (for a bin that holds a wanted rank) and counts
// of values below split points (low halves, for a bin that an edge falls
// in).
type binSlot struct {
	fine   []uint32
	splits []uint32
	below  []uint32
}

func (s *summarizer) finish(vals []float32) Summary {
	o := s.o
	coarse := make([]uint32, 1<<16) // by sort key >> 16
	for b := minFiniteKey >> 16; b <= maxFiniteKey>>16; b++ {
		coarse[b] = s.hist[rawBin(uint32(b))]
	}
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

	var sum Summary
	if o.GridRows > 0 {
		sum.Zones = make([]Zone, s.rows*s.cols)
		for i := range sum.Zones {
			z := Zone{Row: i / s.cols, Col: i % s.cols, Valid: s.zoneValid[i], Class: -1}
			if z.Valid > 0 {
				z.Mean = s.zoneSum[i] / float64(z.Valid)
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

	// The ranks: min, max and the two each percentile interpolates
	// between.
	ranks := []uint64{0, n - 1}
	for _, p := range percentiles {
		r := uint64(math.Floor(float64(n-1) * p / 100))
		ranks = append(ranks, r, min(r+1, n-1))
	}

	slot := make([]int8, len(coarse))
	for i := range slot {
		slot[i] = -1
	}
	var slots []binSlot
	var slotBins []uint64
	slotOf := func(b uint64) *binSlot {
		if slot[b] < 0 {
			slot[b] = int8(len(slots))
			slots = append(slots, binSlot{})
			slotBins = append(slotBins, b)
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
	for _, k := range s.edges() {
		b, low := k>>16, uint32(k&0xffff)
		if k > maxFiniteKey || low == 0 || coarse[b] == 0 {
			continue // settled by the coarse counts
		}
		sl := slotOf(b)
		if !slices.Contains(sl.splits, low) {
			sl.splits = append(sl.splits, low)
			sl.below = append(sl.below, 0)
		}
	}

	// The slots' bins that pass one kept the keys of get them from there,
	// the others from a second pass over all values.
	// Most kept values lie in bins that turned out to hold no rank:
	// dropping those first, without a branch, saves a misprediction each.
	wanted := new([1 << 16]uint8) // by bits >> 16
	for _, b := range slotBins {
		wanted[rawBin(uint32(b))] = 1
	}
	hits, w := s.kept, 0
	for _, b := range s.kept {
		hits[w] = b
		w += int(wanted[b>>16])
	}
	for _, b := range hits[:w] {
		key := sortKey(b)
		slots[slot[key>>16]].hit(key & 0xffff)
	}
	var missed []uint64
	for _, b := range slotBins {
		if s.track[rawBin(uint32(b))] == 0 {
			missed = append(missed, b)
		}
	}
	if s.secondPass = len(missed) > 0; s.secondPass {
		only := new([1 << 16]int8)
		for i := range only {
			only[i] = -1
		}
		for _, b := range missed {
			only[b] = slot[b]
		}
		for _, v := range vals {
			key := sortKey(math.Float32bits(v))
			if i := only[key>>16]; i >= 0 {
				slots[i].hit(key & 0xffff)
			}
		}
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
	for e, k := range s.histEdges {
		b := below(k)
		hist[e] = int64(b - prev)
		prev = b
	}
	hist[HistogramBins+1] = int64(n - prev)
	copy(st.Histogram.Counts, hist[1:HistogramBins+1])
	st.Histogram.Below, st.Histogram.Above = hist[0], hist[HistogramBins+1]
	st.VegetationFraction = float64(n-below(s.vegEdge)) / float64(n)

	t := o.Health
	if t[0] <= t[1] && t[1] <= t[2] {
		// Nested: class i is at least cut point i-1 but not cut point i.
		atLeast := [5]uint64{n, n - below(s.classEdges[0]), n - below(s.classEdges[1]), n - below(s.classEdges[2]), 0}
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
	st.Mean = s.sum / float64(n)
	st.Std = math.Sqrt(s.m2 / float64(n))
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
	for i, p := range percentiles {
		h := float64(n-1) * p / 100
		frac := h - math.Floor(h)
		a, b := at[2+2*i], at[3+2*i]
		*ps[i] = a + frac*(b-a)
	}
	sum.Stats = st
	return sum
}

// hit is the work for a value whose key's low half is low, in a bin with a
// slot.
func (sl *binSlot) hit(low uint32) {
	if sl.fine != nil {
		sl.fine[low&0xffff]++
	}
	for j, p := range sl.splits {
		sl.below[j] += uint32(b2i(low < p))
	}
}
