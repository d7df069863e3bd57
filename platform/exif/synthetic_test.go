package exif_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/canopyag/canopy/platform/exif"
)

// Tag numbers (EXIF 2.32 / TIFF 6.0), spelled out here rather than shared
// with the package so the tests encode the standard independently.
const (
	tagImageWidth   = 0x0100
	tagMake         = 0x010F
	tagModel        = 0x0110
	tagOrientation  = 0x0112
	tagDateTime     = 0x0132
	tagExifIFD      = 0x8769
	tagGPSIFD       = 0x8825
	tagDTOriginal   = 0x9003
	tagOffsetTime   = 0x9010
	tagOffsetTimeOr = 0x9011
	tagSubSecTime   = 0x9290
	tagSubSecTimeOr = 0x9291

	gpsVersion = 0x0000
	gpsLatRef  = 0x0001
	gpsLat     = 0x0002
	gpsLonRef  = 0x0003
	gpsLon     = 0x0004
	gpsAltRef  = 0x0005
	gpsAlt     = 0x0006
	gpsStatus  = 0x0009
)

// The worked example from the brief: 39°54'32.26" N, 122°5'28.51" W.
var (
	exampleLat = 39 + 54.0/60 + 32.26/3600 // 39.908961...
	exampleLon = 122 + 5.0/60 + 28.51/3600 // 122.091252...
	exampleAlt = -123.45                   // 12345/100 below sea level
	exampleUTC = time.Date(2024, 5, 6, 5, 8, 9, 250_000_000, time.UTC)
)

// gpsEntries is a complete GPS IFD for the worked example.
func gpsEntries() []tEntry {
	return []tEntry{
		bytes1(gpsVersion, 2, 3, 0, 0),
		ascii(gpsLatRef, "N"),
		rats(gpsLat, dms(39, 54, 3226)...),
		ascii(gpsLonRef, "W"),
		rats(gpsLon, dms(122, 5, 2851)...),
		bytes1(gpsAltRef, 1),
		rats(gpsAlt, [2]uint32{12345, 100}),
		ascii(gpsStatus, "A"),
	}
}

// sampleIFD0 is IFD0 with make, model, orientation 6, an Exif IFD with
// DateTimeOriginal 2024:05:06 07:08:09.25 +02:00 and, if gps is non-nil,
// a GPS IFD with those entries.
func sampleIFD0(gps []tEntry) *tIFD {
	exifIFD := &tIFD{entries: []tEntry{
		ascii(tagDTOriginal, "2024:05:06 07:08:09"),
		ascii(tagOffsetTimeOr, "+02:00"),
		ascii(tagSubSecTimeOr, "25"),
	}}
	ifd0 := &tIFD{entries: []tEntry{
		short(tagImageWidth, 64),
		ascii(tagMake, "Canopy"),
		ascii(tagModel, "Synth-1"),
		short(tagOrientation, 6),
		ascii(tagDateTime, "2024:05:06 07:09:00"),
		pointer(tagExifIFD, exifIFD),
	}}
	if gps != nil {
		ifd0.entries = append(ifd0.entries, pointer(tagGPSIFD, &tIFD{entries: gps}))
	}
	return ifd0
}

