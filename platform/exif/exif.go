package exif

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrNoMetadata is returned (possibly wrapped) when the file is a readable
// JPEG or TIFF but carries none of the metadata this package extracts: a
// JPEG without an Exif APP1 segment, or a TIFF (for example a GDAL
// orthophoto) without make, model, dates, orientation or GPS. Callers
// normally just record nothing.
var ErrNoMetadata = errors.New("exif: no metadata")

// ErrUnsupportedFormat is returned (possibly wrapped) when the file is
// neither a JPEG nor a TIFF/BigTIFF.
var ErrUnsupportedFormat = errors.New("exif: unsupported file format (want JPEG or TIFF)")

// Metadata is what Read extracts. Zero values mean "absent".
type Metadata struct {
	Make, Model string

	// CaptureTime is DateTimeOriginal (from the Exif IFD), else DateTime
	// (IFD0), with the matching SubSecTime* fraction when present. It is
	// in the zone given by OffsetTimeOriginal (respectively OffsetTime)
	// when that tag is present, otherwise it is taken to be UTC. Zero if
	// no usable date was found.
	CaptureTime time.Time

	// Orientation is the EXIF orientation, 1..8, or 0 if absent or invalid.
	Orientation int

	// GPS is nil when there is no GPS IFD or no usable latitude/longitude.
	GPS *GPS

	// Warnings lists damage or oddities worth logging, in lower case,
	// e.g. "gps latitude has 1 rational, want 3".
	Warnings []string
}

// GPS is a decoded GPS IFD position.
type GPS struct {
	// Latitude and Longitude are decimal degrees; south and west are
	// negative when the reference tags say so.
	Latitude, Longitude float64

	// Altitude is in metres, negative when GPSAltitudeRef = 1 (below sea
	// level); nil when absent or unusable.
	Altitude *float64

	// Valid is false when GPSStatus = "V" (measurement void). The
	// coordinates are still returned.
	Valid bool

	// HasRef is false when GPSLatitudeRef or GPSLongitudeRef is missing
	// or not one of N/S, E/W. The value without a usable reference is
	// kept unsigned, never guessed.
	HasRef bool
}

func (m *Metadata) warnf(format string, args ...any) {
	m.Warnings = append(m.Warnings, fmt.Sprintf(format, args...))
}

func (m *Metadata) empty() bool {
	return m.Make == "" && m.Model == "" && m.CaptureTime.IsZero() &&
		m.Orientation == 0 && m.GPS == nil && len(m.Warnings) == 0
}

// Read parses metadata from a JPEG (Exif APP1 segment) or TIFF/BigTIFF
// file. r is random access over the whole file, which is size bytes long.
//
// Read never panics on malformed input and never allocates more than a
// small bounded amount, whatever the file claims.
func Read(r io.ReaderAt, size int64) (*Metadata, error) {
	if r == nil {
		return nil, errors.New("exif: nil reader")
	}
	if size < 0 {
		return nil, fmt.Errorf("exif: negative file size %d", size)
	}
	var magic [4]byte
	n := min(size, int64(len(magic)))
	if err := readAt(r, size, 0, magic[:n]); err != nil {
		return nil, fmt.Errorf("exif: read file header: %w", err)
	}
	switch {
	case n >= 2 && magic[0] == 0xFF && magic[1] == 0xD8:
		off, length, err := findJPEGExif(r, size)
		if err == ErrNoMetadata {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("exif: read jpeg: %w", err)
		}
		md, err := readTIFF(io.NewSectionReader(r, off, length), length)
		if err == ErrNoMetadata {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("exif: read jpeg exif segment at offset %d: %w", off, err)
		}
		return md, nil
	case n == 4 && isTIFFMagic(magic):
		md, err := readTIFF(r, size)
		if err == ErrNoMetadata {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("exif: read tiff: %w", err)
		}
		return md, nil
	default:
		return nil, fmt.Errorf("%w: file starts with % x", ErrUnsupportedFormat, magic[:n])
	}
}

func isTIFFMagic(m [4]byte) bool {
	switch string(m[:]) {
	case "II*\x00", "MM\x00*", "II+\x00", "MM\x00+":
		return true
	}
	return false
}

// maxJPEGMarkers bounds the segment scan. Exif must come right after SOI
// (or after a JFIF APP0); real files have a few dozen segments before the
// scan starts.
const maxJPEGMarkers = 4096

// findJPEGExif walks the JPEG segments up to the start of scan and returns
// the position and length of the TIFF block inside the first APP1 segment
// that starts with "Exif\0". Other APP1 segments (XMP) are skipped.
func findJPEGExif(r io.ReaderAt, size int64) (off, length int64, err error) {
	pos := int64(2) // after SOI
	for range maxJPEGMarkers {
		var m [2]byte
		if err := readAt(r, size, pos, m[:]); err != nil {
			return 0, 0, fmt.Errorf("read marker at offset %d: %w", pos, err)
		}
		if m[0] != 0xFF {
			return 0, 0, fmt.Errorf("expected a marker at offset %d, found byte 0x%02x", pos, m[0])
		}
		switch marker := m[1]; {
		case marker == 0xFF: // fill byte
			pos++
			continue
		case marker == 0x01 || marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7):
			pos += 2 // standalone marker, no length
			continue
		case marker == 0xD9 || marker == 0xDA: // EOI, SOS: no Exif before the image data
			return 0, 0, ErrNoMetadata
		}
		var l [2]byte
		if err := readAt(r, size, pos+2, l[:]); err != nil {
			return 0, 0, fmt.Errorf("read length of segment 0x%02x at offset %d: %w", m[1], pos, err)
		}
		segLen := int64(l[0])<<8 | int64(l[1]) // includes the two length bytes
		if segLen < 2 {
			return 0, 0, fmt.Errorf("segment 0x%02x at offset %d has invalid length %d", m[1], pos, segLen)
		}
		const exifHeader = 6 // "Exif\0\0"
		if m[1] == 0xE1 && segLen-2 >= exifHeader {
			var h [exifHeader]byte
			if err := readAt(r, size, pos+4, h[:]); err != nil {
				return 0, 0, fmt.Errorf("read app1 header at offset %d: %w", pos, err)
			}
			if string(h[:5]) == "Exif\x00" {
				off := pos + 4 + exifHeader
				// A truncated upload may cut the segment short: read what
				// is there and let the IFD bounds checks report the rest.
				length := min(segLen-2-exifHeader, size-off)
				return off, length, nil
			}
		}
		pos += 2 + segLen
	}
	return 0, 0, fmt.Errorf("more than %d markers before image data", maxJPEGMarkers)
}

// readAt reads exactly len(p) bytes at off, after checking that they lie
// inside a file of the given size.
func readAt(r io.ReaderAt, size, off int64, p []byte) error {
	if !fits(size, off, int64(len(p))) {
		return fmt.Errorf("%d bytes at offset %d: past end of file (size %d)", len(p), off, size)
	}
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%d bytes at offset %d: %w", len(p), off, err)
}

// fits reports whether n bytes at off lie inside [0, size), without overflow.
func fits(size, off, n int64) bool {
	return off >= 0 && n >= 0 && off <= size && n <= size-off
}

// cleanString turns a raw EXIF ASCII value into safe text: cut at the first
// NUL, invalid UTF-8 replaced, surrounding spaces trimmed. (Values end up in
// Postgres text columns, which reject NUL and invalid UTF-8.)
func cleanString(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
}
