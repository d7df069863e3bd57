package colormap

import (
	"cmp"
	"encoding/binary"
	"hash/adler32"
	"io"
	"slices"
)

// writeScanlines writes the zlib stream (RFC 1950) of a paletted PNG's
// scanlines, each a filter-type byte 0 and a row of pix, as deflate blocks
// (RFC 1951 section 3.2.7) of literals only, each coded with a Huffman
// code built from its own histogram.
//
// compress/flate's HuffmanOnly level writes the same kind of stream, a
// block per 64 KiB of input; here a block is whole rows of about 64 KiB,
// so the code still follows the map from one part of the image to the
// next, and the coding loop packs three codes a step without a branch
// (symbols): 0.66-0.80 of flate's time for the same size
// (BenchmarkScanlines). Maps are drawn for every index of every image.
func writeScanlines(w io.Writer, pix []uint8, width, height int) error {
	bw := newBitWriter(w, width)
	bw.put(0x78, 8) // zlib: deflate, 32 KiB window
	bw.put(0x01, 8) // no dictionary, fastest; the header's check bits
	adler := adler32.New()
	filter := []byte{0}
	rowsPerBlock := max(1, blockSize/(width+1))
	for y0 := 0; y0 < height; y0 += rowsPerBlock {
		y1 := min(height, y0+rowsPerBlock)
		var freq [numLiterals]int
		histogram(&freq, pix[y0*width:y1*width])
		freq[0] += y1 - y0 // the filter bytes
		freq[endOfBlock] = 1
		lit := huffmanLengths(freq[:], maxLiteralBits)
		codes := canonicalCodes(lit)
		bw.blockHeader(lit, y1 == height)
		for y := y0; y < y1; y++ {
			row := pix[y*width : (y+1)*width]
			adler.Write(filter)
			adler.Write(row)
			bw.symbols(&codes, filter)
			bw.symbols(&codes, row)
			if bw.o >= flushSize {
				bw.flush()
			}
		}
		c := codes[endOfBlock]
		bw.put(uint64(c.bits), uint(c.len))
	}
	bw.align()
	bw.bigEndian32(adler.Sum32())
	bw.flush()
	return bw.err
}

// blockHeader starts a dynamic-Huffman block whose literal/length code has
// the code lengths lit. The code lengths, then that of the one distance
// code (a single code of length 1: no match is ever sent, and decoders
// accept that incomplete code), go out coded with a second Huffman code,
// one by one, without run lengths: 258 of them are 100-200 bytes.
func (b *bitWriter) blockHeader(lit []uint8, final bool) {
	lengths := append(slices.Clone(lit), 1)
	var clFreq [numCodeLengthCodes]int
	for _, l := range lengths {
		clFreq[l]++
	}
	cl := huffmanLengths(clFreq[:], maxCodeLengthBits)
	ncl := numCodeLengthCodes
	for ncl > 4 && cl[codeLengthOrder[ncl-1]] == 0 {
		ncl--
	}
	if final {
		b.put(1, 1) // BFINAL
	} else {
		b.put(0, 1)
	}
	b.put(2, 2)                       // BTYPE: dynamic Huffman codes
	b.put(uint64(numLiterals-257), 5) // HLIT
	b.put(0, 5)                       // HDIST: one distance code
	b.put(uint64(ncl-4), 4)           // HCLEN
	for _, sym := range codeLengthOrder[:ncl] {
		b.put(uint64(cl[sym]), 3)
	}
	clCodes := canonicalCodes(cl)
	for _, l := range lengths {
		c := clCodes[l]
		b.put(uint64(c.bits), uint(c.len))
	}
}

const (
	numLiterals        = 257 // the 256 byte values and end-of-block
	endOfBlock         = 256
	maxLiteralBits     = 15
	numCodeLengthCodes = 19
	maxCodeLengthBits  = 7
	flushSize          = 64 << 10 // also the size of each IDAT chunk
	blockSize          = 64 << 10 // bytes of scanlines per deflate block
)