// without returns entries minus the given tags.
func without(entries []tEntry, tags ...uint16) []tEntry {
	var out []tEntry
next:
	for _, e := range entries {
		for _, t := range tags {
			if e.tag == t {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// with returns entries with e replacing the entry of the same tag (or added).
func with(entries []tEntry, e tEntry) []tEntry {
	return append(without(entries, e.tag), e)
}

// read runs exif.Read over data and checks the invariants that must hold
// for any input.
func read(t testing.TB, data []byte) (*exif.Metadata, error) {
	t.Helper()
	md, err := exif.Read(bytes.NewReader(data), int64(len(data)))
	checkInvariants(t, md, err)
	return md, err
}

func checkInvariants(t testing.TB, md *exif.Metadata, err error) {
	t.Helper()
	if (err == nil) == (md == nil) {
		t.Fatalf("Read() = %v, %v; want exactly one of metadata and error", md, err)
	}
	if err != nil {
		if err.Error() == "" {
			t.Fatal("empty error text")
		}
		return
	}
	if md.Orientation < 0 || md.Orientation > 8 {
		t.Errorf("orientation %d outside 0..8", md.Orientation)
	}
	for _, s := range []string{md.Make, md.Model} {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) || len(s) > 3*256 {
			t.Errorf("unsafe string %q", s)
		}
	}
	for _, w := range md.Warnings {
		if w == "" || !utf8.ValidString(w) {
			t.Errorf("bad warning %q", w)
		}
	}
	if g := md.GPS; g != nil {
		if math.IsNaN(g.Latitude) || math.IsNaN(g.Longitude) || math.Abs(g.Latitude) > 90 || math.Abs(g.Longitude) > 180 {
			t.Errorf("GPS out of range: %+v", *g)
		}
		if g.Latitude == 0 && g.Longitude == 0 {
			t.Errorf("GPS is (0, 0)")
		}
		if g.Altitude != nil && (math.IsNaN(*g.Altitude) || math.IsInf(*g.Altitude, 0)) {
			t.Errorf("GPS altitude %v", *g.Altitude)
		}
	}
}

// containers yields the sample wrapped every supported way.
func containers(l tiffLayout, tiff []byte) map[string][]byte {
	m := map[string][]byte{l.String(): tiff}
	if !l.big { // Exif in JPEG is always classic TIFF
		m["jpeg-xmp-after-"+l.String()] = wrapJPEG(tiff, false)
		m["jpeg-xmp-before-"+l.String()] = wrapJPEG(tiff, true)
	}
	return m
}

func TestSyntheticWorkedExample(t *testing.T) {
	for _, l := range layouts {
		for name, data := range containers(l, l.build(sampleIFD0(gpsEntries()))) {
			t.Run(name, func(t *testing.T) {
				md, err := read(t, data)
				if err != nil {
					t.Fatal(err)
				}
				if md.Make != "Canopy" || md.Model != "Synth-1" || md.Orientation != 6 {
					t.Errorf("make, model, orientation = %q, %q, %d", md.Make, md.Model, md.Orientation)
				}
				if !md.CaptureTime.Equal(exampleUTC) {
					t.Errorf("capture time = %v; want %v", md.CaptureTime, exampleUTC)
				}
				if _, off := md.CaptureTime.Zone(); off != 2*3600 {
					t.Errorf("capture time zone offset = %ds; want +02:00", off)
				}
				g := md.GPS
				if g == nil {
					t.Fatalf("GPS = nil, warnings %q", md.Warnings)
				}
				// The brief's expected values, to 5 decimals.
				if got := fmt.Sprintf("%.5f, %.5f", g.Latitude, g.Longitude); got != "39.90896, -122.09125" {
					t.Errorf("lat, lon = %s; want 39.90896, -122.09125", got)
				}
				if math.Abs(g.Latitude-exampleLat) > 1e-9 || math.Abs(g.Longitude+exampleLon) > 1e-9 {
					t.Errorf("lat, lon = %v, %v; want %v, %v", g.Latitude, g.Longitude, exampleLat, -exampleLon)
				}
				if g.Altitude == nil || math.Abs(*g.Altitude-exampleAlt) > 1e-9 {
					t.Errorf("altitude = %v; want %v", g.Altitude, exampleAlt)
				}
				if !g.Valid || !g.HasRef {
					t.Errorf("valid, hasRef = %v, %v; want true, true", g.Valid, g.HasRef)
				}
				if len(md.Warnings) != 0 {
					t.Errorf("warnings %q", md.Warnings)
				}
			})
		}
	}
}

func TestSyntheticGPS(t *testing.T) {
	type want struct {
		nil           bool
		lat, lon      float64
		alt           *float64 // checked only when !nil
		valid, hasRef bool
		warn          []string // substrings that must each appear in a warning
	}
	ok := want{lat: exampleLat, lon: -exampleLon, alt: &exampleAlt, valid: true, hasRef: true}
	base := gpsEntries()
	cases := []struct {
		name string
		gps  []tEntry
		want want
	}{
		{"complete", base, ok},
		{"missing both refs", without(base, gpsLatRef, gpsLonRef), want{
			lat: exampleLat, lon: exampleLon, alt: &exampleAlt, valid: true, hasRef: false,
			warn: []string{"gps has no latitude reference (N/S); kept unsigned", "gps has no longitude reference (E/W); kept unsigned"},
		}},
		{"missing longitude ref", without(base, gpsLonRef), want{
			lat: exampleLat, lon: exampleLon, alt: &exampleAlt, valid: true, hasRef: false,
			warn: []string{"no longitude reference"},
		}},
		{"unknown ref", with(base, ascii(gpsLatRef, "X")), want{
			lat: exampleLat, lon: -exampleLon, alt: &exampleAlt, valid: true, hasRef: false,
			warn: []string{`latitude reference "X"`},
		}},
		{"south east", with(with(base, ascii(gpsLatRef, "S")), ascii(gpsLonRef, "E")), want{
			lat: -exampleLat, lon: exampleLon, alt: &exampleAlt, valid: true, hasRef: true,
		}},
		{"one rational latitude", with(base, rats(gpsLat, [2]uint32{39, 1})), want{
			nil: true, warn: []string{"gps latitude has 1 rational, want 3"},
		}},
		{"two rational longitude", with(base, rats(gpsLon, [2]uint32{122, 1}, [2]uint32{5, 1})), want{
			nil: true, warn: []string{"gps longitude has 2 rationals, want 3"},
		}},
		{"0/0 latitude seconds", with(base, rats(gpsLat, [2]uint32{39, 1}, [2]uint32{54, 1}, [2]uint32{0, 0})), want{
			nil: true, warn: []string{"gps latitude has a zero denominator (0/0)"},
		}},
		{"x/0 longitude minutes", with(base, rats(gpsLon, [2]uint32{122, 1}, [2]uint32{5, 0}, [2]uint32{0, 1})), want{
			nil: true, warn: []string{"gps longitude has a zero denominator (5/0)"},
		}},
		{"latitude out of range", with(base, rats(gpsLat, dms(91, 0, 0)...)), want{
			nil: true, warn: []string{"out of range"},
		}},
		{"longitude out of range", with(base, rats(gpsLon, dms(180, 0, 1)...)), want{
			nil: true, warn: []string{"out of range"},
		}},
		{"latitude not rational", with(base, short(gpsLat, 39, 54, 32)), want{
			nil: true, warn: []string{"want RATIONAL"},
		}},
		{"latitude count claims 2^31", with(base, tEntry{tag: gpsLat, vals: dms(39, 54, 3226), count: 1 << 31}), want{
			nil: true, warn: []string{"gps latitude claims 2147483648 values"},
		}},
		{"exactly 0,0", with(with(base, rats(gpsLat, dms(0, 0, 0)...)), rats(gpsLon, dms(0, 0, 0)...)), want{
			nil: true, warn: []string{"0,0"},
		}},
		{"status V with coordinates", with(base, ascii(gpsStatus, "V")), want{
			lat: exampleLat, lon: -exampleLon, alt: &exampleAlt, valid: false, hasRef: true,
			warn: []string{"measurement void"},
		}},
		{"status absent", without(base, gpsStatus), ok},
		{"status V without coordinates (Parrot Sequoia)", []tEntry{bytes1(gpsVersion, 2, 2, 0, 0), ascii(gpsStatus, "V")}, want{
			nil: true, warn: []string{"gps is void"},
		}},
		{"no coordinates", []tEntry{bytes1(gpsVersion, 2, 2, 0, 0)}, want{
			nil: true, warn: []string{"no latitude or longitude"},
		}},
		{"latitude only", without(base, gpsLon), want{nil: true, warn: []string{"no longitude"}}},
		{"altitude 0/0", with(base, rats(gpsAlt, [2]uint32{0, 0})), want{
			lat: exampleLat, lon: -exampleLon, alt: nil, valid: true, hasRef: true,
			warn: []string{"gps altitude has a zero denominator"},
		}},
		{"altitude above sea level", with(base, bytes1(gpsAltRef, 0)), want{
			lat: exampleLat, lon: -exampleLon, alt: ptr(123.45), valid: true, hasRef: true,
		}},
		{"no altitude", without(base, gpsAlt, gpsAltRef), want{
			lat: exampleLat, lon: -exampleLon, alt: nil, valid: true, hasRef: true,
		}},
	}
	for _, l := range layouts {
		for _, tc := range cases {
			t.Run(l.String()+"/"+tc.name, func(t *testing.T) {
				md, err := read(t, l.build(sampleIFD0(tc.gps)))
				if err != nil {
					t.Fatalf("Read(): %v; GPS damage must not be an error", err)
				}
				if md.Make != "Canopy" || !md.CaptureTime.Equal(exampleUTC) {
					t.Errorf("rest of metadata lost: make %q, time %v", md.Make, md.CaptureTime)
				}
				for _, w := range tc.want.warn {
					if !hasWarning(md, w) {
						t.Errorf("warnings %q; want one containing %q", md.Warnings, w)
					}
				}
				if len(tc.want.warn) == 0 && len(md.Warnings) != 0 {
					t.Errorf("unexpected warnings %q", md.Warnings)
				}
				g := md.GPS
				if tc.want.nil {
					if g != nil {
						t.Errorf("GPS = %+v; want nil", *g)
					}
					return
				}
				if g == nil {
					t.Fatalf("GPS = nil; want a position (warnings %q)", md.Warnings)
				}
				if math.Abs(g.Latitude-tc.want.lat) > 1e-9 || math.Abs(g.Longitude-tc.want.lon) > 1e-9 {
					t.Errorf("lat, lon = %v, %v; want %v, %v", g.Latitude, g.Longitude, tc.want.lat, tc.want.lon)
				}
				if g.Valid != tc.want.valid || g.HasRef != tc.want.hasRef {
					t.Errorf("valid, hasRef = %v, %v; want %v, %v", g.Valid, g.HasRef, tc.want.valid, tc.want.hasRef)
				}
				switch {
				case tc.want.alt == nil && g.Altitude != nil:
					t.Errorf("altitude = %v; want nil", *g.Altitude)
				case tc.want.alt != nil && (g.Altitude == nil || math.Abs(*g.Altitude-*tc.want.alt) > 1e-9):
					t.Errorf("altitude = %v; want %v", g.Altitude, *tc.want.alt)
				}
			})
		}
	}
}

func TestSyntheticCaptureTime(t *testing.T) {
	ifd := func(ifd0, exifEntries []tEntry) *tIFD {
		d := &tIFD{entries: append([]tEntry{ascii(tagMake, "Canopy")}, ifd0...)}
		if exifEntries != nil {
			d.entries = append(d.entries, pointer(tagExifIFD, &tIFD{entries: exifEntries}))
		}
		return d
	}
	cases := []struct {
		name string
		ifd0 *tIFD
		want time.Time
		warn string
	}{
		{"original without offset is utc",
			ifd(nil, []tEntry{ascii(tagDTOriginal, "2023:08:01 23:19:48")}),
			time.Date(2023, 8, 1, 23, 19, 48, 0, time.UTC), ""},
		{"original with negative offset",
			ifd(nil, []tEntry{ascii(tagDTOriginal, "2023:08:01 23:19:48"), ascii(tagOffsetTimeOr, "-07:00")}),
			time.Date(2023, 8, 2, 6, 19, 48, 0, time.UTC), ""},
		{"original preferred over datetime",
			ifd([]tEntry{ascii(tagDateTime, "2020:01:01 00:00:00")}, []tEntry{ascii(tagDTOriginal, "2023:08:01 23:19:48")}),
			time.Date(2023, 8, 1, 23, 19, 48, 0, time.UTC), ""},
		{"datetime fallback with its own offset and subsec",
			ifd([]tEntry{ascii(tagDateTime, "2020:01:01 00:00:00")}, []tEntry{
				ascii(tagOffsetTime, "+05:30"), ascii(tagSubSecTime, "123"), ascii(tagOffsetTimeOr, "-01:00"),
			}),
			time.Date(2019, 12, 31, 18, 30, 0, 123_000_000, time.UTC), ""},
		{"datetime only, no exif ifd",
			ifd([]tEntry{ascii(tagDateTime, "2020:01:01 00:00:00")}, nil),
			time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{"blank original falls back silently",
			ifd([]tEntry{ascii(tagDateTime, "2020:01:01 00:00:00")}, []tEntry{ascii(tagDTOriginal, "    :  :     :  :  ")}),
			time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{"zero original is absent",
			ifd(nil, []tEntry{ascii(tagDTOriginal, "0000:00:00 00:00:00")}),
			time.Time{}, ""},
		{"garbage original warns and falls back",
			ifd([]tEntry{ascii(tagDateTime, "2020:01:01 00:00:00")}, []tEntry{ascii(tagDTOriginal, "yesterday at noon, roughly")}),
			time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), "datetimeoriginal"},
		{"bad offset warns and keeps utc",
			ifd(nil, []tEntry{ascii(tagDTOriginal, "2023:08:01 23:19:48"), ascii(tagOffsetTimeOr, "+2h")}),
			time.Date(2023, 8, 1, 23, 19, 48, 0, time.UTC), "offset"},
		{"bad subsec warns",
			ifd(nil, []tEntry{ascii(tagDTOriginal, "2023:08:01 23:19:48"), ascii(tagSubSecTimeOr, "-442065")}),
			time.Date(2023, 8, 1, 23, 19, 48, 0, time.UTC), "subseconds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := layouts[0]
			md, err := read(t, l.build(tc.ifd0))
			if err != nil {
				t.Fatal(err)
			}
			if !md.CaptureTime.Equal(tc.want) {
				t.Errorf("capture time = %v; want %v", md.CaptureTime, tc.want)
			}
			if tc.warn == "" && len(md.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", md.Warnings)
			}
			if tc.warn != "" && !hasWarning(md, tc.warn) {
				t.Errorf("warnings %q; want one containing %q", md.Warnings, tc.warn)
			}
		})
	}
}

func TestSyntheticOrientation(t *testing.T) {
	for _, v := range []uint16{0, 9, 65535} {
		md, err := read(t, layouts[1].build(&tIFD{entries: []tEntry{ascii(tagMake, "Canopy"), short(tagOrientation, v)}}))
		if err != nil {
			t.Fatal(err)
		}
		if md.Orientation != 0 || !hasWarning(md, "orientation") {
			t.Errorf("orientation %d: got %d, warnings %q; want 0 and a warning", v, md.Orientation, md.Warnings)
		}
	}
}

func TestNoMetadata(t *testing.T) {
	l := layouts[0]
	bare := l.build(&tIFD{entries: []tEntry{short(tagImageWidth, 64)}})
	for name, data := range map[string][]byte{
		"jpeg without exif (xmp only)":  wrapJPEG(nil, true),
		"jpeg exif without wanted tags": wrapJPEG(bare, false),
		"tiff without wanted tags":      bare,
		"bigtiff without wanted tags":   layouts[2].build(&tIFD{entries: []tEntry{short(tagImageWidth, 64)}}),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := read(t, data); !errors.Is(err, exif.ErrNoMetadata) {
				t.Errorf("err = %v; want ErrNoMetadata", err)
			}
		})
	}
}

func TestUnsupportedOrBroken(t *testing.T) {
	valid := layouts[0].build(sampleIFD0(gpsEntries()))
	badIFD0 := bytes.Clone(valid)
	copy(badIFD0[4:8], []byte{0xF0, 0xFF, 0xFF, 0x00}) // IFD0 offset past the end

	cases := []struct {
		name    string
		data    []byte
		is      error  // nil: any error
		context string // substring of the error text
	}{
		{"empty", nil, exif.ErrUnsupportedFormat, "unsupported"},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), exif.ErrUnsupportedFormat, "89 50 4e 47"},
		{"tiff version 44", []byte("II\x2c\x00\x08\x00\x00\x00"), exif.ErrUnsupportedFormat, ""},
		{"ifd0 past end", badIFD0, nil, "ifd0"},
		{"jpeg junk after soi", []byte{0xFF, 0xD8, 0x00, 0x01, 0x02}, nil, "jpeg"},
		{"jpeg segment length 0", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x00}, nil, "invalid length"},
		{"jpeg only fill bytes", append([]byte{0xFF, 0xD8}, bytes.Repeat([]byte{0xFF}, 10000)...), nil, "jpeg"},
		{"bigtiff offset size 4", []byte("II\x2b\x00\x04\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00"), nil, "offset size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := read(t, tc.data)
			if err == nil {
				t.Fatal("err = nil; want an error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v; want %v", err, tc.is)
			}
			if errors.Is(err, exif.ErrNoMetadata) {
				t.Errorf("err = %v; a broken file is not 'no metadata'", err)
			}
			if !strings.Contains(err.Error(), tc.context) {
				t.Errorf("err = %q; want context %q", err, tc.context)
			}
		})
	}

	t.Run("negative size", func(t *testing.T) {
		if _, err := exif.Read(bytes.NewReader(valid), -1); err == nil {
			t.Error("err = nil")
		}
	})
	t.Run("reader shorter than size", func(t *testing.T) {
		md, err := exif.Read(bytes.NewReader(valid[:40]), int64(len(valid)))
		checkInvariants(t, md, err)
	})
}

