package raster

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
)

// tiffTags are the IFD0 tags GDAL 3.6 does not expose: its GTiff driver puts
// the EXIF sub-IFD in the "EXIF" metadata domain but skips Make, Model,
// Orientation and the DNG BlackLevel tag that MicaSense and Sequoia write
// into IFD0, and the raw-DN normalisation needs the black level.
type tiffTags struct {
	Make, Model string
	Orientation int
	BlackLevel  []float64
}

const (
	tagMake        = 271
	tagModel       = 272
	tagOrientation = 274
	tagBlackLevel  = 50714 // DNG BlackLevel
)

// readTIFFTags reads the few IFD0 tags above from a classic (not Big) TIFF.
// Files that are not TIFF give zero tags and no error; damaged offsets give
// an error only if the header claimed to be TIFF. Reads are bounded, so a
// hostile file cannot make it allocate much.
func readTIFFTags(r io.ReaderAt) (tiffTags, error) {
	var t tiffTags
	var hdr [8]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return t, nil // too short to be a TIFF; GDAL will say what it is
	}
	var bo binary.ByteOrder
	switch string(hdr[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return t, nil
	}
	if bo.Uint16(hdr[2:]) != 42 { // 43 is BigTIFF, which cameras do not write
		return t, nil
	}
	off := int64(bo.Uint32(hdr[4:]))
	var cnt [2]byte
	if _, err := r.ReadAt(cnt[:], off); err != nil {
		return t, errors.New("TIFF IFD0 offset past end of file")
	}
	n := int(bo.Uint16(cnt[:]))
	if n > 4096 {
		return t, errors.New("TIFF IFD0 claims more than 4096 entries")
	}
	entries := make([]byte, 12*n)
	if _, err := r.ReadAt(entries, off+2); err != nil {
		return t, errors.New("TIFF IFD0 truncated")
	}
	for i := 0; i < n; i++ {
		e := entries[12*i : 12*i+12]
		tag, typ, count := bo.Uint16(e), bo.Uint16(e[2:]), bo.Uint32(e[4:])
		switch tag {
		case tagMake, tagModel, tagOrientation, tagBlackLevel:
		default:
			continue
		}
		vals, str, err := tiffValues(r, bo, typ, count, e[8:12])
		if err != nil {
			return t, err
		}
		switch tag {
		case tagMake:
			t.Make = str
		case tagModel:
			t.Model = str
		case tagOrientation:
			if len(vals) > 0 {
				t.Orientation = int(vals[0])
			}
		case tagBlackLevel:
			t.BlackLevel = vals
		}
	}
	return t, nil
}

// tiffValues decodes one entry's value: numbers for the integer, rational
// and float types, a string for ASCII.
func tiffValues(r io.ReaderAt, bo binary.ByteOrder, typ uint16, count uint32, inline []byte) ([]float64, string, error) {
	sizes := map[uint16]int{1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
	size, ok := sizes[typ]
	if !ok || count == 0 {
		return nil, "", nil
	}
	if count > 1024 {
		return nil, "", errors.New("TIFF tag value too long")
	}
	n := int(count) * size
	buf := inline[:min(n, 4)]
	if n > 4 {
		buf = make([]byte, n)
		if _, err := r.ReadAt(buf, int64(bo.Uint32(inline))); err != nil {
			return nil, "", errors.New("TIFF tag value past end of file")
		}
	}
	if typ == 2 {
		return nil, strings.TrimRight(string(buf), "\x00 "), nil
	}
	out := make([]float64, count)
	for i := range out {
		b := buf[i*size:]
		switch typ {
		case 1, 7:
			out[i] = float64(b[0])
		case 6:
			out[i] = float64(int8(b[0]))
		case 3:
			out[i] = float64(bo.Uint16(b))
		case 8:
			out[i] = float64(int16(bo.Uint16(b)))
		case 4:
			out[i] = float64(bo.Uint32(b))
		case 9:
			out[i] = float64(int32(bo.Uint32(b)))
		case 5:
			out[i] = float64(bo.Uint32(b)) / float64(bo.Uint32(b[4:]))
		case 10:
			out[i] = float64(int32(bo.Uint32(b))) / float64(int32(bo.Uint32(b[4:])))
		case 11:
			out[i] = float64(math.Float32frombits(bo.Uint32(b)))
		case 12:
			out[i] = math.Float64frombits(bo.Uint64(b))
		}
	}
	return out, "", nil
}
