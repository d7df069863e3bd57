package upload

import (
	"strings"
	"testing"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// Each metadata check names its own field.
func TestValidateNamesTheField(t *testing.T) {
	s := &Service{limits: Limits{MaxFiles: 16}}
	one := []*canopyv1.FileSpec{{Filename: "a.jpg"}}
	long := strings.Repeat("x", 257)
	for _, c := range []struct {
		name  string
		md    *canopyv1.UploadMetadata
		field string // "" means accepted
	}{
		{"a layout", &canopyv1.UploadMetadata{Files: one, BandLayout: "NRG"}, ""},
		{"other bands may repeat", &canopyv1.UploadMetadata{Files: one, BandLayout: "RGBOO"}, ""},
		{"a long batch id", &canopyv1.UploadMetadata{Files: one, BatchId: long}, "metadata.batch_id"},
		{"a long client upload id", &canopyv1.UploadMetadata{Files: one, ClientUploadId: long}, "metadata.client_upload_id"},
		{"a band twice", &canopyv1.UploadMetadata{Files: one, BandLayout: "NNG"}, "metadata.band_layout"},
		{"a band twice, any case", &canopyv1.UploadMetadata{Files: one, BandLayout: "rgR"}, "metadata.band_layout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantField(t, s.validate(c.md), c.field)
		})
	}
}
