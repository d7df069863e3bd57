package index

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// summaryCase is one input for the bit-identity checks.
type summaryCase struct {
	name               string
	vals               []float32
	width, height      int
	threshold, lo, hi  float64
	health             Thresholds
	gridRows, gridCols int
}

func summaryCases() []summaryCase {
	rng := rand.New(rand.NewPCG(11, 12))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	negZero := float32(math.Copysign(0, -1))
	gen := func(n int, f func(i int) float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = f(i)
		}
		return v
	}
	// Values right at and next to every edge the histogram, the
	// vegetation threshold and the health classes have, in float32.
	var edges []float32
	for i := 0; i <= HistogramBins; i++ {
		e := float32(-1 + 2*float64(i)/HistogramBins)
		edges = append(edges, e, math.Nextafter32(e, -2), math.Nextafter32(e, 2))
	}
	for _, t := range []float64{0.2, 0.4, 0.6, 0.3} {
		e := float32(t)
		edges = append(edges, e, math.Nextafter32(e, -2), math.Nextafter32(e, 2))
	}
	std := func(name string, vals []float32, w, h int) summaryCase {
		return summaryCase{name: name, vals: vals, width: w, height: h, threshold: 0.3, lo: -1, hi: 1,
			health: Thresholds{0.2, 0.4, 0.6}, gridRows: 8, gridCols: 8}
	}
	cases := []summaryCase{
		std("uniform", gen(300*200, func(int) float32 { return float32(rng.Float64()*2.4 - 1.2) }), 300, 200),
		std("smooth with gaps", gen(257*131, func(i int) float32 {
			if i%97 == 0 {
				return nan
			}
			return float32(0.4 + 0.5*math.Sin(float64(i%257)/19)*math.Cos(float64(i/257)/7))
		}), 257, 131),
		// Stretches of no data between stretches without, a run long or
		// shorter: pass one switches between its plain and masked runs.
		std("no data in stretches", gen(400*300, func(i int) float32 {
			switch {
			case (i/3000)%3 == 0, i%10007 == 5:
				return []float32{nan, inf, -inf}[i%3]
			}
			return float32(rng.Float64()*1.6 - 0.6)
		}), 400, 300),
		std("quantised like an 8-bit photo", gen(640*480, func(int) float32 {
			a, b := rng.IntN(256), rng.IntN(256)
			return float32(normDiff(float64(a), float64(b)))
		}), 640, 480),
		std("edges", gen(len(edges)*50, func(i int) float32 { return edges[rng.IntN(len(edges))] }), len(edges), 50),
		std("special values", gen(100*100, func(int) float32 {
			return []float32{nan, inf, -inf, 0, negZero, 1e-45, -1e-45, 3e38, -3e38, 1, -1, 5, -5}[rng.IntN(13)]
		}), 100, 100),
		std("all invalid", gen(64*64, func(i int) float32 { return []float32{nan, inf, -inf}[i%3] }), 64, 64),
		std("empty", nil, 0, 0),
		std("one value", []float32{0.25}, 1, 1),
		std("constant", gen(1000, func(int) float32 { return 0.7 }), 1000, 1),
		std("zeros, negative first", gen(999, func(i int) float32 { return []float32{negZero, 0, 0.5}[i%3] }), 999, 1),
		std("zeros, positive first", gen(999, func(i int) float32 { return []float32{0, negZero, -0.5}[i%3] }), 999, 1),
		std("zero minimum, positive first", gen(999, func(i int) float32 { return []float32{0.5, 0, negZero}[i%3] }), 999, 1),
		std("zero maximum, negative first", gen(999, func(i int) float32 { return []float32{-0.5, negZero, 0}[i%3] }), 999, 1),
		std("only zeros", gen(10, func(i int) float32 { return []float32{0, negZero}[i%2] }), 10, 1),
		std("more cells than pixels", gen(6, func(i int) float32 { return float32(i) / 6 }), 3, 2),
		std("outliers", gen(50*50, func(int) float32 { return float32(rng.NormFloat64() * 40) }), 50, 50),
	}
	// Larger than the sample, so SummarizeAll speculates; these three
	// make it wrong (see TestSummarizeAllFallbacks).
	inSample := func(n int) []bool {
		in := make([]bool, n)
		for j := range sampleLen(n) {
			in[samplePos(j, n)] = true
		}
		return in
	}
	const bigW, bigH = 400, 300
	in, in6 := inSample(bigW*bigH), inSample(1000*600)
	cases = append(cases,
		std("sample misled", gen(1000*600, func(i int) float32 {
			if in6[i] {
				return float32(rng.Float64()*2 - 1)
			}
			return float32(0.6 + rng.Float64()/10)
		}), 1000, 600),
		std("few distinct values, many pixels", gen(bigW*bigH, func(int) float32 {
			return float32(rng.IntN(5)-2) / 4
		}), bigW, bigH),
		std("sample spread, the rest at the median", gen(bigW*bigH, func(i int) float32 {
			if in[i] {
				return float32(rng.Float64()*2 - 1)
			}
			return 1e-3
		}), bigW, bigH),
	)
	odd := std("unsorted thresholds, odd range", gen(120*90, func(int) float32 { return float32(rng.Float64()*3 - 0.5) }), 120, 90)
	odd.health, odd.lo, odd.hi, odd.threshold = Thresholds{0.6, 0.2, 0.4}, 0, 2.5, math.NaN()
	empty := std("empty range", gen(30*30, func(int) float32 { return float32(rng.Float64()) }), 30, 30)
	empty.lo, empty.hi, empty.gridRows, empty.gridCols = 0.5, 0.5, 3, 5
	flipped := std("reversed range", gen(30*30, func(int) float32 { return float32(rng.Float64()) }), 30, 30)
	flipped.lo, flipped.hi = 1, -1
	return append(cases, odd, empty, flipped)
}

