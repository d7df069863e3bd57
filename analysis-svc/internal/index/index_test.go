package index

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func mustDef(t *testing.T, name string) Def {
	t.Helper()
	d, ok := Lookup(name)
	if !ok {
		t.Fatalf("no index %q", name)
	}
	return d
}

// compute runs one index over the given bands and returns the values.
func compute(t *testing.T, name string, b Bands, p Params) []float32 {
	t.Helper()
	n := 0
	for _, r := range b.Roles() {
		n = len(b.Slice(r))
	}
	dst := make([]float32, n)
	if err := mustDef(t, name).Compute(dst, &b, p); err != nil {
		t.Fatal(err)
	}
	return dst
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestFormulasHandComputed(t *testing.T) {
	def := Params{SAVIL: DefaultSAVIL}
	cases := []struct {
		name  string
		index string
		px    Pixel
		p     Params
		want  float64
	}{
		// (0.8-0.2)/(0.8+0.2) = 0.6/1.0 = 0.6
		{"NDVI basic", "NDVI", Pixel{NIR: 0.8, Red: 0.2}, def, 0.6},
		// (1+0.5)(0.8-0.2)/(0.8+0.2+0.5) = 1.5*0.6/1.5 = (0.6/1.5)*1.5 = 0.6
		{"SAVI L=0.5", "SAVI", Pixel{NIR: 0.8, Red: 0.2}, def, 0.6},
		// (0.5-0.1)/(0.5+0.1+0.16) = 0.4/0.76 = 0.526315...
		{"OSAVI", "OSAVI", Pixel{NIR: 0.5, Red: 0.1}, def, 0.4 / 0.76},
		// a = 2*0.5+1 = 2; (2 - sqrt(4 - 8*0.4))/2 = (2 - sqrt(0.8))/2 = 0.552786...
		{"MSAVI2", "MSAVI2", Pixel{NIR: 0.5, Red: 0.1}, def, (2 - math.Sqrt(0.8)) / 2},
		// (0.5-0.1)/(0.5+0.1) = 0.4/0.6 = 2/3
		{"GNDVI", "GNDVI", Pixel{NIR: 0.5, Green: 0.1}, def, 2.0 / 3},
		// (0.5-0.3)/(0.5+0.3) = 0.2/0.8 = 0.25
		{"NDRE", "NDRE", Pixel{NIR: 0.5, RedEdge: 0.3}, def, 0.25},
		// 2.5*(0.5-0.1)/(0.5 + 6*0.1 - 7.5*0.05 + 1) = 1/1.725 = 0.57971...
		{"EVI", "EVI", Pixel{NIR: 0.5, Red: 0.1, Blue: 0.05}, def, 1 / 1.725},
		// 2.5*(0.5-0.1)/(0.5 + 2.4*0.1 + 1) = 1/1.74 = 0.574712...
		{"EVI2", "EVI2", Pixel{NIR: 0.5, Red: 0.1}, def, 1 / 1.74},
		// (0.3-0.2)/(0.3+0.2-0.1) = 0.1/0.4 = 0.25
		{"VARI", "VARI", Pixel{Green: 0.3, Red: 0.2, Blue: 0.1}, def, 0.25},
		// r,g,b = 0.2/0.6, 0.3/0.6, 0.1/0.6; 2g-r-b = (0.6-0.2-0.1)/0.6 = 0.5
		{"ExG", "ExG", Pixel{Green: 0.3, Red: 0.2, Blue: 0.1}, def, 0.5},
		// (0.6-0.2-0.1)/(0.6+0.2+0.1) = 0.3/0.9 = 1/3
		{"GLI", "GLI", Pixel{Green: 0.3, Red: 0.2, Blue: 0.1}, def, 1.0 / 3},
		// (0.3-0.2)/(0.3+0.2) = 0.2
		{"NGRDI", "NGRDI", Pixel{Green: 0.3, Red: 0.2}, def, 0.2},
		// 5000*0.0001 = 0.5, 1000*0.0001 = 0.1:
		// 1.5*(0.5-0.1)/(0.5+0.1+0.5) = 0.6/1.1 = 0.545454...
		{"SAVI scaled DN", "SAVI", Pixel{NIR: 5000, Red: 1000}, Params{SAVIL: 0.5, ReflectanceScale: 0.0001}, 0.6 / 1.1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := mustDef(t, c.index)
			b := Bands{}
			for _, r := range d.Needs {
				var v float64
				switch r {
				case Blue:
					v = c.px.Blue
				case Green:
					v = c.px.Green
				case Red:
					v = c.px.Red
				case RedEdge:
					v = c.px.RedEdge
				case NIR:
					v = c.px.NIR
				}
				s := []float32{float32(v)}
				switch r {
				case Blue:
					b.Blue = s
				case Green:
					b.Green = s
				case Red:
					b.Red = s
				case RedEdge:
					b.RedEdge = s
				case NIR:
					b.NIR = s
				}
			}
			got := compute(t, c.index, b, c.p)[0]
			// float32 inputs and output: about 7 significant digits.
			if !near(float64(got), c.want, 1e-6) {
				t.Errorf("Compute = %.7f, want %.7f", got, c.want)
			}
			s := c.p.scale()
			px := Pixel{Blue: c.px.Blue * s, Green: c.px.Green * s, Red: c.px.Red * s, RedEdge: c.px.RedEdge * s, NIR: c.px.NIR * s}
			if !d.Additive {
				px = c.px // ratio indices ignore the scale
			}
			if got := d.Pixel(px, c.p); !near(got, c.want, 1e-12) {
				t.Errorf("Pixel = %.12f, want %.12f", got, c.want)
			}
		})
	}
}

