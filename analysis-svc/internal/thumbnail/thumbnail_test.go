package thumbnail

import (
	"bytes"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/canopyag/canopy/analysis-svc/internal/index"
)

func TestSize(t *testing.T) {
	for _, c := range []struct{ w, h, max, tw, th int }{
		{5472, 3648, 256, 256, 171}, // 3648*256/5472 = 170.67
		{960, 1280, 256, 192, 256},
		{100, 50, 256, 100, 50}, // never upsampled
		{10000, 10, 256, 256, 1},
	} {
		if tw, th := Size(c.w, c.h, c.max); tw != c.tw || th != c.th {
			t.Errorf("Size(%d, %d, %d) = %d x %d, want %d x %d", c.w, c.h, c.max, tw, th, c.tw, c.th)
		}
	}
}

func TestComposite(t *testing.T) {
	s := []float32{1}
	for _, c := range []struct {
		b    index.Bands
		want string
	}{
		{index.Bands{Red: s, Green: s, Blue: s, NIR: s}, "natural_colour"},
		{index.Bands{Red: s, Green: s, NIR: s, RedEdge: s}, "colour_infrared"},
		{index.Bands{NIR: s, RedEdge: s}, "grey_RedEdge"},
	} {
		if _, kind, ok := Composite(&c.b); !ok || kind != c.want {
			t.Errorf("Composite = %s, want %s", kind, c.want)
		}
	}
}

// TestRender: a 4 x 2 raster to 2 x 1, so each output pixel averages a
// 2 x 2 block. By hand: red block means 0.1 and 0.4, green 0.2 and 0.3,
// blue 0.05 and (one valid value) 0.2, except that the right block has no
// valid red, so it is transparent. The samples are 0.1, 0.2, 0.05 (the
// right block's red is missing, its green 0.3 and blue 0.2 count): sorted
// 0.05, 0.1, 0.2, 0.2, 0.3, the 99th percentile index (5-1)*99/100 = 3 ->
// 0.2 is white, so the left pixel is 0.1, 0.2, 0.05 * 255/0.2 = 128 (127.5
// rounded half away from zero), 255, 64 (63.75).
func TestRender(t *testing.T) {
	nan := float32(math.NaN())
	r := []float32{0.1, 0.1, nan, nan, 0.1, 0.1, nan, nan}
	g := []float32{0.2, 0.2, 0.3, 0.3, 0.2, 0.2, 0.3, 0.3}
	b := []float32{0.05, 0.05, 0.2, nan, 0.05, 0.05, nan, nan}
	var buf bytes.Buffer
	white, err := Render(&buf, [3][]float32{r, g, b}, 4, 2, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(white-0.2) > 1e-7 {
		t.Errorf("white = %v, want 0.2", white)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := color.NRGBAModel.Convert(img.At(0, 0)).(color.NRGBA); got != (color.NRGBA{128, 255, 64, 255}) {
		t.Errorf("left = %v", got)
	}
	if _, _, _, a := img.At(1, 0).RGBA(); a != 0 {
		t.Errorf("right alpha = %d, want transparent", a)
	}
}

// TestKthSmallestIsTheSortedValue: for every k, the value at index k of
// the sorted slice, on random values, many duplicates, sorted, reversed
// and constant input.
func TestKthSmallestIsTheSortedValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := map[string]func(n int) []float64{
		"random": func(n int) []float64 {
			s := make([]float64, n)
			for i := range s {
				s[i] = rng.NormFloat64()
			}
			return s
		},
		"duplicates": func(n int) []float64 {
			s := make([]float64, n)
			for i := range s {
				s[i] = float64(rng.IntN(3))
			}
			return s
		},
		"sorted": func(n int) []float64 {
			s := make([]float64, n)
			for i := range s {
				s[i] = float64(i) / 7
			}
			return s
		},
		"reversed": func(n int) []float64 {
			s := make([]float64, n)
			for i := range s {
				s[i] = float64(n - i)
			}
			return s
		},
		"constant": func(n int) []float64 { return slices.Repeat([]float64{0.25}, n) },
	}
	for name, gen := range inputs {
		for _, n := range []int{1, 2, 3, 5, 16, 101, 1000} {
			in := gen(n)
			sorted := slices.Sorted(slices.Values(in))
			for k := range n {
				s := slices.Clone(in)
				if got := kthSmallest(s, k); got != sorted[k] {
					t.Fatalf("%s, n=%d, k=%d: %v, want %v", name, n, k, got, sorted[k])
				}
			}
		}
	}
}
