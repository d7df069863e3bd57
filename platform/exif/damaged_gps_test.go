package exif_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/canopyag/canopy/platform/shareddata"
)

// Damaged GPS inside a JPEG's Exif segment (the way drones deliver it),
// including in a real file whose own Exif segment is swapped for the damaged
// one: no error, no position (never 0,0), a warning naming the damage, and
// the rest of the metadata intact.
func TestDamagedGPSInJPEG(t *testing.T) {
	base := gpsEntries()
	cases := []struct {
		name string
		gps  []tEntry
		warn string
	}{
		{"one rational latitude", with(base, rats(gpsLat, [2]uint32{39, 1})), "gps latitude has 1 rational, want 3"},
		{"one rational longitude", with(base, rats(gpsLon, [2]uint32{122, 1})), "gps longitude has 1 rational, want 3"},
		{"0/0 latitude seconds", with(base, rats(gpsLat, [2]uint32{39, 1}, [2]uint32{54, 1}, [2]uint32{0, 0})), "gps latitude has a zero denominator (0/0)"},
		{"0/0 latitude degrees", with(base, rats(gpsLat, [2]uint32{0, 0}, [2]uint32{0, 0}, [2]uint32{0, 0})), "gps latitude has a zero denominator (0/0)"},
		{"0/0 longitude, 0/0 latitude", with(with(base, rats(gpsLat, [2]uint32{0, 0})), rats(gpsLon, [2]uint32{0, 0}, [2]uint32{0, 0}, [2]uint32{0, 0})), "gps latitude has 1 rational, want 3"},
	}
	var real []byte
	if dir, err := shareddata.Find(); err == nil {
		real, _ = os.ReadFile(filepath.Join(dir, "webodm-fixtures", "tiny_drone_image.jpg"))
	}
	for _, l := range layouts[:2] { // Exif in JPEG is classic TIFF
		for _, tc := range cases {
			tiff := l.build(sampleIFD0(tc.gps))
			files := map[string][]byte{
				"xmp-before": wrapJPEG(tiff, true),
				"xmp-after":  wrapJPEG(tiff, false),
			}
			if real != nil {
				files["real-jpeg"] = swapExif(t, real, tiff)
			}
			for kind, data := range files {
				t.Run(l.String()+"/"+kind+"/"+tc.name, func(t *testing.T) {
					md, err := read(t, data)
					if err != nil {
						t.Fatalf("Read(): %v; damaged GPS must not be an error", err)
					}
					if md.GPS != nil {
						t.Errorf("GPS = %+v; want none", *md.GPS)
					}
					if !hasWarning(md, tc.warn) {
						t.Errorf("warnings %q; want one containing %q", md.Warnings, tc.warn)
					}
					if md.Make != "Canopy" || md.Model != "Synth-1" || md.Orientation != 6 || !md.CaptureTime.Equal(exampleUTC) {
						t.Errorf("rest of metadata lost: %+v", md)
					}
				})
			}
		}
	}
}

// swapExif replaces jpeg's Exif APP1 segment with one holding tiff.
func swapExif(t *testing.T, jpeg, tiff []byte) []byte {
	t.Helper()
	out := append([]byte{0xFF, 0xD8}, jpegSegment(0xE1, append([]byte("Exif\x00\x00"), tiff...))...)
	pos, swapped := 2, false
	for pos+4 <= len(jpeg) && jpeg[pos] == 0xFF && jpeg[pos+1] != 0xDA {
		end := pos + 2 + (int(jpeg[pos+2])<<8 | int(jpeg[pos+3]))
		if jpeg[pos+1] == 0xE1 && string(jpeg[pos+4:pos+9]) == "Exif\x00" {
			swapped = true
		} else {
			out = append(out, jpeg[pos:end]...)
		}
		pos = end
	}
	if !swapped {
		t.Fatal("no Exif segment in the real JPEG")
	}
	return append(out, jpeg[pos:]...)
}
