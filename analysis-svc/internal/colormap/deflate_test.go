package colormap

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/airbusgeo/godal"
)

// smoothMap is w x h palette indices of a smooth field with noise and
// transparent patches, as an index map looks.
func smoothMap(w, h int, seed uint64) []uint8 {
	rng := rand.New(rand.NewPCG(seed, 9))
	pix := make([]uint8, w*h)
	for i := range pix {
		x, y := i%w, i/w
		v := 128 + 100*math.Sin(float64(x)/23)*math.Cos(float64(y)/17) + rng.NormFloat64()*6
		pix[i] = uint8(max(1, min(Steps, v)))
		if (x/40+y/40)%7 == 0 {
			pix[i] = 0
		}
	}
	return pix
}

// fibonacciRow is one row holding value k F(k) times (k = 1..n): the
// histogram whose optimal Huffman code is n-1 bits deep, deeper than
// deflate allows from n = 17 on.
func fibonacciRow(n int) []uint8 {
	var row []uint8
	a, b := 1, 1
	for k := 1; k <= n; k++ {
		for range a {
			row = append(row, uint8(k))
		}
		a, b = b, a+b
	}
	rand.New(rand.NewPCG(5, 6)).Shuffle(len(row), func(i, j int) { row[i], row[j] = row[j], row[i] })
	return row
}

// TestHuffmanLengthsAreCompleteAndLimited: every code is complete (its
// Kraft sum is exactly 1, which decoders require), no deeper than the
// limit, gives a length to exactly the used symbols (and to a second one
// when only one is used), and for histograms that need no limiting is as
// short as the Huffman code's known total.
func TestHuffmanLengthsAreCompleteAndLimited(t *testing.T) {
	fib := func(n int) []int {
		f := make([]int, n)
		a, b := 1, 1
		for i := range f {
			f[i] = a
			a, b = b, a+b
		}
		return f
	}
	rng := rand.New(rand.NewPCG(1, 1))
	random := make([]int, numLiterals)
	for i := range random {
		if rng.IntN(3) > 0 {
			random[i] = rng.IntN(100000)
		}
	}
	cases := []struct {
		name  string
		freq  []int
		limit int
		total int // the optimal code's total bits, when known; 0 if not
	}{
		// Worked by hand: weights 1,1,2,4 give depths 3,3,2,1: 3+3+4+4.
		{"powers", []int{1, 1, 2, 4}, 15, 14},
		{"two", []int{5, 0, 0, 7}, 15, 12},
		{"one used", []int{0, 0, 9}, 15, 9},
		{"none used", make([]int, 19), 7, 0},
		{"flat 257", ones(257), 15, 0},
		{"fibonacci 30, deflate's limit", fib(30), 15, 0},
		{"fibonacci 19, code-length limit", fib(19), 7, 0},
		{"random", random, 15, 0},
	}
	for _, c := range cases {
		lengths := huffmanLengths(c.freq, c.limit)
		kraft, used, total, deepest := 0.0, 0, 0, 0
		for s, l := range lengths {
			if l > 0 {
				kraft += math.Ldexp(1, -int(l))
				used++
				deepest = max(deepest, int(l))
			}
			if c.freq[s] > 0 && l == 0 {
				t.Errorf("%s: symbol %d occurs %d times but has no code", c.name, s, c.freq[s])
			}
			total += c.freq[s] * int(l)
		}
		if kraft != 1 {
			t.Errorf("%s: Kraft sum %v, want 1 (a complete code)", c.name, kraft)
		}
		if deepest > c.limit {
			t.Errorf("%s: a code of %d bits, limit %d", c.name, deepest, c.limit)
		}
		if used < 2 {
			t.Errorf("%s: %d symbols have a code, want at least 2", c.name, used)
		}
		if c.total > 0 && total != c.total {
			t.Errorf("%s: %d bits in all, want %d", c.name, total, c.total)
		}
	}
	// Unlimited, the Fibonacci code is 29 deep: the limit did bind.
	if _, deepest := huffmanDepths(fib(30)); deepest != 29 {
		t.Errorf("fibonacci 30 unlimited: %d deep, want 29", deepest)
	}
}

func noise(w, h int) []uint8 {
	rng := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	pix := make([]uint8, w*h)
	for i := range pix {
		pix[i] = uint8(rng.Uint32())
	}
	return pix
}

func ones(n int) []int {
	f := make([]int, n)
	for i := range f {
		f[i] = 1
	}
	return f
}