// The order in which the code-length code's lengths are sent (RFC 1951).
var codeLengthOrder = [numCodeLengthCodes]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// histogram adds the count of each byte value of pix to freq. Four
// tables, summed at the end, keep runs of equal bytes (common in a map)
// from waiting on their own previous increment.
func histogram(freq *[numLiterals]int, pix []uint8) {
	var h [4][256]uint32
	i := 0
	for ; i+4 <= len(pix); i += 4 {
		h[0][pix[i]]++
		h[1][pix[i+1]]++
		h[2][pix[i+2]]++
		h[3][pix[i+3]]++
	}
	for ; i < len(pix); i++ {
		h[0][pix[i]]++
	}
	for v := range 256 {
		freq[v] += int(h[0][v]) + int(h[1][v]) + int(h[2][v]) + int(h[3][v])
	}
}

// huffmanLengths returns a code length for each symbol of freq (0 for a
// symbol that never occurs) of a prefix code no longer than maxBits. When
// the optimal code is too deep, the counts are halved (keeping every used
// symbol at least 1) until it fits: a little longer output, only for
// histograms far more skewed than any map's. At least two symbols always
// get a code, so the code is complete, as decoders require.
func huffmanLengths(freq []int, maxBits int) []uint8 {
	f := slices.Clone(freq)
	used := 0
	for _, v := range f {
		if v > 0 {
			used++
		}
	}
	for i := 0; used < 2; i++ {
		if f[i] == 0 {
			f[i] = 1
			used++
		}
	}
	for {
		lengths, deepest := huffmanDepths(f)
		if deepest <= maxBits {
			return lengths
		}
		for i, v := range f {
			if v > 0 {
				f[i] = max(1, v/2)
			}
		}
	}
}

// huffmanDepths builds a Huffman tree over the used symbols of f with the
// two-queue method and returns each symbol's depth and the largest.
func huffmanDepths(f []int) ([]uint8, int) {
	type node struct {
		weight int
		parent int // index in nodes; -1 for the root
	}
	var leaves []int // symbols, by weight
	for s, v := range f {
		if v > 0 {
			leaves = append(leaves, s)
		}
	}
	slices.SortFunc(leaves, func(a, b int) int { return cmp.Or(f[a]-f[b], a-b) })
	nodes := make([]node, 0, 2*len(leaves))
	for _, s := range leaves {
		nodes = append(nodes, node{weight: f[s], parent: -1})
	}
	// Leaves are nodes[0:len(leaves)] in weight order; internal nodes are
	// appended in weight order too, so the two lightest are always at the
	// heads of the two queues.
	nextLeaf, nextInner := 0, len(leaves)
	take := func() int {
		if nextLeaf < len(leaves) && (nextInner >= len(nodes) || nodes[nextLeaf].weight <= nodes[nextInner].weight) {
			nextLeaf++
			return nextLeaf - 1
		}
		nextInner++
		return nextInner - 1
	}
	for range len(leaves) - 1 {
		a, b := take(), take()
		nodes = append(nodes, node{weight: nodes[a].weight + nodes[b].weight, parent: -1})
		nodes[a].parent, nodes[b].parent = len(nodes)-1, len(nodes)-1
	}
	// Parents come after their children, so depths fill in from the root.
	depth := make([]int, len(nodes))
	for i := len(nodes) - 2; i >= 0; i-- {
		depth[i] = depth[nodes[i].parent] + 1
	}
	lengths := make([]uint8, len(f))
	deepest := 0
	for i, s := range leaves {
		lengths[s] = uint8(depth[i])
		deepest = max(deepest, depth[i])
	}
	return lengths, deepest
}

// code is a Huffman code with its bits reversed: deflate sends a code's
// bits from its most significant one, into a stream packed from the least
// significant bit of each byte.
type code struct {
	bits uint16
	len  uint8
}

