package exif

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Tags read by this package.
const (
	tagMake             = 0x010F
	tagModel            = 0x0110
	tagOrientation      = 0x0112
	tagDateTime         = 0x0132
	tagExifIFD          = 0x8769
	tagGPSIFD           = 0x8825
	tagDateTimeOriginal = 0x9003
	tagOffsetTime       = 0x9010
	tagOffsetTimeOrig   = 0x9011
	tagSubSecTime       = 0x9290
	tagSubSecTimeOrig   = 0x9291

	tagGPSLatitudeRef  = 0x0001
	tagGPSLatitude     = 0x0002
	tagGPSLongitudeRef = 0x0003
	tagGPSLongitude    = 0x0004
	tagGPSAltitudeRef  = 0x0005
	tagGPSAltitude     = 0x0006
	tagGPSStatus       = 0x0009
)

// TIFF field types used here (TIFF 6.0 and BigTIFF).
const (
	typeByte      = 1
	typeASCII     = 2
	typeShort     = 3
	typeLong      = 4
	typeRational  = 5
	typeUndefined = 7
	typeIFD       = 13
	typeLong8     = 16
	typeIFD8      = 18
)

// typeSize is the byte size of one value of a TIFF field type, 0 if unknown.
func typeSize(typ uint16) uint64 {
	switch typ {
	case 1, 2, 6, 7: // BYTE, ASCII, SBYTE, UNDEFINED
		return 1
	case 3, 8: // SHORT, SSHORT
		return 2
	case 4, 9, 11, 13: // LONG, SLONG, FLOAT, IFD
		return 4
	case 5, 10, 12, 16, 17, 18: // RATIONAL, SRATIONAL, DOUBLE, LONG8, SLONG8, IFD8
		return 8
	}
	return 0
}

const (
	// maxIFDEntries bounds one IFD. Classic TIFF cannot exceed it; a
	// BigTIFF claiming more is treated as corrupt rather than trusted.
	maxIFDEntries = 1<<16 - 1
	// maxStringLen bounds the text read from one ASCII tag.
	maxStringLen = 256
)

// tiffFile is a TIFF or BigTIFF structure over size bytes of r. Offsets are
// relative to the start of r (the TIFF header).
type tiffFile struct {
	r    io.ReaderAt
	size int64
	bo   binary.ByteOrder
	big  bool // BigTIFF: 8-byte offsets and counts, 20-byte entries
}

type entry struct {
	tag, typ uint16
	count    uint64
	field    [8]byte // the value-or-offset field, 4 (classic) or 8 (BigTIFF) bytes used
}

type ifd struct {
	entries []entry
}

// find returns the first entry with the given tag.
func (d *ifd) find(tag uint16) (entry, bool) {
	for _, e := range d.entries {
		if e.tag == tag {
			return e, true
		}
	}
	return entry{}, false
}

// openTIFF parses the header and returns the file and the offset of IFD0.
func openTIFF(r io.ReaderAt, size int64) (*tiffFile, int64, error) {
	var h [16]byte
	if err := readAt(r, size, 0, h[:8]); err != nil {
		return nil, 0, fmt.Errorf("read header: %w", err)
	}
	t := &tiffFile{r: r, size: size}
	switch string(h[:2]) {
	case "II":
		t.bo = binary.LittleEndian
	case "MM":
		t.bo = binary.BigEndian
	default:
		return nil, 0, fmt.Errorf("bad byte order mark % x", h[:2])
	}
	switch v := t.bo.Uint16(h[2:4]); v {
	case 42:
		return t, int64(t.bo.Uint32(h[4:8])), nil
	case 43:
		t.big = true
		if err := readAt(r, size, 8, h[8:16]); err != nil {
			return nil, 0, fmt.Errorf("read bigtiff header: %w", err)
		}
		if bs := t.bo.Uint16(h[4:6]); bs != 8 {
			return nil, 0, fmt.Errorf("bigtiff offset size is %d, want 8", bs)
		}
		off := t.bo.Uint64(h[8:16])
		if off > math.MaxInt64 {
			return nil, 0, fmt.Errorf("bigtiff ifd0 offset %d out of range", off)
		}
		return t, int64(off), nil
	default:
		return nil, 0, fmt.Errorf("bad tiff version %d (want 42 or 43)", v)
	}
}

