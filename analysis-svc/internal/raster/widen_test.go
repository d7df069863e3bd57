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

// Every 8- and 16-bit value widens through a band's table to the bits
// convert gives it directly, the per-pixel way the table is made from
// (and TestWidenConvertsEveryValueByItsBand checks convert's rule),
// nodata and scaling included; and widen, which picks one or the other
// by band, gives those bits both on bands long enough for a table and on
// short ones.
func TestWidenTableMatchesConvert(t *testing.T) {
	convs := []bandConv{
		{},
		{scale: BandScale{Scale: 1.0 / 255}},
		{scale: BandScale{Scale: 2e-5, Offset: -0.01}, hasNoData: true, noData: 200},
		{hasNoData: true, noData: 0},
	}
	for _, c := range convs {
		checkTableAndWiden[uint8](t, "8-bit", c, 256, 8*256*3)
		checkTableAndWiden[uint16](t, "16-bit", c, 1<<16, 8<<16+5)
	}
}

// checkTableAndWiden widens bands of each length in ns, holding every value
// of T in turn, through c's table and through widen, and compares the bits
// with convert's.
func checkTableAndWiden[T uint8 | uint16](t *testing.T, name string, c bandConv, ns ...int) {
	t.Helper()
	for _, n := range ns {
		raw := make([]T, n)
		for i := range raw {
			raw[i] = T(i)
		}
		want := make([]float32, n)
		convert(want, raw, c)
		table := make([]float32, n)
		lookup(table, raw, newWidenTable[T](c))
		for what, got := range map[string][]float32{"table": table, "widen": widen(raw, n, []bandConv{c})} {
			for v := range want {
				if math.Float32bits(got[v]) != math.Float32bits(want[v]) {
					t.Fatalf("%s %s, %+v, value %d: %v, convert %v", name, what, c, raw[v], got[v], want[v])
				}
			}
		}
	}
}

// BenchmarkWiden times a 20 MP 8-bit band and a 1.2 MP 16-bit one through
// the per-pixel convert and through a table (its making included), as
// read (no scale, no nodata), with a nodata value, and scaled to 0..1, in
// the same run: widen takes the table where it was the faster.
func BenchmarkWiden(b *testing.B) {
	raw8 := make([]uint8, 5472*3648)
	for i := range raw8 {
		raw8[i] = uint8(i*7 + i>>9)
	}
	raw16 := make([]uint16, 1280*960)
	for i := range raw16 {
		raw16[i] = uint16(20000 + (i*37+i>>7)%9000)
	}
	dst := make([]float32, len(raw8))
	convs := []struct {
		name string
		c    bandConv
	}{
		{"as-read", bandConv{}},
		{"nodata", bandConv{hasNoData: true, noData: 0}},
		{"scaled", bandConv{scale: BandScale{Scale: 1.0 / 255}}},
	}
	for _, cv := range convs {
		c := cv.c
		b.Run("8bit/"+cv.name+"/convert", func(b *testing.B) {
			b.SetBytes(int64(len(raw8)))
			for b.Loop() {
				convert(dst, raw8, c)
			}
		})
		b.Run("8bit/"+cv.name+"/table", func(b *testing.B) {
			b.SetBytes(int64(len(raw8)))
			for b.Loop() {
				lookup(dst, raw8, newWidenTable[uint8](c))
			}
		})
		b.Run("16bit/"+cv.name+"/convert", func(b *testing.B) {
			b.SetBytes(int64(len(raw16)) * 2)
			for b.Loop() {
				convert(dst[:len(raw16)], raw16, c)
			}
		})
		b.Run("16bit/"+cv.name+"/table", func(b *testing.B) {
			b.SetBytes(int64(len(raw16)) * 2)
			for b.Loop() {
				lookup(dst[:len(raw16)], raw16, newWidenTable[uint16](c))
			}
		})
	}
}
