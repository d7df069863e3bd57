package apierror

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

func TestStorableTextNamesTheField(t *testing.T) {
	ok := &canopyv1.Analysis{AlgorithmVersion: "v1", Worker: "w", Warnings: []string{"fine"}}
	if err := StorableText(ok, "analysis"); err != nil {
		t.Fatalf("a message without NUL: %v", err)
	}
	for _, c := range []struct {
		m    *canopyv1.Analysis
		want string
	}{
		{&canopyv1.Analysis{AlgorithmVersion: "t\x00x"}, "analysis.algorithm_version"},
		{&canopyv1.Analysis{AlgorithmVersion: "v1", Warnings: []string{"a", "b\x00"}}, "analysis.warnings[1]"},
		{&canopyv1.Analysis{AlgorithmVersion: "v1", Indices: []*canopyv1.IndexResult{{Name: "NDVI"}, {Name: "SA\x00VI"}}}, "analysis.indices[1].name"},
		// Not UTF-8 (Latin-1 é), which protobuf would refuse to marshal.
		{&canopyv1.Analysis{AlgorithmVersion: "v1", Warnings: []string{"caf\xe9"}}, "analysis.warnings[0]"},
	} {
		err := StorableText(c.m, "analysis")
		if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), c.want+": ") {
			t.Errorf("%v: %v, want InvalidArgument naming %s", c.m, err, c.want)
		}
	}
	if err := StorableText(&canopyv1.Analysis{AlgorithmVersion: "caf\xe9"}, ""); !strings.Contains(status.Convert(err).Message(), "not UTF-8 text (byte 0xe9 at offset 3)") {
		t.Errorf("Latin-1 text: %v, want the byte and its offset named", err)
	}
	if err := StorableText(&canopyv1.Analysis{AlgorithmVersion: "café 🌱"}, ""); err != nil {
		t.Errorf("UTF-8 text refused: %v", err)
	}
	// A request's own field, without a prefix.
	err := StorableText(&canopyv1.FailWorkRequest{Error: "disk\x00full"}, "")
	if !strings.HasPrefix(status.Convert(err).Message(), "error: ") {
		t.Errorf("FailWork error with NUL: %v, want it named as error", err)
	}
}