// TestCyclicIFDs: pointers that loop back must be detected, not followed.
func TestCyclicIFDs(t *testing.T) {
	type build func() *tIFD
	cases := []struct {
		name string
		ifd0 build
	}{
		{"exif pointer to ifd0", func() *tIFD {
			d := &tIFD{entries: []tEntry{ascii(tagMake, "Canopy")}}
			d.entries = append(d.entries, pointer(tagExifIFD, d))
			return d
		}},
		{"gps pointer to ifd0", func() *tIFD {
			d := &tIFD{entries: []tEntry{ascii(tagMake, "Canopy")}}
			d.entries = append(d.entries, pointer(tagGPSIFD, d))
			return d
		}},
		{"exif and gps pointers to the same ifd", func() *tIFD {
			shared := &tIFD{entries: gpsEntries()}
			return &tIFD{entries: []tEntry{ascii(tagMake, "Canopy"), pointer(tagExifIFD, shared), pointer(tagGPSIFD, shared)}}
		}},
		{"gps pointer inside exif ifd points to itself", func() *tIFD {
			ex := &tIFD{entries: []tEntry{ascii(tagDTOriginal, "2023:08:01 23:19:48")}}
			ex.entries = append(ex.entries, pointer(tagGPSIFD, ex))
			return &tIFD{entries: []tEntry{ascii(tagMake, "Canopy"), pointer(tagExifIFD, ex)}}
		}},
		{"next-ifd chain loops", func() *tIFD {
			d := &tIFD{entries: []tEntry{ascii(tagMake, "Canopy")}}
			e := &tIFD{entries: []tEntry{ascii(tagModel, "x")}, next: d}
			d.next = e
			return d
		}},
	}
	for _, l := range layouts {
		for _, tc := range cases {
			t.Run(l.String()+"/"+tc.name, func(t *testing.T) {
				data := l.build(tc.ifd0())
				done := make(chan struct{})
				var md *exif.Metadata
				var err error
				go func() {
					defer close(done)
					md, err = exif.Read(bytes.NewReader(data), int64(len(data)))
				}()
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					t.Fatal("Read did not return within 5s on cyclic offsets")
				}
				checkInvariants(t, md, err)
				if err != nil {
					t.Fatalf("Read(): %v", err)
				}
				if md.Make != "Canopy" {
					t.Errorf("make = %q", md.Make)
				}
				if tc.name != "next-ifd chain loops" && !hasWarning(md, "cycle") {
					t.Errorf("warnings %q; want one about a cycle", md.Warnings)
				}
			})
		}
	}
}

