package exif_test

import (
	"encoding/binary"
	"fmt"
)

// This file builds small TIFF, BigTIFF and JPEG files byte by byte, so the
// synthetic tests do not depend on any encoder (or on this package).

// TIFF field types.
const (
	tByte     = 1
	tASCII    = 2
	tShort    = 3
	tLong     = 4
	tRational = 5
	tLong8    = 16
)

// tEntry is one IFD entry. vals is string (ASCII), []byte (BYTE),
// []uint16 (SHORT), []uint32 (LONG) or [][2]uint32 (RATIONAL). When sub is
// set the entry is a pointer whose value is sub's offset (LONG, or LONG8 in
// BigTIFF). count, when non-zero, overrides the count written to the file
// (the data written stays what vals encodes): a way to make files lie.
type tEntry struct {
	tag   uint16
	vals  any
	sub   *tIFD
	count uint64
	typ   uint16 // overrides the type derived from vals when non-zero
}

// tIFD is an IFD. next, if set, is written as the next-IFD offset.
// Pointers (sub, next) may form cycles.
type tIFD struct {
	entries []tEntry
	next    *tIFD
	// entryCount, when non-zero, overrides the entry count written.
	entryCount uint64
}

func ascii(tag uint16, s string) tEntry      { return tEntry{tag: tag, vals: s} }
func short(tag uint16, v ...uint16) tEntry   { return tEntry{tag: tag, vals: v} }
func bytes1(tag uint16, v ...byte) tEntry    { return tEntry{tag: tag, vals: v} }
func pointer(tag uint16, sub *tIFD) tEntry   { return tEntry{tag: tag, sub: sub} }
func rats(tag uint16, v ...[2]uint32) tEntry { return tEntry{tag: tag, vals: v} }

