package colormap

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"testing"
)

func TestKnownValuesMapToKnownColours(t *testing.T) {
	nan := float32(math.NaN())
	// 5 x 2 image over the NDVI range -1..1.
	vals := []float32{-1, 0, 1, -5, 5, nan, float32(math.Inf(1)), 0.5, -0.5, 0.2}
	var buf bytes.Buffer
	if err := Render(&buf, vals, 5, 2, -1, 1); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b != image.Rect(0, 0, 5, 2) {
		t.Fatalf("bounds %v, want 5 x 2", b)
	}
	// ColorBrewer RdYlGn anchors: #a50026 at the low end, #ffffbf in the
	// middle (anchor 5 of 10: t = 0.5 is palette step 127 of 254 exactly),
	// #006837 at the high end. 0.5 is t = 0.75: x = 7.5 between #a6d96a and
	// #66bd63 -> (0xa6+0x66)/2 = 134, (0xd9+0xbd)/2 = 203, (0x6a+0x63)/2 = 102.5;
	// step round(0.75*254) = 190.5 -> 191 of 254, t = 191/254 = 0.75197,
	// x = 7.5197, f = 0.5197 -> R = 166 - 0.5197*64 = 132.7 -> 133,
	// G = 217 - 0.5197*28 = 202.4 -> 202, B = 106 - 0.5197*7 = 102.4 -> 102.
	red := color.NRGBA{0xa5, 0x00, 0x26, 0xff}
	yellow := color.NRGBA{0xff, 0xff, 0xbf, 0xff}
	green := color.NRGBA{0x00, 0x68, 0x37, 0xff}
	clear := color.NRGBA{}
	want := []color.NRGBA{red, yellow, green, red, green, clear, clear, {133, 202, 102, 0xff}}
	for i, w := range want {
		got := color.NRGBAModel.Convert(img.At(i%5, i/5)).(color.NRGBA)
		if got != w {
			t.Errorf("value %v: got %v, want %v", vals[i], got, w)
		}
	}
	// Nodata is fully transparent, whatever its colour channels.
	if _, _, _, a := img.At(0, 1).RGBA(); a != 0 {
		t.Errorf("NaN alpha = %d, want 0", a)
	}
	if c := Color(0, -1, 1); c != yellow {
		t.Errorf("Color(0) = %v, want %v", c, yellow)
	}
}

func TestRenderRejectsWrongSize(t *testing.T) {
	if err := Render(&bytes.Buffer{}, make([]float32, 5), 2, 2, -1, 1); err == nil {
		t.Fatal("want error for 5 values at 2 x 2")
	}
}