// show prints every float with enough digits to tell bit patterns apart
// (and -0 from 0).
func show(v any) string { return fmt.Sprintf("%#v", v) }

// stdTolerance is how far SummarizeAll's Std may be from the two-pass
// reference's. It is the one figure that is not bit-identical: the fused
// pass sums squared deviations from the running mean run by run and
// merges the runs (Chan et al.), the reference from the final mean, so the
// two round differently. Either variance's relative rounding error is
// bounded by about n·2^-53 (≈ 6.7e-11 for the largest case here, n = 600,000)
// in the worst case and is far smaller in practice; and where the values
// hardly vary (constant data) the reference's Std is itself only the
// rounding error of its mean, about n·2^-53·|Mean|. 1e-9 of Std+|Mean| is
// well above both and far below anything a user would see (the API
// rounds to 6 digits).
func stdTolerance(st Stats) float64 { return 1e-9 * (st.Std + math.Abs(st.Mean)) }

// sameStats fails t where got differs from want: Std by more than
// stdTolerance (then got's Std is left as is), any other figure by a bit.
func sameStats(t *testing.T, what string, got, want Stats) {
	t.Helper()
	if d := math.Abs(got.Std - want.Std); !(d <= stdTolerance(want)) {
		t.Errorf("%s: Std = %v, want %v within %g (off by %g)", what, got.Std, want.Std, stdTolerance(want), d)
	} else {
		got.Std = want.Std
	}
	if g, w := show(got), show(want); g != w {
		t.Errorf("%s\n got %s\nwant %s", what, g, w)
	}
}

// TestSummarizeAllBitIdentical: the fused passes give exactly what the
// plain loops they replaced give (ref_test.go): every statistic, count,
// zone mean and class, to the bit, except Std (see stdTolerance).
func TestSummarizeAllBitIdentical(t *testing.T) {
	for _, c := range summaryCases() {
		t.Run(c.name, func(t *testing.T) {
			got := SummarizeAll(c.vals, SummaryOptions{
				Threshold: c.threshold, HistMin: c.lo, HistMax: c.hi, Health: c.health,
				Width: c.width, Height: c.height, GridRows: c.gridRows, GridCols: c.gridCols,
			})
			want := Summary{
				Stats:   summarizeRef(c.vals, c.threshold, c.lo, c.hi),
				Classes: countClassesRef(c.vals, c.health),
			}
			means, counts := blockMeansRef(c.vals, c.width, c.height, c.gridRows, c.gridCols)
			for i := range means {
				z := Zone{Row: i / c.gridCols, Col: i % c.gridCols, Valid: counts[i], Mean: means[i], Class: -1}
				if z.Valid > 0 {
					z.Class = c.health.Class(z.Mean)
				}
				want.Zones = append(want.Zones, z)
			}
			sameStats(t, "SummarizeAll", got.Stats, want.Stats)
			if g, w := show(got.Classes)+show(got.Zones), show(want.Classes)+show(want.Zones); g != w {
				t.Errorf("SummarizeAll\n got %s\nwant %s", g, w)
			}
			sameStats(t, "Summarize", Summarize(c.vals, c.threshold, c.lo, c.hi), want.Stats)
			if g, w := show(CountClasses(c.vals, c.health)), show(want.Classes); g != w {
				t.Errorf("CountClasses = %s, want %s", g, w)
			}
			if c.width*c.height > 0 {
				m, k := BlockMeans(c.vals, c.width, c.height, c.gridRows, c.gridCols)
				if g, w := show(m)+show(k), show(means)+show(counts); g != w {
					t.Errorf("BlockMeans\n got %s\nwant %s", g, w)
				}
			}
		})
	}
}

