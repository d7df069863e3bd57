package exif_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopyag/canopy/platform/exif"
	"github.com/canopyag/canopy/platform/shareddata"
)

func requireSharedData(t *testing.T) string { return shareddata.Dir(t) }

func readFile(t *testing.T, path string) (*exif.Metadata, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return exif.Read(f, fi.Size())
}

func ptr[T any](v T) *T { return &v }

// realCases: every expected value below was printed by exiftool 12.57
// (Debian libimage-exiftool-perl), not by this package:
//
//	exiftool -n -GPSLatitude -GPSLongitude -GPSAltitude -GPSStatus -Make -Model -DateTimeOriginal FILE
//
// plus, for orientation and the sub-second capture time,
//
//	exiftool -n -Orientation -SubSecDateTimeOriginal FILE
//
// time is "Date/Time Original", or "SubSecDateTimeOriginal" where exiftool
// printed one (Parrot Sequoia). status is "GPS Status" ("" = not printed).
// A nil lat means exiftool printed no GPS latitude/longitude.
var realCases = []struct {
	file         string
	make, model  string
	time         string
	orientation  int
	lat, lon     *float64
	alt          *float64
	status       string
	noMetadata   bool   // exiftool printed none of the tags above
	wantWarnings string // substring of a warning we expect, "" = expect none
}{
	{
		file: "dji-mini3pro-plaso/testimage.jpg", make: "DJI", model: "FC3582",
		time: "2023:08:01 23:19:48", orientation: 1,
		lat: ptr(68.8757119444444), lon: ptr(27.7649246388889), alt: ptr(266.603), status: "V",
		wantWarnings: "measurement void",
	},
	{
		file: "micasense-rededge/0000SET/000/IMG_0000_1.tif", make: "MicaSense", model: "RedEdge",
		time: "2017:10:19 20:40:39", orientation: 1,
		lat: ptr(36.576096), lon: ptr(-119.4352689), alt: ptr(101.861),
	},
	{
		file: "micasense-rededge/0000SET/000/IMG_0000_2.tif", make: "MicaSense", model: "RedEdge",
		time: "2017:10:19 20:40:39", orientation: 1,
		lat: ptr(36.576096), lon: ptr(-119.4352689), alt: ptr(101.861),
	},
	{
		file: "micasense-rededge/0000SET/000/IMG_0000_3.tif", make: "MicaSense", model: "RedEdge",
		time: "2017:10:19 20:40:39", orientation: 1,
		lat: ptr(36.576096), lon: ptr(-119.4352689), alt: ptr(101.861),
	},
	{
		file: "micasense-rededge/0000SET/000/IMG_0000_4.tif", make: "MicaSense", model: "RedEdge",
		time: "2017:10:19 20:40:39", orientation: 1,
		lat: ptr(36.576096), lon: ptr(-119.4352689), alt: ptr(101.861),
	},
	{
		file: "micasense-rededge/0000SET/000/IMG_0000_5.tif", make: "MicaSense", model: "RedEdge",
		time: "2017:10:19 20:40:39", orientation: 1,
		lat: ptr(36.576096), lon: ptr(-119.4352689), alt: ptr(101.861),
	},
	{
		file: "micasense-rededge/0000SET/000/IMG_0001_1.tif", make: "MicaSense", model: "RedEdge",
		time: "2017:10:19 20:42:10", orientation: 1,
		lat: ptr(36.5760815), lon: ptr(-119.4352604), alt: ptr(174.527),
	},
	{
		file: "micasense-rededge/0000SET/000/IMG_0001_2.tif", make: "MicaSense", model: "RedEdge",
		time: "2017:10:19 20:42:10", orientation: 1,
		lat: ptr(36.5760815), lon: ptr(-119.4352604), alt: ptr(174.527),
	},
	{
		file: "micasense-rededge/0000SET/000/IMG_0001_3.tif", make: "MicaSense", model: "RedEdge",
		time: "2017:10:19 20:42:10", orientation: 1,
		lat: ptr(36.5760815), lon: ptr(-119.4352604), alt: ptr(174.527),
	},
	{
		file: "micasense-rededge/0000SET/000/IMG_0001_4.tif", make: "MicaSense", model: "RedEdge",
		time: "2017:10:19 20:42:10", orientation: 1,
		lat: ptr(36.5760815), lon: ptr(-119.4352604), alt: ptr(174.527),
	},
	{
		file: "micasense-rededge/0000SET/000/IMG_0001_5.tif", make: "MicaSense", model: "RedEdge",
		time: "2017:10:19 20:42:10", orientation: 1,
		lat: ptr(36.5760815), lon: ptr(-119.4352604), alt: ptr(174.527),
	},
	{
		file: "odm-tests-dji/DJI_0061.JPG", make: "DJI", model: "FC350",
		time: "2015:10:16 13:23:16", orientation: 1,
		lat: ptr(41.5485961666667), lon: ptr(-83.6986487777778), alt: ptr(119.7),
	},
	{
		file: "parrot-sequoia/0077/IMG_180413_080658_0000_GRE.TIF", make: "Parrot", model: "Sequoia",
		time: "2018:04:13 08:06:58.272945", orientation: 3, status: "V", wantWarnings: "void",
	},
	{
		file: "parrot-sequoia/0077/IMG_180413_080658_0000_NIR.TIF", make: "Parrot", model: "Sequoia",
		time: "2018:04:13 08:06:58.267458", orientation: 3, status: "V", wantWarnings: "void",
	},
	{
		file: "parrot-sequoia/0077/IMG_180413_080658_0000_RED.TIF", make: "Parrot", model: "Sequoia",
		time: "2018:04:13 08:06:58.272833", orientation: 3, status: "V", wantWarnings: "void",
	},
	{
		file: "parrot-sequoia/0077/IMG_180413_080658_0000_REG.TIF", make: "Parrot", model: "Sequoia",
		time: "2018:04:13 08:06:58.270294", orientation: 3, status: "V", wantWarnings: "void",
	},
	{
		file: "parrot-sequoia/0077/IMG_180413_080658_0000_RGB.JPG", make: "Parrot", model: "Sequoia",
		time: "2018:04:13 08:06:58.356811", orientation: 3, status: "V", wantWarnings: "void",
	},
	{file: "rasterio-tiff-variants/float_raster_with_nodata.tif", noMetadata: true},
	{file: "rasterio-tiff-variants/rgb_lzw.tif", noMetadata: true},
	{file: "webodm-fixtures/orthophoto.tif", noMetadata: true},
	{
		// No Orientation tag; GPSAltitude without GPSAltitudeRef.
		file: "webodm-fixtures/tiny_drone_image.jpg", make: "Canon", model: "Canon PowerShot S110",
		time: "2015:07:31 14:32:14",
		lat:  ptr(41.22636995), lon: ptr(-81.70550109), alt: ptr(438.1885965),
	},
	{
		file: "webodm-fixtures/tiny_drone_image_multispec.tif", make: "MicaSense", model: "RedEdge-M",
		time: "2018:08:22 12:11:40", orientation: 1,
		lat: ptr(50.9813956), lon: ptr(21.4300088), alt: ptr(294.816),
	},
}

