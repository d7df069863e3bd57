// Package sample makes synthetic field images so the demo runs on a machine
// without the team's real drone images: a NIR-converted camera frame (16-bit
// red/green/NIR TIFF) and an ordinary RGB photo of the same field, with crop
// rows, bare soil between them, and one stressed patch.
package sample

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
)

// reflectance of the three surfaces in red, green and NIR.
type surface struct{ red, green, nir, blue float64 }

var (
	healthy  = surface{red: 0.05, green: 0.12, nir: 0.50, blue: 0.04}
	stressed = surface{red: 0.14, green: 0.16, nir: 0.28, blue: 0.08}
	soil     = surface{red: 0.25, green: 0.20, nir: 0.30, blue: 0.15}
)

// scene returns the surface mix at (x, y): crop rows every 16 pixels, and a
// stressed ellipse in the upper right.
func scene(x, y, w, h int) surface {
	rowPhase := math.Mod(float64(x), 16) / 16
	veg := 0.0
	if rowPhase > 0.2 && rowPhase < 0.8 {
		veg = 1
	}
	dx := (float64(x) - 0.7*float64(w)) / (0.18 * float64(w))
	dy := (float64(y) - 0.3*float64(h)) / (0.22 * float64(h))
	plant := healthy
	if dx*dx+dy*dy < 1 {
		plant = stressed
	}
	// A little deterministic texture so statistics are not degenerate.
	n := 0.02 * math.Sin(float64(x*7+y*13))
	mix := func(a, b float64) float64 { return veg*a + (1-veg)*b + n*0.1 }
	return surface{
		red:   mix(plant.red, soil.red),
		green: mix(plant.green, soil.green),
		nir:   mix(plant.nir, soil.nir),
		blue:  mix(plant.blue, soil.blue),
	}
}

// Write creates field_rgn.tif and field_rgb.jpg in dir and returns their paths.
func Write(dir string, w, h int) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	rgn := filepath.Join(dir, "field_rgn.tif")
	if err := writeRGN(rgn, w, h); err != nil {
		return nil, err
	}
	rgb := filepath.Join(dir, "field_rgb.jpg")
	if err := writeRGB(rgb, w, h); err != nil {
		return nil, err
	}
	return []string{rgn, rgb}, nil
}

// writeRGN writes an uncompressed 3-sample 16-bit TIFF whose bands are red,
// green and NIR, as a red-filter NIR-converted camera records them.
func writeRGN(path string, w, h int) error {
	const entries = 10
	le := binary.LittleEndian
	pixelBytes := w * h * 3 * 2
	ifdOff := 8
	ifdSize := 2 + entries*12 + 4
	bpsOff := ifdOff + ifdSize
	dataOff := bpsOff + 6
	var b bytes.Buffer
	b.WriteString("II")
	_ = binary.Write(&b, le, uint16(42))
	_ = binary.Write(&b, le, uint32(ifdOff))
	_ = binary.Write(&b, le, uint16(entries))
	tag := func(id, typ uint16, count, value uint32) {
		_ = binary.Write(&b, le, id)
		_ = binary.Write(&b, le, typ)
		_ = binary.Write(&b, le, count)
		_ = binary.Write(&b, le, value)
	}
	const short, long = 3, 4
	tag(256, long, 1, uint32(w))          // ImageWidth
	tag(257, long, 1, uint32(h))          // ImageLength
	tag(258, short, 3, uint32(bpsOff))    // BitsPerSample -> 16,16,16
	tag(259, short, 1, 1)                 // Compression none
	tag(262, short, 1, 2)                 // Photometric RGB
	tag(273, long, 1, uint32(dataOff))    // StripOffsets
	tag(277, short, 1, 3)                 // SamplesPerPixel
	tag(278, long, 1, uint32(h))          // RowsPerStrip
	tag(279, long, 1, uint32(pixelBytes)) // StripByteCounts
	tag(284, short, 1, 1)                 // PlanarConfiguration contig
	_ = binary.Write(&b, le, uint32(0))   // no next IFD
	_ = binary.Write(&b, le, [3]uint16{16, 16, 16})
	px := make([]byte, pixelBytes)
	i := 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			s := scene(x, y, w, h)
			for _, v := range []float64{s.red, s.green, s.nir} {
				le.PutUint16(px[i:], uint16(math.Round(clamp01(v)*65535)))
				i += 2
			}
		}
	}
	b.Write(px)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeRGB(path string, w, h int) error {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			s := scene(x, y, w, h)
			// Scale reflectance up to look like an exposed photo.
			img.Set(x, y, color.RGBA{R: u8(s.red * 3), G: u8(s.green * 3), B: u8(s.blue * 3), A: 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := jpeg.Encode(f, img, &jpeg.Options{Quality: 92}); err != nil {
		f.Close()
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return f.Close()
}

func clamp01(v float64) float64 { return math.Max(0, math.Min(1, v)) }

func u8(v float64) uint8 { return uint8(math.Round(clamp01(v) * 255)) }