// dms is degrees, minutes and seconds×100 as three rationals.
func dms(d, m, s100 uint32) [][2]uint32 {
	return [][2]uint32{{d, 1}, {m, 1}, {s100, 100}}
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

type tiffLayout struct {
	bo  byteOrder
	big bool
}

func (l tiffLayout) String() string {
	kind := "tiff"
	if l.big {
		kind = "bigtiff"
	}
	if l.bo == binary.BigEndian {
		return kind + "-be"
	}
	return kind + "-le"
}

var layouts = []tiffLayout{
	{binary.LittleEndian, false},
	{binary.BigEndian, false},
	{binary.LittleEndian, true},
	{binary.BigEndian, true},
}

func (l tiffLayout) sizes() (header, count, entry, next, inline int) {
	if l.big {
		return 16, 8, 20, 8, 8
	}
	return 8, 2, 12, 4, 4
}

// encode returns the type, count and bytes of e's values (pointers are
// encoded later, once offsets are known).
func (l tiffLayout) encode(e tEntry) (typ uint16, count uint64, data []byte) {
	switch v := e.vals.(type) {
	case string:
		typ, count, data = tASCII, uint64(len(v)+1), append([]byte(v), 0)
	case []byte:
		typ, count, data = tByte, uint64(len(v)), v
	case []uint16:
		typ, count = tShort, uint64(len(v))
		for _, x := range v {
			data = l.bo.AppendUint16(data, x)
		}
	case []uint32:
		typ, count = tLong, uint64(len(v))
		for _, x := range v {
			data = l.bo.AppendUint32(data, x)
		}
	case [][2]uint32:
		typ, count = tRational, uint64(len(v))
		for _, x := range v {
			data = l.bo.AppendUint32(data, x[0])
			data = l.bo.AppendUint32(data, x[1])
		}
	case nil:
		if e.sub == nil {
			panic("entry without values")
		}
		_, _, _, _, inline := l.sizes()
		typ, count, data = tLong, 1, make([]byte, 4)
		if inline == 8 {
			typ, data = tLong8, make([]byte, 8)
		}
	default:
		panic(fmt.Sprintf("unsupported vals %T", v))
	}
	if e.count != 0 {
		count = e.count
	}
	if e.typ != 0 {
		typ = e.typ
	}
	return typ, count, data
}

// build lays out ifd0 and every IFD reachable from it, each followed by its
// out-of-line values, and returns the file.
func (l tiffLayout) build(ifd0 *tIFD) []byte {
	header, countSize, entrySize, nextSize, inline := l.sizes()

	var order []*tIFD
	seen := map[*tIFD]bool{}
	var walk func(d *tIFD)
	walk = func(d *tIFD) {
		if d == nil || seen[d] {
			return
		}
		seen[d] = true
		order = append(order, d)
		for _, e := range d.entries {
			walk(e.sub)
		}
		walk(d.next)
	}
	walk(ifd0)

	pad := func(n int) int { return (n + 1) &^ 1 }
	offsets := map[*tIFD]int{}
	pos := header
	for _, d := range order {
		offsets[d] = pos
		pos += countSize + len(d.entries)*entrySize + nextSize
		for _, e := range d.entries {
			if _, _, data := l.encode(e); len(data) > inline {
				pos += pad(len(data))
			}
		}
	}

	out := make([]byte, 0, pos)
	putOff := func(b []byte, v int) []byte {
		if l.big {
			return l.bo.AppendUint64(b, uint64(v))
		}
		return l.bo.AppendUint32(b, uint32(v))
	}
	if l.bo == binary.LittleEndian {
		out = append(out, 'I', 'I')
	} else {
		out = append(out, 'M', 'M')
	}
	if l.big {
		out = l.bo.AppendUint16(out, 43)
		out = l.bo.AppendUint16(out, 8)
		out = l.bo.AppendUint16(out, 0)
	} else {
		out = l.bo.AppendUint16(out, 42)
	}
	out = putOff(out, offsets[ifd0])

	for _, d := range order {
		dataPos := offsets[d] + countSize + len(d.entries)*entrySize + nextSize
		var extra []byte
		n := uint64(len(d.entries))
		if d.entryCount != 0 {
			n = d.entryCount
		}
		if l.big {
			out = l.bo.AppendUint64(out, n)
		} else {
			out = l.bo.AppendUint16(out, uint16(n))
		}
		for _, e := range d.entries {
			typ, count, data := l.encode(e)
			if e.sub != nil {
				if l.big {
					data = l.bo.AppendUint64(nil, uint64(offsets[e.sub]))
				} else {
					data = l.bo.AppendUint32(nil, uint32(offsets[e.sub]))
				}
			}
			out = l.bo.AppendUint16(out, e.tag)
			out = l.bo.AppendUint16(out, typ)
			if l.big {
				out = l.bo.AppendUint64(out, count)
			} else {
				out = l.bo.AppendUint32(out, uint32(count))
			}
			field := make([]byte, inline)
			if len(data) <= inline {
				copy(field, data)
			} else {
				off := dataPos + len(extra)
				if l.big {
					l.bo.PutUint64(field, uint64(off))
				} else {
					l.bo.PutUint32(field, uint32(off))
				}
				extra = append(extra, data...)
				if len(data)%2 == 1 {
					extra = append(extra, 0)
				}
			}
			out = append(out, field...)
		}
		next := 0
		if d.next != nil {
			next = offsets[d.next]
		}
		out = putOff(out, next)
		out = append(out, extra...)
	}
	return out
}

// jpegSegment returns marker + big-endian length + payload.
func jpegSegment(marker byte, payload []byte) []byte {
	n := len(payload) + 2
	return append([]byte{0xFF, marker, byte(n >> 8), byte(n)}, payload...)
}

const xmpPacket = `http://ns.adobe.com/xap/1.0/` + "\x00" +
	`<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>`

// wrapJPEG puts tiff (which may be nil) into an Exif APP1 of a minimal JPEG
// with a JFIF APP0 and an XMP APP1 before or after it. The image data is a
// stub: the reader stops at SOS.
func wrapJPEG(tiff []byte, xmpFirst bool) []byte {
	out := []byte{0xFF, 0xD8}
	out = append(out, jpegSegment(0xE0, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"))...)
	xmp := jpegSegment(0xE1, []byte(xmpPacket))
	if xmpFirst {
		out = append(out, xmp...)
	}
	if tiff != nil {
		out = append(out, jpegSegment(0xE1, append([]byte("Exif\x00\x00"), tiff...))...)
	}
	if !xmpFirst {
		out = append(out, xmp...)
	}
	out = append(out, jpegSegment(0xDA, []byte{1, 1, 0, 0, 63, 0})...)
	out = append(out, 0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD9)
	return out
}
