package raster

import (
	"math"
	"testing"
)

// Every value lands at its own index, converted by its own band's rule,
// whatever the split across cores: the bands' length is not a multiple of
// any split, so parts start and end inside bands.
func TestWidenConvertsEveryValueByItsBand(t *testing.T) {
	const bandLen = 1<<16 + 7
	raw := make([]uint16, 3*bandLen)
	for i := range raw {
		raw[i] = uint16(i * 7919)
	}
	conv := []bandConv{
		{},                                     // as read
		{scale: BandScale{Scale: 1.0 / 65535}}, // a fraction of full scale
		{scale: BandScale{Scale: 0.5, Offset: -3}, hasNoData: true, noData: float32(raw[2*bandLen+5])},
	}
	got := widen(raw, bandLen, conv)
	if len(got) != len(raw) {
		t.Fatalf("len %d, want %d", len(got), len(raw))
	}
	for i, v := range raw {
		// Worked out here as the analysis defines it: exact widening, then
		// value*scale+offset in float64, rounded to float32; nodata NaN.
		var want float32
		switch b := i / bandLen; b {
		case 0:
			want = float32(v)
		case 1:
			want = float32(float64(v) / 65535)
		case 2:
			want = float32(float64(v)*0.5 - 3)
			if v == raw[2*bandLen+5] {
				want = float32(math.NaN())
			}
		}
		if math.Float32bits(got[i]) != math.Float32bits(want) && !(got[i] != got[i] && want != want) {
			t.Fatalf("value %d (band %d, raw %d): %v, want %v", i, i/bandLen, v, got[i], want)
		}
	}
	if b := widen([]uint8{0, 255}, 2, []bandConv{{}}); b[0] != 0 || b[1] != 255 {
		t.Errorf("bytes widened to %v", b)
	}
}