func TestReadRealFiles(t *testing.T) {
	dir := requireSharedData(t)
	for _, tc := range realCases {
		t.Run(tc.file, func(t *testing.T) {
			md, err := readFile(t, filepath.Join(dir, filepath.FromSlash(tc.file)))
			if tc.noMetadata {
				if !errors.Is(err, exif.ErrNoMetadata) {
					t.Fatalf("Read() = %+v, %v; want ErrNoMetadata", md, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read(): %v", err)
			}
			if md.Make != tc.make || md.Model != tc.model {
				t.Errorf("make, model = %q, %q; want %q, %q", md.Make, md.Model, tc.make, tc.model)
			}
			if md.Orientation != tc.orientation {
				t.Errorf("orientation = %d; want %d", md.Orientation, tc.orientation)
			}
			layout := "2006:01:02 15:04:05"
			if strings.Contains(tc.time, ".") {
				layout += ".999999999"
			}
			wantTime, err := time.ParseInLocation(layout, tc.time, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			if !md.CaptureTime.Equal(wantTime) {
				t.Errorf("capture time = %v; want %v", md.CaptureTime, wantTime)
			}

			switch {
			case tc.lat == nil && md.GPS != nil:
				t.Errorf("GPS = %+v; want nil", *md.GPS)
			case tc.lat != nil && md.GPS == nil:
				t.Errorf("GPS = nil; want %v, %v (warnings %q)", *tc.lat, *tc.lon, md.Warnings)
			case tc.lat != nil:
				g := md.GPS
				if math.Abs(g.Latitude-*tc.lat) > 1e-6 || math.Abs(g.Longitude-*tc.lon) > 1e-6 {
					t.Errorf("lat, lon = %.9f, %.9f; want %.9f, %.9f", g.Latitude, g.Longitude, *tc.lat, *tc.lon)
				}
				switch {
				case tc.alt == nil && g.Altitude != nil:
					t.Errorf("altitude = %v; want nil", *g.Altitude)
				case tc.alt != nil && g.Altitude == nil:
					t.Errorf("altitude = nil; want %v", *tc.alt)
				case tc.alt != nil && math.Abs(*g.Altitude-*tc.alt) > 1e-3:
					t.Errorf("altitude = %v; want %v", *g.Altitude, *tc.alt)
				}
				if want := tc.status != "V"; g.Valid != want {
					t.Errorf("valid = %v; want %v (GPSStatus %q)", g.Valid, want, tc.status)
				}
				if !g.HasRef {
					t.Errorf("HasRef = false; all these files carry N/S and E/W references")
				}
			}

			if tc.wantWarnings == "" && len(md.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", md.Warnings)
			}
			if tc.wantWarnings != "" && !hasWarning(md, tc.wantWarnings) {
				t.Errorf("warnings %q; want one containing %q", md.Warnings, tc.wantWarnings)
			}
		})
	}
}

// TestPublishedReferences checks the numbers that PROVENANCE.md quotes from
// the source repositories' own tests (independent of exiftool).
func TestPublishedReferences(t *testing.T) {
	dir := requireSharedData(t)

	t.Run("micasense test_metadata.py IMG_0000_1", func(t *testing.T) {
		// micasense/imageprocessing tests/test_metadata.py @91766cb5:
		// position (36.576096, -119.4352689, 101.861), UTC 2017-10-19 20:40:39.
		md, err := readFile(t, filepath.Join(dir, "micasense-rededge/0000SET/000/IMG_0000_1.tif"))
		if err != nil {
			t.Fatal(err)
		}
		g := md.GPS
		if g == nil || g.Altitude == nil {
			t.Fatalf("GPS = %+v; want a position with altitude", g)
		}
		if math.Abs(g.Latitude-36.576096) > 1e-6 || math.Abs(g.Longitude-(-119.4352689)) > 1e-6 || math.Abs(*g.Altitude-101.861) > 1e-3 {
			t.Errorf("position = (%v, %v, %v); want (36.576096, -119.4352689, 101.861)", g.Latitude, g.Longitude, *g.Altitude)
		}
		if md.Make != "MicaSense" || md.Model != "RedEdge" {
			t.Errorf("make, model = %q, %q", md.Make, md.Model)
		}
		// micasense reports .200174 from SubSecTime, which belongs to
		// DateTime, not DateTimeOriginal; we keep whole seconds here.
		if want := time.Date(2017, 10, 19, 20, 40, 39, 0, time.UTC); !md.CaptureTime.Equal(want) {
			t.Errorf("capture time = %v; want %v", md.CaptureTime, want)
		}
	})

	t.Run("plaso jpeg_exif.py testimage.jpg", func(t *testing.T) {
		// log2timeline/plaso tests/parsers/jpeg_exif.py @a180bc82:
		// latitude "68.87571N", longitude "27.76492E", DJI FC3582.
		md, err := readFile(t, filepath.Join(dir, "dji-mini3pro-plaso/testimage.jpg"))
		if err != nil {
			t.Fatal(err)
		}
		g := md.GPS
		if g == nil {
			t.Fatal("GPS = nil")
		}
		if math.Round(g.Latitude*1e5)/1e5 != 68.87571 || math.Round(g.Longitude*1e5)/1e5 != 27.76492 {
			t.Errorf("lat, lon = %.5f, %.5f; want 68.87571, 27.76492", g.Latitude, g.Longitude)
		}
		if g.Valid {
			t.Error("valid = true; the file has GPSStatus V")
		}
		if md.Make != "DJI" || md.Model != "FC3582" {
			t.Errorf("make, model = %q, %q", md.Make, md.Model)
		}
	})
}

func hasWarning(md *exif.Metadata, substr string) bool {
	for _, w := range md.Warnings {
		if strings.Contains(w, substr) {
			return true
		}
	}
	return false
}