func TestSAVIRounded(t *testing.T) {
	// The brief's figure: NIR 5000, Red 1000, scale 0.0001, L=0.5 -> 0.5455.
	got := compute(t, "SAVI", Bands{NIR: []float32{5000}, Red: []float32{1000}}, Params{SAVIL: 0.5, ReflectanceScale: 0.0001})[0]
	if math.Round(float64(got)*1e4)/1e4 != 0.5455 {
		t.Fatalf("SAVI = %v, want 0.5455 to 4 places", got)
	}
}

func TestSAVIWithZeroLEqualsNDVI(t *testing.T) {
	// (1+0)(N-R)/(N+R+0) is NDVI by definition.
	nir := []float32{0.8, 0.5, 0.1, 1, 3000, 0}
	red := []float32{0.2, 0.5, 0.4, 0, 1000, 0}
	ndvi := compute(t, "NDVI", Bands{NIR: nir, Red: red}, Params{})
	savi := compute(t, "SAVI", Bands{NIR: nir, Red: red}, Params{SAVIL: 0})
	for i := range ndvi {
		if !(ndvi[i] == savi[i] || (math.IsNaN(float64(ndvi[i])) && math.IsNaN(float64(savi[i])))) {
			t.Errorf("pixel %d: SAVI(L=0) = %v, NDVI = %v", i, savi[i], ndvi[i])
		}
	}
}

func TestNDVISixteenBitNoWrap(t *testing.T) {
	// In uint16 arithmetic 1-2 wraps to 65535 and NDVI would be 65535/3.
	// Converted to float first: (1-2)/(1+2) = -1/3.
	var nir16, red16 uint16 = 1, 2
	got := compute(t, "NDVI", Bands{NIR: []float32{float32(nir16)}, Red: []float32{float32(red16)}}, Params{})[0]
	if !near(float64(got), -1.0/3, 1e-7) {
		t.Fatalf("NDVI = %v, want -1/3", got)
	}
}