// TestSummarizeAllFallbacks: the summaryCases meant to mislead the
// speculation do (else they would not test the fallbacks), with results
// TestSummarizeAllBitIdentical checks.
func TestSummarizeAllFallbacks(t *testing.T) {
	want := map[string]struct{ overflow, secondPass bool }{
		// The sample, a ninth of the values, spreads over -1..1, the
		// rest lie in 0.6..0.7: pass one keeps the wrong bins for the
		// percentiles, and finish goes over all values again.
		"sample misled": {false, true},
		// Every bin holds a rank or an edge: the sample says that keeping
		// would keep everything.
		"few distinct values, many pixels": {true, true},
		// The sample's bins are as usual, but nearly all values turn out
		// to lie in the median's.
		"sample spread, the rest at the median": {true, true},
		// Speculation right.
		"quantised like an 8-bit photo": {false, false},
	}
	for _, c := range summaryCases() {
		w, ok := want[c.name]
		if !ok {
			continue
		}
		s := newSummarizer(len(c.vals), SummaryOptions{Threshold: c.threshold, HistMin: c.lo, HistMax: c.hi, Health: c.health,
			Width: c.width, Height: c.height, GridRows: c.gridRows, GridCols: c.gridCols})
		s.speculate(sampleOf(c.vals))
		s.add(c.vals)
		s.finish(c.vals)
		if s.overflow != w.overflow || s.secondPass != w.secondPass {
			t.Errorf("%s: overflow %v, second pass %v; want %v, %v", c.name, s.overflow, s.secondPass, w.overflow, w.secondPass)
		}
	}
}

// TestRawBinInvertsSortKey: hist's bin of a value (its bits' top half) is
// rawBin of its sort key's top half, for every bin.
func TestRawBinInvertsSortKey(t *testing.T) {
	for r := uint32(0); r < 1<<16; r++ {
		for _, low := range []uint32{0, 0x1234, 0xffff} {
			if got := rawBin(sortKey(r<<16|low) >> 16); got != r {
				t.Fatalf("rawBin(sortKey(%#x)>>16) = %#x, want %#x", r<<16|low, got, r)
			}
		}
	}
}

// TestComputeSummaryMatchesComputeThenSummarize: computing chunk by chunk
// with the first statistics pass in between writes the same values and the
// same summary as Compute followed by the separate statistics.
func TestComputeSummaryMatchesComputeThenSummarize(t *testing.T) {
	const w, h = 701, 333 // not a multiple of the chunk
	rng := rand.New(rand.NewPCG(3, 4))
	b := Bands{}
	for _, s := range []*[]float32{&b.Blue, &b.Green, &b.Red, &b.RedEdge, &b.NIR} {
		*s = make([]float32, w*h)
		for i := range *s {
			(*s)[i] = float32(rng.IntN(1024))
			if rng.IntN(500) == 0 {
				(*s)[i] = float32(math.NaN())
			}
		}
	}
	p := Params{SAVIL: 0.5, ReflectanceScale: 1.0 / 1023}
	for _, d := range Defs() {
		t.Run(d.Name, func(t *testing.T) {
			o := SummaryOptions{Threshold: d.Threshold, HistMin: d.Min, HistMax: d.Max, Health: d.Health,
				Width: w, Height: h, GridRows: 5, GridCols: 7}
			want := make([]float32, w*h)
			if err := d.Compute(want, &b, p); err != nil {
				t.Fatal(err)
			}
			got := make([]float32, w*h)
			sum, err := d.ComputeSummary(got, &b, p, o)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("pixel %d = %v, Compute gives %v", i, got[i], want[i])
				}
			}
			if g, w := show(sum), show(SummarizeAll(want, o)); g != w {
				t.Errorf("ComputeSummary\n got %s\nwant %s", g, w)
			}
			sameStats(t, "stats", sum.Stats, summarizeRef(want, d.Threshold, d.Min, d.Max))
		})
	}
	d, _ := Lookup("NDVI")
	if _, err := d.ComputeSummary(make([]float32, 3), &Bands{Red: make([]float32, 3)}, p, SummaryOptions{}); err == nil {
		t.Error("ComputeSummary without NIR: no error")
	}
}

// TestVARIKernelBitIdentical: the branch-free VARI kernel writes exactly
// the bits of the scalar formula (Def.Pixel's), including which NaN: the
// formula's own for a zero denominator or an out-of-range quotient, the
// input's for a NaN input.
func TestVARIKernelBitIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const n = 200000
	b := Bands{Blue: make([]float32, n), Green: make([]float32, n), Red: make([]float32, n)}
	nan := float32(math.NaN())
	pick := []float32{0, 1, 2, 255, 0.5, nan, float32(math.Inf(1)), 1e-40}
	for i := range n {
		for _, s := range [][]float32{b.Blue, b.Green, b.Red} {
			switch rng.IntN(4) {
			case 0:
				s[i] = pick[rng.IntN(len(pick))]
			case 1:
				s[i] = float32(rng.Float64())
			default:
				s[i] = float32(rng.IntN(256))
			}
		}
	}
	d, _ := Lookup("VARI")
	dst := make([]float32, n)
	if err := d.Compute(dst, &b, Params{}); err != nil {
		t.Fatal(err)
	}
	for i := range dst {
		want := float32(vari(float64(b.Green[i]), float64(b.Red[i]), float64(b.Blue[i])))
		if math.Float32bits(dst[i]) != math.Float32bits(want) {
			t.Fatalf("pixel %d (G %v R %v B %v): kernel %#x, vari %#x", i, b.Green[i], b.Red[i], b.Blue[i], math.Float32bits(dst[i]), math.Float32bits(want))
		}
	}
}
