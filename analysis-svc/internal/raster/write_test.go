package raster

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/airbusgeo/godal"
)

// TestGeoTIFFRoundTripBitExact writes awkward float32 values (NaN, ±Inf,
// ±0, subnormals, extremes, random bit patterns, smooth runs that the
// compressor finds matches in) with the output's compression and reads
// them back through GDAL, with each compression: every value must come back
// bit for bit, and the file must say how it is compressed, be tiled, and
// have NaN as nodata.
func TestGeoTIFFRoundTripBitExact(t *testing.T) {
	const w, h = 613, 389 // not multiples of the 512-pixel tiles
	vals := make([]float32, w*h)
	rng := rand.New(rand.NewPCG(1, 2))
	special := []float32{
		float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
		0, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
		math.MaxFloat32, -math.MaxFloat32, 1, -1, 0.2, math.Float32frombits(0x007fffff),
	}
	for i := range vals {
		switch y := i / w; {
		case y < 100: // smooth, like an index over a field
			vals[i] = float32(0.3 + 0.2*math.Sin(float64(i%w)/37) + 0.1*math.Cos(float64(y)/11))
		case y < 200: // random finite bit patterns
			for {
				b := rng.Uint32()
				if b&0x7f800000 != 0x7f800000 {
					vals[i] = math.Float32frombits(b)
					break
				}
			}
		case y < 300:
			vals[i] = special[rng.IntN(len(special))]
		default: // quantised, like an index of an 8-bit photo
			vals[i] = float32(rng.IntN(255)-127) / float32(1+rng.IntN(255))
		}
	}
	// A non-canonical NaN payload must survive too.
	vals[len(vals)-1] = math.Float32frombits(0x7fc12345)

	for c, meta := range map[Compression]string{CompressNone: "", CompressZSTD: "ZSTD", CompressDeflate: "DEFLATE"} {
		t.Run(string(c), func(t *testing.T) { roundTrip(t, vals, w, h, c, meta) })
	}
}

func roundTrip(t *testing.T, vals []float32, w, h int, c Compression, meta string) {
	path := filepath.Join(t.TempDir(), "rt.tif")
	geo := Georef{GeoTransform: []float64{500000, 0.05, 0, 4600000, 0, -0.05}}
	if err := WriteFloat32GeoTIFF(path, "TEST", vals, w, h, geo, c); err != nil {
		t.Fatal(err)
	}
	ds, err := godal.Open(path, godal.RasterOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if got := ds.Metadata("COMPRESSION", godal.Domain("IMAGE_STRUCTURE")); got != meta {
		t.Errorf("COMPRESSION = %q, want %q", got, meta)
	}
	band := ds.Bands()[0]
	if bs := band.Structure(); bs.BlockSizeX != 512 || bs.BlockSizeY != 512 || bs.DataType != godal.Float32 {
		t.Errorf("band structure %+v, want 512 x 512 Float32 tiles", bs)
	}
	if nd, ok := band.NoData(); !ok || !math.IsNaN(nd) {
		t.Errorf("nodata = %v, %v; want NaN", nd, ok)
	}
	got := make([]float32, w*h)
	if err := band.Read(0, 0, got, w, h); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i := range vals {
		if math.Float32bits(got[i]) != math.Float32bits(vals[i]) {
			if bad++; bad <= 5 {
				t.Errorf("pixel %d: read %#08x, wrote %#08x", i, math.Float32bits(got[i]), math.Float32bits(vals[i]))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d values differ", bad, len(vals))
	}
}

func TestParseCompression(t *testing.T) {
	for in, want := range map[string]Compression{"": CompressNone, "none": CompressNone, " ZSTD ": CompressZSTD, "deflate": CompressDeflate} {
		if got, err := ParseCompression(in); err != nil || got != want {
			t.Errorf("ParseCompression(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseCompression("lzw"); err == nil {
		t.Error("lzw accepted")
	}
}