// readIFD reads the entries of the IFD at off. The entry count is checked
// against maxIFDEntries and the file size before anything is allocated.
func (t *tiffFile) readIFD(off int64) (*ifd, error) {
	countSize, entrySize := int64(2), int64(12)
	if t.big {
		countSize, entrySize = 8, 20
	}
	var cb [8]byte
	if err := readAt(t.r, t.size, off, cb[:countSize]); err != nil {
		return nil, fmt.Errorf("read entry count: %w", err)
	}
	var count uint64
	if t.big {
		count = t.bo.Uint64(cb[:8])
	} else {
		count = uint64(t.bo.Uint16(cb[:2]))
	}
	if count > maxIFDEntries {
		return nil, fmt.Errorf("ifd claims %d entries (limit %d)", count, maxIFDEntries)
	}
	n := int64(count) * entrySize
	if !fits(t.size, off+countSize, n) {
		return nil, fmt.Errorf("ifd claims %d entries (%d bytes) but only %d bytes follow", count, n, max(0, t.size-off-countSize))
	}
	buf := make([]byte, n)
	if err := readAt(t.r, t.size, off+countSize, buf); err != nil {
		return nil, fmt.Errorf("read %d entries: %w", count, err)
	}
	d := &ifd{entries: make([]entry, count)}
	for i := range d.entries {
		b := buf[int64(i)*entrySize:]
		e := &d.entries[i]
		e.tag = t.bo.Uint16(b[0:2])
		e.typ = t.bo.Uint16(b[2:4])
		if t.big {
			e.count = t.bo.Uint64(b[4:12])
			copy(e.field[:], b[12:20])
		} else {
			e.count = uint64(t.bo.Uint32(b[4:8]))
			copy(e.field[:4], b[8:12])
		}
	}
	return d, nil
}

// values returns the raw bytes of the first min(e.count, want) values of e.
// The whole claimed extent must lie inside the file, but only what is
// wanted is read, so a huge count never causes a huge allocation.
func (t *tiffFile) values(e entry, want uint64) ([]byte, error) {
	sz := typeSize(e.typ)
	if sz == 0 {
		return nil, fmt.Errorf("unknown field type %d", e.typ)
	}
	if e.count > uint64(t.size)/sz {
		return nil, fmt.Errorf("claims %d values of %d bytes, more than the %d-byte file holds", e.count, sz, t.size)
	}
	total := e.count * sz
	n := min(e.count, want) * sz
	inline := uint64(4)
	if t.big {
		inline = 8
	}
	if total <= inline {
		out := make([]byte, n)
		copy(out, e.field[:n])
		return out, nil
	}
	var off uint64
	if t.big {
		off = t.bo.Uint64(e.field[:8])
	} else {
		off = uint64(t.bo.Uint32(e.field[:4]))
	}
	if off > uint64(t.size) || total > uint64(t.size)-off {
		return nil, fmt.Errorf("%d-byte value at offset %d runs past end of file (size %d)", total, off, t.size)
	}
	out := make([]byte, n)
	if err := readAt(t.r, t.size, int64(off), out); err != nil {
		return nil, err
	}
	return out, nil
}

// str reads an ASCII value (BYTE and UNDEFINED are tolerated). truncated
// reports that the value was longer than maxStringLen.
func (t *tiffFile) str(e entry) (s string, truncated bool, err error) {
	if e.typ != typeASCII && e.typ != typeByte && e.typ != typeUndefined {
		return "", false, fmt.Errorf("type %d, want ASCII", e.typ)
	}
	b, err := t.values(e, maxStringLen)
	if err != nil {
		return "", false, err
	}
	return cleanString(b), e.count > maxStringLen, nil
}

// uint reads the first value of an unsigned integer (or IFD pointer) field.
func (t *tiffFile) uint(e entry) (uint64, error) {
	switch e.typ {
	case typeByte, typeShort, typeLong, typeIFD, typeLong8, typeIFD8:
	default:
		return 0, fmt.Errorf("type %d, want an unsigned integer", e.typ)
	}
	if e.count == 0 {
		return 0, fmt.Errorf("no values")
	}
	b, err := t.values(e, 1)
	if err != nil {
		return 0, err
	}
	switch len(b) {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(t.bo.Uint16(b)), nil
	case 4:
		return uint64(t.bo.Uint32(b)), nil
	default:
		return t.bo.Uint64(b), nil
	}
}