func TestNDVIOneByThree(t *testing.T) {
	// 1x3 16-bit image, NIR = 1,1,1 and Red = 0,1,2:
	// (1-0)/(1+0) = 1, (1-1)/(1+1) = 0, (1-2)/(1+2) = -1/3.
	nir16 := []uint16{1, 1, 1}
	red16 := []uint16{0, 1, 2}
	nir, red := make([]float32, 3), make([]float32, 3)
	for i := range nir16 {
		nir[i], red[i] = float32(nir16[i]), float32(red16[i])
	}
	got := compute(t, "NDVI", Bands{NIR: nir, Red: red}, Params{})
	want := []float64{1, 0, -1.0 / 3}
	for i := range want {
		if !near(float64(got[i]), want[i], 1e-7) {
			t.Errorf("pixel %d: NDVI = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestZeroOverZeroExcludedFromEveryStatistic(t *testing.T) {
	// Pixels 0 and 3 are 0/0, pixel 4 has no data (NaN input).
	// Valid NDVI: (0.8-0.2)/1.0 = 0.6 and (0.5-0.5)/1.0 = 0.
	nir := []float32{0, 0.8, 0.5, 0, float32(math.NaN())}
	red := []float32{0, 0.2, 0.5, 0, 0.3}
	vals := compute(t, "NDVI", Bands{NIR: nir, Red: red}, Params{})
	for _, i := range []int{0, 3, 4} {
		if !math.IsNaN(float64(vals[i])) {
			t.Errorf("pixel %d = %v, want NaN", i, vals[i])
		}
	}
	st := Summarize(vals, 0.3, -1, 1)
	// Had the 0/0 pixels counted as 0, the mean would be 0.6/4 = 0.15 and
	// the minimum and median 0.
	if st.Valid != 2 || st.NoData != 3 {
		t.Errorf("valid/nodata = %d/%d, want 2/3", st.Valid, st.NoData)
	}
	// mean (0.6+0)/2 = 0.3; min 0; max 0.6; median between ranks 0 and 1:
	// 0 + 0.5*(0.6-0) = 0.3; P2 = 0 + 0.02*0.6 = 0.012.
	// std: deviations ±0.3 -> sqrt(0.09) = 0.3. Above 0.3: just 0.6 -> 1/2.
	checks := []struct {
		name      string
		got, want float64
	}{
		{"mean", st.Mean, 0.3}, {"std", st.Std, 0.3}, {"min", st.Min, 0}, {"max", st.Max, 0.6},
		{"p50", st.P50, 0.3}, {"p2", st.P2, 0.012}, {"vegetation", st.VegetationFraction, 0.5},
	}
	for _, c := range checks {
		if !near(c.got, c.want, 1e-7) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	var hist int64
	for _, c := range st.Histogram.Counts {
		hist += c
	}
	if hist+st.Histogram.Below+st.Histogram.Above != 2 {
		t.Errorf("histogram holds %d values, want 2", hist)
	}
}

func TestFiveBandPixelRolesMapped(t *testing.T) {
	// A MicaSense-like pixel in file order Blue, Green, Red, NIR, Red edge.
	// NIR is band 4, red edge band 5: taking bands by spectral position
	// would use red edge as NIR and give (6000-3000)/(6000+3000) = 1/3.
	// Mapped by role: (9000-3000)/(9000+3000) = 6000/12000 = 0.5, and
	// NDRE = (9000-6000)/(9000+6000) = 0.2.
	pixel := []float32{500, 2000, 3000, 9000, 6000}
	roles := []Role{Blue, Green, Red, NIR, RedEdge}
	var b Bands
	for i, r := range roles {
		s := pixel[i : i+1]
		switch r {
		case Blue:
			b.Blue = s
		case Green:
			b.Green = s
		case Red:
			b.Red = s
		case NIR:
			b.NIR = s
		case RedEdge:
			b.RedEdge = s
		}
	}
	if got := compute(t, "NDVI", b, Params{})[0]; !near(float64(got), 0.5, 1e-7) {
		t.Errorf("NDVI = %v, want 0.5", got)
	}
	if got := compute(t, "NDRE", b, Params{})[0]; !near(float64(got), 0.2, 1e-7) {
		t.Errorf("NDRE = %v, want 0.2", got)
	}
}

func TestSummarizeHandMade(t *testing.T) {
	// 0.1 .. 1.0 plus three non-finite values.
	// mean = 5.5/10 = 0.55
	// population variance of 0.1*k, k=1..10: 0.01 * (n^2-1)/12 = 0.01*99/12 = 0.0825,
	// std = sqrt(0.0825) = 0.287228...
	// percentile p: h = (n-1)p/100 = 9p/100, value = x[floor h] + frac(h)*0.1:
	//   p2: h=0.18 -> 0.1+0.018 = 0.118    p5: h=0.45 -> 0.145
	//   p25: h=2.25 -> 0.325               p50: h=4.5 -> 0.55
	//   p75: h=6.75 -> 0.775               p95: h=8.55 -> 0.955
	//   p98: h=8.82 -> 0.982
	// above 0.35: 0.4 .. 1.0 = 7 of 10.
	vals := []float32{0.7, 0.1, float32(math.NaN()), 0.4, 1.0, 0.2, float32(math.Inf(1)), 0.9, 0.3, 0.5, float32(math.Inf(-1)), 0.6, 0.8}
	st := Summarize(vals, 0.35, -1, 1)
	if st.Valid != 10 || st.NoData != 3 {
		t.Fatalf("valid/nodata = %d/%d, want 10/3", st.Valid, st.NoData)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"mean", st.Mean, 0.55}, {"std", st.Std, math.Sqrt(0.0825)},
		{"min", st.Min, 0.1}, {"max", st.Max, 1.0},
		{"p2", st.P2, 0.118}, {"p5", st.P5, 0.145}, {"p25", st.P25, 0.325}, {"p50", st.P50, 0.55},
		{"p75", st.P75, 0.775}, {"p95", st.P95, 0.955}, {"p98", st.P98, 0.982},
		{"vegetation", st.VegetationFraction, 0.7},
	}
	for _, c := range checks {
		// float32 storage of 0.1 etc.: error below 1e-7.
		if !near(c.got, c.want, 1e-7) {
			t.Errorf("%s = %.9f, want %.9f", c.name, c.got, c.want)
		}
	}
}

func TestHistogramBins(t *testing.T) {
	// 40 bins of 0.05 over [-1, 1]: -1 -> bin 0, -0.5 -> bin 10, 0 -> 20,
	// 0.5 -> 30, 1 (the upper edge) -> 39; 1.5 above, -2 below.
	st := Summarize([]float32{-1, -0.5, 0, 0.5, 1, 1.5, -2}, 0, -1, 1)
	want := make([]int64, HistogramBins)
	want[0], want[10], want[20], want[30], want[39] = 1, 1, 1, 1, 1
	if !slices.Equal(st.Histogram.Counts, want) {
		t.Errorf("counts = %v, want %v", st.Histogram.Counts, want)
	}
	if st.Histogram.Below != 1 || st.Histogram.Above != 1 {
		t.Errorf("below/above = %d/%d, want 1/1", st.Histogram.Below, st.Histogram.Above)
	}
}

// refPercentile is numpy's default ("linear") percentile on sorted values.
func refPercentile(sorted []float64, p float64) float64 {
	h := float64(len(sorted)-1) * p / 100
	lo := int(math.Floor(h))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (h-float64(lo))*(sorted[hi]-sorted[lo])
}

func TestPercentilesExactAgainstSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gen := map[string]func(n int) []float32{
		"normal": func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(rng.NormFloat64()*0.2 + 0.4)
			}
			return v
		},
		// VARI-like: mostly small, a few huge outliers of both signs, -0 and +0.
		"outliers": func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				switch rng.IntN(20) {
				case 0:
					v[i] = float32(rng.NormFloat64() * 1e5)
				case 1:
					v[i] = float32(math.Copysign(0, -1))
				case 2:
					v[i] = 0
				case 3:
					v[i] = float32(math.NaN())
				default:
					v[i] = float32(rng.Float64()*2 - 1)
				}
			}
			return v
		},
		// Many ties: 8-bit ratios take few distinct values.
		"ties": func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(rng.IntN(7)-3) / 3
			}
			return v
		},
	}
	for name, g := range gen {
		for _, n := range []int{1, 2, 3, 10, 1000, 100_001} {
			vals := g(n)
			var sorted []float64
			for _, v := range vals {
				if !math.IsNaN(float64(v)) {
					sorted = append(sorted, float64(v))
				}
			}
			slices.Sort(sorted)
			st := Summarize(vals, 0, -1, 1)
			if len(sorted) == 0 {
				continue
			}
			got := []float64{st.P2, st.P5, st.P25, st.P50, st.P75, st.P95, st.P98}
			for i, p := range []float64{2, 5, 25, 50, 75, 95, 98} {
				want := refPercentile(sorted, p)
				if !near(got[i], want, 1e-12*math.Max(1, math.Abs(want))) {
					t.Errorf("%s n=%d p%v = %v, want %v", name, n, p, got[i], want)
				}
			}
			if st.Min != sorted[0] || st.Max != sorted[len(sorted)-1] {
				t.Errorf("%s n=%d min/max = %v/%v, want %v/%v", name, n, st.Min, st.Max, sorted[0], sorted[len(sorted)-1])
			}
		}
	}
}

func TestPixelMatchesKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 1000
	b := Bands{Blue: make([]float32, n), Green: make([]float32, n), Red: make([]float32, n), RedEdge: make([]float32, n), NIR: make([]float32, n)}
	for _, r := range b.Roles() {
		s := b.Slice(r)
		for i := range s {
			s[i] = float32(rng.Float64())
		}
	}
	p := Params{SAVIL: 0.3}
	for _, d := range Defs() {
		dst := make([]float32, n)
		if err := d.Compute(dst, &b, p); err != nil {
			t.Fatal(err)
		}
		for i := range dst {
			want := d.Pixel(Pixel{Blue: float64(b.Blue[i]), Green: float64(b.Green[i]), Red: float64(b.Red[i]), RedEdge: float64(b.RedEdge[i]), NIR: float64(b.NIR[i])}, p)
			if float32(want) != dst[i] && !(math.IsNaN(want) && math.IsNaN(float64(dst[i]))) {
				t.Fatalf("%s pixel %d: kernel %v, Pixel %v", d.Name, i, dst[i], want)
			}
		}
	}
}

func TestUnavailableReason(t *testing.T) {
	have := []Role{Red, Green, Blue}
	if got, want := mustDef(t, "NDVI").Unavailable(have), "NDVI needs a NIR band; this image has Red, Green, Blue"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := mustDef(t, "NDRE").Unavailable(have), "NDRE needs NIR and RedEdge bands; this image has Red, Green, Blue"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := mustDef(t, "VARI").Unavailable(have); got != "" {
		t.Errorf("VARI unavailable: %q", got)
	}
}