// recordingReader records the largest single read.
type recordingReader struct {
	r       io.ReaderAt
	maxRead int
}

func (r *recordingReader) ReadAt(p []byte, off int64) (int, error) {
	r.maxRead = max(r.maxRead, len(p))
	return r.r.ReadAt(p, off)
}

// TestHugeCounts: counts that claim 2^31 (or more) entries or values must be
// rejected against the file size, not allocated or read.
func TestHugeCounts(t *testing.T) {
	const hugeCount = 1 << 31
	base := func(l tiffLayout, ifd0 *tIFD) []byte { return l.build(ifd0) }
	cases := []struct {
		name    string
		layouts []tiffLayout
		build   func(l tiffLayout) []byte
		wantErr bool
		warn    string
	}{
		{"make ascii count 2^31", layouts, func(l tiffLayout) []byte {
			d := sampleIFD0(gpsEntries())
			d.entries = with(d.entries, tEntry{tag: tagMake, vals: "Canopy", count: hugeCount})
			return base(l, d)
		}, false, "make: claims 2147483648 values"},
		{"model ascii count 2^32-1", layouts, func(l tiffLayout) []byte {
			d := sampleIFD0(gpsEntries())
			d.entries = with(d.entries, tEntry{tag: tagModel, vals: "Synth-1", count: 1<<32 - 1})
			return base(l, d)
		}, false, "model: claims"},
		{"gps latitude count 2^31", layouts, func(l tiffLayout) []byte {
			return base(l, sampleIFD0(with(gpsEntries(), tEntry{tag: gpsLat, vals: dms(39, 54, 3226), count: hugeCount})))
		}, false, "gps latitude claims"},
		{"bigtiff value count 2^62 (overflows bytes)", layouts[2:], func(l tiffLayout) []byte {
			return base(l, sampleIFD0(with(gpsEntries(), tEntry{tag: gpsLon, vals: dms(122, 5, 2851), count: 1 << 62})))
		}, false, "gps longitude claims"},
		{"bigtiff value count 2^64-1", layouts[2:], func(l tiffLayout) []byte {
			d := sampleIFD0(gpsEntries())
			d.entries = with(d.entries, tEntry{tag: tagMake, vals: "Canopy", count: math.MaxUint64})
			return base(l, d)
		}, false, "make: claims"},
		{"bigtiff ifd0 entry count 2^31", layouts[2:], func(l tiffLayout) []byte {
			d := sampleIFD0(gpsEntries())
			d.entryCount = hugeCount
			return base(l, d)
		}, true, ""},
		{"bigtiff ifd0 entry count 2^64-1", layouts[2:], func(l tiffLayout) []byte {
			d := sampleIFD0(gpsEntries())
			d.entryCount = math.MaxUint64
			return base(l, d)
		}, true, ""},
		{"classic ifd0 entry count 65535", layouts[:2], func(l tiffLayout) []byte {
			d := sampleIFD0(gpsEntries())
			d.entryCount = 65535
			return base(l, d)
		}, true, ""},
		{"gps ifd entry count 2^31", layouts[2:], func(l tiffLayout) []byte {
			gps := &tIFD{entries: gpsEntries(), entryCount: hugeCount}
			return base(l, &tIFD{entries: []tEntry{ascii(tagMake, "Canopy"), pointer(tagGPSIFD, gps)}})
		}, false, "gps ifd at offset"},
	}
	for _, tc := range cases {
		for _, l := range tc.layouts {
			t.Run(l.String()+"/"+tc.name, func(t *testing.T) {
				data := tc.build(l)
				rr := &recordingReader{r: bytes.NewReader(data)}
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				md, err := exif.Read(rr, int64(len(data)))
				runtime.ReadMemStats(&after)
				checkInvariants(t, md, err)

				if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
					t.Errorf("Read allocated %d bytes for a %d-byte file", alloc, len(data))
				}
				if rr.maxRead > len(data) {
					t.Errorf("largest read %d bytes > file size %d", rr.maxRead, len(data))
				}
				if tc.wantErr {
					if err == nil {
						t.Fatalf("err = nil; want an error")
					}
					if !strings.Contains(err.Error(), "entries") {
						t.Errorf("err = %q; want it to mention the entry count", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("Read(): %v", err)
				}
				if !hasWarning(md, tc.warn) {
					t.Errorf("warnings %q; want one containing %q", md.Warnings, tc.warn)
				}
			})
		}
	}
}

// TestTruncated reads every prefix of small valid files: no panic, the
// invariants hold, and the full file still reads.
func TestTruncated(t *testing.T) {
	for _, l := range layouts {
		for name, data := range containers(l, l.build(sampleIFD0(gpsEntries()))) {
			t.Run(name, func(t *testing.T) {
				for n := 0; n <= len(data); n++ {
					md, err := read(t, data[:n])
					// The same prefix, but the caller claims the full size.
					md2, err2 := exif.Read(bytes.NewReader(data[:n]), int64(len(data)))
					checkInvariants(t, md2, err2)
					if n == len(data) && (err != nil || md.GPS == nil) {
						t.Fatalf("full file: %+v, %v", md, err)
					}
				}
			})
		}
	}
}