// TestScanlinesDecodeWithZlibAndGDAL: the stream inflates, with Go's
// compress/zlib (it checks the Adler-32) and through GDAL's PNG driver
// (libpng and zlib, whose inflate refuses incomplete and over-subscribed
// codes), to the filter bytes and rows it was given. Cases: one pixel, a
// single row or column, a constant image (two symbols), a map of many
// blocks, all 256 values, and rows whose histogram needs a depth limit.
func TestScanlinesDecodeWithZlibAndGDAL(t *testing.T) {
	all := make([]uint8, 256*3)
	for i := range all {
		all[i] = uint8(i * 7)
	}
	fibRow := fibonacciRow(25)
	type img struct {
		name string
		pix  []uint8
		w, h int
	}
	cases := []img{
		{"1x1", []uint8{42}, 1, 1},
		{"row", smoothMap(97, 1, 1), 97, 1},
		{"column", smoothMap(1, 300, 2), 1, 300},
		{"constant 0", make([]uint8, 64*64), 64, 64},
		{"map 1200x700", smoothMap(1200, 700, 3), 1200, 700},
		{"every value", all, 256, 3},
		// Narrow and tall: many blocks, and block headers that start
		// with the buffer nearly full.
		{"column of noise", noise(1, 400000), 1, 400000},
		{"two columns of noise", noise(2, 150000), 2, 150000},
		{"fibonacci rows", append(slices.Clone(fibRow), fibRow...), len(fibRow), 2},
	}
	if err := godal.RegisterRaster(godal.DriverName("PNG")); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		var z bytes.Buffer
		if err := writeScanlines(&z, c.pix, c.w, c.h); err != nil {
			t.Fatal(err)
		}
		zr, err := zlib.NewReader(bytes.NewReader(z.Bytes()))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: inflate: %v", c.name, err)
		}
		var want []byte
		for y := range c.h {
			want = append(want, 0)
			want = append(want, c.pix[y*c.w:(y+1)*c.w]...)
		}
		if !bytes.Equal(raw, want) {
			t.Errorf("%s: inflated %d bytes differ from the %d scanline bytes", c.name, len(raw), len(want))
		}

		path := filepath.Join(t.TempDir(), "map.png")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := encodePaletted(f, c.pix, c.w, c.h, palette()); err != nil {
			t.Fatal(err)
		}
		f.Close()
		ds, err := godal.Open(path)
		if err != nil {
			t.Fatalf("%s: GDAL opens the PNG: %v", c.name, err)
		}
		got := make([]uint8, c.w*c.h)
		if err := ds.Read(0, 0, got, c.w, c.h); err != nil {
			t.Fatalf("%s: GDAL reads the PNG: %v", c.name, err)
		}
		ds.Close()
		if !bytes.Equal(got, c.pix) {
			t.Errorf("%s: GDAL read other palette indices", c.name)
		}
	}
}

// TestScanlinesCompressLikeFlateHuffmanOnly: on a map, the output is
// within 1% of the size compress/flate's HuffmanOnly level gives (the
// encoder it replaced): whole-row blocks of about 64 KiB adapt the code
// across the image as flate's 64 KiB blocks do. One code for the whole
// image was 6% larger.
func TestScanlinesCompressLikeFlateHuffmanOnly(t *testing.T) {
	const w, h = 1500, 1000
	pix := smoothMap(w, h, 4)
	var ours, theirs bytes.Buffer
	if err := writeScanlines(&ours, pix, w, h); err != nil {
		t.Fatal(err)
	}
	flateHuffmanOnly(&theirs, pix, w, h)
	if r := float64(ours.Len()) / float64(theirs.Len()); r > 1.01 {
		t.Errorf("%d bytes, compress/flate HuffmanOnly %d: %.3f of it", ours.Len(), theirs.Len(), r)
	}
}

func flateHuffmanOnly(w io.Writer, pix []uint8, width, height int) {
	z, _ := zlib.NewWriterLevel(w, flate.HuffmanOnly)
	for y := range height {
		z.Write([]byte{0})
		z.Write(pix[y*width : (y+1)*width])
	}
	z.Close()
}

// BenchmarkScanlines codes a 20 MP map's scanlines, and does the same with
// compress/flate's HuffmanOnly level in the same run for the ratio.
func BenchmarkScanlines(b *testing.B) {
	const w, h = 5472, 3648
	pix := smoothMap(w, h, 5)
	for _, c := range []struct {
		name string
		fn   func(io.Writer)
	}{
		{"ours", func(out io.Writer) { _ = writeScanlines(out, pix, w, h) }},
		{"flate-huffman-only", func(out io.Writer) { flateHuffmanOnly(out, pix, w, h) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(w * h)
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				c.fn(&buf)
			}
			b.ReportMetric(float64(buf.Len())/(w*h), "bytes/pixel")
		})
	}
}

// TestBitWriterHasRoomForAHeaderAfterAFullRow: a block header begun with
// the buffer just short of its flush point, after a row of the longest
// codes, fits (one that did not would panic). Which position a block
// starts at depends on the image, so this is forced here.
func TestBitWriterHasRoomForAHeaderAfterAFullRow(t *testing.T) {
	// A code as deep as deflate allows for many symbols, and code lengths
	// spread over every value, so the header's codes are long too.
	lit := make([]uint8, numLiterals)
	for i := range lit {
		lit[i] = uint8(1 + i%maxLiteralBits)
	}
	deep := huffmanLengths(fibonacciFreq(numLiterals), maxLiteralBits)
	for _, width := range []int{1, 2, 1000} {
		bw := newBitWriter(io.Discard, width)
		var codes [numLiterals]code
		for i := range codes {
			codes[i] = code{bits: 0x7fff, len: maxLiteralBits}
		}
		bw.o = flushSize - 1
		bw.symbols(&codes, make([]byte, width+1))
		bw.blockHeader(lit, false)
		bw.blockHeader(deep, true)
		bw.put(0x7fff, maxLiteralBits)
		bw.align()
		bw.bigEndian32(1)
	}
}

func fibonacciFreq(n int) []int {
	f := make([]int, n)
	a, b := 1, 1
	for i := range f {
		f[i] = a
		a, b = b, (a+b)%1000003
	}
	return f
}
