// Package thumbnail renders a small PNG preview of a capture as a picture:
// natural colour when it has red, green and blue bands, colour infrared
// (NIR, red, green as RGB) when it has those instead, otherwise its first
// band in grey. Index colour maps are a separate output; the thumbnail is
// what a list of images shows next to them.
package thumbnail

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"

	"github.com/canopyag/canopy/analysis-svc/internal/index"
)

// DefaultMaxSide is the default longest side in pixels: enough for a list
// or a map marker, a few tens of KiB as PNG.
const DefaultMaxSide = 256

// Size scales width x height down so that the longer side is at most
// maxSide, keeping the aspect ratio (rounded, at least 1 pixel). Images
// already small enough keep their size: the thumbnail never upsamples.
func Size(width, height, maxSide int) (w, h int) {
	long := max(width, height)
	if long <= maxSide {
		return width, height
	}
	w = max(1, int(math.Round(float64(width)*float64(maxSide)/float64(long))))
	h = max(1, int(math.Round(float64(height)*float64(maxSide)/float64(long))))
	return w, h
}

// Composite picks the bands to show: R, G, B for natural colour, NIR, Red,
// Green for colour infrared, else the first band present as grey. It
// returns the three channels (all the same slice for grey) and a name.
func Composite(b *index.Bands) (ch [3][]float32, kind string, ok bool) {
	switch {
	case b.Red != nil && b.Green != nil && b.Blue != nil:
		return [3][]float32{b.Red, b.Green, b.Blue}, "natural_colour", true
	case b.NIR != nil && b.Red != nil && b.Green != nil:
		return [3][]float32{b.NIR, b.Red, b.Green}, "colour_infrared", true
	}
	for _, r := range b.Roles() {
		s := b.Slice(r)
		return [3][]float32{s, s, s}, "grey_" + r.String(), true
	}
	return ch, "", false
}

// Render box-averages the channels (each width*height, NaN = no data) down
// to tw x th (block boundaries as in index.BlockBounds) and writes an RGBA
// PNG. One gain for all channels maps the 99th percentile of the averaged
// samples to 255, so that dark raw sensor numbers become visible while the
// balance between channels (the colour) is kept; an 8-bit photo, already
// near full scale, changes little. A pixel whose block has no valid value
// in some channel is transparent. It returns the sample value drawn as 255.
func Render(w io.Writer, ch [3][]float32, width, height, tw, th int) (white float64, err error) {
	if tw <= 0 || th <= 0 || tw > width || th > height {
		return 0, fmt.Errorf("thumbnail: %d x %d does not fit in %d x %d", tw, th, width, height)
	}
	var means [3][]float64
	var counts [3][]int64
	for i, c := range ch {
		if len(c) != width*height {
			return 0, fmt.Errorf("thumbnail: channel %d has %d values for %d x %d", i, len(c), width, height)
		}
		if i > 0 && &c[0] == &ch[i-1][0] {
			means[i], counts[i] = means[i-1], counts[i-1]
			continue
		}
		means[i], counts[i] = index.BlockMeans(c, width, height, th, tw)
	}
	var samples []float64
	for i := range means {
		for j, m := range means[i] {
			if counts[i][j] > 0 {
				samples = append(samples, m)
			}
		}
	}
	white = 1
	if len(samples) > 0 {
		if p := kthSmallest(samples, (len(samples)-1)*99/100); p > 0 {
			white = p
		}
	}
	img := image.NewNRGBA(image.Rect(0, 0, tw, th))
	gain := 255 / white
	for j := range tw * th {
		px := color.NRGBA{A: 0xff}
		v := [3]*uint8{&px.R, &px.G, &px.B}
		for i := range means {
			if counts[i][j] == 0 {
				px = color.NRGBA{}
				break
			}
			*v[i] = uint8(math.Round(math.Max(0, math.Min(255, means[i][j]*gain))))
		}
		img.SetNRGBA(j%tw, j/tw, px)
	}
	// BestSpeed: the default level took about as long as everything else
	// the thumbnail costs, for a file of a few hundred KiB either way.
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(w, img); err != nil {
		return 0, fmt.Errorf("thumbnail: %w", err)
	}
	return white, nil
}

// kthSmallest returns the value that would be at index k of s sorted in
// ascending order, reordering s: a quickselect, a few passes over s where
// sorting it took most of a thumbnail's time. s holds no NaN.
func kthSmallest(s []float64, k int) float64 {
	lo, hi := 0, len(s)-1
	for lo < hi {
		// Median of three as the pivot, so sorted and reversed input
		// (a gradient's block means) stay linear.
		mid := lo + (hi-lo)/2
		if s[mid] < s[lo] {
			s[mid], s[lo] = s[lo], s[mid]
		}
		if s[hi] < s[lo] {
			s[hi], s[lo] = s[lo], s[hi]
		}
		if s[hi] < s[mid] {
			s[hi], s[mid] = s[mid], s[hi]
		}
		pivot := s[mid]
		// Hoare partition: afterwards s[lo..j] <= pivot <= s[i..hi].
		i, j := lo, hi
		for i <= j {
			for s[i] < pivot {
				i++
			}
			for pivot < s[j] {
				j--
			}
			if i <= j {
				s[i], s[j] = s[j], s[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default: // j < k < i: s[k] equals the pivot
			return s[k]
		}
	}
	return s[k]
}