// canonicalCodes assigns the canonical codes of RFC 1951 section 3.2.2
// to lengths.
func canonicalCodes(lengths []uint8) [numLiterals]code {
	var count [maxLiteralBits + 1]int
	for _, l := range lengths {
		count[l]++
	}
	count[0] = 0
	var next [maxLiteralBits + 2]int
	c := 0
	for bits := 1; bits <= maxLiteralBits; bits++ {
		c = (c + count[bits-1]) << 1
		next[bits] = c
	}
	var codes [numLiterals]code
	for s, l := range lengths {
		if l == 0 {
			continue
		}
		v := next[l]
		next[l]++
		var r uint16
		for range l {
			r = r<<1 | uint16(v&1)
			v >>= 1
		}
		codes[s] = code{bits: r, len: l}
	}
	return codes
}

// bitWriter packs bits least significant first into buf, which goes to w
// whenever flush is called. Every step stores all eight bytes of the
// accumulator and moves on by the whole bytes it held: no branch on
// whether a byte is full, which the coding loop would mispredict every few
// symbols. buf must keep room for the output of a row beyond flushSize.
type bitWriter struct {
	w   io.Writer
	buf []byte
	o   int    // bytes of buf in use
	acc uint64 // the n bits not yet in buf (n < 8 between calls)
	n   uint
	err error
}

func newBitWriter(w io.Writer, width int) *bitWriter {
	// Past flushSize, buf takes what may come before the next flush: a
	// block header (at most 17+19*3+258*7 bits, 235 bytes), a row of at
	// most width+1 codes of 15 bits, the end-of-block code and the
	// checksum, and 8 bytes for the store of a whole accumulator.
	return &bitWriter{w: w, buf: make([]byte, flushSize+maxHeaderBytes+2*(width+1)+16)}
}

const maxHeaderBytes = (17 + numCodeLengthCodes*3 + (numLiterals+1)*maxCodeLengthBits + 7) / 8

// put writes the low n bits of v, n <= 32.
func (b *bitWriter) put(v uint64, n uint) {
	b.acc |= v << b.n
	b.n += n
	b.drain()
}

func (b *bitWriter) drain() {
	binary.LittleEndian.PutUint64(b.buf[b.o:], b.acc)
	k := b.n >> 3
	b.o += int(k)
	b.acc >>= k * 8
	b.n &= 7
}

// symbols writes the code of each byte of p: the encoder's hot loop.
// Three codes of at most 15 bits on top of fewer than 8 pending bits fit
// the 64-bit accumulator.
func (b *bitWriter) symbols(codes *[numLiterals]code, p []byte) {
	acc, n, o, buf := b.acc, b.n, b.o, b.buf
	i := 0
	for ; i+3 <= len(p); i += 3 {
		c0, c1, c2 := codes[p[i]], codes[p[i+1]], codes[p[i+2]]
		// The three codes are joined first, apart from the accumulator,
		// so only one shift and one add wait on the previous step.
		// Shift counts are masked to 63 (none is larger) so that the
		// compiler leaves out its check for larger ones.
		l01 := uint(c0.len) + uint(c1.len)
		v := uint64(c0.bits) | uint64(c1.bits)<<(c0.len&63) | uint64(c2.bits)<<(l01&63)
		acc |= v << (n & 63)
		n += l01 + uint(c2.len)
		binary.LittleEndian.PutUint64(buf[o:], acc)
		k := n >> 3
		o += int(k)
		acc >>= (k * 8) & 63
		n &= 7
	}
	b.acc, b.n, b.o = acc, n, o
	for _, v := range p[i:] {
		c := codes[v]
		b.put(uint64(c.bits), uint(c.len))
	}
}

// align pads the last byte with zero bits.
func (b *bitWriter) align() {
	if b.n > 0 {
		b.n = 8
		b.drain()
	}
}

// bigEndian32 appends v, most significant byte first, at a byte boundary.
func (b *bitWriter) bigEndian32(v uint32) {
	binary.BigEndian.PutUint32(b.buf[b.o:], v)
	b.o += 4
}

func (b *bitWriter) flush() {
	if b.err == nil && b.o > 0 {
		_, b.err = b.w.Write(b.buf[:b.o])
	}
	// The pending bits stay in the accumulator; buf restarts empty.
	b.o = 0
}
