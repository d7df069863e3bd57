package restupload

import (
	"net/url"
	"slices"
	"testing"
)

// Every name metadata reads is in params, so knownNames never refuses a
// setting the upload takes. Each name is given a value in turn, which
// walks the branches that read further names.
func TestParamsHoldEveryNameMetadataReads(t *testing.T) {
	values := map[string]string{
		"filename": "a.jpg", "capture_time": "2026-06-01T10:30:00Z", "latitude": "1", "longitude": "2", "altitude": "3",
		"savi_l": "0.5", "reflectance_scale": "0.0001", "takeoff_altitude_m": "10", "indices": "NDVI",
	}
	read := map[string]bool{}
	get := func(name string) string {
		read[name] = true
		return values[name]
	}
	if _, err := metadata(get); err != nil {
		t.Fatal(err)
	}
	for name := range read {
		if !slices.Contains(params, name) {
			t.Errorf("metadata reads %q, which params (and so knownNames) lacks", name)
		}
	}
	if err := knownNames(url.Values{"savil": {"0.9"}}); err == nil {
		t.Error("a misspelt name was let through")
	}
}
