package exif_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/canopyag/canopy/platform/exif"
	"github.com/canopyag/canopy/platform/shareddata"
)

// FuzzRead checks that Read never panics, never hangs and keeps its output
// invariants (see checkInvariants) on arbitrary input. It is seeded with the
// real drone files from the shared data folder, when present (made compact
// by fuzzSeed), and with the synthetic files the other tests build.
//
//	go test -run='^$' -fuzz=FuzzRead -fuzztime=60s ./exif/
func FuzzRead(f *testing.F) {
	if dir, err := shareddata.Find(); err == nil {
		for _, tc := range realCases {
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(tc.file)))
			if err != nil {
				f.Logf("seed %s skipped: %v", tc.file, err)
				continue
			}
			f.Add(fuzzSeed(data))
		}
	} else {
		f.Logf("shared data not found (%v); fuzzing synthetic seeds only", err)
	}

	for _, l := range layouts {
		for _, data := range containers(l, l.build(sampleIFD0(gpsEntries()))) {
			f.Add(data)
		}
		f.Add(l.build(sampleIFD0([]tEntry{bytes1(gpsVersion, 2, 2, 0, 0), ascii(gpsStatus, "V")})))
		f.Add(l.build(sampleIFD0(with(gpsEntries(), rats(gpsLat, [2]uint32{39, 1})))))
		f.Add(l.build(sampleIFD0(with(gpsEntries(), rats(gpsLat, [2]uint32{39, 1}, [2]uint32{54, 1}, [2]uint32{0, 0})))))
		f.Add(l.build(sampleIFD0(without(gpsEntries(), gpsLatRef, gpsLonRef))))
		cyclic := &tIFD{entries: []tEntry{ascii(tagMake, "Canopy")}}
		cyclic.entries = append(cyclic.entries, pointer(tagExifIFD, cyclic), pointer(tagGPSIFD, cyclic))
		f.Add(l.build(cyclic))
	}
	f.Add(wrapJPEG(nil, true))
	f.Add([]byte{})
	f.Add([]byte{0xFF, 0xD8})

	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := exif.Read(bytes.NewReader(data), int64(len(data)))
		checkInvariants(t, md, err)
	})
}

const maxSeed = 64 << 10

// fuzzSeed shrinks a real file to a small input that still holds all of its
// metadata, so the fuzzer mutates structure rather than pixels.
//
// A JPEG keeps its segments up to the start of scan (at most 64 KiB). Many TIFF writers (MicaSense, Parrot, GDAL) put the IFDs after the
// pixel data, megabytes in; for those the header is glued to the tail that
// holds IFD0, the Exif and GPS IFDs and their values, and the offsets that
// point into the tail are moved. Offsets into pixel data (strip offsets)
// are left dangling; this package does not read them.
func fuzzSeed(data []byte) []byte {
	if bytes.HasPrefix(data, []byte{0xFF, 0xD8}) {
		return data[:min(len(data), jpegHeaderLen(data), maxSeed)]
	}
	if len(data) <= maxSeed {
		return data
	}
	if bytes.HasPrefix(data, []byte("II*\x00")) || bytes.HasPrefix(data, []byte("MM\x00*")) {
		if s := compactTIFF(data); s != nil {
			return s
		}
	}
	return data[:maxSeed]
}

// jpegHeaderLen is the offset just past the SOS marker (the reader stops
// there), or len(data) if there is none.
func jpegHeaderLen(data []byte) int {
	pos := 2
	for pos+4 <= len(data) && data[pos] == 0xFF {
		if data[pos+1] == 0xDA {
			return pos + 2
		}
		pos += 2 + (int(data[pos+2])<<8 | int(data[pos+3]))
	}
	return len(data)
}

// compactTIFF implements fuzzSeed for classic TIFF; nil if it cannot.
func compactTIFF(data []byte) []byte {
	var bo binary.ByteOrder = binary.LittleEndian
	if data[0] == 'M' {
		bo = binary.BigEndian
	}
	u16 := func(off uint64) uint64 { return uint64(bo.Uint16(data[off:])) }
	u32 := func(off uint64) uint64 { return uint64(bo.Uint32(data[off:])) }
	sizes := map[uint64]uint64{1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
	pointerTags := map[uint64]bool{0x8769: true, 0x8825: true, 0xA005: true}
	size := uint64(len(data))

	// Walk IFD0 and the sub-IFDs, noting the lowest offset any of them
	// (or any out-of-line value) uses.
	type ifdInfo struct{ off, n uint64 }
	var ifds []ifdInfo
	cut := uint64(math.MaxUint64)
	queue := []uint64{u32(4)}
	seen := map[uint64]bool{}
	for len(queue) > 0 {
		off := queue[0]
		queue = queue[1:]
		if seen[off] || off+2 > size {
			continue
		}
		seen[off] = true
		n := u16(off)
		if off+2+12*n+4 > size {
			return nil
		}
		ifds = append(ifds, ifdInfo{off, n})
		cut = min(cut, off)
		for i := range n {
			e := off + 2 + 12*i
			tag, typ, count := u16(e), u16(e+2), u32(e+4)
			if pointerTags[tag] {
				queue = append(queue, u32(e+8))
			}
			if sz := sizes[typ] * count; sz > 4 && tag != 0x0111 && tag != 0x0117 && tag != 0x0144 && tag != 0x0145 {
				cut = min(cut, u32(e+8)) // not strip/tile offsets or byte counts
			}
		}
	}
	if cut < 8 || cut == math.MaxUint64 || size-cut > maxSeed {
		return nil
	}
	delta := cut - 8
	out := append(bytes.Clone(data[:8]), data[cut:]...)
	put := func(off, v uint64) { bo.PutUint32(out[off-delta:], uint32(v)) }
	fix := func(v uint64) uint64 {
		if v >= cut {
			return v - delta
		}
		return v
	}
	bo.PutUint32(out[4:], uint32(u32(4)-delta))
	for _, d := range ifds {
		for i := range d.n {
			e := d.off + 2 + 12*i
			tag, typ, count := u16(e), u16(e+2), u32(e+4)
			if pointerTags[tag] || sizes[typ]*count > 4 {
				put(e+8, fix(u32(e+8)))
			}
		}
		put(d.off+2+12*d.n, 0) // next IFD: not followed by the reader
	}
	return out
}

// TestFuzzSeedsKeepMetadata: the compact seeds must read exactly like the
// files they come from, or the fuzzer would start from nothing.
func TestFuzzSeedsKeepMetadata(t *testing.T) {
	dir := requireSharedData(t)
	for _, tc := range realCases {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			seed := fuzzSeed(data)
			if len(seed) > maxSeed {
				t.Errorf("seed is %d bytes", len(seed))
			}
			want, wantErr := read(t, data)
			got, gotErr := read(t, seed)
			if !reflect.DeepEqual(got, want) || (gotErr == nil) != (wantErr == nil) {
				t.Errorf("seed (%d bytes) reads as %+v, %v; file reads as %+v, %v", len(seed), got, gotErr, want, wantErr)
			}
		})
	}
}