type rational struct{ num, den uint32 }

// rationals reads up to want values of a RATIONAL field. Fewer are returned
// when the field has fewer; the caller decides whether that is enough.
func (t *tiffFile) rationals(e entry, want uint64) ([]rational, error) {
	if e.typ != typeRational {
		return nil, fmt.Errorf("type %d, want RATIONAL", e.typ)
	}
	b, err := t.values(e, want)
	if err != nil {
		return nil, err
	}
	out := make([]rational, len(b)/8)
	for i := range out {
		out[i] = rational{t.bo.Uint32(b[8*i:]), t.bo.Uint32(b[8*i+4:])}
	}
	return out, nil
}

// readTIFF extracts Metadata from a TIFF structure: IFD0, then the Exif and
// GPS sub-IFDs it points to. Each IFD is read at most once.
func readTIFF(r io.ReaderAt, size int64) (*Metadata, error) {
	t, off0, err := openTIFF(r, size)
	if err != nil {
		return nil, err
	}
	ifd0, err := t.readIFD(off0)
	if err != nil {
		return nil, fmt.Errorf("read ifd0 at offset %d: %w", off0, err)
	}
	md := &Metadata{}
	visited := []int64{off0}

	// sub reads the sub-IFD that tag in parent points to; nil if absent or
	// unusable (with a warning).
	sub := func(parent *ifd, tag uint16, name string) *ifd {
		e, ok := parent.find(tag)
		if !ok {
			return nil
		}
		v, err := t.uint(e)
		if err != nil {
			md.warnf("%s ifd pointer: %v", name, err)
			return nil
		}
		if v == 0 || v > math.MaxInt64 {
			md.warnf("%s ifd pointer %d is invalid; ignored", name, v)
			return nil
		}
		off := int64(v)
		for _, seen := range visited {
			if seen == off {
				md.warnf("%s ifd offset %d points to an ifd already read (cycle); ignored", name, off)
				return nil
			}
		}
		visited = append(visited, off)
		d, err := t.readIFD(off)
		if err != nil {
			md.warnf("%s ifd at offset %d: %v", name, off, err)
			return nil
		}
		return d
	}

	str := func(d *ifd, tag uint16, name string) string {
		e, ok := d.find(tag)
		if !ok {
			return ""
		}
		s, truncated, err := t.str(e)
		if err != nil {
			md.warnf("%s: %v", name, err)
			return ""
		}
		if truncated {
			md.warnf("%s longer than %d bytes; truncated", name, maxStringLen)
		}
		return s
	}

	md.Make = str(ifd0, tagMake, "make")
	md.Model = str(ifd0, tagModel, "model")
	if e, ok := ifd0.find(tagOrientation); ok {
		v, err := t.uint(e)
		switch {
		case err != nil:
			md.warnf("orientation: %v", err)
		case v < 1 || v > 8:
			md.warnf("orientation %d is not 1..8; ignored", v)
		default:
			md.Orientation = int(v)
		}
	}

	var ts timeTags
	ts.dateTime = str(ifd0, tagDateTime, "datetime")
	exifIFD := sub(ifd0, tagExifIFD, "exif")
	gpsIFD := sub(ifd0, tagGPSIFD, "gps")
	if exifIFD != nil {
		ts.original = str(exifIFD, tagDateTimeOriginal, "datetimeoriginal")
		ts.offsetOriginal = str(exifIFD, tagOffsetTimeOrig, "offsettimeoriginal")
		ts.subSecOriginal = str(exifIFD, tagSubSecTimeOrig, "subsectimeoriginal")
		ts.offset = str(exifIFD, tagOffsetTime, "offsettime")
		ts.subSec = str(exifIFD, tagSubSecTime, "subsectime")
		if gpsIFD == nil {
			// Not where the standard puts it, but harmless to accept.
			gpsIFD = sub(exifIFD, tagGPSIFD, "gps")
		}
	}
	md.CaptureTime = ts.resolve(md)
	if gpsIFD != nil {
		md.GPS = decodeGPS(t, gpsIFD, md)
	}
	if md.empty() {
		return nil, ErrNoMetadata
	}
	return md, nil
}
