package upload

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

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
			err := s.validate(c.md)
			if c.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			st, field := violation(err)
			if st.Code() != codes.InvalidArgument || field != c.field {
				t.Errorf("%v %q naming %q; want InvalidArgument naming %s", st.Code(), st.Message(), field, c.field)
			}
		})
	}
}
