package radiometry

import (
	"encoding/base64"
	"errors"
	"math"
	"testing"
)

// The expected values below are worked out by hand in the comments.

func TestSequoiaRadiance(t *testing.T) {
	// A = 1000, B = 100, C = 50, f = 2, t = 0.01 s, ISO 200:
	// A t ISO + C = 1000 x 0.01 x 200 + 50 = 2050; DN 510 gives
	// f² (DN - B) = 4 x 410 = 1640, and L = 1640 / 2050 = 0.8 with no
	// vignetting. A constant vignetting factor 0.8 gives 0.8 / 0.8 = 1.
	// DN 60 is below B: floored at 0. DN 700 >= saturation 700: NaN.
	m := Sequoia{A: 1000, B: 100, C: 50, FNumber: 2, Exposure: 0.01, ISO: 200, Saturation: 700}
	v := []float32{510, 60, 700, float32(math.NaN())}
	if err := m.Radiance(v, 2, 2); err != nil {
		t.Fatal(err)
	}
	want := []float64{0.8, 0, math.NaN(), math.NaN()}
	for i, w := range want {
		if g := float64(v[i]); !(math.IsNaN(w) && math.IsNaN(g)) && math.Abs(g-w) > 1e-6 {
			t.Errorf("value %d = %v, want %v", i, g, w)
		}
	}
	m.Vignette = []VignetteTerm{{0, 0, 0.8}}
	v = []float32{510}
	if err := m.Radiance(v, 1, 1); err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(v[0])-1) > 1e-6 {
		t.Errorf("vignetted value = %v, want 1", v[0])
	}
	if err := (Sequoia{A: 1000, FNumber: 2, Exposure: 0.01}).Validate(); !errors.Is(err, ErrMetadata) {
		t.Errorf("no ISO: %v", err)
	}
}

func TestSequoiaVignette(t *testing.T) {
	// Powers "0,0,1,0,0,1,1,1" with coefficients 1, 0.5, -0.25, 2 give
	// V(x, y) = 1 + 0.5 x - 0.25 y + 2 x y. At x = 0.5, y = 0.5:
	// 1 + 0.25 - 0.125 + 0.5 = 1.625. On a 4 x 2 image, pixel (column 2,
	// row 1) is x = 2/4 = 0.5, y = 1/2 = 0.5, the same point.
	terms, err := VignetteTerms([]float64{0, 0, 1, 0, 0, 1, 1, 1}, []float64{1, 0.5, -0.25, 2})
	if err != nil {
		t.Fatal(err)
	}
	if g := Vignette(terms, 0.5, 0.5); math.Abs(g-1.625) > 1e-12 {
		t.Errorf("V(0.5, 0.5) = %v, want 1.625", g)
	}
	// With A t ISO + C = 1 and f = 1, L = (DN - 0) / V: DN 1.625 at that
	// pixel gives 1.
	m := Sequoia{A: 1, C: 0, FNumber: 1, Exposure: 1, ISO: 1, Vignette: terms}
	v := make([]float32, 8)
	v[1*4+2] = 1.625
	if err := m.Radiance(v, 4, 2); err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(v[6])-1) > 1e-6 {
		t.Errorf("L at (2, 1) = %v, want 1", v[6])
	}
	if _, err := VignetteTerms([]float64{0, 0, 1}, []float64{1, 2}); !errors.Is(err, ErrMetadata) {
		t.Errorf("odd powers: %v", err)
	}
}

func TestDecodeIrradianceList(t *testing.T) {
	// Two records written byte by byte, little-endian:
	// 1: timestamp 1,000,000 µs = 0x0F4240; CH0 250 = 0xFA; CH1 60 = 0x3C;
	//    gain index 2; 50 ms = 0x32; yaw 1.5 = 0x3FC00000,
	//    pitch -2 = 0xC0000000, roll 0.25 = 0x3E800000.
	// 2: timestamp 1,200,000 µs = 0x124F80; CH0 14; CH1 7; gain index 1;
	//    100 ms = 0x64; yaw, pitch, roll 0.
	raw := []byte{
		0x40, 0x42, 0x0F, 0, 0, 0, 0, 0, 0xFA, 0, 0x3C, 0, 2, 0, 0x32, 0,
		0, 0, 0xC0, 0x3F, 0, 0, 0, 0xC0, 0, 0, 0x80, 0x3E,
		0x80, 0x4F, 0x12, 0, 0, 0, 0, 0, 14, 0, 7, 0, 1, 0, 0x64, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	recs, err := DecodeIrradianceList("\n " + enc[:20] + "\n" + enc[20:] + " ")
	if err != nil {
		t.Fatal(err)
	}
	want := []SunshineRecord{
		{Timestamp: 1000000, CH0: 250, CH1: 60, GainIndex: 2, IntegrationMS: 50, Yaw: 1.5, Pitch: -2, Roll: 0.25},
		{Timestamp: 1200000, CH0: 14, CH1: 7, GainIndex: 1, IntegrationMS: 100},
	}
	if len(recs) != 2 || recs[0] != want[0] || recs[1] != want[1] {
		t.Fatalf("records = %+v, want %+v", recs, want)
	}
	// Calibration table (index, ms, CH0, CH1): index 0 gives 30 in 600 ms,
	// index 1 750, index 2 12000, index 3 saturated. Relative to index 1:
	// g0 = 30/750 = 0.04, g1 = 1, g2 = 12000/750 = 16, none for 3.
	gains, err := SunshineGains([]float64{0, 600, 30, 16, 1, 600, 750, 376, 2, 600, 12000, 6222, 3, 600, 65535, 65535})
	if err != nil {
		t.Fatal(err)
	}
	if len(gains) != 3 || math.Abs(gains[0]-0.04) > 1e-12 || gains[1] != 1 || gains[2] != 16 {
		t.Errorf("gains = %v", gains)
	}
	// Nearest to 1,050,000 µs is record 1: E = 250 / (16 x 50) = 0.3125.
	s, err := SunshineIrradiance(recs, gains, 1050000)
	if err != nil || s.Index != 0 || s.Irradiance != 0.3125 {
		t.Errorf("at 1.05 s: %+v, %v; want record 0, 0.3125", s, err)
	}
	// Time unknown: the last record, at gain index 1 (no table needed):
	// E = 14 / (1 x 100) = 0.14.
	s, err = SunshineIrradiance(recs, nil, 0)
	if err != nil || s.Index != 1 || math.Abs(s.Irradiance-0.14) > 1e-15 {
		t.Errorf("last: %+v, %v; want record 1, 0.14", s, err)
	}
	// Gain index 2 without a table cannot be converted.
	if _, err := SunshineIrradiance(recs[:1], nil, 0); !errors.Is(err, ErrMetadata) {
		t.Errorf("no gains: %v", err)
	}
	if _, err := DecodeIrradianceList(base64.StdEncoding.EncodeToString(raw[:20])); !errors.Is(err, ErrMetadata) {
		t.Errorf("20-byte record: %v", err)
	}
	if _, err := DecodeIrradianceList("not base64!"); !errors.Is(err, ErrMetadata) {
		t.Errorf("bad base64: %v", err)
	}
	if _, err := SunshineGains([]float64{0, 600, 30, 16}); !errors.Is(err, ErrMetadata) {
		t.Errorf("no index 1: %v", err)
	}
	if f, err := SunshineFactor(0.25); err != nil || f != 4 {
		t.Errorf("factor 1/0.25 = %v, %v", f, err)
	}
}
