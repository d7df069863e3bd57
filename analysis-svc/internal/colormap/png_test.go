package colormap

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"testing"
)

// TestEncodePalettedDecodesLikeImagePNG: what encodePaletted writes
// decodes (with image/png) to exactly the image image/png itself encodes
// from the same pixels and palette: same size, palette (colours and
// alpha) and indices. Sizes cover one pixel, a single row or column, and
// images whose compressed data spans several IDAT chunks.
func TestEncodePalettedDecodesLikeImagePNG(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][2]int{{1, 1}, {7, 1}, {1, 9}, {16, 16}, {333, 77}, {1200, 700}} {
		w, h := sz[0], sz[1]
		img := &image.Paletted{Pix: make([]uint8, w*h), Stride: w, Rect: image.Rect(0, 0, w, h), Palette: palette()}
		for i := range img.Pix {
			// Smooth with noise and some transparent runs, like a map.
			x, y := i%w, i/w
			v := 128 + 100*math.Sin(float64(x)/23)*math.Cos(float64(y)/17) + rng.NormFloat64()*6
			img.Pix[i] = uint8(max(1, min(Steps, v)))
			if (x/40+y/40)%7 == 0 {
				img.Pix[i] = 0
			}
		}
		var ours, theirs bytes.Buffer
		if err := encodePaletted(&ours, img.Pix, w, h, img.Palette); err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(&theirs, img); err != nil {
			t.Fatal(err)
		}
		a, err := png.Decode(&ours)
		if err != nil {
			t.Fatalf("%d x %d: decode: %v", w, h, err)
		}
		b, err := png.Decode(&theirs)
		if err != nil {
			t.Fatal(err)
		}
		pa, ok := a.(*image.Paletted)
		if !ok {
			t.Fatalf("%d x %d: decoded as %T, want *image.Paletted", w, h, a)
		}
		pb := b.(*image.Paletted)
		if pa.Rect != pb.Rect || !bytes.Equal(pa.Pix, pb.Pix) {
			t.Errorf("%d x %d: pixels differ from image/png's", w, h)
		}
		if len(pa.Palette) != len(pb.Palette) {
			t.Fatalf("%d x %d: palette of %d, image/png's %d", w, h, len(pa.Palette), len(pb.Palette))
		}
		for i := range pa.Palette {
			if ca, cb := color.NRGBAModel.Convert(pa.Palette[i]), color.NRGBAModel.Convert(pb.Palette[i]); ca != cb {
				t.Errorf("%d x %d: palette entry %d is %v, image/png's %v", w, h, i, ca, cb)
			}
		}
	}
}

// BenchmarkRender draws a 20 MP map of a smooth field with noise and a
// few no-data patches, as an index of a drone photo looks.
func BenchmarkRender(b *testing.B) {
	const w, h = 5472, 3648
	rng := rand.New(rand.NewPCG(3, 4))
	vals := make([]float32, w*h)
	for i := range vals {
		x, y := i%w, i/w
		vals[i] = float32(0.3 + 0.4*math.Sin(float64(x)/211)*math.Cos(float64(y)/97) + rng.NormFloat64()*0.05)
		if (x/500+y/500)%11 == 0 {
			vals[i] = float32(math.NaN())
		}
	}
	b.SetBytes(w * h)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := Render(&buf, vals, w, h, -1, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len())/(w*h), "bytes/pixel")
}