func TestParamsValidate(t *testing.T) {
	for _, l := range []float64{-0.1, 1.1, math.NaN()} {
		if (Params{SAVIL: l}).Validate() == nil {
			t.Errorf("L=%v accepted", l)
		}
	}
	for _, l := range []float64{0, 0.5, 1} {
		if err := (Params{SAVIL: l}).Validate(); err != nil {
			t.Errorf("L=%v: %v", l, err)
		}
	}
}

func TestAdditiveFlags(t *testing.T) {
	var got []string
	for _, d := range Defs() {
		if d.Additive {
			got = append(got, d.Name)
		}
	}
	if want := []string{"SAVI", "OSAVI", "MSAVI2", "EVI", "EVI2"}; !slices.Equal(got, want) {
		t.Errorf("additive = %v, want %v", got, want)
	}
}

func TestParseRole(t *testing.T) {
	cases := map[string]Role{"NIR": NIR, "Red edge": RedEdge, "RedEdge": RedEdge, "nir": NIR, "Blue": Blue, "green": Green, "Panchro": Other, "LWIR": Other, "alpha": Alpha}
	for in, want := range cases {
		if got, ok := ParseRole(in); !ok || got != want {
			t.Errorf("ParseRole(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"Band 1", "", "gray"} {
		if r, ok := ParseRole(in); ok {
			t.Errorf("ParseRole(%q) = %v, want unknown", in, r)
		}
	}
}

// VARI outside -1..1 only happens near a zero denominator and is left out:
// G 0.2, R 0.1, B 0.29 gives (0.2-0.1)/(0.2+0.1-0.29) = 0.1/0.01 = 10.
// G 0.3, R 0.1, B 0.2 gives 0.2/0.2 = 1 exactly, which is kept.
func TestVARIOutOfRangeIsNoData(t *testing.T) {
	if v := vari(0.2, 0.1, 0.29); !math.IsNaN(v) {
		t.Errorf("vari near zero denominator = %g, want NaN (no data)", v)
	}
	if v := vari(0.3, 0.1, 0.2); math.Abs(v-1) > 1e-12 {
		t.Errorf("vari = %g, want 1", v)
	}
}
