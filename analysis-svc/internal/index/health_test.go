package index

import (
	"math"
	"testing"
)

func TestThresholdsClassAndBounds(t *testing.T) {
	th := Thresholds{0.2, 0.4, 0.6}
	// A value on a cut point belongs to the class above it ([min, max)).
	for v, want := range map[float64]int{-5: 0, 0.1999: 0, 0.2: 1, 0.3999: 1, 0.4: 2, 0.6: 3, 7: 3} {
		if got := th.Class(v); got != want {
			t.Errorf("Class(%v) = %d, want %d", v, got, want)
		}
	}
	if lo, hi := th.Bounds(0); !math.IsInf(lo, -1) || hi != 0.2 {
		t.Errorf("Bounds(0) = %v, %v", lo, hi)
	}
	if lo, hi := th.Bounds(3); lo != 0.6 || !math.IsInf(hi, 1) {
		t.Errorf("Bounds(3) = %v, %v", lo, hi)
	}
	for _, bad := range []Thresholds{{0.2, 0.2, 0.6}, {0.6, 0.4, 0.2}, {math.NaN(), 0.4, 0.6}, {0, 1, math.Inf(1)}} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%v) = nil", bad)
		}
	}
	for _, d := range Defs() {
		if err := d.Health.Validate(); err != nil {
			t.Errorf("%s default: %v", d.Name, err)
		}
	}
}

// TestCountClasses: by hand, with cut points 0.2/0.4/0.6, -1 and 0.19 are
// bare, 0.2 and 0.39 stressed, 0.5 moderate, 0.6 and 3 (beyond the
// display range, still counted) healthy; NaN and ±Inf are left out.
func TestCountClasses(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	got := CountClasses([]float32{-1, 0.19, 0.2, 0.39, 0.5, 0.6, 3, nan, inf, -inf}, Thresholds{0.2, 0.4, 0.6})
	if want := [4]int64{2, 2, 1, 2}; got != want {
		t.Errorf("counts = %v, want %v", got, want)
	}
}

// TestHealthDefaultsTrackNDVI checks the derivation in def.go: at the
// reflectance pairs (NIR, Red) = (0.30, 0.20), (0.35, 0.15), (0.40, 0.10),
// NDVI sits on its cut points 0.2/0.4/0.6 and each additive index lies
// within 0.02 of its own cut points (MSAVI2 is furthest, 0.282 for 0.30) (SAVI exactly 0.15/0.30/0.45 by hand:
// 1.5*0.1/1.0, 1.5*0.2/1.0, 1.5*0.3/1.0).
func TestHealthDefaultsTrackNDVI(t *testing.T) {
	pairs := [3][2]float64{{0.30, 0.20}, {0.35, 0.15}, {0.40, 0.10}}
	p := Params{SAVIL: DefaultSAVIL}
	ndvi, _ := Lookup("NDVI")
	for _, name := range []string{"NDVI", "SAVI", "OSAVI", "MSAVI2", "EVI", "EVI2"} {
		d, _ := Lookup(name)
		for i, nr := range pairs {
			v := d.Pixel(Pixel{NIR: nr[0], Red: nr[1], Blue: nr[1] / 2}, p)
			if math.Abs(v-d.Health[i]) > 0.02 {
				t.Errorf("%s at NIR %v Red %v = %.4f, cut point %v", name, nr[0], nr[1], v, d.Health[i])
			}
			if nd := ndvi.Pixel(Pixel{NIR: nr[0], Red: nr[1]}, p); math.Abs(nd-ndvi.Health[i]) > 1e-9 {
				t.Errorf("NDVI at pair %d = %v", i, nd)
			}
		}
	}
}

func TestParseThresholds(t *testing.T) {
	got, err := ParseThresholds(" ndvi=0.1, 0.35,0.7 ; SAVI=0.05,0.2,0.45;")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Thresholds{"NDVI": {0.1, 0.35, 0.7}, "SAVI": {0.05, 0.2, 0.45}}
	if len(got) != len(want) || got["NDVI"] != want["NDVI"] || got["SAVI"] != want["SAVI"] {
		t.Errorf("ParseThresholds = %v, want %v", got, want)
	}
	if got, err := ParseThresholds(""); err != nil || len(got) != 0 {
		t.Errorf(`ParseThresholds("") = %v, %v; want no overrides`, got, err)
	}
	for _, bad := range []string{
		"NDVI",                              // no cut points
		"NDVX=0.1,0.2,0.3",                  // unknown index
		"NDVI=0.1,0.2",                      // two cut points
		"NDVI=0.1,0.2,x",                    // not a number
		"NDVI=0.3,0.2,0.4",                  // not increasing
		"NDVI=0.1,0.2,NaN",                  // not finite
		"NDVI=0.1,0.2,0.3;ndvi=0.1,0.2,0.3", // twice
	} {
		if _, err := ParseThresholds(bad); err == nil {
			t.Errorf("ParseThresholds(%q) accepted it", bad)
		}
	}
}
